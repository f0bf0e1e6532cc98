"""Run folders: where notebooks read and write (``run_dir``, else ``$IDC_LITE_RUN_DIR``, else
``runs/interactive``), a folder of its own per exercise, and a clear error naming the notebook that
makes a missing file."""
from __future__ import annotations

import os
from pathlib import Path

from idc_lite.foundation.errors import MissingArtifactError, RunDirError
from idc_lite.foundation.runtime import REPO, RUN_DIR_ENV, resolve_path

MODEL_FILE = "model.pt"

NOTEBOOKS = REPO / "notebooks"


def notebook_paths(folder: Path = NOTEBOOKS) -> list[Path]:
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no numbered notebooks in {folder}")
    return paths


def resolve_run_dir(run_dir: str = "") -> Path:
    """The run folder: ``run_dir``, else ``$IDC_LITE_RUN_DIR``, else ``runs/interactive`` in the repository."""
    path = resolve_path(run_dir or os.environ.get(RUN_DIR_ENV) or Path("runs") / "interactive")
    if path.exists() and not path.is_dir():
        raise RunDirError(f"the run folder {path} is a file; give run_dir a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def exercise_dir(run_dir: Path, name: str) -> Path:
    """A run folder of its own for an exercise that changes settings (``run_dir/exercises/<name>``),
    so that it never replaces the model or baselines that later notebooks read."""
    path = Path(run_dir) / "exercises" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def require(path: Path, made_by: str) -> Path:
    """Return ``path`` if it exists, else say which notebook makes it."""
    if not Path(path).exists():
        raise MissingArtifactError(f"{path} is missing: run {made_by} first with the same run_dir "
                                   f"(or set ${RUN_DIR_ENV})")
    return Path(path)


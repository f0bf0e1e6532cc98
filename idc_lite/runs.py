"""Run folders and notebook parameters: where notebooks read and write, and checks on what papermill injects."""
from __future__ import annotations

import json
import os
from pathlib import Path

RUN_DIR_ENV = "IDC_LITE_RUN_DIR"
SMOKE_ENV = "IDC_LITE_SMOKE"
MODEL_FILE = "model.pt"


class MissingArtifactError(FileNotFoundError):
    """Something an earlier notebook writes is not there yet."""


def is_smoke(smoke: bool) -> bool:
    """Smoke mode: the ``smoke`` parameter (papermill) or ``IDC_LITE_SMOKE=1`` (nbval cannot inject parameters)."""
    return bool(smoke) or os.environ.get(SMOKE_ENV, "") not in ("", "0", "false", "False")


def resolve_run_dir(run_dir: str = "") -> Path:
    """The run folder: ``run_dir``, else ``$IDC_LITE_RUN_DIR``, else ``../runs/interactive`` (from notebooks/)."""
    path = Path(run_dir or os.environ.get(RUN_DIR_ENV) or Path("..") / "runs" / "interactive")
    path.mkdir(parents=True, exist_ok=True)
    return path


def require(path: Path, made_by: str) -> Path:
    """Return ``path`` if it exists, else say which notebook makes it."""
    if not Path(path).exists():
        raise MissingArtifactError(f"{path} is missing: run {made_by} first with the same run_dir "
                                   f"(or set ${RUN_DIR_ENV})")
    return Path(path)


def check_parameters(namespace: dict, names_before: set[str]) -> dict:
    """Check what papermill injected into a notebook against its ``parameters`` cell.

    ``names_before``: ``set(globals())`` taken just before the parameters cell.  Every public
    name defined since then must be an annotated parameter, and each value must have its
    annotated type.  Returns {name: value}; raises ``ValueError`` naming unknown or mistyped
    parameters and listing the ones the notebook takes.
    """
    annotations = namespace.get("__annotations__", {})
    new = {n for n in namespace if not n.startswith("_") and n not in names_before}
    known = {n for n in new if n in annotations}
    unknown = sorted(new - known)
    allowed = ", ".join(f"{n}: {getattr(annotations[n], '__name__', annotations[n])}" for n in sorted(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; this notebook takes: {allowed}")
    values = {}
    for name in sorted(known):
        expected, value = annotations[name], namespace[name]
        ok = isinstance(value, expected) if isinstance(expected, type) else True
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if expected is int and isinstance(value, bool):
            ok = False
        if not ok:
            raise ValueError(f"parameter {name} must be {expected.__name__}, got {value!r} ({type(value).__name__})")
        values[name] = value
    return values


def write_metrics(run_dir: Path, notebook: str, metrics: dict) -> Path:
    """Store a notebook's figures for the report as ``run_dir/metrics/<notebook>.json``."""
    from .checkpoints import atomic_write_json

    return atomic_write_json(metrics, Path(run_dir) / "metrics" / f"{notebook}.json")


def read_metrics(run_dir: Path) -> dict[str, dict]:
    folder = Path(run_dir) / "metrics"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}

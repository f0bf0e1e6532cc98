"""Run folders and notebook parameters: where notebooks read and write, checks on what papermill
injects, and the rules that keep one notebook from silently reusing another setting's artefact.

Paths resolve against the repository (the checkout holding ``notebooks/``), wherever the kernel
starts: JupyterLab starts kernels in ``notebooks/``, papermill and the command line elsewhere.
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .validation import KitError, ParameterError

RUN_DIR_ENV = "IDC_LITE_RUN_DIR"
SMOKE_ENV = "IDC_LITE_SMOKE"
HEADLESS_ENV = "IDC_LITE_HEADLESS"
MODEL_ENV = "IDC_LITE_MODEL"
MODEL_FILE = "model.pt"


class MissingArtifactError(KitError, FileNotFoundError):
    """Something an earlier notebook writes is not there yet."""


class RunDirError(KitError, NotADirectoryError):
    """A run folder path that is not a folder."""


class SettingsMismatchError(KitError, RuntimeError):
    """A file in the run folder was made with other settings than the ones a notebook asks for."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def is_smoke(smoke: bool) -> bool:
    """Smoke mode: the ``smoke`` parameter (papermill) or ``IDC_LITE_SMOKE=1`` (nbval cannot inject parameters)."""
    return bool(smoke) or _flag(SMOKE_ENV)


def is_headless() -> bool:
    """No one is looking at widgets: papermill runs, nbval, grading (``IDC_LITE_HEADLESS=1``) and smoke runs.
    Explorers then show their figure at the default settings instead of waiting for input."""
    return _flag(HEADLESS_ENV) or _flag(SMOKE_ENV)


def progress_bar(*args, disable: bool = False, **kwargs):
    """A ``tqdm.auto`` bar where someone watches (a widget in JupyterLab, text in a terminal), none in
    headless runs: there a widget bar would be stored in the executed notebook and could not render in
    its HTML page; the notebooks' log lines stand in for it."""
    from tqdm.auto import tqdm

    return tqdm(*args, disable=disable or is_headless(), **kwargs)


@contextmanager
def environment(**values: str | None):
    """Set (``None``: remove) environment variables inside the block, as the kernels that papermill or
    nbgrader start there will see them; restore them afterwards."""
    def apply(settings: dict[str, str | None]) -> None:
        for key, value in settings.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    old = {key: os.environ.get(key) for key in values}
    apply(values)
    try:
        yield
    finally:
        apply(old)


def repository_root() -> Path | None:
    """The checkout this package runs from (the folder with ``notebooks/`` and ``pyproject.toml``),
    or None when the package is installed outside a checkout."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "notebooks").is_dir() and (here / "pyproject.toml").is_file() else None


def base_dir() -> Path:
    """What relative run folders and data roots are relative to: the repository, else the working directory."""
    return repository_root() or Path.cwd()


def resolve_path(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded; a relative path is taken relative to :func:`base_dir`."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir() / p


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


# ---- no silent reuse ----------------------------------------------------------------------------
def _plain(value):
    """JSON's view of a value (tuples become lists), so stored and asked settings compare alike."""
    return json.loads(json.dumps(value, default=str))


def settings_differences(stored: dict, wanted: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """Every setting that differs, as ``'name: stored X, asked Y'`` (nested names joined by '.').

    ``ignore`` lists dotted names left out of the comparison."""
    out: list[str] = []

    def walk(a, b, prefix):
        if prefix in ignore:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{prefix}.{key}" if prefix else key)
        elif a != b:
            out.append(f"{prefix or 'settings'}: stored {a!r}, asked {b!r}")

    walk(_plain(stored), _plain(wanted), "")
    return out


def settings_digest(settings: dict) -> str:
    """A short, stable name for a set of settings (8 hex digits)."""
    return hashlib.sha256(json.dumps(_plain(settings), sort_keys=True).encode()).hexdigest()[:8]


@dataclass
class Artefact:
    """Where an artefact made with given settings lives: ``path``; ``exists`` when it is already
    there with exactly those settings (load it), else train and save to ``path``; ``note`` says why."""
    path: Path
    exists: bool
    note: str


def artefact_for_settings(path: str | Path, wanted: dict, stored_settings: Callable[[Path], dict]) -> Artefact:
    """The file holding an artefact (a CNN, an ablation model) made with ``wanted`` settings.

    ``path`` itself when it is missing or was made with the same settings; otherwise a file of its own
    beside it named after the settings (``cnn-3f2a9c1e.pt``), so that the file other notebooks read
    is never replaced by one made with other settings, and a file with other settings is never
    reused silently.  ``stored_settings(path) -> dict`` reads the settings a file was made with.
    """
    path = Path(path)
    if not path.exists():
        return Artefact(path, False, f"{path.name}: not there yet, training it")
    differences = settings_differences(stored_settings(path), wanted)
    if not differences:
        return Artefact(path, True, f"{path.name}: made with the same settings, loading it")
    own = path.with_name(f"{path.stem}-{settings_digest(wanted)}{path.suffix}")
    why = "; ".join(differences)
    if own.exists() and not settings_differences(stored_settings(own), wanted):
        return Artefact(own, True, f"{path.name} was made with other settings ({why}); loading {own.name}, "
                                   "made with the asked ones")
    return Artefact(own, False, f"{path.name} was made with other settings ({why}); training into {own.name} "
                                f"and leaving {path.name} as it is")


# ---- papermill parameters and metrics ------------------------------------------------------------
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
        raise ParameterError(f"unknown parameter(s) {unknown}; this notebook takes: {allowed}")
    return {name: check_value(name, namespace[name], annotations[name]) for name in sorted(known)}


PARAMETER_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def check_value(name: str, value, expected):
    """A parameter value against its annotated type (a type, or its name as papermill reports it):
    an int passes for a float, a bool never passes for an int.  Returns the value; raises ParameterError."""
    expected = PARAMETER_TYPES.get(expected, expected) if isinstance(expected, str) else expected
    if not isinstance(expected, type):
        return value          # unannotated or a typing construct: not checked
    ok = isinstance(value, expected)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if expected is int and isinstance(value, bool):
        ok = False
    if not ok:
        raise ParameterError(f"parameter {name} must be {expected.__name__}, got {value!r} ({type(value).__name__})")
    return value


def write_metrics(run_dir: Path, notebook: str, metrics: dict) -> Path:
    """Store a notebook's figures for the report as ``run_dir/metrics/<notebook>.json``."""
    from .checkpoints import atomic_write_json

    return atomic_write_json(metrics, Path(run_dir) / "metrics" / f"{notebook}.json")


def read_metrics(run_dir: Path) -> dict[str, dict]:
    folder = Path(run_dir) / "metrics"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}

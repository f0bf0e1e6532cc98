"""Where the kit runs: smoke, lab and headless switches (papermill, nbval, grading), progress bars,
environment variables for child kernels, and the repository that relative paths resolve against.

Paths resolve against the repository (the checkout holding ``notebooks/``), wherever the kernel
starts: JupyterLab starts kernels in ``notebooks/``, papermill and the command line elsewhere.
"""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from idc_lite.foundation.errors import InputError

RUN_DIR_ENV = "IDC_LITE_RUN_DIR"


SMOKE_ENV = "IDC_LITE_SMOKE"


LAB_ENV = "IDC_LITE_LAB"


HEADLESS_ENV = "IDC_LITE_HEADLESS"


MODEL_ENV = "IDC_LITE_MODEL"


SHIPPED_ENV = "IDC_LITE_SHIPPED_MODELS"


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def is_smoke(smoke: bool) -> bool:
    """Smoke mode: the ``smoke`` parameter (papermill) or ``IDC_LITE_SMOKE=1`` (nbval cannot inject parameters)."""
    return bool(smoke) or _flag(SMOKE_ENV)


def is_lab(lab: bool) -> bool:
    """Lab sizes: the ``lab`` parameter, unless ``IDC_LITE_LAB`` says otherwise (``1``: lab sizes, ``0``: full
    settings, whatever the notebook's parameter; the grader and ``make reproduce`` set it).  Any other value is an
    error.  A notebook asks :func:`idc_lite.runs.run_sizes`, where smoke mode wins over lab sizes."""
    value = os.environ.get(LAB_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value:
        raise InputError(f"{LAB_ENV}={os.environ[LAB_ENV]!r}: use 1 (lab sizes) or 0 (full settings), or unset it")
    return bool(lab)


def shipped_models_allowed() -> bool:
    """Whether a notebook may take a model shipped in the package in place of training one with exactly the same
    settings: yes, unless ``IDC_LITE_SHIPPED_MODELS=0`` (``make reproduce`` and sweeps set it for their kernels:
    a reproduction trains everything it reports)."""
    return os.environ.get(SHIPPED_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


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


REPO = Path(__file__).resolve().parents[2]   # the checkout: idc_lite/foundation/ is two below it


def repository_root() -> Path | None:
    """The checkout this package runs from (the folder with ``notebooks/`` and ``pyproject.toml``),
    or None when the package is installed outside a checkout."""
    return REPO if (REPO / "notebooks").is_dir() and (REPO / "pyproject.toml").is_file() else None


def git(*args: str, repo: Path = REPO) -> str:
    """``git -C repo ARGS``'s output; raises ``OSError`` / ``subprocess.SubprocessError`` when git fails."""
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30,
                          check=True).stdout.strip()


def repository_commit(repo: Path = REPO) -> str | None:
    """The checkout's commit, with ``+changes`` when tracked files differ from it; None outside a git checkout."""
    try:
        commit = git("rev-parse", "HEAD", repo=repo)
        return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no", repo=repo) else "")
    except (OSError, subprocess.SubprocessError):
        return None


def base_dir() -> Path:
    """What relative run folders and data roots are relative to: the repository, else the working directory."""
    return repository_root() or Path.cwd()


def resolve_path(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded; a relative path is taken relative to :func:`base_dir`."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir() / p




def subcommand_prog(prog: str | None, name: str) -> dict:
    """``add_parser`` options for a command's subcommand ``name``: ``idc-lite`` passes its own subcommand
    (e.g. ``prog='idc-lite grade'``), and the usage line then reads as the user typed it."""
    return {"prog": prog} if prog and prog.startswith("idc-lite ") else {}

"""JupyterLab on a student's own copies of the notebooks (``make lab``), or on the instructor's source.

    idc-lite lab [--folder my_notebooks] [--prepare-only] [-- JUPYTER_OPTIONS...]
    idc-lite lab --source [-- JUPYTER_OPTIONS...]          # notebooks/, every solution filled in

The student copies are generated from the source when missing and never overwritten once they exist
(:mod:`idc_lite.teaching.workspace`); a newer release goes beside a copy, and the command says so.  The
kernel is this environment's Python (``JUPYTER_PREFER_ENV_PATH=1``: before a personal kernel of the same name).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from idc_lite.foundation.errors import AssignmentError, InputError
from idc_lite.foundation.runtime import repository_root
from idc_lite.teaching.workspace import WORKSPACE, prepare_workspace


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Runs JupyterLab (its exit status); 2 when the folder or the course cannot be prepared."""
    parser = argparse.ArgumentParser(prog=prog or "idc-lite lab", description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=os.environ.get("IDC_LITE_WORKSPACE"),
                        help=f"your notebooks' folder (default: $IDC_LITE_WORKSPACE, else {WORKSPACE}/ in the checkout)")
    parser.add_argument("--source", action="store_true", help="open the instructor's notebooks/ instead (solutions shown)")
    parser.add_argument("--prepare-only", action="store_true", help="prepare the folder and stop, without JupyterLab")
    parser.add_argument("jupyter", nargs=argparse.REMAINDER, help="options for jupyter lab, after --")
    args = parser.parse_args(argv)
    root = repository_root() or Path.cwd()
    if args.source:
        folder = root / "notebooks"
        print(f"the instructor's notebooks, every solution filled in: {folder}")
    else:
        folder = Path(args.folder) if args.folder else root / WORKSPACE
        try:
            print(prepare_workspace(folder).message(), flush=True)
        except (AssignmentError, InputError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print('stuck on an exercise? `from idc_lite.teaching import solution; solution("02.3")` shows its model answer')
    if args.prepare_only:
        return 0
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or shutil.which("jupyter")
    if jupyter is None:
        print("error: jupyter is not installed in this environment (make setup installs it)", file=sys.stderr)
        return 2
    options = [a for a in args.jupyter if a != "--"]
    if hasattr(os, "getuid") and os.getuid() == 0 and "--allow-root" not in options:
        options.append("--allow-root")
    env = {**os.environ, "JUPYTER_PREFER_ENV_PATH": "1"}
    sys.stdout.flush()
    command = [jupyter, "lab", f"--notebook-dir={folder}", *options]
    if os.name == "nt":                  # Windows has no exec that replaces the process: wait for JupyterLab
        import subprocess

        return subprocess.call(command, env=env)
    os.execve(jupyter, command, env)
    return 0   # not reached: JupyterLab takes this process over

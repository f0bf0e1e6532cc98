"""Write the student copies of the notebooks with nbgrader.

``idc-lite assignments``; the course itself is :mod:`idc_lite.teaching.course`.

    idc-lite assignments [--course assignments]

The notebooks in ``notebooks/`` are the instructor's source: solutions between nbgrader's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, locked grading cells with points and
``### BEGIN HIDDEN TESTS`` sections, and hand-graded answer cells; each notebook is one assignment
named after it.  The student copies go to ``<course>/release/<name>/<name>.ipynb``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from idc_lite.foundation.errors import AssignmentError, InputError
from idc_lite.foundation.runtime import repository_root
from idc_lite.teaching.course import generate


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Exit status 0; 2 when nbgrader or the notebooks refuse (the message says why)."""
    parser = argparse.ArgumentParser(prog=prog or "idc-lite assignments", description=__doc__.splitlines()[0])
    parser.add_argument("--course", default=None, help="course folder (default: assignments/ in the repository)")
    args = parser.parse_args(argv)
    course = Path(args.course) if args.course else (repository_root() or Path.cwd()) / "assignments"
    started = time.perf_counter()
    try:
        for path in generate(course):
            print(f"student copy: {path}")
    except (AssignmentError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{time.perf_counter() - started:.0f} s")
    return 0

"""Autograde a folder of submitted notebooks with nbgrader.

``idc-lite grade``; :mod:`idc_lite.teaching.grading` grades one folder, :mod:`idc_lite.teaching.class_grading`
a folder of student folders.

    idc-lite grade SUBMISSIONS [--full] [--model runs/<run>/model.pt] [--smoke] [--workers 2 | --scheduler tcp://...]

The notebooks found in SUBMISSIONS (``<name>.ipynb`` or ``<name>/<name>.ipynb``) are graded in order, in
one fresh run folder, at lab sizes with the shipped models (``--full``: full settings, the same points);
``SUBMISSIONS/grades.csv`` gets one row per graded cell, ``SUBMISSIONS/feedback.html`` each cell's points and
what its check said, and ``SUBMISSIONS/autograded/`` the executed copies.  A folder of student folders is graded
student by student (``class_grades.csv`` and ``class_grades.md``, with each student's grading time).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from idc_lite.foundation.errors import AssignmentError, InputError
from idc_lite.teaching.class_grading import (
    CLASS_FILE,
    SHARED_WORK_FOLDER,
    class_table,
    grade_class,
    open_shared_work,
    student_folders,
)
from idc_lite.teaching.course import source_notebooks
from idc_lite.teaching.grading import GRADES_FILE, grade, summary_lines

# seconds a cell may run: no cell takes more than about a minute at lab sizes, so a student whose code hangs
# costs five minutes of the class's time, not an hour; full settings train and attack for many minutes
LAB_TIMEOUT, FULL_TIMEOUT = 300, 3600


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Exit status: 0 graded, 1 some notebook or student could not be graded, 2 bad arguments or files."""
    parser = argparse.ArgumentParser(prog=prog or "idc-lite grade", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", help="folder with the submitted notebooks (the student copies' file names)")
    parser.add_argument("--model", default=None, help="a trained model.pt (with its .json) used instead of training in 02")
    parser.add_argument("--smoke", action="store_true", help="grade with the notebooks' smoke settings (IDC_LITE_SMOKE=1 too)")
    parser.add_argument("--full", action="store_true", help="run the notebooks at full settings instead of lab sizes "
                                                            "(the same points; many times the time)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: "
                                                                  f"{LAB_TIMEOUT} at lab sizes, {FULL_TIMEOUT} with --full)")
    parser.add_argument("--course", default=None, help="a course folder generated from these notebooks (idc-lite "
                                                       "assignments --course DIR): reused instead of generating one")
    parser.add_argument("--workers", type=int, default=1, help="a folder of student folders: students graded at once, each "
                                                               "in a worker process of a Dask LocalCluster (default 1)")
    parser.add_argument("--scheduler", default=None, help="a folder of student folders: the address of a running Dask "
                                                          "scheduler to grade the students on (a shared file system)")
    parser.add_argument("--no-shared-work", action="store_true", help="a folder of student folders: every student's "
                        "grading makes every heavy call itself (by default one made with the same inputs is shared)")
    parser.add_argument("--keep-shared-work", action="store_true", help="keep the heavy calls (a class's shared ones, or "
                        "one student's) in SUBMISSIONS/.shared-work, so a grading stopped part way and started again "
                        "with this option loads them (only those made by the same kit version)")
    args = parser.parse_args(argv)
    if args.keep_shared_work and args.no_shared_work:
        parser.error("--keep-shared-work keeps the shared heavy calls: not with --no-shared-work")
    timeout = args.timeout or (FULL_TIMEOUT if args.full else LAB_TIMEOUT)
    started = time.perf_counter()
    submissions = Path(args.submissions)
    model = Path(args.model) if args.model else None
    course = Path(args.course) if args.course else None
    try:
        if student_folders(submissions, [p.stem for p in source_notebooks()]):
            students = grade_class(submissions, model, args.smoke, timeout, course,
                                   workers=args.workers, scheduler=args.scheduler, full=args.full,
                                   share_work=not args.no_shared_work, keep_shared_work=args.keep_shared_work)
            print(class_table(students))
            print(f"class grades: {submissions / CLASS_FILE} ({time.perf_counter() - started:.0f} s)")
            return 1 if any(r.status != "graded" for r in students) else 0
        shared = None
        if args.keep_shared_work and submissions.is_dir():      # one student at full settings, in several sittings
            shared = submissions / SHARED_WORK_FOLDER
            open_shared_work(shared, keep=True)
        rows = grade(submissions, model, args.smoke, timeout, course, full=args.full, shared_work=shared)
    except (AssignmentError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(*summary_lines(rows), sep="\n")
    print(f"grades: {submissions / GRADES_FILE} ({time.perf_counter() - started:.0f} s)")
    return 1 if any(r.status.startswith("grading failed") for r in rows) else 0

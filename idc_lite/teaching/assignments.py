"""Assignments from one source, with nbgrader: student copies and autograding.

The notebooks in ``notebooks/`` are the instructor's source: solutions between nbgrader's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers in solution cells, locked grading cells with
points and ``### BEGIN HIDDEN TESTS`` sections, and hand-graded answer cells.  Each notebook is
one nbgrader assignment named after it.

    python -m idc_lite.teaching.assignments generate [--course assignments]
    python -m idc_lite.teaching.assignments grade SUBMISSIONS [--model runs/<run>/model.pt] [--smoke]

``generate`` writes the student copies to ``<course>/release/<name>/<name>.ipynb``.  ``grade`` runs
nbgrader's autograder on the notebooks found in SUBMISSIONS (``<name>.ipynb`` or
``<name>/<name>.ipynb``), in order, in one fresh run folder, and writes ``SUBMISSIONS/grades.csv``
(one row per graded cell) and the executed copies to ``SUBMISSIONS/autograded/``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from idc_lite.errors import AssignmentError, InputError
from idc_lite.runtime import repository_root, subcommand_prog
from idc_lite.teaching.class_grading import CLASS_FILE, class_table, grade_class, student_folders
from idc_lite.teaching.course import STUDENT, generate, graded_cells, source_notebooks
from idc_lite.teaching.grading import (
    GRADES_FILE,
    GradeRow,
    _course_for_grading,
    find_submissions,
    grade,
    summary_lines,
    totals,
    write_grades,
)

__all__ = ["STUDENT", "GRADES_FILE", "GradeRow", "find_submissions", "generate", "grade", "grade_class",
           "graded_cells", "source_notebooks", "summary_lines", "totals", "write_grades", "_course_for_grading"]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog or "python -m idc_lite.teaching.assignments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", **subcommand_prog(prog, "generate"), help="write the student copies with nbgrader")
    gen.add_argument("--course", default=None, help="course folder (default: assignments/ in the repository)")
    grd = sub.add_parser("grade", **subcommand_prog(prog, "grade"),
                         help="autograde a folder of submitted notebooks; writes SUBMISSIONS/grades.csv")
    grd.add_argument("submissions", help="folder with the submitted notebooks (the student copies' file names)")
    grd.add_argument("--model", default=None, help="a trained model.pt (with its .json) used instead of training in 02")
    grd.add_argument("--smoke", action="store_true", help="grade with the notebooks' smoke settings (IDC_LITE_SMOKE=1 too)")
    grd.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell (default 3600)")
    grd.add_argument("--course", default=None, help="a course folder generated from these notebooks (idc-lite assignments "
                                                    "--course DIR): reused instead of generating one")
    grd.add_argument("--workers", type=int, default=1, help="a folder of student folders: students graded at once, each "
                                                            "in a worker process of a Dask LocalCluster (default 1)")
    grd.add_argument("--scheduler", default=None, help="a folder of student folders: the address of a running Dask "
                                                       "scheduler to grade the students on (a shared file system)")
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            course = Path(args.course) if args.course else (repository_root() or Path.cwd()) / "assignments"
            t0 = time.perf_counter()
            for path in generate(course):
                print(f"student copy: {path}")
            print(f"{time.perf_counter() - t0:.0f} s")
            return 0
        t0 = time.perf_counter()
        names = [p.stem for p in source_notebooks()]
        if student_folders(Path(args.submissions), names):
            return _grade_a_class(args, t0)
        rows = grade(Path(args.submissions), Path(args.model) if args.model else None, args.smoke, args.timeout,
                     Path(args.course) if args.course else None)
    except (AssignmentError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(*summary_lines(rows), sep="\n")
    print(f"grades: {Path(args.submissions) / GRADES_FILE} ({time.perf_counter() - t0:.0f} s)")
    return 1 if any(r.status.startswith("grading failed") for r in rows) else 0


def _grade_a_class(args, started: float) -> int:
    rows = grade_class(Path(args.submissions), Path(args.model) if args.model else None, args.smoke, args.timeout,
                       Path(args.course) if args.course else None, workers=args.workers, scheduler=args.scheduler)
    print(class_table(rows))
    print(f"class grades: {Path(args.submissions) / CLASS_FILE} ({time.perf_counter() - started:.0f} s)")
    return 1 if any(r.status != "graded" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

"""A lab hour and a grading afternoon, measured (printed as Markdown, never asserted).

    python benchmarks/lab_course.py [--out runs/lab-course] [--class-size 6] [--record docs/records/benchmarks/lab_course.json]

1. Every notebook (the instructor's source, so every exercise is answered) at lab sizes, in order, in one fresh
   run folder, with the models shipped in the package: its time, beside the reference run's at full settings.
2. ``idc-lite grade`` at its defaults (lab sizes, the shipped models) on made-up students: one student alone with
   one worker; then a class of ``--class-size`` students with ``--workers 2``: answered notebooks ("solved"),
   the untouched student copies, one whose notebook 02 hangs in its first cell ("hangs", stopped at the per-cell
   timeout) and one whose notebook 01 is not a notebook ("broken"); each student's time and points.  The class
   shares heavy calls with the same inputs between students, as ``idc-lite grade`` does by default
   (``--no-shared-work``: each student makes every call); ``--class-workers 2 1`` grades it once per count.
3. ``--full-points``: one solved and one untouched student graded with ``--full`` (full settings, about an hour
   alone), each notebook's points beside the ones the class run gave the same notebooks at lab sizes.
``--update`` measures some parts again and keeps the others (``--skip-grading --update``: the notebooks only;
``--skip-notebooks --class-workers --update``: one student only; ``--skip-notebooks --class-workers 1 --full-points
--update``: one student, the class with one worker, then the full points; the class runs recorded with other counts
of workers stay).
With ``--record`` the figures go to a benchmark record (then ``make results`` renders them into the instructors'
page).  Run it alone: a second CPU-heavy job beside it changes every time it prints.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import papermill

from idc_lite.foundation.machine import describe_machine, machine_info
from idc_lite.foundation.runtime import (
    HEADLESS_ENV,
    LAB_ENV,
    MODEL_ENV,
    REPO,
    RUN_DIR_ENV,
    SHIPPED_ENV,
    SMOKE_ENV,
    environment,
    repository_commit,
)
from idc_lite.results.records import load_records
from idc_lite.teaching.course import generate, source_notebooks

HANG_TIMEOUT = 60     # per-cell seconds in the class run, so "hangs" costs a minute of its worker, not five


def time_notebooks(out: Path) -> dict[str, float]:
    """Each source notebook at lab sizes, in order, in the fresh run folder ``out/run``; {notebook: seconds}."""
    run, executed = out / "run", out / "executed"
    shutil.rmtree(run, ignore_errors=True)
    executed.mkdir(parents=True, exist_ok=True)
    seconds = {}
    quiet = {name: None for name in (SMOKE_ENV, LAB_ENV, MODEL_ENV, SHIPPED_ENV)}    # nothing left in the shell counts
    with environment(**{HEADLESS_ENV: "1", RUN_DIR_ENV: str(run), **quiet}):
        for notebook in source_notebooks():
            t0 = time.perf_counter()
            papermill.execute_notebook(str(notebook), str(executed / notebook.name), kernel_name="python3",
                                       parameters={"run_dir": str(run), "lab": True}, cwd=str(notebook.parent),
                                       progress_bar=False)
            seconds[notebook.stem] = round(time.perf_counter() - t0, 1)
            print(f"| {notebook.stem} | {seconds[notebook.stem]:.0f} s |", flush=True)
    return seconds


def make_class(folder: Path, size: int, course: Path) -> None:
    """``size`` made-up students in ``folder``: solved and untouched in turn, then "hangs" and "broken"."""
    shutil.rmtree(folder, ignore_errors=True)
    sources, copies = source_notebooks(), sorted((course / "release").glob("*/*.ipynb"))
    for i in range(max(size - 2, 1)):
        kind, files = ("solved", sources) if i % 2 == 0 else ("untouched", copies)
        (folder / f"{kind}-{i}").mkdir(parents=True)
        for f in files:
            shutil.copy2(f, folder / f"{kind}-{i}" / f.name)
    (folder / "hangs").mkdir()
    hangs = json.loads(sources[1].read_text())
    stuck = next(c for c in hangs["cells"] if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", []))
    stuck["source"] = "import time\ntime.sleep(100000)\n" + "".join(stuck["source"])
    (folder / "hangs" / sources[1].name).write_text(json.dumps(hangs))
    shutil.copy2(sources[0], folder / "hangs" / sources[0].name)
    (folder / "broken").mkdir()
    (folder / "broken" / sources[0].name).write_text("this is not a notebook")


def grade(folder: Path, course: Path, *options: str) -> float:
    """``idc-lite grade folder`` at its defaults (plus ``options``); returns its wall time in seconds."""
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in (SMOKE_ENV, LAB_ENV, MODEL_ENV, SHIPPED_ENV)}
    done = subprocess.run([sys.executable, "-m", "idc_lite", "grade", str(folder), "--course", str(course), *options],
                          cwd=REPO, capture_output=True, text=True, env=env)
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])
    return round(time.perf_counter() - t0, 1)


def class_rows(folder: Path) -> dict[str, dict]:
    """{student: {"points": autograded points, "seconds": grading time, "statuses": [...], "by_notebook":
    {notebook: points}}} from class_grades.csv."""
    students: dict[str, dict] = {}
    with open(folder / "class_grades.csv") as handle:
        for row in csv.DictReader(handle):
            s = students.setdefault(row["student"], {"points": 0.0, "seconds": 0.0, "statuses": [],
                                                              "by_notebook": {}})
            s["points"] += float(row["points"])
            s["by_notebook"][row["notebook"]] = float(row["points"])
            s["seconds"] += float(row["seconds"])
            status = re.sub(r"(/[^\s/:]+)+/", "", row["status"])[:160]     # no path of this machine in a record
            if status != "graded" and status not in s["statuses"]:
                s["statuses"].append(status)
    return students


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "lab-course")
    parser.add_argument("--class-size", type=int, default=6, help="students in the class run (at least 3)")
    parser.add_argument("--class-workers", type=int, nargs="*", default=[2],
                        help="grade the class once with each of these counts of workers (default: 2; none: no class)")
    parser.add_argument("--full-points", action="store_true",
                        help="also grade a solved and an untouched student at full settings, for their points")
    parser.add_argument("--no-shared-work", action="store_true", help="grade the class without sharing heavy calls")
    parser.add_argument("--skip-notebooks", action="store_true", help="only the grading")
    parser.add_argument("--skip-grading", action="store_true", help="only the notebooks")
    parser.add_argument("--update", action="store_true",
                        help="replace only the parts measured now in the --record file (each says where it was measured)")
    parser.add_argument("--record", type=Path, default=None, help="also write the figures, with commit and machine, here")
    args = parser.parse_args()
    machine = machine_info()
    print(f"measured {describe_machine(machine)}\n")
    report = {"commit": repository_commit(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine, "note": ""}
    if args.update and args.record and args.record.is_file():
        # some parts again (say, alone after a run that had a job beside them): the others stay as recorded, and
        # each part measured now carries its own commit, date and machine ("<part>_measured")
        report = json.loads(args.record.read_text()) | {"update": report}
    if not args.skip_notebooks:
        print("| notebook | lab sizes |\n|---|---|")
        report["notebooks"] = time_notebooks(args.out)
        reference = load_records().get("digits") or {}
        full = reference.get("wall_seconds_per_notebook") or {}
        report["full_reference"] = {name: full.get(name) for name in report["notebooks"]}
        report["full_reference_measured"] = {k: reference.get(k) for k in ("commit", "created", "machine")}
        measured(report, "notebooks")
    save(args.record, report)
    if not args.skip_grading:
        measure_grading(args, report)
    report.pop("update", None)
    save(args.record, report)
    if args.record:
        print(f"\nrecorded in {args.record}")


def measured(report: dict, part: str) -> None:
    """In an update, say where ``part`` was measured now (the record's own commit and machine are the others')."""
    if "update" in report:
        report[f"{part}_measured"] = report["update"]


def save(record: Path | None, report: dict) -> None:
    """Write what is measured so far (a long run stopped half way keeps its finished parts)."""
    if record:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(report, indent=1) + "\n")


def measure_grading(args, report: dict) -> None:
    """One student alone, then the made-up class once per ``--class-workers`` count (with ``--full-points``, the
    full-settings pair right after the first); adds the figures to ``report``, saving it after each part."""
    course = args.out / "course"
    shutil.rmtree(course, ignore_errors=True)
    generate(course)
    one = args.out / "one-student"
    shutil.rmtree(one, ignore_errors=True)
    one.mkdir(parents=True)
    for f in source_notebooks():
        shutil.copy2(f, one / f.name)
    report["one_student_seconds"] = grade(one, course)
    with open(one / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    report["one_student_points"] = sum(float(r["points"]) for r in rows if r["graded_by"] == "auto")
    report["one_student_max_points"] = sum(float(r["max_points"]) for r in rows if r["graded_by"] == "auto")
    measured(report, "one_student")
    print(f"\none student (solved), 1 worker: {report['one_student_seconds']:.0f} s, "
          f"{report['one_student_points']:g} / {report['one_student_max_points']:g} autograded points")
    save(args.record, report)
    if args.class_workers:      # an update keeps the recorded class runs with other counts of workers
        report["classes"] = [c for c in report.get("classes", [])
                             if "update" in report and c["workers"] not in args.class_workers]
    for i, workers in enumerate(args.class_workers):
        folder = args.out / f"class-{workers}"
        make_class(folder, args.class_size, course)
        wall = grade(folder, course, "--workers", str(workers), "--timeout", str(HANG_TIMEOUT),
                     *(["--no-shared-work"] if args.no_shared_work else []))
        students = class_rows(folder)
        report["classes"].append({"students": len(students), "workers": workers, "wall_seconds": wall,
                                  "timeout": HANG_TIMEOUT, "shared_work": not args.no_shared_work,
                                  "per_student": students, **({"measured": report["update"]} if "update" in report else {})})
        report["classes"].sort(key=lambda c: -c["workers"])
        save(args.record, report)
        print(f"\nclass of {len(students)}, {workers} workers: {wall:.0f} s\n\n"
              "| student | points | seconds | status |\n|---|---|---|---|")
        for name, s in students.items():
            print(f"| {name} | {s['points']:g} | {s['seconds']:.0f} | {'; '.join(s['statuses']) or 'graded'} |")
        if args.full_points and i == 0:
            report["full_points"] = full_points(args.out, course, students)
            measured(report, "full_points")
            save(args.record, report)


def full_points(out: Path, course: Path, lab: dict[str, dict]) -> dict:
    """A solved and an untouched student graded with ``--full`` (one worker, shared work); each notebook's points
    beside the lab-size class run's for the same student (``lab``: that run's per-student rows)."""
    folder = out / "full"
    make_class(folder, 4, course)               # solved-0, untouched-1 (and "hangs", "broken", dropped below)
    for extra in ("hangs", "broken"):
        shutil.rmtree(folder / extra)
    wall = grade(folder, course, "--full")
    students = class_rows(folder)
    result = {"wall_seconds": wall, "per_student": students, "lab_per_student": {k: v for k, v in lab.items() if k in students}}
    for name, s in students.items():
        beside = f" (lab sizes: {lab[name]['points']:g})" if name in lab else ""
        print(f"full settings, {name}: {s['points']:g} points in {s['seconds']:.0f} s{beside}")
    return result


if __name__ == "__main__":
    main()

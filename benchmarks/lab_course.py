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
3. ``--full-points``: one solved and one untouched student graded with ``--full`` (full settings: one to three
   hours alone, longest on a machine without native bf16), each notebook's points beside the ones the class run
   gave the same notebooks at lab sizes.  ``--full-points-minutes M`` stops that grading after M minutes and
   records the notebooks each student reached (the grader writes grades.csv after each notebook);
   ``--collect-full-points`` records them from ``OUT/full`` as a run stopped by hand left them (its record still
   holds that run's commit and machine), without grading.  The pair's heavy calls are kept in
   ``OUT/full/.shared-work`` (``idc-lite grade --keep-shared-work``) until it finishes: started again with the same
   kit version (a later session), it loads them and goes on from where its heavy calls left off.
``--update`` measures some parts again and keeps the others (``--skip-grading --update``: the notebooks only;
``--skip-notebooks --class-workers --update``: one student only; ``--skip-notebooks --class-workers 1 --full-points
--update``: one student, the class with one worker, then the full points; the class runs recorded with other counts
of workers stay; ``--skip-notebooks --class-workers --full-points --update``: one student, then the full points
beside the newest recorded class run; ``--full-points-only --update``: the full points alone, beside that run).
To go on with a pair stopped at an older commit, run this file with that commit's package first on the path
(``PYTHONPATH=<a worktree of that commit>``): the kept calls load only for the kit version that made them.
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
import signal
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
from idc_lite.foundation.shared_work import open_folder
from idc_lite.results.records import load_records
from idc_lite.teaching.class_grading import SHARED_WORK_FOLDER
from idc_lite.teaching.course import generate, source_notebooks
from idc_lite.teaching.grading import GRADES_FILE, NOT_GRADED_YET

HANG_TIMEOUT = 60     # per-cell seconds in the class run, so "hangs" costs a minute of its worker, not five
FULL_PAIR = ("solved-0", "untouched-1")     # the students graded again at full settings (the first two of a class)


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
    """``size`` made-up students in ``folder``: solved and untouched in turn, then "hangs" and "broken".  An earlier
    run's students and class tables go; its kept ``.shared-work`` stays (the grader empties it unless kept)."""
    for earlier in (folder.iterdir() if folder.is_dir() else []):
        if not earlier.name.startswith("."):
            shutil.rmtree(earlier) if earlier.is_dir() else earlier.unlink()
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
    return grade_within(folder, course, None, *options)


def grade_within(folder: Path, course: Path, limit: float | None, *options: str) -> float | None:
    """:func:`grade` stopped after ``limit`` seconds (SIGINT, so it shuts its kernels down; killed a minute later);
    the wall time, or None when it was stopped.  The students it finished keep their ``grades.csv``."""
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in (SMOKE_ENV, LAB_ENV, MODEL_ENV, SHIPPED_ENV)}
    child = subprocess.Popen([sys.executable, "-m", "idc_lite", "grade", str(folder), "--course", str(course), *options],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = child.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGINT)
        try:
            child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
        return None
    if child.returncode not in (0, 1):
        raise RuntimeError(out[-2000:] + err[-2000:])
    return round(time.perf_counter() - t0, 1)


def finished_students(folder: Path) -> dict[str, dict]:
    """:func:`class_rows`' figures for each student of ``folder`` that a class grading stopped before
    ``class_grades.csv`` graded at least one notebook of (their own grades.csv, written after each notebook): each
    graded notebook's rows folded into a class-table row as ``idc-lite grade`` folds them; the notebooks it had not
    reached are listed in ``"not_graded"``."""
    rows, not_graded = [], {}
    for grades in sorted(folder.glob(f"*/{GRADES_FILE}")):
        with open(grades) as handle:
            cells = list(csv.DictReader(handle))
        for notebook in dict.fromkeys(r["notebook"] for r in cells):
            mine = [r for r in cells if r["notebook"] == notebook]
            if all(r["status"] == NOT_GRADED_YET for r in mine):
                not_graded.setdefault(grades.parent.name, []).append(notebook)
                continue
            problems = sorted({r["status"] for r in mine} - {"graded", "needs manual grading"})
            rows.append({"student": grades.parent.name, "notebook": notebook,
                         "points": sum(float(r["points"] or 0) for r in mine if r["graded_by"] == "auto"),
                         "seconds": max(float(r["seconds"]) for r in mine),     # the notebook's time, on each row
                         "status": "; ".join(problems) or "graded"})
    students = _tally(rows)
    for name, student in students.items():
        student["not_graded"] = not_graded.get(name, [])
    return students


def class_rows(folder: Path) -> dict[str, dict]:
    """{student: {"points": autograded points, "seconds": grading time, "statuses": [...], "by_notebook":
    {notebook: points}}} from class_grades.csv."""
    with open(folder / "class_grades.csv") as handle:
        return _tally(list(csv.DictReader(handle)))


def _tally(rows: list[dict]) -> dict[str, dict]:
    """:func:`class_rows`' figures from class-table rows (student, notebook, points, seconds, status)."""
    students: dict[str, dict] = {}
    for row in rows:
        s = students.setdefault(row["student"], {"points": 0.0, "seconds": 0.0, "statuses": [], "by_notebook": {}})
        points = round(float(row["points"]), 2)
        s["points"] += points
        s["by_notebook"][row["notebook"]] = points
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
    parser.add_argument("--full-points-minutes", type=float, default=None,
                        help="stop the full-settings grading after this many minutes; the students finished are recorded")
    parser.add_argument("--full-points-only", action="store_true",
                        help="with --update: only the full-settings pair, beside the newest recorded class run with it "
                             "(no notebooks, no lab grading; a pair stopped earlier goes on from its kept heavy calls)")
    parser.add_argument("--collect-full-points", action="store_true",
                        help="record the full-settings students that a run stopped by hand finished in OUT/full")
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
    if args.collect_full_points:
        collect_full_points(args, report)
        return
    if args.full_points_only:
        only_full_points(args, report)
        return
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
    if args.full_points and not args.class_workers:
        recorded_lab_points(report)                     # refuses before any grading when there is none
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
            report["full_points"] = full_points(args.out, course, students, args.full_points_minutes)
            measured(report, "full_points")
            save(args.record, report)
    if args.full_points and not args.class_workers:     # an update: beside the lab points of a recorded class run
        report["full_points"] = full_points(args.out, course, recorded_lab_points(report), args.full_points_minutes)
        measured(report, "full_points")
        save(args.record, report)


def only_full_points(args, report: dict) -> None:
    """``--full-points-only``: the full-settings pair beside the newest recorded class run that graded it."""
    if "update" not in report:
        raise SystemExit("--full-points-only needs --update --record RECORD (a record with a class run to set it beside)")
    lab = recorded_lab_points(report)
    course = args.out / "course"
    shutil.rmtree(course, ignore_errors=True)
    generate(course)
    report["full_points"] = full_points(args.out, course, lab, args.full_points_minutes)
    measured(report, "full_points")
    report.pop("update")
    save(args.record, report)
    print(f"\nrecorded in {args.record}")


def full_points(out: Path, course: Path, lab: dict[str, dict], minutes: float | None = None) -> dict:
    """A solved and an untouched student graded with ``--full`` (one worker, shared work; stopped after ``minutes``
    when given); each notebook's points beside the lab-size class run's for the same student (``lab``: that run's
    per-student rows)."""
    folder = out / "full"
    make_class(folder, 4, course)               # FULL_PAIR (and "hangs", "broken", dropped below)
    for extra in ("hangs", "broken"):
        shutil.rmtree(folder / extra)
    # the heavy calls are kept: a run stopped after ``minutes`` and started again (a later session, the same kit
    # version) loads the ones it made, so hours of full settings add up over runs on a slow machine
    earlier = open_folder(folder / SHARED_WORK_FOLDER, keep=True)
    wall = grade_within(folder, course, 60 * minutes if minutes else None, "--full", "--keep-shared-work")
    stopped = None if wall is not None else f"stopped after {minutes:g} min"
    result = full_result(class_rows(folder) if wall is not None else finished_students(folder), lab, wall, stopped)
    if earlier:
        result["earlier_calls"] = earlier
    if wall is not None:
        shutil.rmtree(folder / SHARED_WORK_FOLDER, ignore_errors=True)
    return result


def recorded_lab_points(report: dict) -> dict[str, dict]:
    """The lab-size rows of the full pair's students from the newest class run recorded with them (``--full-points``
    without a class run now, in an update)."""
    runs = [c for c in report.get("classes", []) if all(name in c["per_student"] for name in FULL_PAIR)]
    if not runs:
        raise SystemExit(f"--full-points without --class-workers needs --update and a recorded class run with "
                         f"{' and '.join(FULL_PAIR)} to set the full points beside")
    newest = max(runs, key=lambda c: (c.get("measured") or report)["created"])
    return newest["per_student"]


def full_result(students: dict[str, dict], lab: dict[str, dict], wall: float | None, stopped: str | None) -> dict:
    """The full-settings pair's record: the students graded (a stopped run: those it finished), beside ``lab``."""
    result = {"wall_seconds": wall, "per_student": students, "lab_per_student": {k: v for k, v in lab.items() if k in FULL_PAIR}}
    if stopped:
        result["stopped"] = stopped
        print(f"full settings: {stopped}; finished: {', '.join(students) or 'none'}")
    for name, s in students.items():
        beside = f" (lab sizes: {lab[name]['points']:g})" if name in lab else ""
        print(f"full settings, {name}: {s['points']:g} points in {s['seconds']:.0f} s{beside}")
    return result


def collect_full_points(args, report: dict) -> None:
    """``--collect-full-points``: the students ``OUT/full`` holds graded, from a ``--full-points`` run stopped by hand
    after its class run was saved; the record's ``update`` is that run's commit and machine, and its class run with
    the same ``measured`` gives the lab points."""
    stopped_run = json.loads(args.record.read_text()).get("update") if args.record and args.record.is_file() else None
    if stopped_run is None or "update" not in report:
        raise SystemExit("--collect-full-points needs --update --record RECORD where RECORD was saved by a "
                         "--full-points run stopped before its end (it names that run's commit and machine)")
    lab = next((c["per_student"] for c in report.get("classes", []) if c.get("measured") == stopped_run), None)
    lab = lab if lab is not None else recorded_lab_points(report)      # the stopped run graded no class itself
    students = finished_students(args.out / "full")
    if not students:
        raise SystemExit(f"no student in {args.out / 'full'} finished their grading: nothing to record")
    report["full_points"] = full_result(students, lab, None, "stopped by hand before the end")
    report["full_points_measured"] = stopped_run
    report.pop("update")
    save(args.record, report)
    print(f"\nrecorded in {args.record}")


if __name__ == "__main__":
    main()

"""Grading a class: a folder of student folders, each student graded as one task.

    idc-lite grade submissions/ [--full] [--model runs/<run>/model.pt] [--workers 2 | --scheduler tcp://host:8786]

``submissions/<student>/`` holds one student's notebooks (the student copies' file names).  Each student
is graded by :func:`idc_lite.teaching.grading.grade` in a fresh run folder of their own, all with the
same model and one course generated once, on this machine one after the other or as tasks on a Dask
cluster (:func:`idc_lite.foundation.cluster.run_tasks`).  Each student's folder gets its ``grades.csv`` and
``feedback.html``; the class gets ``submissions/class_grades.csv`` and ``class_grades.md`` (student, notebook,
points, max points, answers still to grade by hand, status, grading seconds) with each student's totals and
time.  Heavy library calls whose inputs are the same for every student (the model, the evaluated examples, the
seeds and settings; never a student's own function) run once for the class and are loaded by the others'
gradings (:mod:`idc_lite.foundation.shared_work`, in ``submissions/.shared-work`` while the class is graded).
A student whose grading crashes, or whose folder holds no notebook of the course, gets rows that say so;
the others are graded.
"""
from __future__ import annotations

import csv
import io
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from idc_lite.foundation.cluster import TaskOutcome, check_cluster_options, run_tasks
from idc_lite.foundation.errors import AssignmentError
from idc_lite.foundation.files import atomic_write_bytes
from idc_lite.foundation.shared_work import open_folder
from idc_lite.teaching.course import generate, graded_cells, source_notebooks
from idc_lite.teaching.feedback import FEEDBACK_FILE
from idc_lite.teaching.grading import GRADES_FILE, GradeRow, grade, totals

CLASS_FILE, CLASS_TABLE = "class_grades.csv", "class_grades.md"
COURSE_FOLDER = ".course"      # the course generated once for the class, inside the submissions folder
SHARED_WORK_FOLDER = ".shared-work"    # heavy calls made once for the class (emptied before and after, unless kept)


@dataclass
class ClassRow:
    student: str
    notebook: str
    points: float                # autograded points
    max_points: float            # autograded and hand-graded points together
    manual_pending: int          # answers still to grade by hand
    status: str                  # 'graded', or what went wrong
    seconds: float = 0.0         # how long grading this notebook took (a student who crashed: their whole task)


def student_folders(submissions: Path, names: list[str]) -> dict[str, Path]:
    """``{student: folder}`` when ``submissions`` is a folder of student folders: it holds no notebook itself,
    and its sub-folders are not named after an assignment (``<name>/<name>.ipynb`` is one student's layout).
    Empty otherwise."""
    folder = Path(submissions)
    if not folder.is_dir() or any(folder.glob("*.ipynb")):
        return {}
    subfolders = [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))
                  and p.name not in ("autograded",)]
    if not subfolders or any(p.name in names for p in subfolders):
        return {}
    return {p.name: p for p in subfolders}


def grade_student(folder: Path, model: Path | None, smoke: bool, timeout: int, course: Path,
                  full: bool = False, shared_work: Path | None = None) -> list[dict]:
    """One student's grading (a task): their ``grades.csv`` and ``feedback.html`` are written; returns the rows
    as dicts.  An earlier grading's files go first, so a grading that crashes leaves none that look current."""
    for stale in (GRADES_FILE, FEEDBACK_FILE):
        (Path(folder) / stale).unlink(missing_ok=True)
    return [asdict(row) for row in grade(folder, model, smoke, timeout, course, full=full, shared_work=shared_work)]


def _rows_for(student: str, outcome: TaskOutcome, maxima: dict[str, float]) -> list[ClassRow]:
    if outcome.status != "finished":
        reason = (outcome.error or "").splitlines()[0][:300] if outcome.error else "unknown"
        return [ClassRow(student, name, 0.0, most, 0, f"not graded: {reason}", round(outcome.seconds, 1) if i == 0 else 0.0)
                for i, (name, most) in enumerate(maxima.items())]
    grades = [GradeRow(**row) for row in outcome.value]
    per_notebook = totals(grades)
    rows = []
    for name, most in maxima.items():
        t = per_notebook.get(name)
        statuses = sorted({g.status for g in grades if g.notebook == name} - {"graded", "needs manual grading"})
        seconds = max((float(g.seconds) for g in grades if g.notebook == name), default=0.0)
        rows.append(ClassRow(student, name, round(t["auto"], 2) if t else 0.0, most, t["manual_pending"] if t else 0,
                             "; ".join(statuses) if statuses else "graded", seconds))
    return rows


def class_table(rows: list[ClassRow]) -> str:
    """The class table in Markdown: a row per student and notebook, then each student's total."""
    lines = ["| student | notebook | points | max points | to grade by hand | status | seconds |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.student} | {r.notebook} | {r.points:g} | {r.max_points:g} | {r.manual_pending} | {r.status} | "
              f"{r.seconds:.0f} |" for r in rows]
    lines += ["", "| student | autograded points | max points | to grade by hand | grading time |", "|---|---|---|---|---|"]
    for student in dict.fromkeys(r.student for r in rows):
        mine = [r for r in rows if r.student == student]
        lines.append(f"| {student} | {sum(r.points for r in mine):g} | {sum(r.max_points for r in mine):g} | "
                     f"{sum(r.manual_pending for r in mine)} | {sum(r.seconds for r in mine):.0f} s |")
    return "\n".join(lines) + "\n"


def write_class(submissions: Path, rows: list[ClassRow]) -> tuple[Path, Path]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ClassRow.__dataclass_fields__))
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    table = class_table(rows)
    return (atomic_write_bytes(Path(submissions) / CLASS_FILE, lambda h: h.write(buffer.getvalue().encode())),
            atomic_write_bytes(Path(submissions) / CLASS_TABLE, lambda h: h.write(table.encode())))


def open_shared_work(folder: Path, keep: bool) -> None:
    """Ready a grading's folder of heavy calls (:func:`idc_lite.foundation.shared_work.open_folder`) and say when
    it loads an earlier grading's."""
    earlier = open_folder(folder, keep=keep)
    if earlier:
        print(f"loading {earlier} heavy calls made by an earlier grading (the same kit version) from {folder}", flush=True)


def grade_class(submissions: Path, model: Path | None = None, smoke: bool = False, timeout: int = 300,
                course: Path | None = None, workers: int = 1, scheduler: str | None = None,
                full: bool = False, share_work: bool = True, keep_shared_work: bool = False) -> list[ClassRow]:
    """Grade every student folder of ``submissions`` (see the module docstring); returns the class rows.
    ``course``: a course generated from these notebooks (else one is generated once, into
    ``submissions/.course``); ``workers`` / ``scheduler``: where the students' tasks run; ``full``: full settings
    instead of lab sizes (the same points, many times the time); ``share_work``: a heavy library call whose inputs
    are the same for every student (the model, the examples, seeds and settings; never a student's own code) runs
    once for the class (:mod:`idc_lite.foundation.shared_work`), else each student's grading makes all of them;
    ``keep_shared_work``: those calls stay in ``submissions/.shared-work`` afterwards, and a grading started again
    with the same kit version loads them (one stopped part way starts again where its heavy calls left off)."""
    check_cluster_options(workers, scheduler)
    sources = source_notebooks()
    names = [p.stem for p in sources]
    students = student_folders(Path(submissions), names)
    if not students:
        raise AssignmentError(f"{submissions} is not a folder of student folders (submissions/<student>/<notebook>.ipynb)")
    if course is None:
        course = Path(submissions) / COURSE_FOLDER
        generate(course, sources)
    maxima = {p.stem: sum(c["points"] for c in graded_cells(p)) for p in sources}
    shared = Path(submissions).resolve() / SHARED_WORK_FOLDER if share_work else None
    if shared:          # emptied unless kept, and an earlier grading's calls are never another kit version's
        open_shared_work(shared, keep=keep_shared_work)
    try:
        outcomes = _grade_students(students, model, smoke, timeout, Path(course), full, shared, workers, scheduler)
    finally:
        if shared and not keep_shared_work:
            shutil.rmtree(shared, ignore_errors=True)
    rows = [row for student, outcome in zip(students, outcomes) for row in _rows_for(student, outcome, maxima)]
    write_class(Path(submissions), rows)
    return rows


def _grade_students(students: dict[str, Path], model, smoke, timeout, course: Path, full, shared, workers, scheduler):
    outcomes = run_tasks(grade_student, [(folder, model, smoke, timeout, course, full, shared) for folder in students.values()],
                         list(students), workers=workers, scheduler=scheduler,
                         on_start=lambda i, name: print(f"=== student {i + 1}/{len(students)}: {name}", flush=True),
                         on_outcome=lambda o: print(f"=== {o.name}: {o.status} in {o.seconds:.0f} s"
                                                    + (f" ({o.error[:200]})" if o.error else ""), flush=True))
    return outcomes

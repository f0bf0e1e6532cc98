"""Autograding one set of submitted notebooks with nbgrader: in order, in one fresh run folder, so that
03 to 07 read what 02 and 04 made, at lab sizes unless asked for full settings; one row per graded cell in
``grades.csv``, and a feedback page (``feedback.html``) with each graded cell's points and what its check said."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from idc_lite.foundation.errors import AssignmentError
from idc_lite.foundation.files import atomic_write_bytes, read_notebook
from idc_lite.foundation.runtime import HEADLESS_ENV, LAB_ENV, MODEL_ENV, RUN_DIR_ENV, SMOKE_ENV, environment
from idc_lite.foundation.shared_work import SHARED_WORK_ENV
from idc_lite.teaching.course import STUDENT, _api, _tools_path, generate, graded_cells, source_notebooks
from idc_lite.teaching.feedback import write_feedback

GRADES_FILE = "grades.csv"
NOT_GRADED_YET = "not graded yet"      # the status of a notebook's rows while a grading has not reached it


# files beside a given model that later notebooks can reuse when their settings match
REUSABLE = ("cnn*.pt", "adv_cnn*.pt", "ablation_no_interclass*.pt", "ablation_no_interclass*.json")


@dataclass
class GradeRow:
    notebook: str
    cell_id: str
    points: float | str          # '' while a hand-graded answer waits for a person
    max_points: float
    graded_by: str               # 'auto' or 'manual'
    status: str
    seconds: float = 0.0         # how long grading the cell's notebook took (the same on each of its rows)


def find_submissions(folder: Path, names: list[str]) -> dict[str, Path]:
    """``{name: path}`` for the submitted notebooks in ``folder`` (``name.ipynb`` or ``name/name.ipynb``).
    Raises :class:`AssignmentError` when none is found or a notebook has a name no assignment has."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AssignmentError(f"no folder {folder}: SUBMISSIONS must be a folder of notebooks")
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.ipynb")) + sorted(folder.glob("*/*.ipynb")):
        if path.parent.name in ("autograded", ".ipynb_checkpoints"):
            continue
        if path.stem not in names:
            raise AssignmentError(f"{path} is not one of the assignments {names}: keep the student copies' file names")
        if path.stem in found:
            raise AssignmentError(f"two submissions of {path.stem}: {found[path.stem]} and {path}")
        found[path.stem] = path
    if not found:
        raise AssignmentError(f"no notebooks in {folder}; expected some of {[n + '.ipynb' for n in names]}")
    return found


def _reusable_files(model: Path) -> list[Path]:
    return sorted({p for pattern in REUSABLE for p in model.parent.glob(pattern)})


def _course_for_grading(course: Path, sources: dict[str, Path], generated: Path | None) -> None:
    """Make the nbgrader course ``course`` for grading: a copy of ``generated`` (a course that
    :func:`generate` made from these very notebooks) when given, else generated afresh."""
    if generated is None:
        generate(course, list(sources.values()))
        return
    generated = Path(generated)
    for name, source in sources.items():
        copy = generated / "source" / name / source.name
        if not (generated / "release" / name / source.name).is_file() or not copy.is_file():
            raise AssignmentError(f"--course {generated}: no generated assignment {name} (run `idc-lite assignments "
                                  f"--course {generated}` first)")
        if copy.read_bytes() != source.read_bytes():
            raise AssignmentError(f"--course {generated}: its {name} was generated from another version of "
                                  f"{source.name}; generate the course again")
    shutil.copytree(generated, course, ignore=shutil.ignore_patterns("submitted", "autograded", "feedback"))


def grade(submissions: Path, model: Path | None = None, smoke: bool = False, timeout: int = 300,
          course: Path | None = None, full: bool = False, shared_work: Path | None = None) -> list[GradeRow]:
    """Autograde the notebooks in ``submissions`` and write ``submissions/grades.csv``.

    ``grades.csv`` is written again after each notebook, the ones not reached yet with the status
    ``"not graded yet"``: a grading stopped part way (hours at full settings) keeps the points it gave.

    All of them run in one fresh run folder, in order, so 03 to 05 read what 02 and 04 made.
    ``model``: a trained ``model.pt`` (with its ``.json``) that notebook 02 uses instead of training;
    the baselines beside it are copied too and reused where their settings match.  ``smoke`` (or
    ``IDC_LITE_SMOKE=1``) grades with the notebooks' smoke settings; otherwise they run at lab sizes
    (``IDC_LITE_LAB=1``: the shipped models, a short suite), or at full settings when ``full``.  The checks
    give the same points at both sizes (they score the answers, never the run's numbers).  ``timeout``: seconds per
    cell (the command line gives 3600 with ``full``).  ``course``: a course already
    generated from these notebooks (``idc-lite assignments --course``), copied instead of generating
    one per call (a class's grading generates it once).  ``shared_work``: the class's folder of heavy calls
    already made for another student with the same inputs (:mod:`idc_lite.foundation.shared_work`).  A cell that
    fails, or an answer left as ``raise NotImplementedError()``, scores 0; nothing is retried.
    """
    sources = {p.stem: p for p in source_notebooks()}
    found = find_submissions(submissions, list(sources))
    if model is not None:
        model = Path(model).expanduser().resolve()
        if not model.is_file() or not model.with_suffix(".json").is_file():
            raise AssignmentError(f"--model {model}: need a kit checkpoint and its .json record beside it")
    smoke = smoke or os.environ.get(SMOKE_ENV, "") not in ("", "0", "false", "False")
    rows: list[GradeRow] = []
    out = Path(submissions) / "autograded"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="idc-lite-grading-") as tmp:
        generated, course, run = course, Path(tmp) / "course", Path(tmp) / "run"
        run.mkdir()
        _course_for_grading(course, sources, generated)
        if model is not None:
            for path in _reusable_files(model):
                shutil.copy2(path, run / path.name)
        env = {RUN_DIR_ENV: str(run), HEADLESS_ENV: "1", SMOKE_ENV: "1" if smoke else None, LAB_ENV: "0" if full else "1",
               MODEL_ENV: str(model) if model else None, "PATH": _tools_path(),
               SHARED_WORK_ENV: str(Path(shared_work).resolve()) if shared_work else None}
        with environment(**env), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            api = _api(course, timeout)
            for i, (name, source) in enumerate(sources.items()):
                write_grades(Path(submissions) / GRADES_FILE, rows + _not_graded_yet(list(sources.values())[i:]))
                cells = graded_cells(source)
                if name not in found:
                    rows += [GradeRow(name, c["grade_id"], 0.0, c["points"], "manual" if c["manual"] else "auto",
                                      "not submitted") for c in cells]
                    continue
                unreadable = _unreadable(found[name])
                if unreadable:
                    rows += [GradeRow(name, c["grade_id"], 0.0, c["points"], "manual" if c["manual"] else "auto",
                                      unreadable) for c in cells]
                    continue
                target = course / "submitted" / STUDENT / name / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(found[name], target)
                t0 = time.perf_counter()
                print(f"grading {name} ...", flush=True)
                result = api.autograde(name, STUDENT, force=True, create=True)
                seconds = round(time.perf_counter() - t0, 1)
                print(f"grading {name}: {seconds:.0f} s", flush=True)
                graded = course / "autograded" / STUDENT / name / source.name
                (out / source.name).unlink(missing_ok=True)       # no earlier grading's copy, nor its feedback
                if graded.is_file():
                    shutil.copyfile(graded, out / source.name)
                if not result["success"]:
                    reason = (result.get("error") or result.get("log") or "").strip().splitlines()
                    rows += [GradeRow(name, c["grade_id"], 0.0, c["points"], "manual" if c["manual"] else "auto",
                                      "grading failed: " + (reason[-1] if reason else "see nbgrader's log"), seconds)
                             for c in cells]
                    continue
                problem = execution_problem(graded, timeout)      # nbgrader grades a hung notebook as if it ran
                mine = _scored_rows(course, name, cells, seconds)
                rows += [replace(row, status=problem) for row in mine] if problem else mine
    write_grades(Path(submissions) / GRADES_FILE, rows)
    write_feedback(Path(submissions), Path(submissions).resolve().name, rows,
                   {name: out / source.name for name, source in sources.items() if name in found})   # this grading's copies
    return rows


def _not_graded_yet(sources: list[Path]) -> list[GradeRow]:
    """Zero-point rows saying that the grading has not reached these notebooks yet."""
    return [GradeRow(p.stem, c["grade_id"], 0.0, c["points"], "manual" if c["manual"] else "auto", NOT_GRADED_YET)
            for p in sources for c in graded_cells(p)]


def _unreadable(path: Path) -> str | None:
    """Why ``path`` is not a notebook nbgrader can grade (a status), or None when it reads as one."""
    try:
        read_notebook(path)
    except Exception as err:      # not JSON, not a notebook, an unknown format version: the student's file, not ours
        return f"grading failed: not a readable notebook ({type(err).__name__})"
    return None


def _scored_rows(course: Path, name: str, cells: list[dict], seconds: float) -> list[GradeRow]:
    """The rows of notebook ``name`` from the course's gradebook after nbgrader graded it."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        try:
            scores = {g.name: g for g in gradebook.find_submission_notebook(name, name, STUDENT).grades}
        except MissingEntry:
            scores = {}
        rows = []
        for c in cells:
            g = scores.get(c["grade_id"])
            if g is None:
                rows.append(GradeRow(name, c["grade_id"], 0.0, c["points"], "auto", "cell missing", seconds))
            elif c["manual"]:
                pending = g.needs_manual_grade
                rows.append(GradeRow(name, c["grade_id"], "" if pending else float(g.score), float(g.max_score),
                                     "manual", "needs manual grading" if pending else "graded", seconds))
            else:
                rows.append(GradeRow(name, c["grade_id"], float(g.score), float(g.max_score), "auto", "graded", seconds))
        return rows


def execution_problem(notebook: Path, timeout: int) -> str | None:
    """What went wrong while the grader ran ``notebook`` (an autograded copy) beyond a student's own errors:
    a cell stopped at the per-cell timeout, or a kernel that died; None when neither (or no notebook)."""
    if not notebook.is_file():
        return None
    try:
        cells = json.loads(notebook.read_text()).get("cells", [])
    except (OSError, ValueError):
        return None
    for index, cell in enumerate(cells):
        names = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        if "CellTimeoutError" in names:
            return f"timed out: cell {index} ran past the per-cell timeout of {timeout} s and was stopped"
        if "DeadKernelError" in names:
            return f"kernel died in cell {index} (out of memory, or the process was killed)"
    return None


def write_grades(path: Path, rows: list[GradeRow]) -> Path:
    """The grades as CSV, one row per graded cell, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(GradeRow.__dataclass_fields__))
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return atomic_write_bytes(path, lambda handle: handle.write(buffer.getvalue().encode()))


def totals(rows: list[GradeRow]) -> dict[str, dict]:
    """Per notebook and overall: autograded points and maximum, and hand-graded points still pending."""
    zero = {"auto": 0.0, "auto_max": 0.0, "manual": 0.0, "manual_max": 0.0, "manual_pending": 0}
    out = {name: dict(zero) for name in [r.notebook for r in rows] + ["total"]}
    for r in rows:
        for key in (r.notebook, "total"):
            t = out[key]
            if r.graded_by == "auto":
                t["auto"] += float(r.points or 0)
                t["auto_max"] += r.max_points
            else:
                t["manual_max"] += r.max_points
                if r.points == "":
                    t["manual_pending"] += 1
                else:
                    t["manual"] += float(r.points)
    return out


def summary_lines(rows: list[GradeRow]) -> list[str]:
    lines = []
    for name, t in totals(rows).items():
        lines.append(f"{name:28s} autograded {t['auto']:g} / {t['auto_max']:g}; graded by hand {t['manual']:g} / "
                     f"{t['manual_max']:g}" + (f" ({t['manual_pending']} still to grade)" if t["manual_pending"] else ""))
    return lines

"""The notebooks are valid nbgrader sources, the student copies hold no solutions, and the autograder
gives the untouched student copies 0 and the instructor source full marks (smoke mode)."""
import csv
import inspect
import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO
from exercise_solutions import solution_lines
from idc_lite.foundation.errors import AssignmentError
from idc_lite.teaching import checks
from idc_lite.teaching.course import generate, graded_cells
from idc_lite.teaching.grading import find_submissions, totals

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return nbformat.read(path, as_version=4).cells


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_an_nbgrader_source(path):
    cells = _cells(path)
    ids = [_meta(c)["grade_id"] for c in cells if _meta(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    for cell in cells:
        meta = _meta(cell)
        if "BEGIN SOLUTION" in cell.source or "BEGIN HIDDEN TESTS" in cell.source:
            assert meta, f"markers without nbgrader metadata: {cell.source[:60]!r}"
        if "BEGIN SOLUTION" in cell.source:
            assert meta["solution"] and not meta["grade"]
        if meta.get("grade") and cell.cell_type == "code":
            assert meta["locked"] and meta["points"] > 0 and not meta["solution"]
            assert re.search(r"check_\w+\(", cell.source), "a grading cell calls its checker"
            assert "import" in cell.source, "grading cells import their checker (the autograder restores them alone)"
        if meta.get("grade") and cell.cell_type == "markdown":
            assert meta["solution"] and meta["points"] > 0 and "**Answer.**" in cell.source
    auto = [c for c in graded_cells(path) if not c["manual"]]
    assert len({c["grade_id"].split("_")[1] for c in auto}) >= 2, "at least two autograded exercises per notebook"
    markdown = "".join(c.source for c in cells if c.cell_type == "markdown")
    assert "## Exercises" in markdown


def test_every_checker_grades_an_exercise():
    grading = "".join(c.source for p in NOTEBOOKS for c in _cells(p) if _meta(c).get("grade"))
    public = [name for name, fn in inspect.getmembers(checks, inspect.isfunction)
              if name.startswith("check_") and fn.__module__.startswith(checks.__name__ + ".")]
    assert len(public) >= 10
    assert [name for name in public if f"{name}(" not in grading] == []


def test_the_instructors_page_gives_each_notebooks_exercises_and_points():
    """The table of docs/instructors.md against the notebooks' graded cells: every exercise named, the points summed."""
    rows = {line.split("|")[1].strip(): line for line in (REPO / "docs" / "instructors.md").read_text().splitlines()
            if re.match(r"\| \d\d \|", line)}
    assert sorted(rows) == [p.name[:2] for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        cells = graded_cells(path)
        cols = [c.strip() for c in rows[path.name[:2]].split("|")[1:-1]]
        exercises = sorted({c["grade_id"].split("_")[1] for c in cells})
        assert all(f"{path.name[:2]}.{e}" in cols[1] for e in exercises), (path.name, cols[1])
        assert float(cols[2]) == sum(c["points"] for c in cells if not c["manual"]), path.name
        assert float(cols[3]) == sum(c["points"] for c in cells if c["manual"]), path.name


def test_no_solution_is_visible_earlier_or_in_the_readme_or_the_docs():
    readme = "".join(p.read_text() for p in [REPO / "README.md", REPO / "CHANGELOG.md", *(REPO / "docs").glob("*.md")])
    earlier: list[str] = []
    for path in NOTEBOOKS:
        for cell in _cells(path):
            for line in solution_lines(cell):
                assert line not in readme, f"{path.name}: solution line in the README: {line}"
                assert not any(line in source for source in earlier), f"{path.name}: solution shown earlier: {line}"
            earlier.append(cell.source)


def test_find_submissions_accepts_only_the_student_copies_names(tmp_path):
    names = [p.stem for p in NOTEBOOKS]
    (tmp_path / "01_label_images.ipynb").write_text("{}")
    (tmp_path / "04_attack").mkdir()
    (tmp_path / "04_attack" / "04_attack.ipynb").write_text("{}")
    assert set(find_submissions(tmp_path, names)) == {"01_label_images", "04_attack"}
    (tmp_path / "my_answers.ipynb").write_text("{}")
    with pytest.raises(AssignmentError, match="keep the student copies' file names"):
        find_submissions(tmp_path, names)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AssignmentError, match="no notebooks in"):
        find_submissions(tmp_path / "empty", names)
    with pytest.raises(AssignmentError, match="must be a folder"):
        find_submissions(tmp_path / "missing", names)


def test_make_grade_without_submissions_says_how():
    done = subprocess.run(["make", "-s", "grade"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 2 and "usage: make grade SUBMISSIONS=folder" in done.stderr


@pytest.fixture(scope="session")
def generated_course(tmp_path_factory):
    """One nbgrader course generated from the notebooks, shared by every test of the session."""
    course = tmp_path_factory.mktemp("course")
    return course, generate(course)


@pytest.fixture
def student_copies(generated_course):
    return generated_course[1]


def test_a_course_generated_from_other_notebooks_is_refused(generated_course, tmp_path):
    from idc_lite.teaching.course import source_notebooks
    from idc_lite.teaching.grading import _course_for_grading

    sources = {p.stem: p for p in source_notebooks()}
    stale = tmp_path / "stale"
    shutil.copytree(generated_course[0], stale)
    copy = stale / "source" / NOTEBOOKS[0].stem / NOTEBOOKS[0].name
    copy.write_text(copy.read_text().replace("label", "lable", 1))
    with pytest.raises(AssignmentError, match="another version"):
        _course_for_grading(tmp_path / "c1", sources, stale)
    with pytest.raises(AssignmentError, match="no generated assignment"):
        _course_for_grading(tmp_path / "c2", sources, tmp_path / "empty")
    _course_for_grading(tmp_path / "c3", sources, generated_course[0])      # the fresh one is taken as it is
    assert (tmp_path / "c3" / "release" / NOTEBOOKS[0].stem / NOTEBOOKS[0].name).is_file()


def test_student_copies_hold_no_solution_and_no_hidden_test(student_copies):
    assert [p.name for p in student_copies] == [p.name for p in NOTEBOOKS]
    for release, source in zip(student_copies, NOTEBOOKS):
        assert release.parent.name == source.stem
        text = release.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "**Answer.**" not in text
        for cell in _cells(source):
            for line in solution_lines(cell):
                assert line not in text, f"{release.name} shows a solution line: {line}"
        for cell in _cells(source):
            if _meta(cell).get("grade") and cell.cell_type == "code" and "HIDDEN TESTS" in cell.source:
                hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].strip()
                assert hidden not in text
        released = {_meta(c)["grade_id"]: c for c in _cells(release) if _meta(c)}
        assert all(released[c["grade_id"]].metadata.get("editable") is False for c in graded_cells(source) if not c["manual"])
        # the student copy starts at lab sizes, the instructor's source at full settings: one parameter apart
        parameters = [c.source for c in _cells(release) if "parameters" in c.metadata.get("tags", [])]
        source_parameters = [c.source for c in _cells(source) if "parameters" in c.metadata.get("tags", [])]
        assert len(parameters) == 1 and "\nlab: bool = True  #" in parameters[0], release.name
        assert parameters[0] == source_parameters[0].replace("\nlab: bool = False  #", "\nlab: bool = True  #")


def test_a_grading_stopped_part_way_keeps_the_points_of_the_notebooks_it_graded(tmp_path, monkeypatch):
    """grades.csv is written after each notebook: stopped in the second, the first's rows stay and the rest say
    "not graded yet" (hours of full settings are never lost to a stop)."""
    from idc_lite.teaching import grading

    class StoppedInTheSecond:
        calls = []

        def autograde(self, name, student, **_):
            self.calls.append(name)
            if len(self.calls) > 1:
                raise KeyboardInterrupt
            return {"success": False, "error": "the kernel could not start"}

    monkeypatch.setattr(grading, "_course_for_grading", lambda *_: None)
    monkeypatch.setattr(grading, "_api", lambda *_: StoppedInTheSecond())
    for notebook in NOTEBOOKS:
        (tmp_path / notebook.name).write_bytes(notebook.read_bytes())
    with pytest.raises(KeyboardInterrupt):
        grading.grade(tmp_path)
    with open(tmp_path / grading.GRADES_FILE) as handle:
        rows = list(csv.DictReader(handle))
    assert StoppedInTheSecond.calls == [NOTEBOOKS[0].stem, NOTEBOOKS[1].stem]
    assert [r["cell_id"] for r in rows] == [c["grade_id"] for p in NOTEBOOKS for c in graded_cells(p)]
    first = [r for r in rows if r["notebook"] == NOTEBOOKS[0].stem]
    assert first and all(r["status"] == "grading failed: the kernel could not start" for r in first)
    assert all(r["status"] == grading.NOT_GRADED_YET and float(r["points"]) == 0 for r in rows if r not in first)


def test_keeping_the_shared_work_needs_shared_work():
    from idc_lite.cli.grade import main

    with pytest.raises(SystemExit) as stopped:
        main(["somewhere", "--keep-shared-work", "--no-shared-work"])
    assert stopped.value.code == 2


def test_one_students_grading_keeps_its_heavy_calls_for_the_next_sitting(tmp_path, monkeypatch, capsys):
    """``idc-lite grade alice --full --keep-shared-work``: the student's own heavy calls go to alice/.shared-work,
    and the grading started again says it loads them."""
    from idc_lite.cli import grade as command
    from idc_lite.foundation.shared_work import VERSION_FILE

    given = []
    monkeypatch.setattr(command, "grade", lambda *args, **kwargs: given.append(kwargs["shared_work"]) or [])
    (tmp_path / NOTEBOOKS[0].name).write_bytes(NOTEBOOKS[0].read_bytes())
    assert command.main([str(tmp_path), "--full", "--keep-shared-work"]) == 0
    assert given == [tmp_path / ".shared-work"] and (tmp_path / ".shared-work" / VERSION_FILE).is_file()
    (tmp_path / ".shared-work" / "call.pkl").write_bytes(b"")         # a call the first sitting made
    assert command.main([str(tmp_path), "--full", "--keep-shared-work"]) == 0
    assert "loading 1 heavy calls made by an earlier grading" in capsys.readouterr().out
    assert command.main([str(tmp_path), "--full"]) == 0 and given[-1] is None     # not kept: nothing shared


def _grade(folder, *options):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IDC_LITE_")}, "IDC_LITE_SMOKE": "1"}
    done = subprocess.run([sys.executable, "-m", "idc_lite", "grade", str(folder), *options],
                          capture_output=True, text=True, cwd=REPO, timeout=1200, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(folder / "grades.csv") as handle:
        return list(csv.DictReader(handle)), done.stdout


@pytest.mark.slow
def test_one_students_untouched_copy_scores_zero_and_the_total_is_printed(generated_course, smoke_run, tmp_path):
    """`idc-lite grade FOLDER` for one student, with the session's course: the untouched copy of notebook 01
    (the class test grades every notebook's untouched copy)."""
    course, student_copies = generated_course
    (tmp_path / student_copies[0].name).write_bytes(student_copies[0].read_bytes())
    rows, printed = _grade(tmp_path, "--model", str(smoke_run / "model.pt"), "--course", str(course))
    first = NOTEBOOKS[0].stem
    auto = [r for r in rows if r["graded_by"] == "auto" and r["notebook"] == first]
    assert len(auto) >= 2 and all(r["status"] == "not submitted" for r in rows if r["notebook"] != first)
    assert all(r["status"] == "graded" and float(r["points"]) == 0.0 and float(r["max_points"]) > 0 for r in auto)
    assert "total" in printed and "autograded 0 / " in printed
    assert [p.name for p in (tmp_path / "autograded").glob("*.ipynb")] == [NOTEBOOKS[0].name]


TIMEOUT = 60   # seconds per cell: far above any smoke cell, and what the hanging cell costs the run


@pytest.mark.slow
def test_a_class_is_graded_on_two_dask_workers_and_the_solutions_score_full_marks(generated_course, smoke_run, tmp_path):
    """Three students graded as tasks on a LocalCluster of 2 workers, with one course and one model made elsewhere
    (the smoke run's): the instructor's sources of every notebook ("solved": full marks, the hand-graded answers
    left for a person), the untouched student copies of every notebook (zero on every autograded cell), and a
    file that is not a notebook beside a notebook that hangs past the per-cell timeout ("broken", 01 and 02
    only).  A class table, and a grades.csv per student."""
    from idc_lite.teaching.class_grading import CLASS_FILE, CLASS_TABLE, SHARED_WORK_FOLDER
    from idc_lite.teaching.grading import GradeRow

    course, student_copies = generated_course
    submitted = NOTEBOOKS[:2]                  # broken's 01 and 02 (the model is given, so no 02 trains anything)
    for student, files in (("untouched", student_copies), ("solved", NOTEBOOKS)):
        (tmp_path / student).mkdir()
        for f in files:
            (tmp_path / student / f.name).write_bytes(f.read_bytes())
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / NOTEBOOKS[0].name).write_text("this is not a notebook")
    hangs = json.loads(submitted[1].read_text())          # the solved 02, stuck in its first cell after the parameters
    stuck = next(c for c in hangs["cells"] if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", []))
    stuck["source"] = "import time\ntime.sleep(100000)\n" + "".join(stuck["source"])
    (tmp_path / "broken" / submitted[1].name).write_text(json.dumps(hangs))
    env = {**os.environ, "IDC_LITE_SMOKE": "1"}
    done = subprocess.run([sys.executable, "-m", "idc_lite", "grade", str(tmp_path), "--model", str(smoke_run / "model.pt"),
                           "--course", str(course), "--workers", "2", "--timeout", str(TIMEOUT)],
                          capture_output=True, text=True, cwd=REPO, timeout=1800, env=env)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]     # 1: not every student was graded
    with open(tmp_path / CLASS_FILE) as handle:
        rows = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    first, second = NOTEBOOKS[0].stem, NOTEBOOKS[1].stem
    maximum = {p.stem: sum(c["points"] for c in graded_cells(p)) for p in NOTEBOOKS}
    auto = {p.stem: sum(c["points"] for c in graded_cells(p) if not c["manual"]) for p in NOTEBOOKS}
    assert {s for s, _ in rows} == {"untouched", "solved", "broken"} and len(rows) == 3 * len(NOTEBOOKS)
    assert all(float(rows["solved", n]["points"]) == auto[n] for n in auto) and auto[first] > 0
    assert all(float(rows["untouched", n]["points"]) == 0.0 and rows["untouched", n]["status"] == "graded" for n in auto)
    assert all(float(rows[s, n]["max_points"]) == maximum[n] for s, n in rows)
    assert rows["broken", NOTEBOOKS[3].stem]["status"] == "not submitted"
    assert rows["broken", first]["status"].startswith("grading failed: not a readable notebook")
    assert float(rows["broken", first]["points"]) == 0
    # the stuck cell was stopped and the cells after it still ran (nbgrader goes on): the row says what happened
    assert f"ran past the per-cell timeout of {TIMEOUT} s" in rows["broken", second]["status"]
    assert int(rows["solved", first]["manual_pending"]) >= 1
    assert (tmp_path / "untouched" / "grades.csv").is_file()
    assert not (tmp_path / SHARED_WORK_FOLDER).exists()      # the calls shared between students live only while grading
    table = (tmp_path / CLASS_TABLE).read_text()
    assert "ran past the per-cell timeout" in table
    assert f"| solved | {sum(auto.values()):g} | {sum(maximum.values()):g} |" in table
    assert all(float(rows["solved", n]["seconds"]) > 0 for n in auto) and "grading time" in table

    # each student's feedback page: every graded cell with its points and what its check said
    untouched_page = (tmp_path / "untouched" / "feedback.html").read_text()
    solved_page = (tmp_path / "solved" / "feedback.html").read_text()
    said = {page: dict(re.findall(r"<tr><td>([^<]+)</td>.*?<pre>(.*?)</pre>", text, re.S))
            for page, text in (("untouched", untouched_page), ("solved", solved_page))}
    checked = [c["grade_id"] for p in NOTEBOOKS for c in graded_cells(p) if not c["manual"]]
    assert set(checked) <= set(said["solved"]) and set(checked) <= set(said["untouched"])
    assert all("passed" in said["solved"][c] for c in checked), {c: said["solved"][c] for c in checked}
    assert all("passed" not in said["untouched"][c] and said["untouched"][c] for c in checked)
    assert "not answered yet" in untouched_page

    # the untouched student's grades.csv: zero on every autograded cell of every notebook, each one graded
    with open(tmp_path / "untouched" / "grades.csv") as handle:
        untouched = [r for r in csv.DictReader(handle) if r["graded_by"] == "auto"]
    assert len(untouched) >= 2 * len(NOTEBOOKS) and {r["notebook"] for r in untouched} == {p.stem for p in NOTEBOOKS}
    assert all(r["status"] == "graded" and float(r["points"]) == 0.0 and float(r["max_points"]) > 0 for r in untouched)
    assert {p.stem for p in NOTEBOOKS} == {p.stem for p in (tmp_path / "untouched" / "autograded").glob("*.ipynb")}

    # the solved student's own grades.csv: every autograded cell at full marks, every answer for a person left open
    with open(tmp_path / "solved" / "grades.csv") as handle:
        solved = list(csv.DictReader(handle))
    graded = [r for r in solved if r["graded_by"] == "auto"]
    assert graded and all(r["status"] == "graded" and float(r["points"]) == float(r["max_points"]) for r in graded), graded
    manual = [r for r in solved if r["graded_by"] == "manual"]
    assert manual and all(r["status"] == "needs manual grading" and r["points"] == "" for r in manual)
    total = totals([GradeRow(r["notebook"], r["cell_id"], float(r["points"]) if r["points"] else "",
                             float(r["max_points"]), r["graded_by"], r["status"]) for r in solved])["total"]
    assert total["auto"] == total["auto_max"] > 0
    graded_02 = nbformat.read(tmp_path / "solved" / "autograded" / NOTEBOOKS[1].name, as_version=4)
    printed = "".join(o.get("text", "") for c in graded_02.cells if c.cell_type == "code" for o in c.outputs)
    assert "using the model trained elsewhere" in printed and "no training here" in printed


def test_a_timed_out_or_dead_kernel_is_named_and_a_student_error_is_not(tmp_path):
    """nbgrader grades a notebook whose cell hit the timeout as if it had run: the grader must say so."""
    from idc_lite.teaching.grading import execution_problem

    def notebook(*enames):
        path = tmp_path / f"{'-'.join(enames) or 'clean'}.ipynb"
        cells = [{"cell_type": "code", "source": "", "metadata": {},
                  "outputs": [{"output_type": "error", "ename": e, "evalue": "", "traceback": []}]} for e in enames]
        path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": "", "metadata": {}}, *cells]}))
        return path

    assert execution_problem(notebook("NameError", "CellTimeoutError"), 60) == (
        "timed out: cell 2 ran past the per-cell timeout of 60 s and was stopped")
    assert execution_problem(notebook("DeadKernelError"), 60).startswith("kernel died in cell 1")
    assert execution_problem(notebook("NotImplementedError", "ExerciseCheckFailed"), 60) is None
    assert execution_problem(notebook(), 60) is None and execution_problem(tmp_path / "none.ipynb", 60) is None
    (tmp_path / "junk.ipynb").write_text("not json")
    assert execution_problem(tmp_path / "junk.ipynb", 60) is None

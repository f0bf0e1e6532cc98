"""benchmarks/lab_course.py: a full-settings grading stopped before its end (hours on some machines) keeps the
students it finished, and the instructors' page says which ones were not."""
import argparse
import csv
import importlib.util
import json
import time
from pathlib import Path

import pytest

from idc_lite.results.benchmark_blocks import _full_points
from idc_lite.results.benchmark_blocks import lab_course as lab_course_block
from idc_lite.teaching.course import source_notebooks
from idc_lite.teaching.grading import GRADES_FILE, NOT_GRADED_YET, GradeRow, write_grades

_spec = importlib.util.spec_from_file_location("lab_course", Path(__file__).parents[1] / "benchmarks" / "lab_course.py")
lab_course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab_course)

STOPPED_RUN = {"commit": "a" * 40, "created": "2026-12-06T12:44:55+00:00",
               "machine": {"cpu_model": "AMD EPYC", "usable_cores": 2, "matmul_gflops_float32_2048": 159.5,
                           "native_bf16": False}}


def _solved_grades(folder: Path) -> None:
    folder.mkdir(parents=True)
    write_grades(folder / GRADES_FILE, [
        GradeRow("01_label_images", "ex01_1_check", 2.0, 2.0, "auto", "graded", 7.2),
        GradeRow("01_label_images", "ex01_1_why", "", 1.0, "manual", "needs manual grading", 7.2),
        GradeRow("04_attack", "ex04_1_check", 3.0, 3.0, "auto", "graded", 1900.0),
        GradeRow("04_attack", "ex04_2_check", 0.0, 2.0, "auto",
                 "timed out: cell 9 of /somewhere/run/04_attack.ipynb ran past 3600 s", 1900.0)])


def _student(points: float, by_notebook: dict) -> dict:
    return {"points": points, "seconds": 100.0, "statuses": [], "by_notebook": by_notebook}


def test_the_students_a_stopped_grading_finished_are_read_from_their_own_grades(tmp_path):
    _solved_grades(tmp_path / "full" / "solved-0")
    (tmp_path / "full" / "untouched-1").mkdir()          # still grading when it was stopped: no grades.csv yet
    students = lab_course.finished_students(tmp_path / "full")
    assert students == {"solved-0": {"points": 5.0, "seconds": 1907.2, "by_notebook": {"01_label_images": 2.0, "04_attack": 3.0},
                                     "statuses": ["timed out: cell 9 of 04_attack.ipynb ran past 3600 s"], "not_graded": []}}


def test_collecting_a_stopped_full_grading_records_it_beside_the_class_run_it_followed(tmp_path):
    lab = {"solved-0": _student(5.0, {"01_label_images": 2.0, "04_attack": 3.0}),
           "untouched-1": _student(0.0, {"01_label_images": 0.0, "04_attack": 0.0}),
           "hangs": _student(0.0, {}) | {"statuses": ["timed out"]}}
    classes = [{"students": 3, "workers": 1, "wall_seconds": 300.0, "timeout": 60, "shared_work": True,
                "per_student": lab, "measured": STOPPED_RUN},
               {"students": 3, "workers": 2, "wall_seconds": 200.0, "timeout": 60, "shared_work": True,
                "per_student": {name: _student(1.0, {}) for name in lab}}]
    record = tmp_path / "lab_course.json"
    stored = {"commit": "b" * 40, "created": "2026-12-05T08:00:00+00:00", "machine": {}, "note": "", "classes": classes}
    record.write_text(json.dumps(stored | {"update": STOPPED_RUN}))
    now = {"commit": "c" * 40, "created": "2026-12-06T15:00:00+00:00", "machine": {}, "note": ""}
    args = argparse.Namespace(record=record, out=tmp_path)

    with pytest.raises(SystemExit, match="no student in .* finished"):
        lab_course.collect_full_points(args, json.loads(record.read_text()) | {"update": now})
    _solved_grades(tmp_path / "full" / "solved-0")
    (tmp_path / "full" / "untouched-1").mkdir()
    lab_course.collect_full_points(args, json.loads(record.read_text()) | {"update": now})
    saved = json.loads(record.read_text())
    assert "update" not in saved and saved["full_points_measured"] == STOPPED_RUN     # the grading run's commit
    full = saved["full_points"]
    assert full["wall_seconds"] is None and full["stopped"] == "stopped by hand before the end"
    assert list(full["per_student"]) == ["solved-0"] and list(full["lab_per_student"]) == ["solved-0", "untouched-1"]
    block = lab_course_block({"lab_course": saved})
    assert "`--full` (full settings, one worker, heavy calls shared): stopped by hand before the end (measured again " \
           "at commit `aaaaaaaaaa`" in block
    assert "| solved-0 | all | 5 | 5 | none | 32 min |" in block
    assert "| untouched-1 | none | 0 | not reached | – | – |" in block and "| hangs |" not in block

    record.write_text(json.dumps(stored))             # a record no stopped run saved: nothing says where it ran
    with pytest.raises(SystemExit, match="stopped before its end"):
        lab_course.collect_full_points(args, stored | {"update": now})


def test_a_student_stopped_part_way_has_the_points_of_the_notebooks_it_reached(tmp_path):
    """grades.csv after the grading reached 04: 01 and 04 count, 05 is listed as not reached, and the page sets the
    points beside the lab points of the same notebooks only."""
    folder = tmp_path / "full" / "solved-0"
    _solved_grades(folder)
    with open(folder / GRADES_FILE) as handle:
        rows = [GradeRow(**r) for r in csv.DictReader(handle)]
    write_grades(folder / GRADES_FILE, rows + [GradeRow("05_compare", "ex05_1_check", 0.0, 4.0, "auto", NOT_GRADED_YET)])
    students = lab_course.finished_students(tmp_path / "full")
    assert students["solved-0"]["not_graded"] == ["05_compare"] and students["solved-0"]["points"] == 5.0
    assert set(students["solved-0"]["by_notebook"]) == {"01_label_images", "04_attack"}
    lab = {"solved-0": _student(9.0, {"01_label_images": 2.0, "04_attack": 2.0, "05_compare": 4.0})}
    full = {"wall_seconds": None, "stopped": "stopped after 150 min", "per_student": students, "earlier_calls": 12}
    lines = "\n".join(_full_points(full, lab))
    assert "| solved-0 | 2 of 3 (not reached: 05_compare) | 4 | 5 | 04_attack | 32 min |" in lines
    assert "loaded 12 heavy calls made by an earlier stopped run" in lines


def test_a_new_class_keeps_a_kept_shared_work_folder_and_drops_the_earlier_students(tmp_path):
    course = tmp_path / "course"
    for notebook in source_notebooks():
        (course / "release" / notebook.stem).mkdir(parents=True)
        (course / "release" / notebook.stem / notebook.name).write_bytes(notebook.read_bytes())
    folder = tmp_path / "full"
    (folder / ".shared-work").mkdir(parents=True)
    (folder / ".shared-work" / "call.pkl").write_bytes(b"")
    (folder / "someone-earlier").mkdir()
    (folder / "class_grades.csv").write_text("")
    lab_course.make_class(folder, 4, course)
    assert sorted(p.name for p in folder.iterdir()) == [".shared-work", "broken", "hangs", "solved-0", "untouched-1"]
    assert (folder / ".shared-work" / "call.pkl").is_file()


def test_a_grading_past_its_limit_is_stopped_and_returns_no_time(tmp_path):
    t0 = time.perf_counter()
    assert lab_course.grade_within(tmp_path, tmp_path, 0.5) is None      # stopped while it starts
    assert time.perf_counter() - t0 < 60


def test_full_points_without_a_class_run_now_sit_beside_the_newest_recorded_class_with_the_pair():
    pair = {"solved-0": _student(5.0, {}), "untouched-1": _student(0.0, {})}
    older = {"workers": 2, "per_student": pair | {"solved-0": _student(4.0, {})}}       # the record's own run
    newer = {"workers": 1, "per_student": pair, "measured": STOPPED_RUN}
    without = {"workers": 3, "per_student": {"solved-0": _student(9.0, {})}, "measured": STOPPED_RUN | {"created": "2027"}}
    report = {"created": "2026-12-05T08:00:00+00:00", "classes": [older, newer, without]}
    assert lab_course.recorded_lab_points(report) is pair
    assert lab_course.recorded_lab_points({"created": "2026-12-07", "classes": [older, newer]}) is older["per_student"]
    with pytest.raises(SystemExit, match="needs --update and a recorded class run with solved-0 and untouched-1"):
        lab_course.recorded_lab_points({"created": "2026-12-05", "classes": [without]})


def test_the_full_points_alone_need_a_recorded_class_run_to_set_them_beside(tmp_path, monkeypatch):
    args = argparse.Namespace(out=tmp_path, full_points_minutes=None, record=tmp_path / "lab_course.json")
    with pytest.raises(SystemExit, match="needs --update"):
        lab_course.only_full_points(args, {"classes": []})
    with pytest.raises(SystemExit, match="a recorded class run with solved-0 and untouched-1"):
        lab_course.only_full_points(args, {"created": "2026-12-06", "classes": [], "update": STOPPED_RUN})
    assert not (tmp_path / "course").exists()       # refused before generating anything
    pair = {"solved-0": _student(5.0, {}), "untouched-1": _student(0.0, {})}
    given = []
    monkeypatch.setattr(lab_course, "full_points",
                        lambda out, course, lab, minutes: given.append((lab, minutes)) or {"per_student": {}})
    monkeypatch.setattr(lab_course, "generate", lambda course: course.mkdir())
    args.full_points_minutes = 150
    lab_course.only_full_points(args, {"created": "2026-12-05", "classes": [{"workers": 1, "per_student": pair}],
                                       "update": STOPPED_RUN})
    assert given == [(pair, 150)]
    record = json.loads(args.record.read_text())
    assert record["full_points"] == {"per_student": {}} and record["full_points_measured"] == STOPPED_RUN
    assert "update" not in record

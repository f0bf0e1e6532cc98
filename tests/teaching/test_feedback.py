"""The feedback page a student gets: each graded cell's points and what its check printed or raised."""
import json

from idc_lite.teaching.feedback import cell_messages, feedback_html, write_feedback
from idc_lite.teaching.grading import GradeRow


def _executed(path, cells):
    nb = {"cells": [{"cell_type": "code", "source": "", "metadata": {"nbgrader": {"grade_id": gid, "grade": True}},
                     "outputs": outputs} for gid, outputs in cells]
                   + [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [{"output_type": "stream",
                                                                                      "text": "not graded"}]}]}
    path.write_text(json.dumps(nb))
    return path


def test_the_page_shows_each_cells_points_and_the_checks_words(tmp_path):
    notebook = _executed(tmp_path / "02.ipynb", [
        ("q", [{"output_type": "stream", "name": "stdout", "text": "[02.1] passed: x_t equals q_sample\n"}]),
        ("var", [{"output_type": "error", "ename": "ExerciseCheckFailed", "evalue": "[02.2] \x1b[31mnot answered yet<b>",
                  "traceback": ["long", "traceback"]}]),
    ])
    assert cell_messages(notebook) == {"q": "[02.1] passed: x_t equals q_sample",
                                       "var": "ExerciseCheckFailed: [02.2] not answered yet<b>"}
    assert cell_messages(tmp_path / "missing.ipynb") == {}
    rows = [GradeRow("02", "q", 2.0, 2.0, "auto", "graded"), GradeRow("02", "var", 0.0, 1.0, "auto", "graded"),
            GradeRow("02", "essay", "", 3.0, "manual", "needs manual grading"),
            GradeRow("03", "x", 0.0, 1.0, "auto", "not submitted")]
    page = feedback_html("ada", rows, {"02": notebook})
    assert "Feedback for ada" in page and "<b>2 / 4</b>" in page          # autograded points only
    assert "passed: x_t equals q_sample" in page and "not answered yet&lt;b&gt;" in page and "traceback" not in page
    assert "to be graded / 3" in page and "not submitted" in page and "not graded" not in page
    written = write_feedback(tmp_path, "ada", rows, {"02": notebook})
    assert written.name == "feedback.html" and written.read_text() == page


def test_a_crashed_grading_leaves_no_earlier_grades_or_feedback(tmp_path):
    import pytest

    from idc_lite.foundation.errors import AssignmentError
    from idc_lite.teaching.class_grading import grade_student

    student = tmp_path / "ada"
    student.mkdir()
    (student / "01_label_images.ipynb").write_text("{}")
    for stale in ("grades.csv", "feedback.html"):
        (student / stale).write_text("last week's")
    with pytest.raises(AssignmentError, match="no generated assignment"):
        grade_student(student, None, True, 60, tmp_path / "no-course")
    assert not (student / "grades.csv").exists() and not (student / "feedback.html").exists()

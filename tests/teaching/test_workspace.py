"""A student's own copies (make lab): copied once, never overwritten, a newer release beside them; one
exercise's model answer on request."""
import json
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO
from exercise_solutions import solution_lines
from idc_lite.foundation.errors import AssignmentError, InputError
from idc_lite.teaching import prepare_workspace, solution
from idc_lite.teaching.course import graded_cells, source_notebooks
from idc_lite.teaching.workspace import NEW_RELEASES

NOTEBOOKS = source_notebooks()


def test_copies_are_made_once_kept_as_the_student_left_them_and_a_new_release_goes_beside(tmp_path):
    source = tmp_path / "source" / NOTEBOOKS[0].name
    source.parent.mkdir()
    source.write_bytes(NOTEBOOKS[0].read_bytes())
    folder = tmp_path / "mine"
    first = prepare_workspace(folder, [source])
    copy = folder / source.name
    assert first.copied == [source.stem] and first.kept == [] and not first.new_releases
    text = copy.read_text()
    assert "raise NotImplementedError()" in text and "BEGIN SOLUTION" not in text   # the student copy
    assert '"lab: bool = True  #' in text and "lab: bool = False" not in text      # at lab sizes
    edited = text.replace("raise NotImplementedError()", "return columns", 1)
    copy.write_text(edited)

    again = prepare_workspace(folder, [source])                  # nothing changed: the student's work stays
    assert again.copied == [] and again.kept == [source.stem] and not again.new_releases
    assert copy.read_text() == edited

    nb = nbformat.read(source, as_version=4)                     # the instructor changes the notebook
    nb.cells[0].source += "\n\nA sentence added for this term."
    nbformat.write(nb, source)
    newer = prepare_workspace(folder, [source])
    assert copy.read_text() == edited                            # still the student's
    beside = newer.new_releases[source.stem]
    assert beside.parent == folder / NEW_RELEASES and "A sentence added for this term." in beside.read_text()
    assert "newer version" in newer.message() and str(beside.relative_to(folder)) in newer.message()
    beside.write_text("the student started on the new release")  # and a newer release is never overwritten either
    prepare_workspace(folder, [source])
    assert beside.read_text() == "the student started on the new release"

    newest = folder / ".course" / "release" / source.stem / source.name
    copy.write_bytes(newest.read_bytes())                         # the student takes the newer release over
    assert not prepare_workspace(folder, [source]).new_releases   # and is not told about it again

    copy.unlink()                                                # a deleted copy comes back from the newest release
    assert prepare_workspace(folder, [source]).copied == [source.stem]
    assert "A sentence added for this term." in copy.read_text()

    (folder / ".release.json").write_text('{"copied": "damaged"}')   # a damaged record is set aside, nothing lost
    assert prepare_workspace(folder, [source]).kept == [source.stem]
    assert (folder / ".release.json.damaged").is_file() and "A sentence added" in copy.read_text()


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    (tmp_path / "mine").write_text("notes")
    with pytest.raises(InputError, match="is a file, not a folder"):
        prepare_workspace(tmp_path / "mine", NOTEBOOKS[:1])
    assert (tmp_path / "mine").read_text() == "notes"


def test_every_exercise_has_a_model_answer_made_of_its_solution_cells():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        exercises = sorted({c["grade_id"].split("_")[1] for c in graded_cells(path)})
        assert exercises, path.name
        for part in exercises:
            answer = solution(f"{path.name[:2]}.{part}")
            prefix = f"ex{path.name[:2]}_{part}_"
            cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                     and c.metadata["nbgrader"].get("grade_id", "").startswith(prefix)]
            assert len(answer.code) == sum(c.cell_type == "code" for c in cells)
            for code, cell in zip(answer.code, [c for c in cells if c.cell_type == "code"]):
                assert "SOLUTION" not in code and "NotImplementedError" not in code
                assert all(line in code for line in solution_lines(cell)), (answer.exercise, code)
            assert len(answer.written) == sum(c.cell_type == "markdown" for c in cells)
            assert all(w.startswith("**Answer.**") for w in answer.written)
            assert f"exercise {answer.exercise}" in str(answer)
            assert answer._repr_markdown_().count("```python") == len(answer.code)


@pytest.mark.parametrize("exercise, error, words", [
    ("2.3", InputError, "as the notebooks do"),
    ("09.1", InputError, "no notebook 09"),
    ("02.9", AssignmentError, "no exercise of that number"),
])
def test_a_wrong_exercise_number_gets_a_clear_error(exercise, error, words):
    with pytest.raises(error, match=words):
        solution(exercise)


def test_no_model_answer_comes_from_a_student_copy(tmp_path):
    released = prepare_workspace(tmp_path / "mine", NOTEBOOKS[1:2])
    assert released.copied == [NOTEBOOKS[1].stem]
    with pytest.raises(AssignmentError, match="holds student copies"):
        solution("02.3", [tmp_path / "mine" / NOTEBOOKS[1].name])


def test_lab_command_prepares_the_folder_or_names_the_source(tmp_path):
    done = subprocess.run([sys.executable, "-m", "idc_lite", "lab", "--folder", str(tmp_path / "mine"), "--prepare-only"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "copied in" in done.stdout and 'solution("02.3")' in done.stdout
    assert sorted(p.name for p in (tmp_path / "mine").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert set(json.loads((tmp_path / "mine" / ".release.json").read_text())["copied"]) == {p.stem for p in NOTEBOOKS}
    source = subprocess.run([sys.executable, "-m", "idc_lite", "lab", "--source", "--prepare-only"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert source.returncode == 0 and str(REPO / "notebooks") in source.stdout
    (tmp_path / "file").write_text("x")
    refused = subprocess.run([sys.executable, "-m", "idc_lite", "lab", "--folder", str(tmp_path / "file"), "--prepare-only"],
                             capture_output=True, text=True, cwd=REPO, timeout=120)
    assert refused.returncode == 2 and "is a file, not a folder" in refused.stderr


def test_a_notebook_without_the_lab_switch_cannot_become_a_student_copy(tmp_path):
    from idc_lite.teaching.course import start_at_lab_sizes

    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.replace("lab: bool = False", "xlab: bool = False")
    nbformat.write(nb, tmp_path / "no_lab.ipynb")
    with pytest.raises(AssignmentError, match="no `lab: bool = False` parameter"):
        start_at_lab_sizes(tmp_path / "no_lab.ipynb")

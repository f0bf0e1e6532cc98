"""The book's chapters take the reference run's outputs only beside the code that made them (idc_lite.results.chapters)."""
import json

from conftest import REPO
from idc_lite.results.chapters import NOTE_ID, chapter_with_outputs, is_exercise
from idc_lite.results.records import REFERENCE


def _code(cell_id, source, outputs=(), **nbgrader):
    return {"cell_type": "code", "id": cell_id, "source": source, "execution_count": 1 if outputs else None,
            "outputs": list(outputs), "metadata": {"nbgrader": nbgrader} if nbgrader else {}}


PRINTED = {"output_type": "stream", "name": "stdout", "text": ["42\n"]}


def test_outputs_go_to_unchanged_code_and_never_to_an_exercise():
    title = {"cell_type": "markdown", "id": "t", "source": "# 01", "metadata": {}}
    chapter = {"cells": [title, _code("same", "print(42)"), _code("changed", "print(43)"),
                         _code("answer", "raise NotImplementedError()", solution=True, grade=False),
                         _code("check", "check(answer)", grade=True, solution=False), _code("new", "print(1)")]}
    executed = {"cells": [_code("same", "print(42)", [PRINTED]), _code("changed", "print(42)", [PRINTED]),
                          _code("answer", "raise NotImplementedError()", [PRINTED]),
                          _code("check", "check(answer)", [PRINTED])]}
    before = json.dumps(chapter)
    out, filled = chapter_with_outputs(chapter, executed, "record `digits`, commit abc1234, 2026-12-05")
    assert json.dumps(chapter) == before                                        # the student's copy is left as it is
    cells = {c["id"]: c for c in out["cells"]}
    assert filled == 1 and cells["same"]["outputs"] == [PRINTED] and cells["same"]["execution_count"] == 1
    assert all(cells[k]["outputs"] == [] for k in ("changed", "answer", "check", "new"))
    assert [c["id"] for c in out["cells"]][:2] == ["t", NOTE_ID] and "commit abc1234" in cells[NOTE_ID]["source"]
    assert is_exercise(cells["answer"]) and is_exercise(cells["check"]) and not is_exercise(cells["same"])


def test_the_reference_records_notebooks_fill_most_of_the_chapters_code():
    """Against the notebooks as committed: a record made at the current notebooks fills every plain cell that
    printed or drew something; a cell left empty is one whose code changed since the record (or an exercise)."""
    folder = REPO / "docs" / "records" / "reports" / REFERENCE / "notebooks"
    executed = sorted(folder.glob("*.ipynb"))
    assert [p.name for p in executed] == [p.name for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    for path in executed:
        ran = json.loads(path.read_text())
        figures = sum("image/png" in o.get("data", {}) for c in ran["cells"] for o in c.get("outputs", []))
        assert figures or path.stem.startswith("06"), f"{path.name}: the record's notebook drew nothing"
        source = json.loads((REPO / "notebooks" / path.name).read_text())
        _, filled = chapter_with_outputs(source, ran, "test")
        assert filled > 0, path.name

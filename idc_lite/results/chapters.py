"""The book's chapters with the reference run's outputs: figures and printed results, never executed at build time.

A record keeps its run's executed notebooks (``docs/records/reports/<name>/notebooks/``, made portable by
:func:`portable_notebook`).  The book's chapters are the students' copies; :func:`chapter_with_outputs` gives each
of their code cells the outputs of the same cell of the executed notebook, when its code is the same (a cell
changed since the record shows none: an output is only shown beside the code that made it) and when it is not an
exercise (an answer cell or an autograded check, whose outputs would show what the exercise asks for).

Notebooks are plain nbformat-4 dicts (``json.load`` of an ``.ipynb``).
"""
from __future__ import annotations

import json
from pathlib import Path

NOTE_ID = "reference-run-outputs"


def portable_notebook(executed: Path, replace_paths) -> str:
    """The executed notebook ``executed`` as JSON text a record can publish: papermill's metadata (it names the
    files and folders of the machine it ran on) left out, ``replace_paths(text)`` applied to the rest (the run
    folder and the data's location, :func:`idc_lite.results.records.portable_paths`), then the checkout the
    notebook ran from written as a relative path (a warning's ``.venv/lib/...``)."""
    notebook = json.loads(Path(executed).read_text(encoding="utf-8"))
    source = notebook.get("metadata", {}).pop("papermill", {}).get("input_path")
    for cell in notebook.get("cells", []):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    text = replace_paths(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    if source and Path(source).is_absolute():     # <checkout>/notebooks/<name>.ipynb
        checkout = str(Path(source).parent.parent)
        text = text.replace(checkout + "/", "").replace(checkout, ".")
    return text


def is_exercise(cell: dict) -> bool:
    """Whether ``cell`` is an answer for a student to write or an autograded check (nbgrader's metadata)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade"))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def chapter_with_outputs(chapter: dict, executed: dict, origin: str) -> tuple[dict, int]:
    """``chapter`` (a student's copy) with the outputs of ``executed`` (the record's run of the same notebook) on
    every code cell that is not an exercise and whose id and code are those of an executed cell, and a first
    cell saying where the outputs come from (``origin``: the record, its commit and date).  Returns (the chapter,
    how many cells got outputs); ``chapter`` itself is left as it is."""
    made = {c.get("id"): c for c in executed.get("cells", []) if c.get("cell_type") == "code"}
    chapter = json.loads(json.dumps(chapter))
    filled = 0
    for cell in chapter.get("cells", []):
        if cell.get("cell_type") != "code" or is_exercise(cell):
            continue
        ran = made.get(cell.get("id"))
        if ran is not None and _source(ran) == _source(cell) and ran.get("outputs"):
            cell["outputs"], cell["execution_count"] = ran["outputs"], ran.get("execution_count")
            filled += 1
    note = {"cell_type": "markdown", "id": NOTE_ID, "metadata": {},
            "source": f"*The outputs in this chapter are those of the reference run ({origin}); a cell whose code has "
                      "changed since, and every exercise, shows none. Run the notebook to make your own.*"}
    cells = chapter.get("cells", [])
    chapter["cells"] = cells[:1] + [note] + cells[1:]   # after the chapter's title
    return chapter, filled

"""The instructor's solutions, read from the notebooks themselves, for the checker tests.

A solution cell is found by its nbgrader ``grade_id``.  ``solution_functions`` runs only the
function and class definitions of the cell (the demo code around them needs the notebook's state);
``solution_region`` runs only what lies between ``### BEGIN SOLUTION`` and ``### END SOLUTION``.
Both run after the notebook's import cell, so the solution sees the notebook's names.
"""
from __future__ import annotations

import ast
import linecache

import nbformat

from conftest import REPO


def _cells(notebook: str):
    return nbformat.read(REPO / "notebooks" / f"{notebook}.ipynb", as_version=4).cells


def cell_source(notebook: str, grade_id: str) -> str:
    for cell in _cells(notebook):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell.source
    raise KeyError(f"{notebook} has no cell with grade_id {grade_id!r}")


def _imports(notebook: str) -> dict:
    namespace: dict = {}
    first_code = next(c for c in _cells(notebook) if c.cell_type == "code")
    exec(first_code.source, namespace)
    return namespace


def solution_functions(notebook: str, grade_id: str, **names) -> dict:
    """The functions and classes a solution cell defines, with the notebook's imports and ``names``."""
    namespace = {**_imports(notebook), **names}
    source, filename = cell_source(notebook, grade_id), f"{notebook}:{grade_id}"
    # registered as IPython registers a cell, so that inspect.getsource finds a solution's source
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    tree = ast.parse(source)
    keep = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))]
    exec(compile(ast.Module(body=keep, type_ignores=[]), filename, "exec"), namespace)
    return namespace


def solution_region(notebook: str, grade_id: str, **names) -> dict:
    """Run the lines between the solution markers with the notebook's imports and ``names``."""
    lines = cell_source(notebook, grade_id).splitlines()
    begin = next(i for i, line in enumerate(lines) if line.strip() == "### BEGIN SOLUTION")
    end = next(i for i, line in enumerate(lines) if line.strip() == "### END SOLUTION")
    namespace = {**_imports(notebook), **names}
    exec("\n".join(lines[begin + 1:end]), namespace)
    return namespace


def solution_lines(cell) -> list[str]:
    """The substantial lines between a cell's solution markers: statements that compute something
    (an assignment or a return), not continuation lines such as a generator argument."""
    lines, inside = [], False
    for line in cell.source.splitlines():
        if line.strip() == "### BEGIN SOLUTION":
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif inside and len(line.strip()) > 25 and ("=" in line or line.strip().startswith("return")):
            lines.append(line.strip())
    return lines

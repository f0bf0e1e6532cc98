"""The course: the instructor's notebooks, their graded cells, and the student copies that nbgrader
generates from them (one nbgrader assignment per notebook)."""
from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from pathlib import Path

from idc_lite.foundation.errors import AssignmentError
from idc_lite.foundation.files import read_notebook, write_notebook
from idc_lite.foundation.runtime import environment, repository_root

STUDENT = "submission"


def source_notebooks(folder: Path | None = None) -> list[Path]:
    """The instructor's notebooks, in order (``notebooks/NN_*.ipynb`` of the repository)."""
    root = repository_root()
    folder = folder or (root / "notebooks" if root else None)
    paths = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")) if folder else []
    if not paths:
        raise AssignmentError(f"no numbered notebooks in {folder}: run this from a checkout of the kit")
    return paths


def graded_cells(notebook: Path) -> list[dict]:
    """The graded cells of a notebook, in order: grade_id, points, and whether a person grades it."""
    cells = []
    for cell in read_notebook(notebook).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            cells.append({"grade_id": meta["grade_id"], "points": float(meta.get("points", 0)),
                          "manual": cell.cell_type == "markdown" or bool(meta.get("solution"))})
    return cells


def _api(course: Path, timeout: int | None = None):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course.resolve())
    if timeout is not None:   # nbgrader's default of 30 s per cell is far too short for training cells
        config.Execute.timeout = timeout
        config.ExecutePreprocessor.timeout = timeout
    return NbGraderAPI(config=config)


def _tools_path() -> str:
    # nbgrader creates its gradebook by running the `alembic` command: make this environment's one findable
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


LAB_DEFAULT = re.compile(r"^lab: bool = False\b", re.M)


def start_at_lab_sizes(notebook: Path) -> None:
    """Set ``lab: bool = True`` in ``notebook``'s parameters cell (a student copy: the instructor's source keeps
    full settings).  The cell is not graded, so nbgrader leaves a student's choice alone.  Raises
    :class:`AssignmentError` for a notebook without the ``lab`` parameter (every notebook of the course has one)."""
    nb = read_notebook(notebook)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []) and LAB_DEFAULT.search(cell.source):
            cell.source = LAB_DEFAULT.sub("lab: bool = True", cell.source, count=1)
            write_notebook(nb, notebook)
            return
    raise AssignmentError(f"{notebook.name} has no `lab: bool = False` parameter: every notebook of the course needs one "
                          "(the student copies start at lab sizes)")


def generate(course: Path, notebooks: list[Path] | None = None) -> list[Path]:
    """Student copies of ``notebooks`` (default: all) in ``course/release/<name>/<name>.ipynb``,
    made by ``nbgrader generate_assignment``: solutions replaced by ``raise NotImplementedError()``
    (text answers by "YOUR ANSWER HERE"), hidden tests removed, grading cells locked; then their ``lab``
    parameter set to True (:func:`start_at_lab_sizes`), so a student's run takes about a minute per notebook."""
    notebooks = notebooks or source_notebooks()
    course = Path(course)
    released = []
    with environment(PATH=_tools_path()), warnings.catch_warnings():
        warnings.simplefilter("ignore")          # SQLAlchemy warnings from nbgrader's gradebook
        api = _api(course)
        for notebook in notebooks:
            name = notebook.stem
            source = course / "source" / name
            if source.exists():
                shutil.rmtree(source)
            source.mkdir(parents=True)
            shutil.copy2(notebook, source / notebook.name)
            result = api.generate_assignment(name, force=True, create=True)
            release = course / "release" / name / notebook.name
            if not result["success"] or not release.is_file():
                raise AssignmentError(f"nbgrader could not generate {name}:\n{result.get('log', '')}{result.get('error') or ''}")
            start_at_lab_sizes(release)
            released.append(release)
    return released

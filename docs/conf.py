"""Sphinx configuration of the idc_lite book: Markdown pages (MyST), the notebooks as chapters (MyST-NB, not
executed: narration, code and exercises, with the reference run's outputs), and an API reference from the
docstrings.  ``make docs`` builds it with warnings as errors."""
import json
import shutil
import tempfile
from pathlib import Path

from idc_lite.results.chapters import chapter_with_outputs
from idc_lite.results.records import REFERENCE, load_records, provenance
from idc_lite.teaching.course import generate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# The chapters are the students' copies of the notebooks (nbgrader's, as `idc-lite assignments` makes them):
# the book shows every exercise and check, never a solution or a hidden test.  Their outputs are the reference
# run's, from the executed notebooks its record keeps (nothing runs at build time).  Sphinx reads only its
# source folder, so each build writes them there (docs/chapters/ is generated and git-ignored).


def _write_chapters(chapters: Path) -> None:
    shutil.rmtree(chapters, ignore_errors=True)
    chapters.mkdir()
    record = load_records(HERE / "records").get(REFERENCE)
    origin = f"record `{REFERENCE}`: {provenance(record)}" if record else f"record `{REFERENCE}`"
    with tempfile.TemporaryDirectory(prefix="idc-lite-docs-") as course:
        for student_copy in generate(Path(course)):
            executed = HERE / "records" / "reports" / REFERENCE / "notebooks" / student_copy.name
            if not executed.is_file():   # a record made before records kept their notebooks: code only
                shutil.copy(student_copy, chapters / student_copy.name)
                continue
            chapter, _ = chapter_with_outputs(json.loads(student_copy.read_text(encoding="utf-8")),
                                              json.loads(executed.read_text(encoding="utf-8")), origin)
            (chapters / student_copy.name).write_text(json.dumps(chapter, indent=1, ensure_ascii=False), encoding="utf-8")


_write_chapters(HERE / "chapters")

project = "idc_lite"
author = "the idc_lite developers"
copyright = "the idc_lite developers"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
nb_execution_mode = "off"            # the chapters carry the reference run's outputs: nothing runs at build time
nb_render_markdown_format = "gfm"    # the notebooks' tables are Markdown outputs (pipe tables need GitHub's flavour)
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "records", "Thumbs.db", ".DS_Store"]
html_theme = "furo"
html_title = "idc_lite"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}



def _copy_records(app, exception) -> None:
    """The reference runs' records and reports, at ``records/`` in the book as in the repository, so that the
    results page's links work in both."""
    if exception is None and app.builder.format == "html":
        shutil.copytree(HERE / "records", Path(app.outdir) / "records", dirs_exist_ok=True)


def _record_ages(app, docname, source) -> None:
    """The results page's ``<!-- record-age: COMMIT -->`` markers become a sentence: how far the code this book
    was built from has moved since each record."""
    from idc_lite.results.records import RECORD_AGE, record_age

    source[0] = RECORD_AGE.sub(lambda m: record_age(m.group(1)), source[0])


def setup(app):
    app.connect("build-finished", _copy_records)
    app.connect("source-read", _record_ages)

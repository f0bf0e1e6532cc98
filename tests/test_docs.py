"""The front door and the book: a short README, docs that build without a warning and open in a browser,
figures only from the recorded runs, no internal issue numbers, no solution anywhere but the notebooks."""
import json
import re
import subprocess
import sys

import pytest

from conftest import REPO
from idc_lite.results import records

PAGES = sorted((REPO / "docs").glob("*.md"))
FRONT = [REPO / "README.md", *PAGES, REPO / "CHANGELOG.md"]
# how a measured figure is written: a percentage (decimals, or a whole one that is not a criterion such as "at most
# 5 %" or the intervals' 95 %), an interval, a time, a matmul rate, a ratio ("1.5 times faster", "a 30-minute sweep")
CRITERION = r"(?<!95 %)(?<!at most )(?<!at least )(?<!about )(?<!within )(?<!below )(?<!above )(?<!under )(?<![<>≤≥] )"
MEASURED = re.compile(r"\d+\.\d+ ?%|\[\d+\.\d+, \d+\.\d+\]|\d+(\.\d+)? (minutes|min)\b|\d+(\.\d+)? ?GFLOP/s|"
                      r"\b\d+(\.\d+)?[ -]times (faster|slower|cheaper|dearer|more|less|as)\b|\b\d+-minute\b|"
                      r"\b\d+(\.\d+)? times \(|" + CRITERION + r"(?<![\d.,])\b(?!95 %)\d+ ?%")


def _outside_generated(text: str) -> str:
    return re.sub(r"<!-- generated: [\w-]+ -->.*?<!-- end generated -->", "", text, flags=re.S)


def test_readme_is_a_short_front_door():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    for needed in ("make reproduce", "make test", "make lab", "idc-lite grade", "## The notebooks", "## Results", "docs/"):
        assert needed in text, needed


def test_generated_blocks_agree_with_the_records():
    assert records.stale_files() == [], "run `idc-lite results render` (and commit the records it reads)"


def test_a_changed_record_makes_the_pages_stale():
    recorded = records.load_records()
    assert recorded, "no reference run is recorded in docs/records/"
    changed = {name: {**r, "clean_accuracy_interval": {**r["clean_accuracy_interval"], "value": 0.5}}
               for name, r in recorded.items()}
    assert records.stale_files(records=changed) != []


def _current_changelog() -> str:
    """The CHANGELOG's current section (``## Unreleased``): the released ones are history, measured when they were."""
    text = (REPO / "CHANGELOG.md").read_text()
    current = text[text.index("## Unreleased"):]
    later = re.search(r"\n## (?!Unreleased)", current)
    return current[:later.start()] if later else current


def _narration(notebook) -> str:
    import nbformat

    return "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown")


TYPED = {**{p.name: lambda p=p: p.read_text() for p in FRONT[:-1]}, "CHANGELOG.md (current section)": _current_changelog,
         **{p.name: lambda p=p: _narration(p) for p in sorted((REPO / "notebooks").glob("*.ipynb"))}}


@pytest.mark.parametrize("name", sorted(TYPED))
def test_no_measured_figure_is_typed_by_hand(name):
    found = [m.group(0) for m in MEASURED.finditer(_outside_generated(TYPED[name]()))]
    assert found == [], f"{name}: figures outside a generated block (record a run instead): {found[:5]}"


@pytest.mark.parametrize("text", ["about 1.5 times faster", "a 30-minute sweep", "accuracy 12 %", "98.4 %",
                                  "[94.4, 97.7]", "measures 3.98 times (108.9 against 27.4)", "in 12.5 minutes"])
def test_the_figure_guard_catches_a_typed_figure(text):
    assert MEASURED.search(text), text


@pytest.mark.parametrize("text", ["a 95 % interval", "at most 5 %", "to about 0 %", "within 3 points", "4 calls"])
def test_the_figure_guard_lets_criteria_through(text):
    assert not MEASURED.search(text), text


def _headings(path) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", path.read_text(), flags=re.M)}


def test_every_reference_to_a_section_names_one_that_exists():
    """``README, "Presets"`` or ``docs/scale.md, "Training ..."`` in a page, a notebook, the Makefile or a docstring
    names a heading that file has."""
    import nbformat

    pattern = re.compile(r"(README(?:\.md)?|docs/\w+\.md),? [\"“]([^\"”]+)[\"”]")
    texts = {p.relative_to(REPO): p.read_text() for p in [*FRONT, REPO / "Makefile", *sorted((REPO / "idc_lite").rglob("*.py"))]}
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        texts[nb.relative_to(REPO)] = "\n".join(c.source for c in nbformat.read(nb, as_version=4).cells)
    wrong = []
    for where, text in texts.items():
        for m in pattern.finditer(text):
            target = REPO / ("README.md" if m.group(1).startswith("README") else m.group(1))
            if not target.is_file() or m.group(2) not in _headings(target):
                wrong.append(f"{where}: {m.group(0)}")
    assert wrong == []


def test_the_grids_shown_in_the_docs_are_the_grids_the_kit_runs():
    """Each JSON grid on a docs page that names a grid of sweeps/ is that file, key for key (its description aside)."""
    grids = {json.loads(p.read_text())["name"]: json.loads(p.read_text()) for p in (REPO / "sweeps").glob("*.json")}
    shown = 0
    for page in PAGES:
        for block in re.findall(r"```json\n(.*?)```", page.read_text(), flags=re.S):
            grid = json.loads(block)
            if grid.get("name") in grids:
                assert grid == {k: v for k, v in grids[grid["name"]].items() if k != "description"}, (page.name, grid["name"])
                shown += 1
    assert shown >= 2


def test_every_relative_link_on_a_page_leads_to_a_file_of_the_repository():
    """Links and images on README, the docs pages and the recorded reports open on a checkout as in the book
    (generated blocks too); the book's own pages are linked with {doc}, which works in both."""
    pattern = re.compile(r"\]\(([^)\s]+)\)|href=\"([^\"]+)\"|src=\"([^\"]+)\"")
    broken = []
    reports = sorted((REPO / "docs" / "records" / "reports").glob("*/summary.md"))
    for page in [REPO / "README.md", *PAGES, *reports]:
        for m in pattern.finditer(page.read_text()):
            target = next(g for g in m.groups() if g).split("#")[0]
            if target and not re.match(r"[a-z]+:", target) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert broken == []


def test_the_book_says_how_far_the_code_has_moved_since_each_record():
    from idc_lite.foundation.runtime import git

    head = git("rev-parse", "HEAD", repo=REPO)
    assert "at the record's own commit" in records.record_age(head)
    parent = git("rev-parse", "HEAD~1", repo=REPO)
    assert "1 commit after the record's" in records.record_age(parent)
    markers = records.RECORD_AGE.findall((REPO / "docs" / "results.md").read_text())
    assert set(markers) == {r["commit"].removesuffix("+changes") for r in records.load_records().values()}


def test_no_page_names_an_internal_issue_number():
    pattern = re.compile(r"\bissues?[- ]#?\d+|\bissue-\d+|#\d{1,3}\b", re.I)
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    hits = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in [*FRONT, *notebooks] for m in pattern.finditer(p.read_text())]
    assert hits == []


def test_no_published_file_names_a_path_of_a_machine():
    """The published pages and reports say ``runs/<time>``, never where a run lay on the machine that made it."""
    pattern = re.compile(r"(?<![\w.])/(tmp|work|home|Users|root|mnt|scratch)/")
    published = [*FRONT, *sorted((REPO / "notebooks").glob("*.ipynb")),
                 *sorted(p for p in (REPO / "docs" / "records").rglob("*") if p.suffix in (".md", ".html", ".json", ".ipynb"))]
    hits = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in published for m in pattern.finditer(p.read_text())]
    assert hits == []


def test_a_recorded_report_names_its_run_folder_not_the_machines_path(tmp_path):
    run = tmp_path / "checkout" / "runs" / "20260101-000000"
    (run / "html").mkdir(parents=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    (run / "summary.json").write_text(json.dumps({"commit": commit, "complete": True, "smoke": False, "created": "2026",
                                                  "html_pages": ["html/01_label_images.html"],
                                                  "executed_notebooks": ["notebooks/01_label_images.ipynb"]}))
    (run / "notebooks").mkdir()
    output = {"output_type": "stream", "name": "stdout", "text": [f"run folder: {run} | smoke: False\n"]}
    warning = {"output_type": "stream", "name": "stderr",
               "text": [f"{tmp_path}/checkout/.venv/lib/python3.11/site-packages/torch/x.py:1: UserWarning\n"]}
    (run / "notebooks" / "01_label_images.ipynb").write_text(json.dumps({
        "metadata": {"papermill": {"input_path": str(tmp_path / "checkout" / "notebooks" / "01_label_images.ipynb")}},
        "cells": [{"cell_type": "code", "id": "a", "source": "print(run)", "execution_count": 1, "outputs": [output, warning],
                   "metadata": {"papermill": {"duration": 0.1}}}], "nbformat": 4, "nbformat_minor": 5}))
    data = tmp_path / "data" / "cifar10-jpeg.tar.gz"
    (run / "model.json").write_text(json.dumps({"data": {"dataset": "cifar10", "root": str(data)}}))
    (run / "summary.md").write_text(f"report of {run}\n")
    (run / "html" / "01_label_images.html").write_text(f"<pre>run folder: {run} | smoke: False</pre>"
                                                        f"<pre>PosixPath('{run}/metrics/01.json')</pre>"
                                                        f"<pre>{{'root': '{data}'}}</pre>")
    records.add_run(run, "example", records_dir=tmp_path / "records")
    page = (tmp_path / "records" / "reports" / "example" / "html" / "01_label_images.html").read_text()
    assert page == ("<pre>run folder: runs/20260101-000000 | smoke: False</pre>"
                    "<pre>PosixPath('runs/20260101-000000/metrics/01.json')</pre>"
                    "<pre>{'root': '$IDC_LITE_DATA'}</pre>")
    assert (tmp_path / "records" / "reports" / "example" / "summary.md").read_text() == "report of runs/20260101-000000\n"
    assert str(tmp_path) not in (tmp_path / "records" / "example.json").read_text()
    kept = (tmp_path / "records" / "reports" / "example" / "notebooks" / "01_label_images.ipynb").read_text()
    assert str(tmp_path) not in kept and "papermill" not in kept          # papermill's metadata names the machine's paths
    assert [o["text"] for o in json.loads(kept)["cells"][0]["outputs"]] == [
        ["run folder: runs/20260101-000000 | smoke: False\n"],
        [".venv/lib/python3.11/site-packages/torch/x.py:1: UserWarning\n"]]   # the checkout it ran from: relative


def test_every_page_is_in_the_book():
    index = (REPO / "docs" / "index.md").read_text()
    assert [p.stem for p in PAGES if p.stem != "index" and p.stem not in index] == []


@pytest.fixture(scope="session")
def built_docs(tmp_path_factory):
    """`make docs` once per session: Sphinx with warnings as errors, into a temporary folder."""
    out = tmp_path_factory.mktemp("docs") / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_the_book_builds_with_every_page_chapter_and_module(built_docs):
    for page in [p.stem for p in PAGES]:
        assert (built_docs / f"{page}.html").is_file(), page
    chapters = sorted(p.name for p in (built_docs / "chapters").glob("*.html"))
    assert chapters == [p.with_suffix(".html").name for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    api = (built_docs / "api.html").read_text()
    for name in ("idc_lite.model.bridge.BrownianBridge", "idc_lite.training.checkpoint.load_classifier",
                 "idc_lite.evaluation.protocol.evaluate_attacks", "idc_lite.foundation.run_metrics.AttackMetrics"):
        assert f'id="{name}"' in api, name


@pytest.mark.slow
def test_the_chapters_hold_the_exercises_but_no_solution(built_docs):
    import nbformat

    from exercise_solutions import solution_lines

    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        page = (built_docs / "chapters" / notebook.with_suffix(".html").name).read_text()
        assert "NotImplementedError" in page and "BEGIN SOLUTION" not in page and "HIDDEN TESTS" not in page
        rendered = "".join(c.source for c in nbformat.read(REPO / "docs" / "chapters" / notebook.name, as_version=4).cells)
        for cell in nbformat.read(notebook, as_version=4).cells:
            for line in solution_lines(cell):
                assert line not in rendered, f"{notebook.name}: solution line in the book: {line}"


@pytest.mark.slow
@pytest.mark.browser
def test_the_book_opens_in_headless_chromium(built_docs, browser, tmp_path):
    from idc_lite.runs.html_report import headless_chromium

    driver = headless_chromium(*browser, str(tmp_path / "profile"))
    try:
        driver.get((built_docs / "index.html").as_uri())
        assert "idc_lite" in driver.title
        links = driver.execute_script("return Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
        assert "chapters/04_attack.html" in links and "results.html" in links
        driver.get((built_docs / "chapters" / "04_attack.html").as_uri())
        text = driver.execute_script("return document.body.innerText")
        code = driver.execute_script("return document.querySelectorAll('div.highlight').length")
        assert "Exercises" in text and code > 10
        assert driver.execute_script("return document.readyState") == "complete"
    finally:
        driver.quit()


def test_the_results_figures_are_drawn_from_the_records(tmp_path):
    """Each record's two figures come from its own figures: a line and an interval band per model and protocol,
    a point and a threshold per paired difference behind a claim; a page whose figure is missing is stale."""
    import shutil

    from idc_lite.results.record_figures import _difference_rows, accuracy_figure, claims_figure

    recorded = records.load_records()
    reference = recorded[records.REFERENCE]
    pairs = {(m, k.split("@")[0]) for m, e in reference["robustness"].items() for k in e["protocols"]}
    ax = accuracy_figure(reference).axes[0]
    assert len(ax.lines) == len(pairs) and len(ax.collections) == len(pairs)   # one band per line
    record = {**reference, "claims": [{"claim": "C5", "verdict": "supported", "values": {
        "difference": {"difference": 0.01, "low": -0.02, "high": 0.04}}}, {"claim": "C1", "verdict": "contradicted", "values": {
        "differences": {"A": {"difference": -0.3, "low": -0.4, "high": -0.2}}}}]}
    assert [(label, t) for label, _, t in _difference_rows(record)] == [("C5 (supported)", -0.05),
                                                                        ("C1 against A (contradicted)", 0.0)]
    left = claims_figure(record).axes[0]
    assert [line.get_xdata()[0] for line in left.lines if line.get_color() == "tab:red"] == [-5.0, 0.0]
    # a copy of the pages and records: rendered, nothing is stale; a figure gone, the page is
    for rel in records.TARGETS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    shutil.copytree(REPO / "docs" / "records", tmp_path / "docs" / "records", dirs_exist_ok=True)
    shutil.rmtree(tmp_path / "docs" / "records" / "figures", ignore_errors=True)
    records.render(tmp_path)
    assert records.stale_files(tmp_path) == []
    (tmp_path / "docs" / "records" / "figures" / f"{records.REFERENCE}-accuracy.png").unlink()
    assert records.stale_files(tmp_path) == [f"docs/records/figures/{records.REFERENCE}-accuracy.png"]


def test_a_sweep_with_seeds_is_recorded_and_its_claims_replace_the_single_seed_ones(tmp_path):
    """`results add` of a sweep folder writes docs/records/sweeps/<name>.json; the results page then shows each
    point over its seeds, and the reference run's C4 carries the seeds' verdict with its own kept in the evidence;
    a smoke sweep, one with a failed run, or one made from uncommitted changes is refused."""
    from idc_lite.foundation.errors import RunFolderError
    from idc_lite.results.sweep_records import load_sweeps, seeds_block, with_seed_claims

    group = {"seeds": [0, 1, 2], "eps_255": 48.0, "secondary_eps_255": 16.0, "flops_per_prediction": 5.3e8,
             "clean": {"value": 0.98, "low": 0.97, "high": 0.99, "n": 359, "seeds": 3, "per_seed": [0.97, 0.98, 0.99]},
             "main": {"value": 0.05, "low": 0.01, "high": 0.1, "n": 64, "seeds": 3, "per_seed": [0.04, 0.05, 0.06]},
             "secondary": None}
    claim = {"claim": "C4", "text": "the inter-class loss helps", "verdict": "inconclusive at this n", "evidence": "E4",
             "rule": "R4", "values": {}}
    sweep = {"name": "digits-seeds", "grid_file": "sweeps/digits_seeds.json", "smoke": False, "commit": "a" * 40,
             "base": {"eps_255": 48.0},
             "created": "2026-12-05T10:00:00", "machine_line": "a machine", "wall_seconds": 3600, "seeds": [0, 1, 2],
             "points": [{"point": "base, seed=0", "group": "base", "seed": 0, "status": "finished",
                         "adaptive_per_example": [1.0, 0.0], "clean_per_example": [1.0, 1.0]}],
             "replicates": {"base": group}, "claims": [claim]}
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps(sweep))
    path = records.add_run(folder, "digits-seeds", records_dir=tmp_path / "records")
    assert path == tmp_path / "records" / "sweeps" / "digits-seeds.json"
    recorded = load_sweeps(tmp_path / "records")
    assert "per_example" not in path.read_text() and recorded["digits-seeds"]["claims"] == [claim]   # figures only
    assert recorded["digits-seeds"]["preset"] == "digits"
    block = seeds_block(recorded)
    assert "| base | 0, 1, 2 | 98.0 % [97.0, 99.0] (n = 359, 3 training seeds) | 97.0, 98.0, 99.0 |" in block
    assert "5.0 % [1.0, 10.0] (n = 64, 3 training seeds) at 48/255" in block and "*C4 (the inter-class loss" in block
    reference = records.load_records()[records.REFERENCE]
    replaced = with_seed_claims(reference, recorded)
    c4 = next(c for c in replaced["claims"] if c["claim"] == "C4")
    single = next(c for c in reference["claims"] if c["claim"] == "C4")
    assert c4["verdict"] == "inconclusive at this n" and c4["seeds_record"] == "digits-seeds"
    assert f"this run's single-seed verdict: {single['verdict']}" in c4["evidence"]
    assert [c["claim"] for c in replaced["claims"]] == [c["claim"] for c in reference["claims"]]
    page = records.results({records.REFERENCE: reference}, recorded)
    assert "sweep record digits-seeds" in page and "brings the spread of its trainings" in page
    assert with_seed_claims({**reference, "preset": "mnist"}, recorded) == {**reference, "preset": "mnist"}
    untested = {"digits-seeds": {**recorded["digits-seeds"], "claims": [{**claim, "verdict": "not tested at this scale"}]}}
    assert with_seed_claims(reference, untested) == reference         # the run's own verdict stays
    for change, message in (({"smoke": True}, "smoke sweep"), ({"commit": "a" * 40 + "+changes"}, "uncommitted"),
                            ({"points": [{"point": "x", "status": "failed"}]}, r"runs \['x'\] did not finish"),
                            ({"replicates": {}, "claims": []}, "no training seeds or claims")):
        (folder / "sweep.json").write_text(json.dumps({**sweep, **change}))
        with pytest.raises(RunFolderError, match=message):
            records.add_run(folder, "digits-seeds", records_dir=tmp_path / "records")
    failed_run = {"point": "base, seed=1", "group": "base", "seed": 1, "status": "failed", "error": "ExerciseCheckFailed: x"}
    (folder / "sweep.json").write_text(json.dumps({**sweep, "points": sweep["points"] + [failed_run]}))
    records.add_run(folder, "digits-seeds", records_dir=tmp_path / "records", allow_failed=True)
    assert "left out of the figures above: base, seed=1 (failed: ExerciseCheckFailed: x)" in seeds_block(
        load_sweeps(tmp_path / "records"))

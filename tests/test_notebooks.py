"""Notebooks: committed stripped, one parameters cell each, and the whole chain runs with papermill."""
import json
import re
import subprocess
import sys
import time

import nbformat
import papermill
import pytest
import torch

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_notebooks_exist_in_order():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_", "07_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_stripped(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb["metadata"]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} has outputs"


CPU_PRESETS = {   # preset: (its offline data's fixture, the data's name in the report, the label images' shape)
    "cifar10_cpu": ("cifar10_jpeg_archive", "CIFAR-10 (JPEG copy)", [3, 32, 32]),
    "mnist": ("mnist_root", "MNIST (torchvision)", [1, 28, 28]),
}


@pytest.fixture(scope="module")
def cpu_preset_chains(request, tmp_path_factory):
    """`idc-lite reproduce --smoke --preset P --through 05` for each CPU preset whose offline data is here, all
    started at once: {preset: (exit status, what it printed, its run folder)}.  Notebooks 01 to 05 take the presets'
    parameters; 06 takes none and 07 none but the data, whose colour path has its own test (tests/defences).
    Two chains side by side get one thread each; most of a smoke chain is kernels starting and small tensors,
    which a second thread hardly speeds up, so the pair finishes sooner than the same two chains one after the other."""
    import os

    data = {}
    for preset, (fixture, _, _) in CPU_PRESETS.items():
        try:
            data[preset] = request.getfixturevalue(fixture)
        except pytest.skip.Exception:
            continue
    from idc_lite.foundation.cluster import THREAD_VARIABLES

    threads = {name: "1" for name in THREAD_VARIABLES} if len(data) > 1 else {}
    started, finished = {}, {}
    deadline = time.monotonic() + 1200
    try:
        for preset, path in data.items():
            folder = tmp_path_factory.mktemp(preset)
            env = {k: v for k, v in os.environ.items() if k not in ("IDC_LITE_RUN_DIR", "IDC_LITE_HEADLESS")}
            env.update(IDC_LITE_DATA=str(path), IDC_LITE_CACHE=str(folder / "cache"), **threads)
            log = open(folder / "reproduce.log", "w+")
            command = [sys.executable, "-m", "idc_lite", "reproduce", "--smoke", "--preset", preset, "--through", "05",
                       "--out", str(folder / "run")]
            started[preset] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO),
                               log, folder / "run")
        for preset, (process, log, out) in started.items():
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
                stopped = ""
            except subprocess.TimeoutExpired:
                stopped = "\n[stopped: the chains ran past 1,200 s]"
            log.seek(0)
            finished[preset] = (process.returncode, log.read() + stopped, out)
    finally:
        for process, log, _ in started.values():       # nothing outlives the fixture, whatever stopped it
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    return finished


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(CPU_PRESETS))
def test_a_cpu_preset_runs_the_chain_on_its_offline_data(request, cpu_preset_chains, preset):
    """`make smoke PRESET=...` (01 to 05) with $IDC_LITE_DATA at the offline copies (skips without them): the preset's
    notebook parameters reach every notebook, the report names the data, the ablation is left out as the preset says."""
    from idc_lite.evaluation.model_evaluation import SMOKE_CNN_TRAIN_EXAMPLES
    from idc_lite.training.presets import get_preset

    data_fixture, label, image_shape = CPU_PRESETS[preset]
    request.getfixturevalue(data_fixture)          # skips, with its reason, when the offline copy is not here
    returncode, printed, out = cpu_preset_chains[preset]
    assert returncode == 0, printed[-6000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preset"] == preset and summary["data"] == label
    report = (out / "summary.md").read_text()
    assert f"data: {label}" in report and "was not trained in this run (notebook 05, `ablation=False`)" in report
    expected = get_preset(preset).run_parameters()
    assert {k: summary["parameters"][k] for k in expected} == expected
    assert summary["metrics"]["01_label_images"]["image_shape"] == image_shape   # 01 built label images of that size
    robustness = summary["robustness"]
    assert "IDC without inter-class loss" not in robustness and {"IDC", "standard CNN"} <= set(robustness)
    budget = summary["main_budget"]               # chosen from the preset's grid where the undefended CNN falls
    grid = [float(b) for b in expected["budget_grid_255"].split(",")]
    assert budget["chosen"] and budget["eps_255"] in grid and budget["choice"]["grid_255"] == grid
    main, second = f"{budget['eps_255']:g}", f"{expected['secondary_eps_255']:g}"
    budgets = {main, second}
    assert set(robustness["IDC"]["protocols"]) == ({"paper@8"} | {f"paper@{b}" for b in budgets}
                                                   | {f"adaptive@{b}" for b in budgets})
    # the preset's CNN training split, capped in a smoke run (its full size is what a preset's benchmark run uses)
    assert summary["metrics"]["04_attack"]["settings"]["cnn_train_examples"] == min(expected["cnn_train_examples"],
                                                                                     SMOKE_CNN_TRAIN_EXAMPLES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_that_papermill_fully_parses(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    declared = [line.split(":")[0] for line in tagged[0].source.splitlines() if line and not line.startswith("#")]
    assert list(papermill.inspect_notebook(str(path))) == declared     # every line understood by papermill
    assert {"run_dir", "smoke"} <= set(declared)
    assert "Exercises" in "".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.slow
def test_papermill_chain_in_smoke_mode(smoke_run):
    """The main job's code path writes the report, the evaluated files and one HTML page per notebook."""
    out = smoke_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["smoke"] is True and 0.0 <= summary["clean_accuracy"] <= 1.0
    assert summary["machine"]["native_bf16"] in (True, False) and summary["machine"]["matmul_gflops_float32_2048"] > 0
    assert summary["metrics"]["02_train_classifier"]["train_precision"] in (["bf16"], ["fp32"])   # digits: 'auto'
    robustness = summary["robustness"]
    defences = {"DiffPure-style purification", "RDC-style diffusion classifier"}      # notebook 07's, adaptive only
    assert set(robustness) == {"IDC", "IDC without inter-class loss", "standard CNN", "adversarially trained CNN", *defences}
    main = f"{summary['main_budget']['eps_255']:g}"       # chosen in 04 from the grid 16 to 64 (/255)
    assert summary["main_budget"]["chosen"] and main in ("16", "24", "32", "48", "64")
    for name, entry in robustness.items():
        paper = set() if name in defences else {"paper@8", "paper@16", f"paper@{main}"}
        assert set(entry["protocols"]) == paper | {"adaptive@16", f"adaptive@{main}"}, name
        for protocol in entry["protocols"].values():
            assert {"clean_accuracy", "robust_accuracy", "worst_case_accuracy", "eps", "norm", "scoring_rule", "draws",
                    "examples", "seed", "attacks"} <= set(protocol)
            assert protocol["worst_case_accuracy"] <= min(protocol["robust_accuracy"].values()) + 1e-9
            for settings in protocol["attacks"].values():
                assert {"steps", "alpha", "restarts", "eot_samples", "attack_seed", "scoring_seed"} <= set(settings)
    assert {c["status"] for c in summary["sanity_checks"]} <= {"passed", "FAILED", "measured"}
    assert summary["metrics"]["04_attack"]["settings"]["cascade"] is True      # notebook 04's default suite
    assert len(summary["sanity_checks"]) == 12                                  # the cascade's, example by example
    attacked = summary["metrics"]["05_baselines"]["models"]
    assert summary["metrics"]["04_attack"]["settings"]["gradient_twin"] is True
    precision = summary["metrics"]["04_attack"]["settings"]["gradient_precision"]   # 'auto', resolved on this machine
    assert precision in ("fp32", "bf16")
    for name in ("IDC", "IDC without inter-class loss"):   # adaptive gradients through the 3-call twin, as 04 says
        query = attacked[name]["protocols"]["adaptive"]["attacks_query"]
        assert "3 U-Net calls" in query and ("bfloat16 autocast" in query) == (precision == "bf16"), name
        assert attacked[name]["protocols"]["paper@8"]["attacks_query"] == "the scored model", name
    for name in ("standard CNN", "adversarially trained CNN"):
        assert attacked[name]["protocols"]["adaptive"]["attacks_query"] == "the scored model", name
    examples = torch.load(out / summary["evaluated_examples"]["path"], weights_only=True)
    assert examples["x"].shape[0] == examples["labels"].shape[0] == summary["evaluated_examples"]["count"]
    assert (out / summary["evaluated_model"]).is_file()
    report = (out / "summary.md").read_text()
    assert (", native bf16)" if summary["machine"]["native_bf16"] else ", no native bf16)") in report   # names the machine
    assert "## Sanity checks" in report and "SMOKE RUN" in report
    # every accuracy with its interval and n, the budget with its reason, the claims with their verdicts
    assert re.search(r"\| IDC \| \d+\.\d % \[\d+\.\d, \d+\.\d\] \(n = \d+\) \|", report)
    assert f"Main budget {main}/255: " in report and "undefended CNN" in report
    assert "## Claims" in report and [c["claim"] for c in summary["claims"]] == ["C1", "C2", "C3a", "C3b", "C4", "C5"]
    claims = {c["claim"]: c for c in summary["claims"]}
    # notebook 07 trained and attacked both diffusion defences: C1 is judged on them, C3a and C3b on measured costs
    assert claims["C1"]["verdict"] != "not tested at this scale" and "RDC-style diffusion classifier" in claims["C1"]["evidence"]
    assert "measured here" in claims["C3a"]["evidence"] and "measured here" in claims["C3b"]["evidence"]
    defences_run = json.loads((out / "metrics" / "07_diffusion_defences.json").read_text())["defences"]
    checked = {name: [c["check"] for c in d["protocols"]["adaptive"]["sanity_checks"]] for name, d in defences_run.items()}
    assert len(checked["DiffPure-style purification"]) == 6 and len(checked["RDC-style diffusion classifier"]) == 3
    assert "sanity_checks" not in defences_run["DiffPure-style purification"]["protocols"]["adaptive_secondary"]
    assert claims["C3b"]["verdict"] == "contradicted"             # the digits IDC costs more than a small CNN
    assert {c["other"] for c in summary["comparisons"]} == {"IDC without inter-class loss", "standard CNN",
                                                           "adversarially trained CNN"}
    assert summary["html_pages"] == [f"html/{p.stem}.html" for p in NOTEBOOKS]
    for page in summary["html_pages"]:
        assert (out / page).is_file() and f"]({page})" in report
    graded = {p.stem: {f"{g[2:4]}.{g.split('_')[1]}" for g in _grade_ids(p)} for p in NOTEBOOKS}
    assert {nb: set(ex) for nb, ex in summary["exercise_seconds"].items()} == graded
    assert "## Exercises" in report
    (out / "summary.md").unlink()
    again = subprocess.run([sys.executable, "-m", "idc_lite", "reproduce", "--summarize", str(out)], capture_output=True,
                           text=True, cwd=REPO, timeout=120)
    assert again.returncode == 0 and (out / "summary.md").is_file()
    rebuilt = json.loads((out / "summary.json").read_text())
    assert rebuilt["wall_seconds_total"] == summary["wall_seconds_total"] and rebuilt["robustness"] == robustness
    assert rebuilt["exercise_seconds"] == summary["exercise_seconds"]
    assert set(summary["wall_seconds_per_notebook"]) == {p.stem for p in NOTEBOOKS}
    assert summary["n_params"] > 0 and summary["flops_per_prediction"] > 0
    for rel in summary["executed_notebooks"]:
        executed = nbformat.read(out / rel, as_version=4)
        images = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
        assert images, f"{rel} shows no figure"
        explorers = [c for c in executed.cells if "explore(" in c.source]
        for cell in explorers:      # headless: one static figure, no widget
            kinds = [k for o in cell.outputs for k in o.get("data", {})]
            assert kinds.count("image/png") == 1 and "application/vnd.jupyter.widget-view+json" not in kinds, rel
    assert (out / "model.pt").is_file() and (out / "model.json").is_file()


@pytest.mark.slow
@pytest.mark.browser
def test_report_pages_in_a_real_browser(smoke_run, browser):
    """Every exported page loads in headless Chromium with all its figures, no error and no broken widget."""
    from idc_lite.runs.html_report import check_pages, run_pages

    pages = run_pages(smoke_run)
    assert len(pages) == len(NOTEBOOKS)
    assert check_pages(pages, browser) == {page.name: [] for page in pages}


def _grade_ids(path):
    return [c.metadata["nbgrader"]["grade_id"] for c in nbformat.read(path, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("ex")]


def test_unknown_parameter_is_rejected_before_running(tmp_path):
    done = subprocess.run([sys.executable, "-m", "idc_lite", "reproduce", "--smoke", "--out", str(tmp_path / "r"),
                           "-p", "epcohs", "3"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 2 and "unknown parameter(s) ['epcohs']" in done.stderr


def test_unknown_parameter_injected_by_papermill_fails_in_the_notebook(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="unknown parameter"):
        papermill.execute_notebook(str(NOTEBOOKS[0]), str(tmp_path / "out.ipynb"), kernel_name="python3",
                                   parameters={"run_dir": str(tmp_path), "smoke": True, "num_clases": 3},
                                   cwd=str(REPO / "notebooks"), progress_bar=False)


def test_later_notebook_names_the_one_to_run_first(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="run 02_train_classifier.ipynb first"):
        papermill.execute_notebook(str(NOTEBOOKS[2]), str(tmp_path / "out.ipynb"), kernel_name="python3",
                                   parameters={"run_dir": str(tmp_path / "empty"), "smoke": True},
                                   cwd=str(REPO / "notebooks"), progress_bar=False)


@pytest.mark.slow
def test_training_notebook_never_reuses_a_model_made_with_other_settings(smoke_run, tmp_path):
    """02 stops and names the setting when the run folder's model was trained otherwise; nothing is replaced."""
    for name in ("model.pt", "model.json"):
        (tmp_path / name).write_bytes((smoke_run / name).read_bytes())
    before = (tmp_path / "model.pt").read_bytes()
    with pytest.raises(papermill.PapermillExecutionError, match=r"train_config\.seed: stored 0, asked 1"):
        papermill.execute_notebook(str(NOTEBOOKS[1]), str(tmp_path / "out.ipynb"), kernel_name="python3",
                                   parameters={"run_dir": str(tmp_path), "smoke": True, "seed": 1},
                                   cwd=str(REPO / "notebooks"), progress_bar=False)
    assert (tmp_path / "model.pt").read_bytes() == before

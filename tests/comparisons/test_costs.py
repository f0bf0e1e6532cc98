"""Notebook 06's cost table: the alternatives' architectures match their published sizes, IDC's presets
match the paper's counts, every figure names its source, and the report shows the table."""
import pytest
import torch

from idc_lite.comparisons import costs
from idc_lite.comparisons.alternatives import DIFFPURE_CIFAR10, RDC_CIFAR10, ScoreNet, WideResNet, preact_resnet18
from idc_lite.comparisons.costs import alternative_rows, count_call, idc_row, time_call
from idc_lite.foundation.run_metrics import RunMetrics
from idc_lite.runs.summary import summary_markdown
from idc_lite.training.presets import get_preset


@pytest.fixture(scope="module")
def rows():
    return {r.method: r for r in alternative_rows(timed=False)}


def test_the_alternatives_have_their_published_sizes(rows):
    """DiffPure's score network about 107 M parameters (the issue), EDM's conditional DDPM++ 55.7 M,
    WideResNet-28-10 36.5 M and PreActResNet-18 11.2 M; WRN-28-10 5.25 G multiply-adds per image."""
    def image(d):
        return torch.zeros(1, 3, 32, 32, device=d)

    params = {name: count_call(build, inputs)[0] for name, build, inputs in (
        ("diffpure", lambda: ScoreNet(DIFFPURE_CIFAR10), lambda d: (image(d), torch.zeros(1, device=d))),
        ("rdc", lambda: ScoreNet(RDC_CIFAR10),
         lambda d: (image(d), torch.zeros(1, device=d), torch.zeros(1, dtype=torch.long, device=d))),
        ("wrn", WideResNet, lambda d: (image(d),)),
        ("r18", preact_resnet18, lambda d: (image(d),)))}
    assert abs(params["diffpure"] / 107e6 - 1) < 0.02
    assert abs(params["rdc"] / 55.7e6 - 1) < 0.02
    assert abs(params["wrn"] / 36.5e6 - 1) < 0.01
    assert abs(params["r18"] / 11.2e6 - 1) < 0.01
    wrn = rows["WideResNet-28-10 (adversarially trained)"]
    assert abs(wrn.flops_per_prediction / 2 / 5.25e9 - 1) < 0.01
    diffpure = rows["DiffPure (score network + WideResNet-28-10)"]
    assert diffpure.network_calls == costs.DIFFPURE_STEPS + 1 and diffpure.parameters == params["diffpure"] + params["wrn"]
    rdc = rows["diffusion classifier in the style of RDC"]
    assert rdc.network_calls == costs.RDC_CLASSES * costs.RDC_LEVELS == 1250
    assert all(r.flops_source == costs.COMPUTED and r.time_source == "not timed" and r.seconds_per_prediction is None
               for r in rows.values())


def test_idc_rows_match_the_papers_counts():
    """The paper's CIFAR-10 U-Net: 9.39 M parameters, 6.84 GFLOP per call, 4 calls per prediction."""
    paper = idc_row("paper", get_preset("cifar10").model, timed=False)
    assert round(paper.parameters / 1e6, 2) == 9.39 and paper.network_calls == 4
    assert round(paper.flops_per_prediction / paper.network_calls / 1e9, 2) == 6.84
    timed = idc_row("digits", get_preset("digits").model, time_batch=2)
    assert timed.time_source == costs.MEASURED and 0 < timed.seconds_per_prediction < 10


def test_timing_a_call_and_the_conditional_network_needs_labels():
    seconds = time_call(preact_resnet18, lambda d: (torch.zeros(1, 3, 32, 32, device=d),), batch_size=2, repeats=1)
    assert 0 < seconds < 10
    with torch.device("meta"):
        net = ScoreNet(RDC_CIFAR10)
    with pytest.raises(ValueError, match="needs labels"):
        net(torch.zeros(1, 3, 32, 32, device="meta"), torch.zeros(1, device="meta"))


def test_every_quoted_point_names_its_source_and_sits_on_a_cost_row(rows):
    for point in costs.LITERATURE:
        assert point.cost_row in rows
        assert 0 < point.robust_accuracy < point.clean_accuracy < 1
        assert point.source and ("arXiv" in point.source or "RobustBench" in point.source)


def test_the_report_shows_the_cost_table(rows):
    summary = {"created": "now", "smoke": False, "seed": 0, "parameters": {}, "clean_accuracy": None,
               "wall_seconds_per_notebook": {}, "wall_seconds_total": 0, "executed_notebooks": [], "versions": {},
               "metrics": {"06_efficiency": {"rows": [r.to_dict() for r in rows.values()],
                                             "points": [{"label": "RDC", "robust_accuracy": 0.7567, "source": "quoted",
                                                         "reference": "arXiv 2305.15241v2"}]}}}
    text = summary_markdown(summary)
    assert "## Cost per prediction (notebook 06)" in text
    assert "| DiffPure (score network + WideResNet-28-10) | 143.11 M | 101 | 3719.84 |" in text
    assert "RDC 75.7 % (arXiv 2305.15241v2)" in text


def test_robustness_points_quote_the_literature_and_add_this_runs_measurements(rows):
    table = list(rows.values())
    quoted = costs.robustness_points(table, RunMetrics())
    assert [p["source"] for p in quoted] == [costs.QUOTED] * len(costs.LITERATURE)
    assert quoted[0]["flops"] == rows[costs.LITERATURE[0].cost_row].flops_per_prediction
    adaptive = {"worst_case_accuracy": 0.2, "clean_accuracy": 0.9}
    metrics = {"02_train_classifier": {"data": "digits (scikit-learn)", "preset": "digits", "flops_per_prediction": 5e8},
               "04_attack": {"eps": 16 / 255, "adaptive_protocol": adaptive},
               "05_baselines": {"models": {"IDC": {}, "standard CNN": {"cost": {"flops_per_prediction": 1e6},
                                                                      "protocols": {"adaptive": adaptive}}}}}
    measured = costs.robustness_points(table, RunMetrics.from_dict(metrics))[len(quoted):]
    assert [p["label"] for p in measured] == ["IDC, this run (digits)", "standard CNN, this run"]
    assert all(p["source"] == costs.MEASURED and p["eps_255"] == 16.0 and p["data"] == "digits (scikit-learn)" for p in measured)


def test_the_architecture_count_of_idc_equals_the_run_count():
    """The claims' cost evidence (meta device, nothing runs) is the count notebook 06 makes by running IDC."""
    from idc_lite.comparisons.costs import idc_row, idc_row_from_architecture
    from idc_lite.training.presets import get_preset

    config = get_preset("digits").model
    ran, counted = idc_row("digits", config, timed=False), idc_row_from_architecture("digits", config)
    assert (ran.flops_per_prediction, ran.parameters, ran.network_calls) == (
        counted.flops_per_prediction, counted.parameters, counted.network_calls)
    assert counted.seconds_per_prediction is None

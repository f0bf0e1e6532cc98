"""The claims' verdict rules on crafted metrics: each verdict reached where its rule says, and only there."""
import pytest

from idc_lite.comparisons.claims import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_TESTED,
    PAPER_IDC_ROW,
    SUPPORTED,
    UNDEFENDED_CHECK,
    assess_claims,
    claims_markdown,
    cost_verdict,
    interval_verdict,
)
from idc_lite.metrics import RunMetrics


def _result(worst, clean=None, draws=5, eps=32 / 255, protocol="adaptive"):
    clean = clean if clean is not None else [1.0] * len(worst)
    return {"protocol": protocol, "examples": len(worst), "draws": draws, "clean_per_example": clean,
            "worst_case_per_example": worst, "attacks": [{"settings": {"eps": eps}}]}


def _metrics(idc, others: dict, check="passed", rows=None):
    metrics = {"04_attack": {"eps": 32 / 255, "sanity_checks": [{"check": UNDEFENDED_CHECK, "status": check}],
                             "paper_protocol": {}, "adaptive_protocol": idc},
               "05_baselines": {"models": {"IDC": {"protocols": {"adaptive": idc}},
                                           **{name: {"protocols": {"adaptive": r}} for name, r in others.items()}}}}
    if rows is not None:
        metrics["06_efficiency"] = {"rows": rows}
    return RunMetrics.from_dict(metrics)


def _by_id(claims):
    return {c["claim"]: c for c in claims}


def test_interval_verdict_needs_the_whole_interval_on_one_side():
    assert interval_verdict({"low": 0.01, "high": 0.2}) == SUPPORTED
    assert interval_verdict({"low": -0.2, "high": -0.01}) == CONTRADICTED
    assert interval_verdict({"low": -0.01, "high": 0.3}) == INCONCLUSIVE        # a positive estimate is not enough
    assert interval_verdict({"low": -0.04, "high": 0.02}, margin=-0.05) == SUPPORTED
    assert interval_verdict({"low": -0.2, "high": -0.06}, margin=-0.05) == CONTRADICTED


def test_cost_verdict():
    assert cost_verdict(1.0, [20.0, 100.0]) == SUPPORTED
    assert cost_verdict(1.0, [5.0, 100.0]) == INCONCLUSIVE     # a fifth of one of them: not "a fraction" by the rule
    assert cost_verdict(1.0, [0.5, 100.0]) == CONTRADICTED
    assert cost_verdict(1.0, []) == NOT_TESTED


def test_robustness_claims_follow_the_paired_interval_and_the_sanity_check():
    strong, weak = [1.0] * 60 + [0.0] * 40, [0.0] * 100
    claims = _by_id(assess_claims(_metrics(_result(strong), {"adversarially trained CNN": _result(weak, draws=1)})))
    assert claims["C2"]["verdict"] == SUPPORTED and "+60.0 points" in claims["C2"]["evidence"]
    assert claims["C4"]["verdict"] == NOT_TESTED                     # no ablation in this run
    assert claims["C1"]["verdict"] == NOT_TESTED and "DiffPure" in claims["C1"]["quoted"]
    reversed_ = _by_id(assess_claims(_metrics(_result(weak), {"adversarially trained CNN": _result(strong, draws=1)})))
    assert reversed_["C2"]["verdict"] == CONTRADICTED
    close = [1.0, 0.0] * 50
    nudged = close[:-2] + [1.0, 1.0]                                 # one example better: inside the noise
    assert _by_id(assess_claims(_metrics(_result(nudged), {"adversarially trained CNN": _result(close, draws=1)})))[
        "C2"]["verdict"] == INCONCLUSIVE
    failed = _by_id(assess_claims(_metrics(_result(strong), {"adversarially trained CNN": _result(weak, draws=1)},
                                           check="FAILED")))
    assert failed["C2"]["verdict"] == INCONCLUSIVE and "not judged" in failed["C2"]["evidence"]
    ablation = _by_id(assess_claims(_metrics(_result(strong), {"IDC without inter-class loss": _result(weak)})))
    assert ablation["C4"]["verdict"] == SUPPORTED


@pytest.mark.parametrize("idc_clean, verdict", [([1.0] * 100, SUPPORTED), ([0.0] * 30 + [1.0] * 70, CONTRADICTED),
                                                ([0.0] * 5 + [1.0] * 95, INCONCLUSIVE)])
def test_accuracy_claim_allows_five_points_below_a_standard_cnn(idc_clean, verdict):
    cnn = _result([0.0] * 100, clean=[1.0] * 100, draws=1)
    claims = _by_id(assess_claims(_metrics(_result([0.0] * 100, clean=idc_clean), {"standard CNN": cnn})))
    assert claims["C5"]["verdict"] == verdict


def test_cost_claim_reads_the_cost_rows():
    rows = [{"method": PAPER_IDC_ROW, "kind": "IDC (this kit)", "flops_per_prediction": 1e9},
            {"method": "DiffPure", "kind": "diffusion purification", "flops_per_prediction": 5e11},
            {"method": "RDC", "kind": "diffusion classifier", "flops_per_prediction": 1e13},
            {"method": "WRN", "kind": "adversarial training", "flops_per_prediction": 1e10}]
    claims = _by_id(assess_claims(_metrics(_result([1.0]), {}, rows=rows)))
    assert claims["C3"]["verdict"] == SUPPORTED and "500 x IDC" in claims["C3"]["evidence"]
    rows[1]["flops_per_prediction"] = 5e8
    assert _by_id(assess_claims(_metrics(_result([1.0]), {}, rows=rows)))["C3"]["verdict"] == CONTRADICTED
    assert _by_id(assess_claims(_metrics(_result([1.0]), {})))["C3"]["verdict"] == NOT_TESTED
    text = "\n".join(claims_markdown(list(claims.values())))
    assert "| C3: at a fraction of their computational cost | **supported** |" in text

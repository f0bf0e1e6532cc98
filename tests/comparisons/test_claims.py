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
from idc_lite.comparisons.replicate_claims import (
    assess_replicate_claims,
    combine_budgets,
    inter_class_loss_claim,
    pruning_claim,
)
from idc_lite.foundation.run_metrics import RunMetrics


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


def _defences(idc_worst, by_name: dict, check="passed", costs=None):
    """Metrics of a run with notebook 07: IDC's worst case from 04, each defence's on the first examples."""
    from idc_lite.comparisons.diffusion_defences import defence_comparisons

    metrics = _metrics(_result(idc_worst), {}, check=check).to_dict()
    protocols = {name: {"adaptive": _result(worst)} for name, worst in by_name.items()}
    metrics["07_diffusion_defences"] = {
        "defences": {name: {"protocols": p} for name, p in protocols.items()},
        "comparisons": defence_comparisons({"adaptive": _result(idc_worst)}, protocols), "costs": costs or []}
    return RunMetrics.from_dict(metrics)


def test_diffusion_claim_needs_every_defence_beaten_on_the_examples_it_faced():
    strong, weak = [1.0] * 60 + [0.0] * 40, [0.0] * 100
    assert _by_id(assess_claims(_metrics(_result(strong), {})))["C1"]["verdict"] == NOT_TESTED
    both = _by_id(assess_claims(_defences(strong, {"DiffPure": weak, "RDC": weak[:50]})))["C1"]
    assert both["verdict"] == SUPPORTED and "n = 50" in both["evidence"] and "DiffPure" in both["quoted"]
    # the defence attacked on 50 examples pairs with IDC's first 50 (all robust there), not with all 100
    assert both["values"]["differences"]["RDC"]["difference"] == pytest.approx(1.0)
    one_lost = _by_id(assess_claims(_defences(strong, {"DiffPure": weak, "RDC": [1.0] * 50})))["C1"]
    assert one_lost["verdict"] == INCONCLUSIVE                        # beats one defence, ties the other
    beaten = _by_id(assess_claims(_defences(weak, {"DiffPure": strong, "RDC": weak[:50]})))["C1"]
    assert beaten["verdict"] == CONTRADICTED                          # one defence clearly more robust
    unchecked = _by_id(assess_claims(_defences(strong, {"DiffPure": weak}, check="FAILED")))["C1"]
    assert unchecked["verdict"] == INCONCLUSIVE and "not judged" in unchecked["evidence"]
    # a defence whose own cascade checks failed: its worst case is an upper bound, and the evidence says so
    flagged = _defences(strong, {"DiffPure": weak}).to_dict()
    flagged["07_diffusion_defences"]["defences"]["DiffPure"]["protocols"]["adaptive"]["sanity_checks"] = [
        {"check": "white-box alone gets within 3 points of the worst case", "status": "FAILED"},
        {"check": "iterative beats single-step", "status": "passed"}]
    evidence = _by_id(assess_claims(RunMetrics.from_dict(flagged)))["C1"]["evidence"]
    assert ("DiffPure's sanity checks that FAILED at the main budget (its worst case is an upper bound): white-box alone"
            in evidence) and "iterative beats" not in evidence and "sanity checks that FAILED" not in both["evidence"]
    # a defence that seems more robust than IDC but failed a check of its own may be under-attacked: no contradiction
    doubtful = _defences(weak, {"DiffPure": strong}).to_dict()
    doubtful["07_diffusion_defences"]["defences"]["DiffPure"]["protocols"]["adaptive"]["sanity_checks"] = [
        {"check": "white-box beats black-box, example by example", "status": "FAILED"}]
    assert _by_id(assess_claims(RunMetrics.from_dict(doubtful)))["C1"]["verdict"] == INCONCLUSIVE


def _row(method, kind, flops, seconds=None):
    return {"method": method, "kind": kind, "flops_per_prediction": flops, "seconds_per_prediction": seconds}


def test_cost_claims_are_split_and_measured_on_this_runs_models():
    paper = [{"method": PAPER_IDC_ROW, "kind": "IDC (this kit)", "flops_per_prediction": 1e9},
             {"method": "DiffPure", "kind": "diffusion purification", "flops_per_prediction": 5e11},
             {"method": "WRN", "kind": "adversarial training", "flops_per_prediction": 1e10}]
    measured = [_row("IDC", "IDC (this kit)", 5e8, 4e-3), _row("DiffPure-style purification", "diffusion purification", 1e10),
                _row("RDC-style diffusion classifier", "diffusion classifier", 6e9),
                _row("adversarially trained CNN", "adversarial training", 2e7, 2e-4)]
    claims = _by_id(assess_claims(_defences([1.0] * 10, {"DiffPure": [0.0] * 10}, costs=measured), cost_rows=paper))
    assert claims["C3a"]["verdict"] == SUPPORTED and "measured here" in claims["C3a"]["evidence"]
    assert "computed from the architectures, not measured" in claims["C3a"]["evidence"]      # paper scale: context
    assert claims["C3b"]["verdict"] == CONTRADICTED and "(IDC / it = 25)" in claims["C3b"]["evidence"]
    measured[2]["flops_per_prediction"] = 2e9                         # IDC a quarter of one defence: not "a fraction"
    claims = _by_id(assess_claims(_defences([1.0] * 10, {"DiffPure": [0.0] * 10}, costs=measured), cost_rows=paper))
    assert claims["C3a"]["verdict"] == INCONCLUSIVE
    # without notebook 07: C3a not tested (the paper-scale figures are no verdict), C3b from 04's and 05's costs
    runs_05 = _metrics(_result([1.0]), {}).to_dict()
    runs_05["04_attack"]["cost"] = {"flops_per_prediction": 5e8, "seconds_per_image": 4e-3}
    runs_05["05_baselines"]["models"]["adversarially trained CNN"] = {"cost": {"flops_per_prediction": 2e7},
                                                                      "protocols": {"adaptive": _result([0.0])}}
    claims = _by_id(assess_claims(RunMetrics.from_dict(runs_05), cost_rows=paper))
    assert claims["C3a"]["verdict"] == NOT_TESTED and "50 x IDC" not in claims["C3a"]["evidence"]
    assert "500.00 x IDC's FLOPs" in claims["C3a"]["evidence"]
    assert claims["C3b"]["verdict"] == CONTRADICTED
    text = "\n".join(claims_markdown(list(claims.values())))
    assert "| C3b: at a fraction of the computational cost of adversarially trained CNNs | **contradicted** |" in text


def _group(seed_means, n=100, eps=(48.0, 16.0), clean=None, checks="passed", flops=5e8):
    """A replicate group whose per-seed scores are right on the first mean x n examples, at both budgets."""
    scores = [[1.0] * round(m * n) + [0.0] * (n - round(m * n)) for m in seed_means]
    clean_scores = [[1.0] * round(c * n) + [0.0] * (n - round(c * n)) for c in (clean or [0.98] * len(seed_means))]
    return {"seeds": list(range(len(seed_means))), "main": scores, "secondary": scores, "eps_255": eps[0],
            "secondary_eps_255": eps[1], "clean": clean_scores, "undefended_checks": [checks] * len(seed_means),
            "flops_per_prediction": flops}


@pytest.mark.parametrize("reference, other, verdict", [
    ([0.40, 0.42, 0.41], [0.20, 0.22, 0.21], SUPPORTED),          # seeds agree: a 20-point gain is sure
    ([0.20, 0.22, 0.21], [0.40, 0.42, 0.41], CONTRADICTED),
    ([0.10, 0.60, 0.35], [0.30, 0.32, 0.31], INCONCLUSIVE),       # a 4-point mean gain, its seeds scattered
])
def test_the_inter_class_loss_claim_is_judged_over_seeds_and_examples(reference, other, verdict):
    claim = inter_class_loss_claim(_group(reference), _group(other), ("IDC", "no inter-class loss"))
    assert claim["verdict"] == verdict
    assert set(claim["values"]["differences"]) == {"48/255", "16/255"}
    assert "seed x example bootstrap, n = 100, training seeds 3 and 3" in claim["evidence"]
    assert "seeds 0, 1, 2" in claim["evidence"]


def test_the_inter_class_loss_claim_combines_the_budgets_and_needs_the_undefended_check():
    assert combine_budgets([SUPPORTED, INCONCLUSIVE]) == SUPPORTED
    assert combine_budgets([SUPPORTED, CONTRADICTED]) == INCONCLUSIVE
    assert combine_budgets([INCONCLUSIVE, CONTRADICTED]) == CONTRADICTED
    failed = inter_class_loss_claim(_group([0.4] * 3, checks="FAILED"), _group([0.2] * 3), ("a", "b"))
    assert failed["verdict"] == INCONCLUSIVE and "did not pass in every replicate" in failed["evidence"]
    unattacked = {k: v for k, v in _group([0.4]).items() if k not in ("main", "secondary")}
    assert inter_class_loss_claim(unattacked, unattacked, ("a", "b"))["verdict"] == NOT_TESTED


@pytest.mark.parametrize("pruned, unpruned, verdict", [
    ([0.97, 0.98, 0.97], [0.99], SUPPORTED),         # 1.7 points below: inside the 5-point margin
    ([0.80, 0.81, 0.80], [0.99], CONTRADICTED),      # 18.7 points below
    ([0.99, 0.80, 0.95], [0.98], INCONCLUSIVE),      # one seed far off: the margin inside the interval
])
def test_the_pruning_claim_compares_clean_accuracy_with_an_unpruned_longer_sampler(pruned, unpruned, verdict):
    claim = pruning_claim(_group([0.3] * len(pruned), clean=pruned, flops=5e8),
                          _group([0.3], clean=unpruned, flops=1e10), ("pruned, T = 4", "unpruned, T = 10"))
    assert claim["verdict"] == verdict
    assert claim["values"]["flops_ratio"] == pytest.approx(0.05)
    assert "500.0 MFLOPs" in claim["evidence"] and "10,000.0 MFLOPs" in claim["evidence"]


def test_replicate_claims_of_missing_points_are_not_tested():
    claims = assess_replicate_claims({"base": _group([0.4] * 3)},
                                     {"C4": {"reference": "base", "other": "no inter-class loss"},
                                      "C5": {"reference": "base", "other": "unpruned"}})
    assert [(c["claim"], c["verdict"]) for c in claims] == [("C4", NOT_TESTED), ("C5", NOT_TESTED)]
    assert "no finished run of unpruned" in claims[1]["evidence"]


def test_replicate_claims_refuse_to_pair_what_was_not_measured_alike():
    """Different budgets, different examples, or a replicate without the undefended-CNN check: said in the
    verdict, never a comparison of unlike numbers (and never an exception that loses a finished sweep)."""
    other_budget = _group([0.2] * 3, eps=(32.0, 16.0))
    c4 = inter_class_loss_claim(_group([0.4] * 3), other_budget, ("a", "b"))
    assert c4["verdict"] == NOT_TESTED and "different budgets" in c4["evidence"]
    fewer = _group([0.2] * 3, n=50)
    claims = assess_replicate_claims({"a": _group([0.4] * 3), "b": fewer}, {"C4": {"reference": "a", "other": "b"}})
    assert claims[0]["verdict"] == NOT_TESTED and "cannot be paired" in claims[0]["evidence"]
    one_missing = {**_group([0.4] * 3), "undefended_checks": ["passed", "passed"]}
    assert inter_class_loss_claim(one_missing, _group([0.2] * 3), ("a", "b"))["verdict"] == INCONCLUSIVE
    failed = {**_group([0.4] * 3), "failed_checks": ["doubling the EOT tail"]}
    assert "FAILED in some replicate" in inter_class_loss_claim(failed, _group([0.2] * 3), ("a", "b"))["evidence"]

"""The paper's claims, one by one, with the evidence a run measured and a verdict from a rule written
down before looking (as ML Reproducibility Challenge reports do).

The claims, from the paper's abstract:

* C1  IDC is more robust than diffusion-based defences.
* C2  IDC is more robust than CNN-based (adversarially trained) defences.
* C3  ... at a fraction of their computational cost.
* C4  The inter-class loss helps.
* C5  A pruned U-Net with few timesteps keeps the classifier accurate.

Verdicts (:data:`VERDICTS`): ``supported``, ``contradicted``, ``inconclusive at this n`` and ``not tested
at this scale``.  The rules:

* comparisons of accuracy (C2, C4, C5) use the paired 95 % interval of the difference on the same
  examples (idc_lite.uncertainty.paired_difference): supported when its lower end is above the claim's
  margin, contradicted when its upper end is below it, inconclusive otherwise (:func:`interval_verdict`);
* robustness claims (C2, C4) are judged at the main budget under the adaptive protocol, and only when the
  sanity check "the same attack takes an undefended CNN to about 0 %" passed there: at a budget where it
  fails no model's number says anything about robustness (then: inconclusive);
* C5's margin is -5 points: IDC's clean accuracy may be at most 5 points below a standard CNN trained on
  the same data and still count as "accurate";
* C3 is a ratio of FLOPs per prediction computed from the architectures: supported when IDC at the paper's
  CIFAR-10 preset costs at most a tenth of every diffusion-based defence, contradicted when it costs as
  much as any of them or more (:func:`cost_verdict`);
* C1 needs a diffusion-based defence evaluated here under the same attacks; the kit trains none, so it is
  ``not tested at this scale`` and the literature's figures are shown as quoted, never as evidence.
"""
from __future__ import annotations

from idc_lite.comparisons.costs import LITERATURE
from idc_lite.evaluation.comparison import paired_comparisons
from idc_lite.evaluation.protocol import idc_protocols
from idc_lite.metrics import AttackMetrics, RunMetrics
from idc_lite.uncertainty import estimate, format_difference, format_estimate, paired_difference

SUPPORTED, CONTRADICTED = "supported", "contradicted"
INCONCLUSIVE, NOT_TESTED = "inconclusive at this n", "not tested at this scale"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED)


CLAIMS = {
    "C1": "more robust than diffusion-based defences",
    "C2": "more robust than CNN-based (adversarially trained) defences",
    "C3": "at a fraction of their computational cost",
    "C4": "the inter-class loss helps",
    "C5": "a pruned U-Net with few timesteps keeps the classifier accurate",
}


ACCURACY_MARGIN = -0.05       # C5: at most 5 points below a standard CNN


COST_FRACTION = 0.1           # C3: at most a tenth of every diffusion-based defence


DIFFUSION_KINDS = ("diffusion purification", "diffusion classifier")


PAPER_IDC_ROW = "IDC, paper CIFAR-10 preset"


UNDEFENDED_CHECK = "the same attack takes an undefended CNN to about 0 %"


def interval_verdict(difference: dict, margin: float = 0.0) -> str:
    """Verdict for 'the reference beats the other by more than ``margin``' from a paired interval
    ``{"low", "high"}`` of reference minus other: the whole interval above the margin supports it, the
    whole interval below contradicts it, an interval across it is inconclusive at this n."""
    if difference["low"] > margin:
        return SUPPORTED
    if difference["high"] < margin:
        return CONTRADICTED
    return INCONCLUSIVE


def cost_verdict(idc_flops: float, other_flops: list[float], fraction: float = COST_FRACTION) -> str:
    """C3's rule: supported when IDC costs at most ``fraction`` of every other method, contradicted when
    it costs as much as any of them or more, inconclusive in between; not tested without others."""
    if not other_flops:
        return NOT_TESTED
    ratios = [idc_flops / f for f in other_flops]
    if max(ratios) <= fraction:
        return SUPPORTED
    if max(ratios) >= 1.0:
        return CONTRADICTED
    return INCONCLUSIVE


def _claim(cid: str, verdict: str, evidence: str, rule: str, quoted: str = "", values: dict | None = None) -> dict:
    return {"claim": cid, "text": CLAIMS[cid], "verdict": verdict, "evidence": evidence, "quoted": quoted,
            "rule": rule, "values": values or {}}


def _undefended_check_passed(from_04: AttackMetrics | None) -> bool | None:
    check = from_04.sanity_check(UNDEFENDED_CHECK) if from_04 else None
    return None if check is None else check["status"] == "passed"


ROBUSTNESS_RULE = ("paired 95 % interval of IDC minus the other model's adaptive worst case at the main budget: above 0 "
                   "supported, below 0 contradicted, else inconclusive; judged only where the undefended-CNN check passed")


def _robustness_claim(cid: str, results: dict, other: str, from_04: AttackMetrics | None) -> dict:
    rule = ROBUSTNESS_RULE
    eps_255 = round(255 * from_04.eps) if from_04 else None
    if "adaptive" not in results.get("IDC", {}):
        return _claim(cid, NOT_TESTED, "notebook 04 did not run", rule)
    if "adaptive" not in results.get(other, {}):
        return _claim(cid, NOT_TESTED, f"{other} was not evaluated in this run", rule)
    row = next(c for c in paired_comparisons({"IDC": results["IDC"], other: results[other]})
               if c["protocol"] == "adaptive")
    d = row["difference"]
    passed = _undefended_check_passed(from_04)
    verdict = interval_verdict(d) if passed else INCONCLUSIVE
    idc = format_estimate(estimate(results["IDC"]["adaptive"]["worst_case_per_example"], "bootstrap"))
    them = format_estimate(estimate(results[other]["adaptive"]["worst_case_per_example"], "bootstrap"))
    evidence = (f"adaptive protocol at {eps_255}/255: IDC {idc}, {other} {them}; IDC minus {other} "
                f"{format_difference(d)}")
    if not passed:
        evidence += "; the undefended-CNN sanity check did not pass at this budget, so robustness is not judged"
    return _claim(cid, verdict, evidence, rule, values={"difference": d, "eps_255": eps_255})


def cost_rows_from_architectures() -> list[dict]:
    """C3's evidence without notebook 06: the paper-preset IDC row and the alternatives' rows, FLOPs
    computed from the architectures (nothing timed), as dicts like notebook 06's metrics."""
    from idc_lite.comparisons.costs import alternative_rows, idc_row_from_architecture
    from idc_lite.training.presets import get_preset

    rows = [idc_row_from_architecture(PAPER_IDC_ROW, get_preset("cifar10").model), *alternative_rows(timed=False)]
    return [r.to_dict() for r in rows]


def _cost_rows(metrics: RunMetrics, cost_rows: list[dict] | None) -> list[dict] | None:
    if cost_rows is not None:
        return cost_rows
    return (metrics.efficiency.rows if metrics.efficiency else None) or None


def assess_claims(metrics: RunMetrics, results: dict | None = None, cost_rows: list[dict] | None = None) -> list[dict]:
    """The claims table of a run: one dict per claim with its verdict, the evidence measured here (with
    intervals), what was only quoted, and the rule applied.

    ``metrics``: the run's notebook records (:func:`idc_lite.metrics.read_metrics`); ``results``: notebook 05's
    ``{model: {protocol key: result}}`` (default: from the metrics); ``cost_rows``: notebook 06's rows as
    dicts (default: from the metrics; without them C3 is not tested)."""
    from_04, from_05 = metrics.attack, metrics.baselines
    if results is None:
        results = {name: m["protocols"] for name, m in (from_05.models if from_05 else {}).items()}
        if from_04 and "IDC" not in results:
            results["IDC"] = idc_protocols(from_04)
    claims = []
    # C1: nothing diffusion-based is evaluated here
    quoted = "; ".join(f"{p.method} {100 * p.robust_accuracy:.2f} % ({p.attack}; {p.source})"
                       for p in LITERATURE if p.cost_row.startswith(("DiffPure", "diffusion")))
    claims.append(_claim("C1", NOT_TESTED, "no diffusion-based defence is trained or attacked in this kit",
                         "needs a diffusion-based defence under the same attacks on the same examples", quoted=quoted))
    claims.append(_robustness_claim("C2", results, "adversarially trained CNN", from_04))
    rows = _cost_rows(metrics, cost_rows)
    cost_rule = (f"FLOPs per prediction from the architectures: IDC at the paper's CIFAR-10 preset at most "
                 f"{COST_FRACTION:g} x every diffusion-based defence supported, at least 1 x any contradicted")
    if not rows:
        claims.append(_claim("C3", NOT_TESTED, "notebook 06 (the cost table) did not run", cost_rule))
    else:
        idc = next((r for r in rows if r["method"] == PAPER_IDC_ROW), None)
        others = [r for r in rows if r["kind"] in DIFFUSION_KINDS]
        verdict = cost_verdict(idc["flops_per_prediction"], [r["flops_per_prediction"] for r in others]) if idc else NOT_TESTED
        evidence = "; ".join(f"{r['method']} {r['flops_per_prediction'] / idc['flops_per_prediction']:,.0f} x IDC"
                             for r in others) if idc else "no IDC row at the paper's preset"
        adv = [r for r in rows if r["kind"] == "adversarial training"]
        if idc and adv:
            evidence += "; beside adversarially trained CNNs: " + "; ".join(
                f"{r['method']} {r['flops_per_prediction'] / idc['flops_per_prediction']:.2f} x IDC" for r in adv)
        claims.append(_claim("C3", verdict, f"computed, not measured: {evidence}", cost_rule))
    claims.append(_robustness_claim("C4", results, "IDC without inter-class loss", from_04))
    claims.append(_accuracy_claim(results))
    return claims


def _accuracy_claim(results: dict) -> dict:
    rule = (f"paired 95 % interval of IDC's clean accuracy minus a standard CNN's on the same examples: above "
            f"{100 * ACCURACY_MARGIN:+g} points supported, below contradicted, else inconclusive")
    cnn = (results.get("standard CNN") or {}).get("adaptive")
    idc = (results.get("IDC") or {}).get("adaptive")
    if not cnn or not idc or cnn["examples"] != idc["examples"]:
        return _claim("C5", NOT_TESTED, "no standard CNN evaluated on IDC's examples in this run", rule)
    d = paired_difference(idc["clean_per_example"], cnn["clean_per_example"])
    evidence = (f"clean accuracy on the evaluated examples: IDC (4 timesteps, pruned U-Net) "
                f"{format_estimate(estimate(idc['clean_per_example'], 'bootstrap'))}, standard CNN "
                f"{format_estimate(estimate(cnn['clean_per_example'], 'wilson' if cnn['draws'] == 1 else 'bootstrap'))}; "
                f"IDC minus CNN {format_difference(d)}")
    return _claim("C5", interval_verdict(d, ACCURACY_MARGIN), evidence, rule, values={"difference": d})


def claims_markdown(claims: list[dict]) -> list[str]:
    """The 'Claims' section of a report: a table and the rules."""
    if not claims:
        return []
    lines = ["## Claims", "",
             "The paper's claims (from its abstract), the evidence this run measured, what was only quoted, and a "
             "verdict from a rule fixed before the run (idc_lite.comparisons.claims).", "",
             "| claim | verdict | evidence (this run) | rule |", "|---|---|---|---|"]
    for c in claims:
        evidence = c["evidence"] + (f". Quoted, not measured: {c['quoted']}." if c.get("quoted") else "")
        lines.append(f"| {c['claim']}: {c['text']} | **{c['verdict']}** | {evidence} | {c['rule']} |")
    return lines + [""]



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
  examples (idc_lite.foundation.uncertainty.paired_difference): supported when its lower end is above the claim's
  margin, contradicted when its upper end is below it, inconclusive otherwise (:func:`interval_verdict`);
* robustness claims (C2, C4) are judged at the main budget under the adaptive protocol, and only when the
  sanity check "the same attack takes an undefended CNN to about 0 %" passed there: at a budget where it
  fails no model's number says anything about robustness (then: inconclusive);
* C5's margin is -5 points: IDC's clean accuracy may be at most 5 points below a standard CNN trained on
  the same data and still count as "accurate";
* C1 compares IDC with the diffusion-based defences notebook 07 trains and attacks (DiffPure-style
  purification, an RDC-style diffusion classifier) by the robustness rule, against each on the examples it
  faced: supported when supported against every one, contradicted when contradicted against any, else
  inconclusive; without notebook 07 it is ``not tested at this scale`` and the literature's figures are
  shown as quoted, never as evidence;
* C3 is split: C3a (IDC against the diffusion defences) and C3b (against the adversarially trained CNNs),
  each a ratio of FLOPs per prediction of the models *trained in this run*, counted with the kit's one
  counter (:func:`idc_lite.comparisons.baselines.prediction_cost`): supported when IDC costs at most a tenth
  of every other model, contradicted when as much as any or more (:func:`cost_verdict`).  The paper-scale
  ratios computed from the architectures (the CIFAR-10 preset beside DiffPure's, RDC's and the ResNets')
  stand beside them as context, never as the verdict.
"""
from __future__ import annotations

from idc_lite.comparisons.costs import DIFFPURE_STEPS, LITERATURE, RDC_CLASSES, RDC_LEVELS
from idc_lite.evaluation.check_record import failed_checks
from idc_lite.evaluation.comparison import paired_comparisons
from idc_lite.evaluation.protocol import idc_protocols
from idc_lite.foundation.run_metrics import AttackMetrics, RunMetrics
from idc_lite.foundation.uncertainty import estimate, format_difference, format_estimate, paired_difference

SUPPORTED, CONTRADICTED = "supported", "contradicted"
INCONCLUSIVE, NOT_TESTED = "inconclusive at this n", "not tested at this scale"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED)


CLAIMS = {
    "C1": "more robust than diffusion-based defences",
    "C2": "more robust than CNN-based (adversarially trained) defences",
    "C3a": "at a fraction of the computational cost of diffusion-based defences",
    "C3b": "at a fraction of the computational cost of adversarially trained CNNs",
    "C4": "the inter-class loss helps",
    "C5": "a pruned U-Net with few timesteps keeps the classifier accurate",
}


ROBUSTNESS_CLAIMS = ("C1", "C2", "C4")     # judged on robust accuracies: a failed sanity check weakens them


CIFAR_SCALE = {
    "C1": "the defences here are teaching-size (IDC's U-Net, digits), and DiffPure's and RDC's published CIFAR-10 "
          "figures come from other attacks; Lee & Kim (ICCV 2023) found DiffPure far weaker under PGD-EOT through "
          "its full reverse process, which is the attack used here. A verdict on the digits says how the methods "
          "compare when trained and attacked alike, not what the CIFAR-10 numbers would be.",
    "C2": "the digits CNNs are small and trained for minutes; adversarially trained ResNets on CIFAR-10 keep much "
          "of their accuracy under AutoAttack at 8/255 (RobustBench's figures, quoted on the cost page). A "
          "contradiction here means IDC's robustness does not come for "
          "free on an easy dataset, not that the CIFAR-10 ranking is known.",
    "C3a": f"the cost ratio grows with scale: at CIFAR-10, DiffPure calls its score network {DIFFPURE_STEPS} times "
           f"per image and RDC's classifier {RDC_CLASSES * RDC_LEVELS:,}, while IDC calls its U-Net four times (the "
           "paper-scale ratios in the evidence are computed from the architectures).",
    "C3b": "an adversarially trained CNN is one forward pass; IDC is four U-Net passes. At CIFAR-10 scale a "
           "WideResNet-28-10 is larger than the paper's pruned U-Net, so the ratio computed from the architectures "
           "can favour IDC there while the measured digits models do not.",
    "C4": "the paper's ablation (CIFAR-10) compares one training of each model. Here the verdict comes from three "
          "training seeds per model where a sweep record holds them (else from one, whose interval holds evaluation "
          "noise only); it says whether the loss's effect stands out from the luck of training at this scale, not what "
          "the CIFAR-10 gain is.",
    "C5": "the authors prune BBDM's U-Net (128 base channels, 2 residual blocks per level, 3 levels; 200 sampler "
          "steps of 1,000) to 64 channels, 1 block and 2 levels with 4 steps. The digits comparison doubles the "
          "pruned U-Net's width and blocks (the levels stay: 16-pixel images) and samples with 10 steps where a "
          "sweep record holds it (else the comparison is with a standard CNN); it tests the direction of the claim "
          "at a smaller size, not the CIFAR-10 figures.",
}


ACCURACY_MARGIN = -0.05       # C5: at most 5 points below a standard CNN


COST_FRACTION = 0.1           # C3a, C3b: at most a tenth of every other model


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


def claim_record(cid: str, verdict: str, evidence: str, rule: str, quoted: str = "", values: dict | None = None) -> dict:
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
        return claim_record(cid, NOT_TESTED, "notebook 04 did not run", rule)
    if "adaptive" not in results.get(other, {}):
        return claim_record(cid, NOT_TESTED, f"{other} was not evaluated in this run", rule)
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
    return claim_record(cid, verdict, evidence, rule, values={"difference": d, "eps_255": eps_255})


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

    ``metrics``: the run's notebook records (:func:`idc_lite.foundation.run_metrics.read_metrics`); ``results``: notebook 05's
    ``{model: {protocol key: result}}`` (default: from the metrics); ``cost_rows``: the paper-scale rows computed from
    the architectures (notebook 06's, as dicts; default: from the metrics), shown beside C3a's and C3b's measured
    figures as context."""
    from_04, from_05 = metrics.attack, metrics.baselines
    if results is None:
        results = {name: m["protocols"] for name, m in (from_05.models if from_05 else {}).items()}
        if from_04 and "IDC" not in results:
            results["IDC"] = idc_protocols(from_04)
    claims = [_diffusion_claim(results, metrics.defences, from_04),
              _robustness_claim("C2", results, "adversarially trained CNN", from_04)]
    claims += _cost_claims(metrics, _cost_rows(metrics, cost_rows))
    claims.append(_robustness_claim("C4", results, "IDC without inter-class loss", from_04))
    claims.append(_accuracy_claim(results))
    return claims


def _quoted_diffusion_figures() -> str:
    return "; ".join(f"{p.method} {100 * p.robust_accuracy:.2f} % ({p.attack}; {p.source})"
                     for p in LITERATURE if p.cost_row.startswith(("DiffPure", "diffusion")))


DIFFUSION_RULE = ("paired 95 % interval of IDC minus each diffusion defence's adaptive worst case at the main budget, "
                  "on the examples it faced: supported when above 0 against every one, contradicted when below 0 against "
                  "any whose own sanity checks all passed (a defence that failed one may be under-attacked: inconclusive), "
                  "else inconclusive; judged only where the undefended-CNN check passed")


def _diffusion_claim(results: dict, from_07, from_04: AttackMetrics | None) -> dict:
    """C1 from notebook 07's paired comparisons (IDC minus each defence, main and secondary budget)."""
    quoted = _quoted_diffusion_figures()
    if from_07 is None or not from_07.comparisons:
        return claim_record("C1", NOT_TESTED, "notebook 07 (the diffusion defences) did not run", DIFFUSION_RULE, quoted=quoted)
    main = [c for c in from_07.comparisons if c["protocol"] == "adaptive"]
    failed = {name: failed_checks((d["protocols"].get("adaptive") or {}).get("sanity_checks"))
              for name, d in from_07.defences.items()}
    # a defence whose worst case is an upper bound (a failed check) cannot show IDC less robust than it
    verdicts = [INCONCLUSIVE if v == CONTRADICTED and failed.get(c["other"]) else v
                for c, v in ((c, interval_verdict(c["difference"])) for c in main)]
    passed = _undefended_check_passed(from_04)
    if not passed:
        verdict = INCONCLUSIVE
    elif CONTRADICTED in verdicts:
        verdict = CONTRADICTED
    elif verdicts and all(v == SUPPORTED for v in verdicts):
        verdict = SUPPORTED
    else:
        verdict = INCONCLUSIVE
    parts = []
    for c in from_07.comparisons:
        defence = from_07.defences[c["other"]]["protocols"][c["protocol"]]
        idc_scores = (results.get("IDC", {}).get(c["protocol"]) or {}).get("worst_case_per_example", [])[:c["examples"]]
        idc = format_estimate(estimate(idc_scores, "bootstrap")) if idc_scores else "?"
        them = format_estimate(estimate(defence["worst_case_per_example"], "bootstrap"))
        parts.append(f"{c['eps_255']}/255 (adaptive, n = {c['examples']}): IDC {idc}, {c['other']} {them}; "
                     f"IDC minus it {format_difference(c['difference'])}")
    evidence = "; ".join(parts)
    for name, names in failed.items():
        if names:
            evidence += f"; {name}'s sanity checks that FAILED at the main budget (its worst case is an upper bound): " \
                        + "; ".join(names)
    if not passed:
        evidence += "; the undefended-CNN sanity check did not pass at the main budget, so robustness is not judged"
    return claim_record("C1", verdict, evidence, DIFFUSION_RULE, quoted=quoted,
                  values={"differences": {c["other"]: c["difference"] for c in main}})


COST_RULE = (f"FLOPs per prediction of the models trained in this run (one counter, the same batch and threads): IDC at "
             f"most {COST_FRACTION:g} x every other model supported, at least 1 x any contradicted, else inconclusive")


def _measured_rows(metrics: RunMetrics) -> list[dict]:
    """Cost rows measured on this run's models: notebook 07's (IDC, CNNs, defences, one batch), else IDC's
    from 04 and the CNNs' from 05 (the same counter and timer, batch 100)."""
    if metrics.defences and metrics.defences.costs:
        return metrics.defences.costs
    rows = []
    if metrics.attack and metrics.attack.cost:
        rows.append({"method": "IDC", "kind": "IDC (this kit)", **_cost_fields(metrics.attack.cost)})
    for name, model in (metrics.baselines.models if metrics.baselines else {}).items():
        if name == "adversarially trained CNN" and model.get("cost"):
            rows.append({"method": name, "kind": "adversarial training", **_cost_fields(model["cost"])})
    return rows


def _cost_fields(cost: dict) -> dict:
    return {"flops_per_prediction": cost["flops_per_prediction"], "seconds_per_prediction": cost.get("seconds_per_image")}


def _paper_scale(rows: list[dict] | None, kinds: tuple[str, ...]) -> str:
    """The paper-scale ratios computed from the architectures, for context."""
    idc = next((r for r in rows or [] if r["method"] == PAPER_IDC_ROW), None)
    others = [r for r in rows or [] if r["kind"] in kinds]
    if not idc or not others:
        return ""
    return "; at the paper's CIFAR-10 scale, computed from the architectures, not measured: " + "; ".join(
        f"{r['method']} {r['flops_per_prediction'] / idc['flops_per_prediction']:,.2f} x IDC's FLOPs" for r in others)


def _cost_claims(metrics: RunMetrics, paper_rows: list[dict] | None) -> list[dict]:
    """C3a (against the diffusion defences) and C3b (against the adversarially trained CNNs), measured."""
    measured = _measured_rows(metrics)
    idc = next((r for r in measured if r["kind"] == "IDC (this kit)"), None)
    out = []
    for cid, kinds, missing in (("C3a", DIFFUSION_KINDS, "notebook 07 (the diffusion defences) did not run"),
                                ("C3b", ("adversarial training",), "no adversarially trained CNN was measured in this run")):
        others = [r for r in measured if r["kind"] in kinds]
        context = _paper_scale(paper_rows, kinds)
        if not idc or not others:
            out.append(claim_record(cid, NOT_TESTED, missing + context, COST_RULE))
            continue
        ratios = {r["method"]: idc["flops_per_prediction"] / r["flops_per_prediction"] for r in others}
        evidence = "measured here: " + "; ".join(
            f"IDC {idc['flops_per_prediction'] / 1e6:,.1f} MFLOPs"
            f"{_ms(idc)} against {r['method']} {r['flops_per_prediction'] / 1e6:,.1f} MFLOPs{_ms(r)} "
            f"(IDC / it = {ratios[r['method']]:.3g})" for r in others)
        out.append(claim_record(cid, cost_verdict(idc["flops_per_prediction"], [r["flops_per_prediction"] for r in others]),
                          evidence + context, COST_RULE, values={"ratios": ratios}))
    return out


def _ms(row: dict) -> str:
    s = row.get("seconds_per_prediction")
    return f" ({1e3 * s:.2f} ms)" if s else ""


def _accuracy_claim(results: dict) -> dict:
    rule = (f"paired 95 % interval of IDC's clean accuracy minus a standard CNN's on the same examples: above "
            f"{100 * ACCURACY_MARGIN:+g} points supported, below contradicted, else inconclusive")
    cnn = (results.get("standard CNN") or {}).get("adaptive")
    idc = (results.get("IDC") or {}).get("adaptive")
    if not cnn or not idc or cnn["examples"] != idc["examples"]:
        return claim_record("C5", NOT_TESTED, "no standard CNN evaluated on IDC's examples in this run", rule)
    d = paired_difference(idc["clean_per_example"], cnn["clean_per_example"])
    evidence = (f"clean accuracy on the evaluated examples: IDC (4 timesteps, pruned U-Net) "
                f"{format_estimate(estimate(idc['clean_per_example'], 'bootstrap'))}, standard CNN "
                f"{format_estimate(estimate(cnn['clean_per_example'], 'wilson' if cnn['draws'] == 1 else 'bootstrap'))}; "
                f"IDC minus CNN {format_difference(d)}")
    return claim_record("C5", interval_verdict(d, ACCURACY_MARGIN), evidence, rule, values={"difference": d})


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



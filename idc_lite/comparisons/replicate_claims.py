"""C4 and C5 judged from models trained with several seeds (a sweep's replicates), so that an interval
holds the luck of training as well as the evaluation's noise.

A *group* is one point of a sweep over its training seeds (:func:`idc_lite.runs.replicates.group_runs`)::

    {"seeds": [0, 1, 2],
     "clean": [[per-example clean accuracy on the test split] per seed],   # notebook 02, mean of its draws
     "main": [[per-example adaptive worst case] per seed], "eps_255": 48.0,  # notebook 04 (absent: not attacked)
     "secondary": [[...] per seed], "secondary_eps_255": 16.0,
     "undefended_checks": ["passed", ...],                                   # 04's undefended-CNN check per seed
     "flops_per_prediction": 5.3e8, "seconds_per_prediction": 0.004, "num_timesteps": 4, "model_channels": 32, ...}

The rules, written before the runs:

* **C4** (the inter-class loss helps): the seed x example bootstrap interval of IDC minus IDC without the loss,
  adaptive worst case, at the main and at the secondary budget.  Supported when above 0 at one budget and
  below at neither; contradicted when below 0 at one and above at neither; otherwise inconclusive.  Judged only
  when the undefended-CNN check passed in every replicate's notebook 04.
* **C5** (a pruned U-Net with few timesteps keeps the classifier accurate): the seed x example bootstrap
  interval of the pruned, few-step IDC's clean accuracy on the test split minus the unpruned, many-step
  one's: above the margin (-5 points, the kit's one accuracy margin) supported, below it contradicted, else
  inconclusive.  The two costs (FLOPs and seconds per prediction, measured side by side) stand beside it.
"""
from __future__ import annotations

from idc_lite.comparisons.claims import (
    ACCURACY_MARGIN,
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_TESTED,
    SUPPORTED,
    claim_record,
    interval_verdict,
)
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.uncertainty import format_difference, format_estimate, seeds_difference, seeds_estimate

REPLICATE_CLAIMS = ("C4", "C5")


C4_RULE = ("seed x example bootstrap interval of IDC minus IDC without the inter-class loss, adaptive worst case, at the "
           "main and the secondary budget: above 0 at one and below at neither supported, below 0 at one and above at "
           "neither contradicted, else inconclusive; judged only where the undefended-CNN check passed in every replicate")


C5_RULE = (f"seed x example bootstrap interval of the pruned few-step IDC's clean accuracy (test split) minus the unpruned "
           f"many-step one's: above {100 * ACCURACY_MARGIN:+g} points supported, below contradicted, else inconclusive; "
           "costs measured side by side beside it")


def _seeds(group: dict) -> str:
    return f"seed{'s' if len(group['seeds']) > 1 else ''} {', '.join(map(str, group['seeds']))}"


def combine_budgets(verdicts: list[str]) -> str:
    """C4's rule over the budgets' verdicts (main, secondary)."""
    if SUPPORTED in verdicts and CONTRADICTED not in verdicts:
        return SUPPORTED
    if CONTRADICTED in verdicts and SUPPORTED not in verdicts:
        return CONTRADICTED
    return INCONCLUSIVE


def inter_class_loss_claim(reference: dict, other: dict, names: tuple[str, str]) -> dict:
    """C4 from the two groups (IDC, IDC without the inter-class loss)."""
    budgets = [(key, eps) for key, eps in (("main", "eps_255"), ("secondary", "secondary_eps_255"))
               if reference.get(key) and other.get(key)]
    if not budgets:
        return claim_record("C4", NOT_TESTED, "no budget at which every seed of both points was attacked alike "
                            "(notebook 04 did not run, or its budget or examples differ between seeds)", C4_RULE)
    unequal = [f"{reference.get(eps)} against {other.get(eps)}" for _, eps in budgets if reference.get(eps) != other.get(eps)]
    if unequal:
        return claim_record("C4", NOT_TESTED, f"the two points were attacked at different budgets (/255): {unequal}", C4_RULE)
    parts, verdicts, differences = [], [], {}
    for key, eps in budgets:
        d = seeds_difference(reference[key], other[key])
        verdicts.append(interval_verdict(d))
        differences[f"{reference[eps]:g}/255"] = d
        parts.append(f"{reference[eps]:g}/255 (adaptive): {names[0]} {format_estimate(seeds_estimate(reference[key]))}, "
                     f"{names[1]} {format_estimate(seeds_estimate(other[key]))}; difference {format_difference(d)}")
    checks = reference.get("undefended_checks", []) + other.get("undefended_checks", [])
    passed = len(checks) == len(reference["seeds"]) + len(other["seeds"]) and all(c == "passed" for c in checks)
    verdict = combine_budgets(verdicts) if passed else INCONCLUSIVE
    evidence = f"{names[0]} trained with {_seeds(reference)}, {names[1]} with {_seeds(other)}; " + "; ".join(parts)
    if not passed:
        evidence += "; the undefended-CNN sanity check did not pass in every replicate, so robustness is not judged"
    failed = sorted(set(reference.get("failed_checks", []) + other.get("failed_checks", [])))
    if failed:
        evidence += (f"; sanity checks that FAILED in some replicate (the robust accuracies are then upper bounds): "
                     f"{'; '.join(failed)}")
    return claim_record("C4", verdict, evidence, C4_RULE, values={"differences": differences, "eps_255": reference["eps_255"]})


def _cost(group: dict) -> str:
    seconds = group.get("seconds_per_prediction")
    return (f"{group['flops_per_prediction'] / 1e6:,.1f} MFLOPs" + (f", {1e3 * seconds:.2f} ms" if seconds else "")
            if group.get("flops_per_prediction") else "cost not measured")


def pruning_claim(reference: dict, other: dict, names: tuple[str, str]) -> dict:
    """C5 from the two groups (pruned with few timesteps, unpruned with many)."""
    if not reference.get("clean") or not other.get("clean"):
        return claim_record("C5", NOT_TESTED, "a group has no clean accuracy per example (notebook 02 did not finish)", C5_RULE)
    d = seeds_difference(reference["clean"], other["clean"])
    ratio = (reference["flops_per_prediction"] / other["flops_per_prediction"]
             if reference.get("flops_per_prediction") and other.get("flops_per_prediction") else None)
    evidence = (f"clean accuracy on the test split: {names[0]} {format_estimate(seeds_estimate(reference['clean']))} "
                f"({_seeds(reference)}; {_cost(reference)}), {names[1]} {format_estimate(seeds_estimate(other['clean']))} "
                f"({_seeds(other)}; {_cost(other)}); difference {format_difference(d)}"
                + (f"; the pruned few-step model costs {ratio:.3g} x the other's FLOPs" if ratio else ""))
    return claim_record("C5", interval_verdict(d, ACCURACY_MARGIN), evidence, C5_RULE,
                  values={"difference": d, "flops_ratio": ratio})


def assess_replicate_claims(groups: dict[str, dict], claims: dict[str, dict]) -> list[dict]:
    """The claims a grid names (``{"C4": {"reference": point, "other": point}, ...}``), each judged from its
    two groups; a claim whose groups did not finish is ``not tested at this scale``."""
    judge = {"C4": inter_class_loss_claim, "C5": pruning_claim}
    out = []
    for cid, pair in claims.items():
        reference, other = groups.get(pair["reference"]), groups.get(pair["other"])
        if not reference or not other:
            missing = [p for p in (pair["reference"], pair["other"]) if not groups.get(p)]
            rule = C4_RULE if cid == "C4" else C5_RULE
            out.append(claim_record(cid, NOT_TESTED, f"no finished run of {', '.join(missing)}", rule))
            continue
        try:
            out.append(judge[cid](reference, other, (pair["reference"], pair["other"])))
        except InputError as err:           # e.g. scored on different examples: said, never a lost sweep
            out.append(claim_record(cid, NOT_TESTED, f"the two points cannot be paired: {err}",
                                    C4_RULE if cid == "C4" else C5_RULE))
    return out

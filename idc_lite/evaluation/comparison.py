"""Models side by side on the same examples: a table with intervals, and paired differences.

Notebook 05 evaluates IDC, IDC without the inter-class loss and two CNNs, each with the strongest suite of its
kind, on the same examples.  Two numbers side by side, each with its own interval, understate what such a design
can tell; the difference per example, resampled in pairs, says it (idc_lite.foundation.uncertainty).

``results``: ``{model name: {protocol key: idc_lite.evaluation.protocol.evaluate_attacks(...) result}}`` with keys
'paper@B' (the authors' protocol at budget B/255), 'adaptive' (main budget) and optionally
'adaptive_secondary'.
"""
from __future__ import annotations

from idc_lite.foundation.uncertainty import estimate, format_estimate, mcnemar_exact, paired_difference


def _paper_per_example(result: dict) -> list[float]:
    """The authors' count per example: clean and adversarial both right (worst case over their attacks)."""
    return [w * c for w, c in zip(result["worst_case_per_example"], result["clean_per_example"])]


def worst_case_scores(result: dict) -> list[float]:
    """Per-example robust scores behind a protocol's worst case (the paper protocol: its own count)."""
    return _paper_per_example(result) if result.get("protocol") == "paper" else result["worst_case_per_example"]


def worst_case_estimate(result: dict) -> dict:
    """The worst case with its 95 % interval (a bootstrap: it is a minimum over attacks)."""
    return estimate(worst_case_scores(result), "bootstrap")


def models_table(results: dict, costs: dict, paper_keys: list[str]) -> list[dict]:
    """Rows for notebook 05's table: per model its cost, clean accuracy and every protocol's worst case,
    each accuracy as 'value % [low, high] (n = N)'."""
    rows = []
    for name, by_key in results.items():
        cost = costs[name]
        clean = by_key["adaptive"]
        row = {"model": name, "parameters": f"{cost['parameters']:,}",
               "MFLOPs/prediction": round(cost["flops_per_prediction"] / 1e6, 1),
               "ms/prediction": round(1e3 * cost["seconds_per_image"], 2),
               "clean": format_estimate(estimate(clean["clean_per_example"],
                                                 "wilson" if clean["draws"] == 1 else "bootstrap"))}
        for key in paper_keys:
            if key in by_key:
                row[f"{key} worst"] = format_estimate(worst_case_estimate(by_key[key]))
        for key in ("adaptive", "adaptive_secondary"):
            if key in by_key:
                eps_255 = round(255 * by_key[key]["attacks"][0]["settings"]["eps"])
                row[f"adaptive@{eps_255} worst"] = format_estimate(worst_case_estimate(by_key[key]))
        rows.append(row)
    return rows


def paired_comparisons(results: dict, reference: str = "IDC") -> list[dict]:
    """``reference`` against every other model, per protocol key both share: the difference of the
    worst cases on the same examples with a paired bootstrap interval, and for one-draw outcomes
    (the paper protocol) McNemar's exact test as well."""
    if reference not in results:
        return []
    out = []
    for other, by_key in results.items():
        if other == reference:
            continue
        for key, result in results[reference].items():
            if key not in by_key or result["examples"] != by_key[key]["examples"]:
                continue
            a, b = worst_case_scores(result), worst_case_scores(by_key[key])
            row = {"reference": reference, "other": other, "protocol": key,
                   "eps_255": round(255 * result["attacks"][0]["settings"]["eps"]) if result["attacks"] else None,
                   "difference": paired_difference(a, b)}
            if all(v in (0.0, 1.0) for v in a + b):
                row["mcnemar"] = mcnemar_exact(a, b)
            out.append(row)
    return out



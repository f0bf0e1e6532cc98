"""Checks for notebook 05's exercises (protocol gaps, the adversarially trained CNN, claims)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from idc_lite.evaluation.attacks import PGDSettings, pgd
from idc_lite.teaching.checks.common import as_number, call_answer, fail, passed


# ---- 05 baselines -----------------------------------------------------------------------------------
def check_protocol_gaps(gaps, largest_gap, results: dict, key: str) -> str:
    """Exercise 05.1: per model, paper protocol's worst case at the main eps (``results[m][key]``)
    minus the adaptive worst case; ``largest_gap``: the model with the largest gap."""
    ex = "05.1 paper against adaptive"
    expected = {name: r[key]["worst_case_and_clean"] - r["adaptive"]["worst_case_accuracy"] for name, r in results.items()}
    if not isinstance(gaps, dict) or set(gaps) != set(expected):
        fail(ex, f"gaps must be a dict with one entry per model: {sorted(expected)}")
    values = {name: as_number(ex, f"gaps[{name!r}]", v) for name, v in gaps.items()}
    if any(abs(values[n] - expected[n]) > 1e-9 for n in expected):
        other_keys = {k for r in results.values() for k in r if k.startswith("paper@") and k != key}
        if all(abs(values[n] + expected[n]) <= 1e-9 for n in expected):
            fail(ex, "the sign: the gap is the paper protocol's number minus the adaptive one")
        for other in other_keys:
            if all(abs(values[n] - (r[other]["worst_case_and_clean"] - r["adaptive"]["worst_case_accuracy"])) <= 1e-9
                   for n, r in results.items()):
                fail(ex, f"use the paper protocol at the main budget ({key}), not {other}")
        if all(v == 0 for v in values.values()):
            fail(ex, "a gap of 0 for every model is not what the results say: compute each from `results`")
        fail(ex, "some gaps are wrong: per model, the paper protocol's worst case (worst_case_and_clean) minus the "
                  "adaptive protocol's worst_case_accuracy")
    best = max(expected, key=expected.get)
    if largest_gap not in expected or abs(expected[largest_gap] - expected[best]) > 1e-12:
        fail(ex, f"largest_gap must name the model with the largest gap (one of {sorted(expected)}), got {largest_gap!r}")
    return passed(ex, f"{len(expected)} gaps")


def check_adv_cnn_exercise(adv2_path, adv2_clean, adv2_robust, run_dir, eps: float, x: torch.Tensor,
                           labels: torch.Tensor, seed: int = 0) -> str:
    """Exercise 05.2: a CNN adversarially trained at 2 eps, saved in an exercise folder (never over the
    run's ``adv_cnn.pt``), with its clean accuracy on x and its accuracy under PGD at eps
    (``PGDSettings(eps=eps, alpha=eps / 4, steps=20, loss='margin')``, generator seed ``seed``)."""
    from idc_lite.comparisons.baselines import cnn_settings, load_cnn

    ex = "05.2 adversarial training at 2 eps"
    run = Path(run_dir).resolve()
    if not isinstance(adv2_path, (str, Path)):
        fail(ex, f"adv2_path must be the path of the saved CNN, got {adv2_path!r}")
    path = Path(adv2_path).resolve()
    if path == run / "adv_cnn.pt":
        fail(ex, "you saved over the run's adv_cnn.pt, which the baselines table reads: save into "
                  "exercise_dir(run, ...) instead")
    if run / "exercises" not in path.parents:
        fail(ex, "save the exercise's CNN inside its exercise folder, exercise_dir(run, '05_adv_cnn_2eps')")
    if not path.is_file():
        fail(ex, f"no file at {path}")
    trained_eps = (cnn_settings(path).get("adversarial") or {}).get("eps")
    if trained_eps is None or abs(trained_eps - 2 * eps) > 1e-9:
        fail(ex, f"the saved CNN was trained at eps {trained_eps}; the exercise asks for 2 eps = {2 * eps:.4f}")
    main = run / "adv_cnn.pt"
    if main.is_file() and abs((cnn_settings(main).get("adversarial") or {}).get("eps", eps) - eps) > 1e-9:
        fail(ex, "the run's adv_cnn.pt no longer holds the CNN trained at eps: rerun notebook 05 from the top")
    model = load_cnn(path)
    with torch.no_grad():
        clean = (model(x).argmax(1) == labels).float().mean().item()
    attacked = pgd(model, x, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=20, loss="margin"),
                   torch.Generator().manual_seed(seed))
    with torch.no_grad():
        robust = (model(attacked).argmax(1) == labels).float().mean().item()
    answers = (as_number(ex, "adv2_clean", adv2_clean), as_number(ex, "adv2_robust", adv2_robust))
    if abs(answers[0] - clean) > 1e-6 or abs(answers[1] - robust) > 1e-6:
        if abs(answers[0] - robust) <= 1e-6 and abs(answers[1] - clean) <= 1e-6:
            fail(ex, "adv2_clean and adv2_robust are swapped")
        fail(ex, "recompute adv2_clean (accuracy on the clean x) and adv2_robust (accuracy under the stated PGD at "
                  "eps, generator seed as given) with the CNN you saved")
    return passed(ex, f"saved in {path.parent.name}/, trained at 2 eps; clean and robust accuracy recomputed")


def check_claim_verdict(claim_verdict: Callable) -> str:
    """Exercise 05.3: ``claim_verdict(difference) -> str`` applies the robustness claims' rule to a paired
    interval ``{"difference", "low", "high"}`` of IDC minus another model: 'supported' when the whole
    interval lies above 0, 'contradicted' when it lies below, 'inconclusive at this n' otherwise.
    Checked on crafted intervals, among them ones where the estimate and the interval disagree."""
    from idc_lite.comparisons.claims import interval_verdict

    ex = "05.3 a claim's verdict"
    cases = [{"difference": 0.08, "low": 0.02, "high": 0.14}, {"difference": -0.09, "low": -0.15, "high": -0.03},
             {"difference": 0.05, "low": -0.01, "high": 0.11}, {"difference": -0.04, "low": -0.10, "high": 0.01},
             {"difference": 0.0, "low": -0.06, "high": 0.06}, {"difference": 0.03, "low": 0.0, "high": 0.07}]
    for case in cases:
        got = call_answer(ex, claim_verdict, dict(case))
        expected = interval_verdict(case)
        if got == expected:
            continue
        if not isinstance(got, str):
            fail(ex, f"return one of the verdict strings, got {type(got).__name__}")
        if case["low"] == 0 and got == "supported":
            fail(ex, "an interval that starts at exactly 0 does not lie above 0")
        if case["low"] <= 0 <= case["high"] and got in ("supported", "contradicted"):
            fail(ex, "the estimate's sign is not enough: the interval must lie wholly on one side of 0 "
                      f"(difference {case['difference']:+.2f}, interval [{case['low']:+.2f}, {case['high']:+.2f}])")
        fail(ex, f"for the interval [{case['low']:+.2f}, {case['high']:+.2f}] the rule gives another verdict "
                  "(the words must be 'supported', 'contradicted' or 'inconclusive at this n')")
    return passed(ex, f"{len(cases)} crafted intervals")



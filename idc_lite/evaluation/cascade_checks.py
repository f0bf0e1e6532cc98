"""Sanity checks of a cascade evaluation (:func:`idc_lite.evaluation.suites.cascade_suite` run with
``evaluate_attacks(..., cascade=True)``), example by example.

The cascade runs its attacks in stages: white-box attacks from the clean image or a random point
first, then *challengers* (FGSM, fixed-step PGD, fixed-noise and BPDA PGD, Square, a transfer), then
white-box refinements started from the black-box examples.  A challenger runs only on the examples the
first stage left standing, so everything it breaks, it breaks *alone*: the count of such examples is
the example-by-example comparison that Carlini et al. (2019) ask for.  An example a challenger
seems to break is re-scored with many draws (its example and the first stage's best one, on the same
fresh draws) before it counts, because five draws cannot decide one example.

Each check returns the record of :mod:`idc_lite.evaluation.sanity` (``check``, ``status``, ``criterion``,
``values``); a failed check is reported, never raised.
"""
from __future__ import annotations

import torch

from idc_lite.evaluation.attacks import APGDSettings, apgd
from idc_lite.evaluation.check_record import check_record
from idc_lite.evaluation.protocol import pick_worst, scores_tensor
from idc_lite.evaluation.scoring import score_under_rule
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.streams import seeded

SHARE = 0.01        # at most 1 % of the examples broken by a challenger alone
MARGIN = 0.5        # "breaks alone": its score lower than the first stage's by more than this
CHANGE = 0.02       # more iterations and draws move the worst case by at most 2 points


def first_stage(result: dict) -> list[str]:
    """The attacks of the first stage: every attack before the first challenger (FGSM opens the second
    stage in :func:`~idc_lite.evaluation.suites.cascade_suite`, Square in the deterministic cascade of
    :func:`~idc_lite.evaluation.suites.deterministic_cascade_suite_for`, which has no FGSM)."""
    names = [a["name"] for a in result["attacks"]]
    opener = next((i for i, name in enumerate(names) if name == "fgsm" or name.startswith("square")), None)
    if opener is None or opener == 0:      # no challenger, or no white-box attack before the first one
        raise InputError("not a cascade suite's result: no white-box stage closed by an 'fgsm' or 'square' attack")
    return names[:opener]


def stage_scores(result: dict, names: list[str]) -> torch.Tensor:
    """Per-example minimum (n,) over the named attacks, skipping where the cascade did not run them;
    1.0 where none of them ran."""
    rows = {a["name"]: a["per_example"] for a in result["attacks"]}
    if not result.get("cascade"):
        raise InputError("stage_scores reads a cascade's result (evaluate_attacks(..., cascade=True))")
    values = torch.stack([scores_tensor(rows[n]) for n in names])
    return values.nan_to_num(nan=float("inf")).min(0).values.clamp(max=1.0)


def challenger_breaks(model, result: dict, adversarial: dict, labels: torch.Tensor, challengers: list[str], check: str,
                      *, draws: int = 32, seed: int = 0) -> dict:
    """Per challenger, ``{'attacked', 'disputed', 'broken_alone_after_rescoring'}`` (indices into the
    result's examples): the examples it breaks that the first stage left standing (score lower by more
    than MARGIN), and those of them that stay broken when re-scored with ``draws`` fresh draws beside the
    first stage's best example for it (the same draws for both: a paired comparison).  A sharded
    evaluation computes this per block, where the block's images are at hand, and joins the blocks with
    :func:`join_challenger_breaks`."""
    stage = first_stage(result)
    white = stage_scores(result, stage)
    stage_examples = pick_worst({n: _nan_scores(result, n) for n in stage}, {n: adversarial[n] for n in stage})
    rows = {a["name"]: a for a in result["attacks"]}
    breaks = {}
    for name in challengers:
        score = _nan_scores(result, name)
        disputed = ((white - score.nan_to_num(nan=1.0)) > MARGIN).nonzero().squeeze(1)
        alone = []
        if disputed.numel():
            stream = f"cascade-check/{check}/{name}"
            theirs = score_under_rule(model, adversarial[name][disputed], labels[disputed], "one", seeded(seed, stream), draws)
            ours = score_under_rule(model, stage_examples[disputed], labels[disputed], "one", seeded(seed, stream), draws)
            alone = disputed[(ours - theirs) > MARGIN].tolist()
        breaks[name] = {"attacked": rows[name]["attacked_examples"], "disputed": disputed.tolist(),
                        "broken_alone_after_rescoring": alone}
    return breaks


def join_challenger_breaks(parts: list[tuple[int, dict]]) -> dict:
    """:func:`challenger_breaks` of consecutive blocks, [(first example's index, breaks)], as one over all
    their examples: indices shifted by each block's start, attacked examples summed."""
    joined = {}
    for start, breaks in parts:
        for name, b in breaks.items():
            into = joined.setdefault(name, {"attacked": 0, "disputed": [], "broken_alone_after_rescoring": []})
            into["attacked"] += b["attacked"]
            for key in ("disputed", "broken_alone_after_rescoring"):
                into[key] += [start + i for i in b[key]]
    return joined


def judge_challengers(result: dict, breaks: dict, check: str, *, draws: int, share: float = SHARE) -> dict:
    """The check's record from :func:`challenger_breaks` over all of ``result``'s examples: passes when
    at most ``share`` of them are broken by a challenger alone after re-scoring."""
    stage = first_stage(result)
    alone = sorted({i for b in breaks.values() for i in b["broken_alone_after_rescoring"]})
    n = result["examples"]
    return check_record(check, len(alone) <= share * n,
                        f"after re-scoring with {draws} draw{'s' * (draws != 1)}, the attacks {list(breaks)} alone break "
                        "at most "
                        f"{share:.0%} of the {n} examples (score below the first stage's by more than {MARGIN})",
                        broken_alone=alone, rescoring_draws=draws, first_stage=stage,
                        first_stage_worst_case=stage_scores(result, stage).mean().item(), **breaks)


def challengers_break_little(model, result: dict, adversarial: dict, labels: torch.Tensor, challengers: list[str],
                             check: str, *, draws: int = 32, seed: int = 0, share: float = SHARE) -> dict:
    """:func:`challenger_breaks` and :func:`judge_challengers` on one result whose images are all at hand."""
    breaks = challenger_breaks(model, result, adversarial, labels, challengers, check, draws=draws, seed=seed)
    return judge_challengers(result, breaks, check, draws=draws, share=share)


def _nan_scores(result: dict, name: str) -> torch.Tensor:
    return scores_tensor(next(a for a in result["attacks"] if a["name"] == name)["per_example"])


def white_box_alone(result: dict, gap: float = 0.03) -> dict:
    """How far white-box attacks from the clean image or a random point get: the first stage's worst
    case against the whole cascade's (the goal: within ``gap``)."""
    white = stage_scores(result, first_stage(result)).mean().item()
    worst = result["worst_case_accuracy"]
    return check_record("white-box alone gets within 3 points of the worst case", white - worst <= gap,
                   f"first stage's worst case - the cascade's <= {gap}", first_stage=white, worst_case=worst)


def more_attack_moves_little(model, result: dict, x: torch.Tensor, labels: torch.Tensor, settings: APGDSettings, *,
                             draws: int, seed: int = 0, gradient_model=None, change: float = CHANGE,
                             double_draws: bool = True) -> dict:
    """APGD with twice the iterations and twice the EOT draws of ``settings`` (the draws kept as they are where
    ``double_draws`` is False: a deterministic model's one draw is its exact gradient), on the examples the whole
    cascade left standing, scored with ``draws`` draws: the worst case over all n examples may fall by
    at most ``change``."""
    worst = torch.tensor(result["worst_case_per_example"])
    standing = (worst > 0).nonzero().squeeze(1)
    doubled = APGDSettings(**{**settings.to_dict(), "steps": 2 * settings.steps,
                              "eot_samples": (2 if double_draws else 1) * settings.eot_samples})
    after = worst.clone()
    if standing.numel():
        attacker = model if gradient_model is None else gradient_model
        adv = apgd(attacker, x[standing], labels[standing], doubled, seeded(seed, "cascade-check/doubled"))
        score = score_under_rule(model, adv, labels[standing], "one", seeded(seed, "cascade-check/doubled-scoring"), draws)
        after[standing] = torch.minimum(worst[standing], score)
    moved = (worst - after).mean().item()
    name = "twice the iterations and draws" if double_draws else "twice the iterations"
    return check_record(f"{name} move the worst case by at most 2 points", moved <= change,
                   f"worst case - worst case with doubled APGD on the {standing.numel()} standing examples <= {change}",
                   worst_case=worst.mean().item(), with_doubled=after.mean().item(), settings=doubled.to_dict(),
                   attacked=int(standing.numel()))

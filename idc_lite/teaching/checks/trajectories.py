"""Checks for notebook 03's exercises (the deterministic sampler, scoring rules)."""
from __future__ import annotations

import copy
from typing import Callable

import torch

from idc_lite.model.accuracy import majority_vote
from idc_lite.teaching.checks.common import as_number, as_tensor, call_answer, close, fail, passed


# ---- 03 trajectories and randomness ---------------------------------------------------------------
@torch.no_grad()
def check_deterministic_sampler(deterministic, a, b, model, x: torch.Tensor) -> str:
    """Exercise 03.1: ``deterministic`` is a copy of ``model`` with ``eta = 0``; ``a`` and ``b`` are
    its logits on ``x`` with generator seeds 0 and 1."""
    ex = "03.1 a deterministic sampler"
    if deterministic is model:
        fail(ex, "deterministic is the notebook's model itself: work on a copy (copy.deepcopy) so the model stays random")
    if model.bridge.eta != model.config.eta:
        fail(ex, f"the notebook's model now samples with eta = {model.bridge.eta}: change a copy, not the model")
    eta = getattr(getattr(deterministic, "bridge", None), "eta", None)
    if eta != 0.0:
        fail(ex, f"the copy's sampler still has eta = {eta}: set deterministic.bridge.eta = 0.0 (the sampler reads "
                  "bridge.eta; changing config.eta after the model is built does nothing)")
    reference = copy.deepcopy(model)
    reference.bridge.eta = 0.0
    expected = reference(x, generator=torch.Generator().manual_seed(0))
    for name, value in (("a", a), ("b", b)):
        answer = as_tensor(ex, name, value, expected.shape)
        if not close(answer, expected, 1e-4):
            fail(ex, f"{name} must be the logits (N, K) of deterministic on the given images, computed with "
                      "torch.Generator().manual_seed(0) for a and seed 1 for b")
    return passed(ex, "eta = 0 gives the same logits whatever the noise")


def check_scoring_rules(score_rules: Callable, seed: int = 0) -> str:
    """Exercise 03.2: ``score_rules(predictions (k, N), labels (N,)) -> {'one', 'majority', 'all'}``."""
    ex = "03.2 scoring rules"
    # a tie (classes 1 and 2 twice each: the lowest index wins), a unanimous column, 4 of 5 right,
    # and a plurality of 2 out of 5 (right under 'majority', though less than half the draws)
    crafted = torch.tensor([[1, 0, 2, 0], [2, 0, 2, 1], [1, 0, 2, 2], [2, 0, 1, 3], [3, 0, 2, 3]])
    crafted_labels = torch.tensor([1, 0, 2, 3])
    g = torch.Generator().manual_seed(seed)
    random_labels = torch.randint(0, 4, (40,), generator=g)
    random = torch.where(torch.rand((7, 40), generator=g) < 0.6, random_labels, torch.randint(0, 4, (7, 40), generator=g))
    for predictions, labels in ((crafted, crafted_labels), (random, random_labels)):
        correct = predictions == labels
        expected = {"one": correct.float().mean().item(),
                    "majority": (majority_vote(predictions, 4) == labels).float().mean().item(),
                    "all": correct.all(0).float().mean().item()}
        got = call_answer(ex, score_rules, predictions.clone(), labels.clone())
        if not isinstance(got, dict) or set(got) != set(expected):
            fail(ex, f"score_rules must return a dict with the keys 'one', 'majority' and 'all', got {got!r}")
        mistakes = {"one": (correct[0].float().mean().item(), "'one' is the mean over all draws of the one-draw "
                                                              "accuracy, not the first draw's"),
                    "majority": ((correct.float().mean(0) > 0.5).float().mean().item(),
                                 "'majority' takes the most frequent predicted class (ties to the lowest index), which "
                                 "can be right with fewer than half the draws right"),
                    "all": (correct.any(0).float().mean().item(), "'all' needs every draw right, not any")}
        for rule, value in expected.items():
            answer = as_number(ex, f"score_rules(...)['{rule}']", got[rule])
            if abs(answer - value) > 1e-6:
                wrong, hint = mistakes[rule]
                fail(ex, hint if abs(answer - wrong) <= 1e-6 else f"the '{rule}' score is wrong")
    return passed(ex, "the three rules on a crafted and a random set of draws")



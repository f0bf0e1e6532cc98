"""Scoring rules and the two evaluation protocols for a random classifier.

* Scoring rules (a random classifier's prediction must be stated): ``one`` draw, ``majority``
  of k draws, ``all`` of k draws correct.
* Paper protocol (the authors' ``runners/BaseRunner.py``): the attacked model returns
  ``softmax(-distance / 0.1)``, probabilities that the attack library then treats as logits, and
  every query sees the same sampler noise (they call ``torch.manual_seed(0)`` in each forward);
  an example counts as robust only when the clean and the adversarial predictions are both right.
* Adaptive protocol: logits, full gradients, fresh noise (EOT), and per example the minimum over
  attacks (robust only if no attack succeeds).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from idc_lite.evaluation.attacks.wrappers import ModelWrapper
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.validation import check_batch, check_choice, check_generator, check_int
from idc_lite.model.accuracy import majority_vote, predictions_over_draws

SCORING_RULES = ("one", "majority", "all")


def _scoring_inputs(model, x, labels, rule, generator, draws):
    check_choice(rule, "rule", SCORING_RULES)
    check_generator(generator)
    check_int(draws, "draws", 1)
    return check_batch(x, labels, getattr(getattr(model, "config", None), "num_classes", None))


@torch.no_grad()
def correct_under_rule(model, x: torch.Tensor, labels: torch.Tensor, rule: str, generator: torch.Generator,
                       draws: int = 5, batch_size: int = 256) -> torch.Tensor:
    """Per-example correctness (B,) bool of a random classifier under a scoring rule.

    ``one``: one fresh draw; ``majority``: the most frequent class of ``draws`` draws (ties to the
    lowest index) is right; ``all``: every one of ``draws`` draws is right.
    """
    x, labels = _scoring_inputs(model, x, labels, rule, generator, draws)
    k = 1 if rule == "one" else draws
    stacked = predictions_over_draws(model, x, [generator] * k, batch_size)     # (k, B)
    if rule == "one":
        return stacked[0] == labels.cpu()
    return score_from_predictions(stacked, labels, rule).bool()


@torch.no_grad()
def score_under_rule(model, x: torch.Tensor, labels: torch.Tensor, rule: str, generator: torch.Generator,
                     draws: int = 5, batch_size: int = 256) -> torch.Tensor:
    """Per-example score (B,) float in [0, 1] of a random classifier under a scoring rule.

    ``one``: the fraction of ``draws`` independent one-draw predictions that are right, an
    unbiased estimate of the chance that a single draw is right (less noisy than one draw);
    ``majority`` / ``all``: 1.0 or 0.0 as :func:`correct_under_rule` decides from ``draws`` draws.
    The mean over examples is the accuracy under that rule.
    """
    x, labels = _scoring_inputs(model, x, labels, rule, generator, draws)
    return score_from_predictions(predictions_over_draws(model, x, [generator] * draws, batch_size), labels, rule)


def score_from_predictions(predictions: torch.Tensor, labels: torch.Tensor, rule: str) -> torch.Tensor:
    """Per-example score (B,) float from predicted classes (draws, B): 'one' the fraction of right
    draws, 'majority' / 'all' 1.0 or 0.0 (as :func:`score_under_rule` scores the same draws)."""
    check_choice(rule, "rule", SCORING_RULES)
    labels = labels.cpu()
    if rule == "one":
        return (predictions == labels).float().mean(0)
    if rule == "all":
        return (predictions == labels).all(0).float()
    return (majority_vote(predictions, int(max(predictions.max(), labels.max())) + 1) == labels).float()


def worst_case(correct_by_attack: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-example robustness over several attacks: robust only where every attack failed.

    Boolean inputs give a boolean ``all``; float scores (chance of a correct draw, see
    :func:`score_under_rule`) give the per-example minimum: the attacker keeps, for each example,
    the attack that does best against it."""
    if not correct_by_attack:
        raise InputError("no attack results given")
    values = list(correct_by_attack.values())
    if all(v.dtype == torch.bool for v in values):
        return torch.stack(values).all(0)
    return torch.stack([v.float() for v in values]).min(0).values


class PaperProtocolModel(ModelWrapper):
    """The authors' attacked model: ``softmax(-distance / tau)`` with the same noise at every query.

    Their wrapper reseeds the global RNG (``torch.manual_seed(0)``) inside each forward; here the
    same effect comes from a fresh ``Generator().manual_seed(seed)`` per call, so the global RNG
    is left alone.  Its output is probabilities, which attack libraries then feed to a
    cross-entropy as if they were logits: that is part of the protocol being reproduced.
    """

    def __init__(self, model, seed: int = 0, tau: float = 0.1):
        super().__init__(model)
        self.seed, self.tau = seed, tau

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        distances = self.model.distances(x, generator=torch.Generator().manual_seed(self.seed))
        return F.softmax(-distances / self.tau, dim=-1)


def paper_robust(clean_correct: torch.Tensor, adversarial_correct: torch.Tensor) -> torch.Tensor:
    """The authors' count: robust = right on the clean image and on the adversarial one."""
    return clean_correct.bool() & adversarial_correct.bool()



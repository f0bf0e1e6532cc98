"""APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks"), written for a random classifier: every EOT draw is a fresh noise
draw from the generator, the loss is averaged over the draws, and the iterate kept per example is the
one the draws misclassified most often.

The step-size schedule is the authors' (``pyautoattack``'s ``APGDAttack.attack_single_run``): start at
2 eps, momentum 0.75, checkpoints after 22 % of the iterations and then closer together (down to 6 %),
halve the step at a checkpoint where the loss rose in at most ``rho`` of the steps since the last one,
or where the step was not halved last time and the best loss has not improved; a halved example goes
back to its best iterate.  With one draw on a deterministic model it computes the same iterates as
theirs (``tests/evaluation/test_apgd.py`` checks it), including their quirk of comparing the first step of the
first checkpoint window with the (still zero) last row of the loss history.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from idc_lite.evaluation.attacks.core import (
    AttackEntry,
    LogitModel,
    attack_inputs,
    check_norm,
    check_start,
    dlr,
    l2_norm,
    margin,
    project,
)
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.streams import draw_copies
from idc_lite.foundation.validation import check_choice, check_eps, check_int, check_number

APGD_LOSSES = ("ce", "dlr", "margin", "targeted_margin", "targeted_dlr")
TARGETED = ("targeted_margin", "targeted_dlr")


@dataclass
class APGDSettings:
    """APGD with EOT.  ``steps`` iterations (100 in AutoAttack) of ``eot_samples`` fresh draws each;
    ``loss`` in APGD_LOSSES ('ce' on logits, 'dlr', the kit's 'margin', and the targeted
    'targeted_margin' (z_t - z_y) and 'targeted_dlr' (APGD-T's loss) against each of the ``targets``
    nearest wrong classes in turn); ``restarts`` runs, each on the examples not yet misclassified by
    every draw; ``rho`` the checkpoint threshold.  Without ``random_start`` the first run starts at x."""
    eps: float = 8 / 255
    steps: int = 100
    norm: str = "Linf"
    loss: str = "ce"
    eot_samples: int = 1
    restarts: int = 1
    targets: int = 1
    rho: float = 0.75
    random_start: bool = True

    def __post_init__(self):
        check_norm(self.norm)
        check_choice(self.loss, "loss", APGD_LOSSES)
        check_eps(self.eps, "eps", self.norm)
        check_int(self.steps, "steps", 1)
        check_int(self.eot_samples, "eot_samples", 1)
        check_int(self.restarts, "restarts", 1)
        check_int(self.targets, "targets", 1)
        check_number(self.rho, "rho", 0.0, 1.0)
        if not isinstance(self.random_start, bool):
            raise InputError(f"random_start must be True or False, got {self.random_start!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def gradient_draws(self) -> int:
        """Gradient draws per example at most: (steps + 1) x EOT x restarts x targets."""
        return (self.steps + 1) * self.eot_samples * self.restarts * (self.targets if self.loss in TARGETED else 1)


@dataclass
class APGDRun:
    """One APGD run's outcome per example: ``best_loss_iterate`` (B, C, H, W) and ``best_loss`` (B,) as
    the authors keep them, ``best_scored_iterate`` the iterate misclassified by the largest share
    ``best_error`` (B,) of its draws (ties: the higher loss), which the attack returns."""
    best_loss_iterate: torch.Tensor
    best_loss: torch.Tensor
    best_scored_iterate: torch.Tensor
    best_error: torch.Tensor


def _loss(logits: torch.Tensor, labels: torch.Tensor, kind: str, target: torch.Tensor | None) -> torch.Tensor:
    if kind == "ce":
        return F.cross_entropy(logits, labels, reduction="none")
    if kind == "dlr":
        return dlr(logits, labels)
    if kind == "margin":
        return margin(logits, labels)
    rows = torch.arange(logits.shape[0], device=logits.device)
    difference = logits[rows, target] - logits[rows, labels]
    if kind == "targeted_margin":
        return difference
    ordered = logits.sort(dim=1).values
    return difference / (ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12)


def _draws(model, x_adv, labels, s: APGDSettings, target, generator):
    """Mean loss (B,), mean gradient (B, C, H, W) and error rate (B,) over ``eot_samples`` fresh draws.

    The draws go through the model as one batch of ``eot_samples`` x B images
    (:func:`~idc_lite.foundation.streams.draw_copies`)."""
    b, k = x_adv.shape[0], s.eot_samples
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(draw_copies(x_adv, k), generator=generator)
        per_draw = _loss(logits, draw_copies(labels, k), s.loss, None if target is None else draw_copies(target, k))
        (grad,) = torch.autograd.grad(per_draw.sum() / k, x_adv)
    wrong = (logits.detach().argmax(1) != draw_copies(labels, k)).float().view(k, b).mean(0)
    return per_draw.detach().view(k, b).mean(0), grad.detach(), wrong


def _step(x_adv, x_old, grad, step_size, a, x, s: APGDSettings):
    """The momentum step of APGD, projected onto the ball and [0, 1] twice, as the authors do."""
    if s.norm == "Linf":
        z = torch.min(torch.max(x_adv + step_size * grad.sign(), x - s.eps), x + s.eps).clamp(0.0, 1.0)
        return torch.min(torch.max(x_adv + (z - x_adv) * a + (x_adv - x_old) * (1 - a), x - s.eps),
                         x + s.eps).clamp(0.0, 1.0)

    def onto_ball(v):
        delta = v - x
        return (x + delta / l2_norm(delta) * torch.minimum(torch.full_like(x, s.eps), l2_norm(delta))).clamp(0.0, 1.0)

    z = onto_ball(x_adv + step_size * grad / l2_norm(grad))
    return onto_ball(x_adv + (z - x_adv) * a + (x_adv - x_old) * (1 - a))


def apgd_run(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, settings: APGDSettings,
             generator: torch.Generator, start: torch.Tensor, target: torch.Tensor | None = None) -> APGDRun:
    """One APGD run from ``start`` (B, C, H, W) in the eps-ball around x (B, C, H, W) in [0, 1]
    (``target`` (B,) for the targeted losses).  The inner loop of :func:`apgd`, exposed for the
    cross-check against the authors' implementation."""
    s, x = settings, x.detach()
    view = (-1, *([1] * (x.dim() - 1)))
    x_adv = start.detach().clamp(0.0, 1.0)
    loss, grad, error = _draws(model, x_adv, labels, s, target, generator)
    best_x, best_loss, best_grad = x_adv.clone(), loss.clone(), grad.clone()
    scored_x, scored_error, scored_loss = x_adv.clone(), error.clone(), loss.clone()
    step_size = torch.full((x.shape[0], *([1] * (x.dim() - 1))), 2.0 * s.eps, device=x.device)
    checkpoint_gap = max(int(0.22 * s.steps), 1)
    min_gap, gap_decrease = max(int(0.06 * s.steps), 1), max(int(0.03 * s.steps), 1)
    history = torch.zeros(s.steps, x.shape[0], device=x.device)
    best_at_last_check, halved_last_check = best_loss.clone(), torch.ones_like(best_loss)
    since_check, x_old = 0, x_adv.clone()
    for i in range(s.steps):
        x_adv, x_old = _step(x_adv, x_old, grad, step_size, 0.75 if i > 0 else 1.0, x, s), x_adv
        loss, grad, error = _draws(model, x_adv, labels, s, target, generator)
        better_scored = (error > scored_error) | ((error == scored_error) & (loss > scored_loss))
        scored_x = torch.where(better_scored.view(view), x_adv, scored_x)
        scored_error, scored_loss = torch.where(better_scored, error, scored_error), torch.where(better_scored, loss, scored_loss)
        history[i] = loss
        improved = loss > best_loss
        best_x = torch.where(improved.view(view), x_adv, best_x)
        best_grad = torch.where(improved.view(view), grad, best_grad)
        best_loss = torch.where(improved, loss, best_loss)
        since_check += 1
        if since_check == checkpoint_gap:
            # history[i - c - 1] at c = gap - 1 of the first window reads row -1: the authors' quirk, kept
            rises = sum((history[i - c] > history[i - c - 1]).float() for c in range(checkpoint_gap))
            halve = (rises <= checkpoint_gap * s.rho) | ((halved_last_check == 0) & (best_at_last_check >= best_loss))
            halved_last_check, best_at_last_check = halve.float(), best_loss.clone()
            step_size = torch.where(halve.view(view), step_size / 2.0, step_size)
            x_adv = torch.where(halve.view(view), best_x, x_adv)
            grad = torch.where(halve.view(view), best_grad, grad)
            checkpoint_gap, since_check = max(checkpoint_gap - gap_decrease, min_gap), 0
    return APGDRun(best_x.detach(), best_loss, scored_x.detach(), scored_error)


def apgd_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """The authors' random start: x + eps * t / ||t|| for t uniform in [-1, 1] (L-inf) or Gaussian (L2),
    clamped to [0, 1]."""
    t = (torch.rand(x.shape, generator=generator) * 2 - 1) if norm == "Linf" else torch.randn(x.shape, generator=generator)
    t = t.to(x)
    size = t.abs().flatten(1).max(1).values if norm == "Linf" else t.flatten(1).norm(dim=1)
    return (x + eps * t / (size.view(-1, *([1] * (x.dim() - 1))) + 1e-12)).clamp(0.0, 1.0)


def _nearest_wrong_classes(model, x, labels, generator, draws: int) -> torch.Tensor:
    """(B, K - 1) the wrong classes from the highest mean logit to the lowest (for IDC: the label images
    nearest first), over ``draws`` draws at x."""
    with torch.no_grad():
        logits = sum(model(x, generator=generator) for _ in range(draws)) / draws
    logits = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return logits.argsort(dim=1, descending=True)[:, :-1]


def apgd(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, settings: APGDSettings,
         generator: torch.Generator, start: torch.Tensor | None = None) -> torch.Tensor:
    """APGD with EOT: adversarial images (B, C, H, W) in [0, 1] for x in [0, 1] and labels (B,).

    Runs ``restarts`` times (x ``targets`` target classes for a targeted loss), each run only on the
    examples that no earlier run had misclassified on every draw; per example, returns the iterate of
    any run misclassified on the largest share of its draws.  ``start`` (B, C, H, W), another attack's
    examples, is the first run's starting point (projected onto the eps-ball)."""
    if not isinstance(settings, APGDSettings):
        raise InputError(f"settings must be APGDSettings(eps=..., steps=...), got {type(settings).__name__}")
    s = settings
    x, labels = attack_inputs(x, labels, generator)
    start = check_start(start, x)
    x = x.detach()
    view = (-1, *([1] * (x.dim() - 1)))
    best, best_error = x.clone(), torch.full((x.shape[0],), -1.0, device=x.device)
    order = _nearest_wrong_classes(model, x, labels, generator, s.eot_samples) if s.loss in TARGETED else None
    if s.loss == "targeted_dlr" and order.shape[1] < 3:
        raise InputError(f"the targeted DLR loss needs at least 4 classes, the model has {order.shape[1] + 1}")
    ranks = range(min(s.targets, order.shape[1]) if order is not None else 1)
    for number, rank in enumerate(rank for rank in ranks for _ in range(s.restarts)):
        left = (best_error < 1.0).nonzero().squeeze(1)
        if left.numel() == 0:
            break
        xs, ys = x[left], labels[left]
        if number == 0 and start is not None:
            first = project(start[left].detach().to(x), xs, s.eps, s.norm)
        elif s.random_start or number > 0:
            first = apgd_start(xs, s.eps, s.norm, generator)
        else:
            first = xs.clone()
        target = None if order is None else order[left, rank]
        run = apgd_run(model, xs, ys, s, generator, first, target)
        better = run.best_error > best_error[left]
        best[left] = torch.where(better.view(view), run.best_scored_iterate, best[left])
        best_error[left] = torch.where(better, run.best_error, best_error[left])
    return best.detach()


ATTACK = AttackEntry(
    kind="apgd", family="white-box", takes_start=True,
    summary="APGD (Croce & Hein 2020) with EOT over fresh noise: step-size schedule, momentum, best iterate; "
            "CE, DLR, margin or targeted losses",
    run=lambda model, x, labels, generator, params, start=None: apgd(model, x, labels, APGDSettings(**params),
                                                                      generator, start=start),
    defaults=APGDSettings().to_dict(),
    check=lambda params: APGDSettings(**params),
)

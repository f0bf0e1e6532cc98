"""Projected gradient descent (Madry et al. 2018): the teaching version :func:`pgd_linf` and the
suite's :func:`pgd` (L-inf and L2, random start, restarts, best-so-far tracking, EOT, any loss)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from idc_lite.evaluation.attacks.core import (
    LOSSES,
    AttackEntry,
    LogitModel,
    attack_inputs,
    check_norm,
    check_start,
    eot_loss_and_grad,
    l2_norm,
    project,
    random_start,
)
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.validation import check_choice, check_eps, check_int, check_number


@dataclass
class PGDSettings:
    """L-inf / L2 PGD (Madry et al. 2018): ``steps`` steps of size ``alpha`` (signed gradient for
    L-inf, normalised gradient for L2), projected onto the eps-ball and [0, 1]; ``restarts``
    random starts; the highest-loss iterate per example is kept; ``eot_samples`` gradients per step."""
    eps: float = 8 / 255
    alpha: float = 2 / 255
    steps: int = 20
    random_start: bool = True
    norm: str = "Linf"
    loss: str = "ce"
    restarts: int = 1
    eot_samples: int = 1

    def __post_init__(self):
        check_norm(self.norm)
        check_choice(self.loss, "loss", LOSSES)
        check_eps(self.eps, "eps", self.norm)
        check_number(self.alpha, "alpha", 0.0, strict_minimum=True)
        check_int(self.steps, "steps", 0)
        check_int(self.restarts, "restarts", 1)
        check_int(self.eot_samples, "eot_samples", 1)
        if not isinstance(self.random_start, bool):
            raise InputError(f"random_start must be True or False, got {self.random_start!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def _settings(settings) -> PGDSettings:
    if not isinstance(settings, PGDSettings):
        raise InputError(f"settings must be PGDSettings(eps=..., alpha=..., steps=...), got {type(settings).__name__}")
    return settings


def pgd(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings,
        generator: torch.Generator, start: torch.Tensor | None = None) -> torch.Tensor:
    """Adversarial images (B, C, H, W) in [0, 1] for x in [0, 1] and labels (B,).

    Returns, per example, the iterate (over all steps and restarts) with the highest loss
    measured on the way (best-so-far tracking), evaluated once more after the last step.
    ``start`` (B, C, H, W), e.g. another attack's output, replaces the first restart's starting
    point (it is projected onto the eps-ball first); later restarts start at random.
    """
    s = _settings(settings)
    x, labels = attack_inputs(x, labels, generator)
    start = check_start(start, x)
    x = x.detach()
    best = x.clone()
    best_loss = torch.full((x.shape[0],), float("-inf"), device=x.device)
    view = (-1, *([1] * (x.dim() - 1)))
    for restart in range(s.restarts):
        if restart == 0 and start is not None:
            x_adv = project(start.detach().to(x), x, s.eps, s.norm)
        else:
            x_adv = random_start(x, s.eps, s.norm, generator) if s.random_start else x.clone()
        for step in range(s.steps + 1):
            loss, grad = eot_loss_and_grad(model, x_adv, labels, s.loss, generator, s.eot_samples)
            improved = loss > best_loss
            best = torch.where(improved.view(view), x_adv, best)
            best_loss = torch.where(improved, loss, best_loss)
            if step == s.steps:
                break
            update = grad.sign() if s.norm == "Linf" else grad / l2_norm(grad)
            x_adv = project(x_adv + s.alpha * update, x, s.eps, s.norm)
    return best.detach()


def pgd_linf(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings,
             generator: torch.Generator) -> torch.Tensor:
    """Plain L-inf PGD, written out for teaching: random start in the eps-ball, ``steps`` signed
    gradient steps of size alpha on the cross-entropy of the logits, projection after each step.
    One model call per step, so a random classifier shows a fresh noise draw to every step.
    Returns the last iterate (B, C, H, W) in [0, 1]."""
    settings = _settings(settings)
    x, labels = attack_inputs(x, labels, generator)
    if (settings.norm, settings.loss, settings.restarts, settings.eot_samples) != ("Linf", "ce", 1, 1):
        raise ValueError("pgd_linf is the plain teaching version (L-inf, cross-entropy, one start, one sample per "
                         "step); use pgd() for L2, the margin loss, restarts or EOT")
    x = x.detach()
    delta = torch.zeros_like(x)
    if settings.random_start:
        delta = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x.device) * settings.eps
    x_adv = (x + delta).clamp(0.0, 1.0)
    for _ in range(settings.steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv, generator=generator), labels)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + settings.alpha * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-settings.eps, settings.eps)).clamp(0.0, 1.0)
    return x_adv.detach()


ATTACK = AttackEntry(
    kind="pgd", family="white-box", takes_start=True,
    summary="PGD (Madry et al. 2018): fixed step, random start, restarts, best-so-far iterate, EOT",
    run=lambda model, x, labels, generator, params, start=None: pgd(model, x, labels, PGDSettings(**params),
                                                                     generator, start=start),
    defaults=PGDSettings().to_dict(),
    check=lambda params: PGDSettings(**params),
)

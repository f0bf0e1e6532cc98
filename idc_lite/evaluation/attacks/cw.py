"""Carlini-Wagner L2 (2017) with a margin loss."""
from __future__ import annotations

import torch

from idc_lite.evaluation.attacks.core import AttackEntry, LogitModel, attack_inputs, margin
from idc_lite.foundation.validation import check_int, check_number


def cw_l2(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator, c: float = 1.0,
          kappa: float = 0.0, steps: int = 100, lr: float = 0.01) -> torch.Tensor:
    """Carlini-Wagner L2 (2017) with a margin loss: minimise ||delta||_2^2 + c * max(z_y - max_{j!=y} z_j, -kappa)
    over x_adv = (tanh(w) + 1) / 2 with Adam; returns per example the smallest-norm misclassified
    iterate, or x itself when none was found.  Report it at an L2 budget: count only ||delta|| <= eps."""
    x, labels = attack_inputs(x, labels, generator)
    check_number(c, "c", 0.0, strict_minimum=True)
    check_number(kappa, "kappa", 0.0)
    check_int(steps, "steps", 0)
    check_number(lr, "lr", 0.0, strict_minimum=True)
    x = x.detach()
    w = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6)).requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr)
    best = x.clone()
    best_norm = torch.full((x.shape[0],), float("inf"), device=x.device)
    for _ in range(steps):
        x_adv = (torch.tanh(w) + 1) / 2
        m = margin(model(x_adv, generator=generator), labels)
        dist = (x_adv - x).flatten(1).pow(2).sum(1)
        objective = dist + c * torch.clamp(-m, min=-kappa)
        optimizer.zero_grad()
        objective.sum().backward()
        optimizer.step()
        with torch.no_grad():
            better = (m > 0) & (dist.sqrt() < best_norm)
            best = torch.where(better.view(-1, 1, 1, 1), x_adv.detach(), best)
            best_norm = torch.where(better, dist.sqrt(), best_norm)
    return best


ATTACK = AttackEntry(
    kind="cw_l2", family="white-box", summary="Carlini-Wagner L2 (2017), margin loss, Adam on tanh-space",
    run=lambda model, x, labels, generator, params, start=None: cw_l2(model, x, labels, generator, **params),
    defaults={"c": 1.0, "kappa": 0.0, "steps": 100, "lr": 0.01},
    described={"norm": "L2", "eps": None, "restarts": 1, "eot_samples": 1, "loss": "margin"},
)

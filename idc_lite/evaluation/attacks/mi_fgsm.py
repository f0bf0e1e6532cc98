"""MI-FGSM (Dong et al. 2018): signed steps along a momentum of L1-normalised gradients (L-inf)."""
from __future__ import annotations

import torch

from idc_lite.evaluation.attacks.core import AttackEntry, LogitModel, attack_inputs, eot_loss_and_grad, project
from idc_lite.foundation.validation import check_eps, check_int, check_number


def mi_fgsm(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float, alpha: float, steps: int,
            generator: torch.Generator, decay: float = 1.0, loss: str = "ce", eot_samples: int = 1) -> torch.Tensor:
    """MI-FGSM (Dong et al. 2018): ``steps`` signed steps of size alpha along a momentum (``decay``) of
    L1-normalised gradients, projected onto the L-inf eps-ball.  Returns (B, C, H, W) in [0, 1]."""
    x, labels = attack_inputs(x, labels, generator)
    eps = check_eps(eps)
    check_number(alpha, "alpha", 0.0, strict_minimum=True)
    check_int(steps, "steps", 0)
    check_number(decay, "decay", 0.0)
    check_int(eot_samples, "eot_samples", 1)
    x = x.detach()
    x_adv, momentum = x.clone(), torch.zeros_like(x)
    for _ in range(steps):
        _, grad = eot_loss_and_grad(model, x_adv, labels, loss, generator, eot_samples)
        momentum = decay * momentum + grad / grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        x_adv = project(x_adv + alpha * momentum.sign(), x, eps, "Linf")
    return x_adv.detach()


ATTACK = AttackEntry(
    kind="mi_fgsm", family="white-box", summary="MI-FGSM (Dong et al. 2018): momentum iterative FGSM",
    run=lambda model, x, labels, generator, params, start=None: mi_fgsm(model, x, labels, generator=generator,
                                                                         **params),
    defaults={"eps": 8 / 255, "alpha": 2 / 255, "steps": 5, "decay": 1.0, "loss": "ce", "eot_samples": 1},
    described={"norm": "Linf", "restarts": 1},
)

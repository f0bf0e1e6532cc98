"""FGSM (Goodfellow et al. 2015): one signed-gradient step of size eps."""
from __future__ import annotations

import torch

from idc_lite.evaluation.attacks.core import AttackEntry, LogitModel, attack_inputs, eot_loss_and_grad
from idc_lite.foundation.validation import check_eps, check_int


def fgsm(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float, generator: torch.Generator,
         loss: str = "ce", eot_samples: int = 1) -> torch.Tensor:
    """FGSM (Goodfellow et al. 2015): one signed-gradient step of size eps from x (B, C, H, W) in [0, 1]."""
    x, labels = attack_inputs(x, labels, generator)
    eps = check_eps(eps)
    check_int(eot_samples, "eot_samples", 1)
    _, grad = eot_loss_and_grad(model, x, labels, loss, generator, eot_samples)
    return (x.detach() + eps * grad.sign()).clamp(0.0, 1.0)


ATTACK = AttackEntry(
    kind="fgsm", family="white-box", summary="FGSM (Goodfellow et al. 2015): one signed step of size eps",
    run=lambda model, x, labels, generator, params, start=None: fgsm(model, x, labels, generator=generator, **params),
    defaults={"eps": 8 / 255, "loss": "ce", "eot_samples": 1},
    complete=lambda params: {"norm": "Linf", "steps": 1, "alpha": params.get("eps"), "restarts": 1, "eot_samples": 1,
                             "loss": "ce", **params},
)

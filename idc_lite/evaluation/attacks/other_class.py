"""The closest image of another class, painted in: a start for white-box attacks at large budgets."""
from __future__ import annotations

import torch

from idc_lite.evaluation.attacks.core import AttackEntry, check_norm, project
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.validation import check_batch, check_eps


def other_class_start(x: torch.Tensor, labels: torch.Tensor, eps: float, norm: str = "Linf") -> torch.Tensor:
    """Per example, the closest (L2) image *of another class* in the batch, projected onto the
    eps-ball around x: it paints another class in.  No model query; useless at small eps, a strong
    start for PGD at large eps, where an attacker can draw most of a different digit.
    x (B, C, H, W) in [0, 1] with at least two classes among labels (B,)."""
    check_norm(norm)
    x, labels = check_batch(x, labels)
    eps = check_eps(eps, norm=norm)
    if labels.unique().numel() < 2:
        raise InputError("other_class_start needs at least two classes in the batch")
    d = torch.cdist(x.flatten(1), x.flatten(1))
    d = d.masked_fill(labels[:, None] == labels[None, :], float("inf"))
    return project(x[d.argmin(1)], x, eps, norm)


ATTACK = AttackEntry(
    kind="other_class", family="no query", summary="the closest image of another class in the batch, projected",
    run=lambda model, x, labels, generator, params, start=None: other_class_start(x, labels, **params),
    defaults={"eps": 8 / 255, "norm": "Linf"},
    described={"steps": 0, "restarts": 1, "eot_samples": 0, "loss": None},
)

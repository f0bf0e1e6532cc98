"""Square attack, L-inf (Andriushchenko et al. 2020): gradient-free random search."""
from __future__ import annotations

import torch

from idc_lite.evaluation.attacks.core import AttackEntry, LogitModel, attack_inputs, margin
from idc_lite.foundation.validation import check_eps, check_int, check_number


@torch.no_grad()
def square_linf(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float, queries: int,
                generator: torch.Generator, p_init: float = 0.3) -> torch.Tensor:
    """Square attack, L-inf (Andriushchenko et al. 2020), gradient-free random search.

    Starts from vertical stripes of +-eps; each query changes one random square window (side
    shrinking with the query count) to a random +-eps per channel and keeps the change for the
    examples whose margin loss did not decrease.  Stops early for examples already misclassified."""
    x, labels = attack_inputs(x, labels, generator)
    eps = check_eps(eps)
    check_int(queries, "queries", 0)
    check_number(p_init, "p_init", 0.0, 1.0, strict_minimum=True)
    b, c, h, w = x.shape
    x = x.detach()
    stripes = (torch.randint(0, 2, (b, c, 1, w), generator=generator) * 2 - 1).to(x) * eps
    x_adv = (x + stripes).clamp(0.0, 1.0)
    best = margin(model(x_adv, generator=generator), labels)
    for i in range(queries):
        active = best <= 0
        if not bool(active.any()):
            break
        p = p_init * (0.5 ** int(10 * (i + 1) / max(queries, 1) // 2))   # piecewise-halving schedule
        side = max(1, min(h - 1, int(round((p * h * w) ** 0.5))))
        top = int(torch.randint(0, h - side + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - side + 1, (1,), generator=generator))
        candidate = x_adv.clone()
        signs = (torch.randint(0, 2, (b, c, 1, 1), generator=generator) * 2 - 1).to(x) * eps
        window = (x[:, :, top:top + side, left:left + side] + signs).clamp(0.0, 1.0)
        candidate[:, :, top:top + side, left:left + side] = window
        loss = margin(model(candidate, generator=generator), labels)
        accept = active & (loss >= best)
        x_adv = torch.where(accept.view(-1, 1, 1, 1), candidate, x_adv)
        best = torch.where(accept, loss, best)
    return x_adv


ATTACK = AttackEntry(
    kind="square", family="black-box", summary="Square (Andriushchenko et al. 2020): L-inf random search, no gradient",
    run=lambda model, x, labels, generator, params, start=None: square_linf(model, x, labels, generator=generator,
                                                                             **params),
    defaults={"eps": 8 / 255, "queries": 100, "p_init": 0.3},
    described={"norm": "Linf", "restarts": 1, "eot_samples": 1, "loss": "margin"},
)

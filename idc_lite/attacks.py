"""Hand-written attacks on any model mapping images in [0, 1] to logits.

Teaching core of notebook 04: L-inf PGD with *full* gradients through the random sampler.  The
model draws fresh sampler noise at every query from the generator it is given, so each PGD
step follows the gradient of one random draw (EOT with one sample per step).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F

LogitModel = Callable[..., torch.Tensor]


@dataclass
class PGDSettings:
    """L-inf PGD (Madry et al. 2018): ``steps`` signed-gradient steps of size ``alpha`` projected
    onto the eps-ball around x and onto [0, 1], from a uniform random start, maximising
    cross-entropy on logits."""
    eps: float = 8 / 255
    alpha: float = 2 / 255
    steps: int = 20
    random_start: bool = True
    norm: str = "Linf"
    loss: str = "cross-entropy on logits -distance/tau"

    def to_dict(self) -> dict:
        return asdict(self)


def pgd_linf(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings,
             generator: torch.Generator) -> torch.Tensor:
    """Adversarial images for x (B, C, H, W) in [0, 1] with true labels (B,); returns (B, C, H, W) in [0, 1].

    ``generator`` supplies the random start and is passed to ``model(x, generator=...)`` so a
    random classifier draws its sampler noise from it (full gradient, fresh noise per step).
    """
    if settings.eps < 0 or settings.alpha <= 0 or settings.steps < 0:
        raise ValueError(f"need eps >= 0, alpha > 0, steps >= 0; got {settings}")
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


def attack_in_batches(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings,
                      generator: torch.Generator, batch_size: int = 100, progress: bool = False) -> torch.Tensor:
    """:func:`pgd_linf` over a large set in batches, with an optional progress bar."""
    from tqdm.auto import tqdm

    out = []
    for i in tqdm(range(0, x.shape[0], batch_size), desc="PGD", disable=not progress):
        out.append(pgd_linf(model, x[i:i + batch_size], labels[i:i + batch_size], settings, generator))
    return torch.cat(out)

"""What every attack shares: the entry an attack registers, its inputs' checks, the losses, the
projection onto the eps-ball, random starts and the (EOT-averaged) input gradient.

An attack maps ``model(x, generator=g) -> logits (B, K)`` and images (B, C, H, W) in [0, 1] with
labels (B,) to adversarial images of the same shape, drawing every random number (starts, square
positions, and, through the model, the sampler's noise) from the ``torch.Generator`` it is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.streams import draw_copies
from idc_lite.foundation.validation import check_batch, check_choice, check_generator, check_images, check_int, check_labels

LogitModel = Callable[..., torch.Tensor]
LOSSES = ("ce", "margin", "dlr")
FAMILIES = ("white-box", "black-box", "no query")


@dataclass(frozen=True)
class AttackEntry:
    """One attack as the registry (:mod:`idc_lite.evaluation.attacks.registry`) holds it.

    ``run(model, images, labels, generator, params, start)`` returns adversarial images (B, C, H, W) in
    [0, 1]; ``params`` are the attack's settings as an :class:`~idc_lite.evaluation.protocol.AttackSpec`
    holds them, ``start`` (B, C, H, W) or None another attack's examples to start from (only where
    ``takes_start``).  ``defaults`` lists every setting with its default: a spec's recorded settings
    are ``{**described, **defaults, **params}`` (or ``complete(params)``), ``described`` holding what
    is fixed but worth recording (norm, restarts, ...); a setting not in ``defaults`` is refused unless
    ``open_params``.  ``family``: 'white-box' (gradients), 'black-box' (queries only) or 'no query';
    the sanity checks compare the first two example by example.  ``check(params)`` raises
    :class:`~idc_lite.foundation.errors.InputError` on bad values."""
    kind: str
    run: Callable[..., torch.Tensor]
    defaults: dict
    family: str
    summary: str
    takes_start: bool = False
    described: dict | None = None
    open_params: bool = False
    check: Callable[[dict], None] | None = None
    complete: Callable[[dict], dict] | None = None

    def __post_init__(self):
        if not isinstance(self.kind, str) or not self.kind.isidentifier():
            raise InputError(f"an attack's kind must be a Python identifier, got {self.kind!r}")
        if not callable(self.run):
            raise InputError(f"attack {self.kind!r}: run must be callable")
        check_choice(self.family, "attack family", FAMILIES)
        if not isinstance(self.defaults, dict):
            raise InputError(f"attack {self.kind!r}: defaults must be a dict")

    def validate(self, params: dict, name: str) -> None:
        """Refuse settings the attack does not know, then let it check their values."""
        unknown = set(params) - set(self.defaults)
        if unknown and not self.open_params:
            raise InputError(f"attack {name!r} ({self.kind}): unknown setting(s) {sorted(unknown)}; "
                             f"it takes {sorted(self.defaults)}")
        if self.check is not None:
            self.check(params)

    def settings(self, params: dict) -> dict:
        """Every setting, defaults filled in (what a result records)."""
        if self.complete is not None:
            return self.complete(dict(params))
        return {**(self.described or {}), **self.defaults, **params}


def attack_inputs(x, labels, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Every attack's inputs: images (B, C, H, W) in [0, 1], labels (B,) >= 0 (checked against the
    logits' width in :func:`attack_loss`), a ``torch.Generator``."""
    x, labels = check_batch(x, labels)
    check_generator(generator)
    return x, labels


def check_start(start, x: torch.Tensor) -> torch.Tensor | None:
    """``start`` (B, C, H, W) in [0, 1] with x's shape, or None."""
    if start is None:
        return None
    start = check_images(start, x.shape[1], None, name="start")
    if start.shape != x.shape:
        raise InputError(f"start must have the shape of x {tuple(x.shape)}, got {tuple(start.shape)}")
    return start


# ---- losses ---------------------------------------------------------------------------------
def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example margin ``max_{j != y} z_j - z_y`` (B,): positive means misclassified."""
    labels = check_labels(labels, logits.shape[0], logits.shape[1])
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return others.max(dim=1).values - true


def dlr(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Difference of logits ratio (Croce & Hein 2020), per example (B,): the margin divided by the
    spread between the largest and the third largest logit, so that rescaling the logits (a small
    temperature ``tau``) does not change it.  Needs at least three classes."""
    if logits.shape[1] < 3:
        raise InputError(f"the DLR loss needs at least 3 classes, got logits {tuple(logits.shape)}")
    labels = check_labels(labels, logits.shape[0], logits.shape[1])
    ordered = logits.sort(dim=1).values
    return margin(logits, labels) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def attack_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-example loss the attacker maximises: 'ce' (cross-entropy on logits), 'margin' or 'dlr'."""
    check_choice(kind, "loss", LOSSES)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise InputError(f"the model must return logits (B, K), got {getattr(logits, 'shape', type(logits).__name__)}")
    labels = check_labels(labels, logits.shape[0], logits.shape[1])
    if kind == "ce":
        return F.cross_entropy(logits, labels, reduction="none")
    if kind == "dlr":
        return dlr(logits, labels)
    return margin(logits, labels)


# ---- the ball ---------------------------------------------------------------------------------
def check_norm(norm: str) -> None:
    check_choice(norm, "norm", ("Linf", "L2"))


def l2_norm(v: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm, shaped to broadcast against v, never below 1e-12."""
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project onto the eps-ball around x (L-inf or L2) and onto [0, 1]."""
    delta = x_adv - x
    if norm == "Linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * torch.clamp(eps / l2_norm(delta), max=1.0)
    return (x + delta).clamp(0.0, 1.0)


def random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """A uniform point of the L-inf ball, or a point of the L2 ball (uniform direction, radius ~ U(0, eps))."""
    if norm == "Linf":
        delta = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x.device) * eps
    else:
        direction = torch.randn(x.shape, generator=generator).to(x.device)
        radius = torch.rand(x.shape[0], generator=generator).to(x.device).view(-1, *([1] * (x.dim() - 1)))
        delta = direction / l2_norm(direction) * radius * eps
    return project(x + delta, x, eps, norm)


# ---- gradients ----------------------------------------------------------------------------------
def loss_and_grad(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, loss: str,
                  generator: torch.Generator, eot_samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example loss (B,) and input gradient (B, C, H, W), each averaged over ``eot_samples``
    model calls (fresh sampler noise per call for a random model)."""
    x, labels = attack_inputs(x, labels, generator)
    check_int(eot_samples, "eot_samples", 1)
    return eot_loss_and_grad(model, x, labels, loss, generator, eot_samples)


EOT_BATCH_ROWS = 512     # images per model call when the EOT draws of a step go through the model together


def eot_loss_and_grad(model, x, labels, loss, generator, eot_samples):
    """:func:`loss_and_grad` without the input checks: the attacks' inner loops call it with the
    iterates of inputs they checked once.

    The draws go through the model together, as APGD's do (:func:`~idc_lite.foundation.streams.draw_copies`, at
    most ``EOT_BATCH_ROWS`` rows a call).  One draw is one call on x itself."""
    x = x.detach().requires_grad_(True)
    b = x.shape[0]
    per_call = max(1, min(eot_samples, EOT_BATCH_ROWS // max(b, 1)))
    total_loss = torch.zeros(b, device=x.device)
    total_grad = torch.zeros_like(x)
    done = 0
    while done < eot_samples:
        k = min(per_call, eot_samples - done)
        per_draw = attack_loss(model(draw_copies(x, k), generator=generator), draw_copies(labels, k), loss)
        (grad,) = torch.autograd.grad(per_draw.sum(), x)
        total_loss += per_draw.detach().view(k, b).sum(0)
        total_grad += grad
        done += k
    return total_loss / eot_samples, total_grad / eot_samples

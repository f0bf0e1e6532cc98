"""Hand-written attacks on any model mapping images in [0, 1] to logits.

Every attack takes ``model(x, generator=g) -> logits (B, K)`` and draws all its randomness
(random starts, square positions, and, through the model, the sampler's noise) from an explicit
``torch.Generator``.  A random classifier therefore sees fresh noise at every query, and
``eot_samples`` averages the gradient over that many fresh draws (EOT).

Teaching core (notebook 04): :func:`pgd_linf`.  The suite: :func:`fgsm`, :func:`pgd` (L-inf and
L2, random start, restarts, best-so-far tracking, EOT, cross-entropy or margin loss),
:func:`mi_fgsm`, :func:`cw_l2`, :func:`square_linf`, and the wrappers :class:`FixedNoise`
(same noise at every query) and :class:`BPDA` (identity backward through the sampler).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from idc_lite.errors import InputError
from idc_lite.validation import (
    check_batch,
    check_choice,
    check_eps,
    check_generator,
    check_images,
    check_int,
    check_labels,
    check_number,
)

LogitModel = Callable[..., torch.Tensor]


def _attack_inputs(x, labels, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Every attack's inputs: images (B, C, H, W) in [0, 1], labels (B,) >= 0 (checked against the
    logits' width in :func:`attack_loss`), a ``torch.Generator``."""
    x, labels = check_batch(x, labels)
    check_generator(generator)
    return x, labels


# ---- losses ---------------------------------------------------------------------------------
def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example margin ``max_{j != y} z_j - z_y`` (B,): positive means misclassified."""
    labels = check_labels(labels, logits.shape[0], logits.shape[1])
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return others.max(dim=1).values - true


def attack_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-example loss the attacker maximises: 'ce' (cross-entropy on logits) or 'margin'."""
    check_choice(kind, "loss", ("ce", "margin"))
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise InputError(f"the model must return logits (B, K), got {getattr(logits, 'shape', type(logits).__name__)}")
    labels = check_labels(labels, logits.shape[0], logits.shape[1])
    if kind == "ce":
        return F.cross_entropy(logits, labels, reduction="none")
    return margin(logits, labels)


def _check_norm(norm: str) -> None:
    check_choice(norm, "norm", ("Linf", "L2"))


def _l2(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project onto the eps-ball around x (L-inf or L2) and onto [0, 1]."""
    delta = x_adv - x
    if norm == "Linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * torch.clamp(eps / _l2(delta), max=1.0)
    return (x + delta).clamp(0.0, 1.0)


def random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """A uniform point of the L-inf ball, or a point of the L2 ball (uniform direction, radius ~ U(0, eps))."""
    if norm == "Linf":
        delta = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x.device) * eps
    else:
        direction = torch.randn(x.shape, generator=generator).to(x.device)
        radius = torch.rand(x.shape[0], generator=generator).to(x.device).view(-1, *([1] * (x.dim() - 1)))
        delta = direction / _l2(direction) * radius * eps
    return project(x + delta, x, eps, norm)


def loss_and_grad(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, loss: str,
                  generator: torch.Generator, eot_samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example loss (B,) and input gradient (B, C, H, W), each averaged over ``eot_samples``
    model calls (fresh sampler noise per call for a random model)."""
    x, labels = _attack_inputs(x, labels, generator)
    check_int(eot_samples, "eot_samples", 1)
    return _loss_and_grad(model, x, labels, loss, generator, eot_samples)


def _loss_and_grad(model, x, labels, loss, generator, eot_samples):
    """:func:`loss_and_grad` without the input checks: the attacks' inner loops call it with the
    iterates of inputs they checked once."""
    x = x.detach().requires_grad_(True)
    total_loss = torch.zeros(x.shape[0], device=x.device)
    total_grad = torch.zeros_like(x)
    for _ in range(eot_samples):
        per_example = attack_loss(model(x, generator=generator), labels, loss)
        (grad,) = torch.autograd.grad(per_example.sum(), x)
        total_loss += per_example.detach()
        total_grad += grad
    return total_loss / eot_samples, total_grad / eot_samples


def _settings(settings) -> "PGDSettings":
    if not isinstance(settings, PGDSettings):
        raise InputError(f"settings must be PGDSettings(eps=..., alpha=..., steps=...), got {type(settings).__name__}")
    return settings


# ---- gradient attacks -----------------------------------------------------------------------
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
        _check_norm(self.norm)
        check_choice(self.loss, "loss", ("ce", "margin"))
        check_eps(self.eps, "eps", self.norm)
        check_number(self.alpha, "alpha", 0.0, strict_minimum=True)
        check_int(self.steps, "steps", 0)
        check_int(self.restarts, "restarts", 1)
        check_int(self.eot_samples, "eot_samples", 1)
        if not isinstance(self.random_start, bool):
            raise InputError(f"random_start must be True or False, got {self.random_start!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def pgd(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings,
        generator: torch.Generator, start: torch.Tensor | None = None) -> torch.Tensor:
    """Adversarial images (B, C, H, W) in [0, 1] for x in [0, 1] and labels (B,).

    Returns, per example, the iterate (over all steps and restarts) with the highest loss
    measured on the way (best-so-far tracking), evaluated once more after the last step.
    ``start`` (B, C, H, W), e.g. another attack's output, replaces the first restart's starting
    point (it is projected onto the eps-ball first); later restarts start at random.
    """
    s = _settings(settings)
    x, labels = _attack_inputs(x, labels, generator)
    if start is not None:
        start = check_images(start, x.shape[1], None, name="start")
        if start.shape != x.shape:
            raise InputError(f"start must have the shape of x {tuple(x.shape)}, got {tuple(start.shape)}")
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
            loss, grad = _loss_and_grad(model, x_adv, labels, s.loss, generator, s.eot_samples)
            improved = loss > best_loss
            best = torch.where(improved.view(view), x_adv, best)
            best_loss = torch.where(improved, loss, best_loss)
            if step == s.steps:
                break
            update = grad.sign() if s.norm == "Linf" else grad / _l2(grad)
            x_adv = project(x_adv + s.alpha * update, x, s.eps, s.norm)
    return best.detach()


def pgd_linf(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings,
             generator: torch.Generator) -> torch.Tensor:
    """Plain L-inf PGD, written out for teaching: random start in the eps-ball, ``steps`` signed
    gradient steps of size alpha on the cross-entropy of the logits, projection after each step.
    One model call per step, so a random classifier shows a fresh noise draw to every step.
    Returns the last iterate (B, C, H, W) in [0, 1]."""
    settings = _settings(settings)
    x, labels = _attack_inputs(x, labels, generator)
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


def fgsm(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float, generator: torch.Generator,
         loss: str = "ce", eot_samples: int = 1) -> torch.Tensor:
    """FGSM (Goodfellow et al. 2015): one signed-gradient step of size eps from x."""
    x, labels = _attack_inputs(x, labels, generator)
    eps = check_eps(eps)
    check_int(eot_samples, "eot_samples", 1)
    _, grad = _loss_and_grad(model, x, labels, loss, generator, eot_samples)
    return (x.detach() + eps * grad.sign()).clamp(0.0, 1.0)


def mi_fgsm(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float, alpha: float, steps: int,
            generator: torch.Generator, decay: float = 1.0, loss: str = "ce", eot_samples: int = 1) -> torch.Tensor:
    """MI-FGSM (Dong et al. 2018): signed steps along a momentum of L1-normalised gradients (L-inf)."""
    x, labels = _attack_inputs(x, labels, generator)
    eps = check_eps(eps)
    check_number(alpha, "alpha", 0.0, strict_minimum=True)
    check_int(steps, "steps", 0)
    check_number(decay, "decay", 0.0)
    check_int(eot_samples, "eot_samples", 1)
    x = x.detach()
    x_adv, momentum = x.clone(), torch.zeros_like(x)
    for _ in range(steps):
        _, grad = _loss_and_grad(model, x_adv, labels, loss, generator, eot_samples)
        momentum = decay * momentum + grad / grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        x_adv = project(x_adv + alpha * momentum.sign(), x, eps, "Linf")
    return x_adv.detach()


def cw_l2(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator, c: float = 1.0,
          kappa: float = 0.0, steps: int = 100, lr: float = 0.01) -> torch.Tensor:
    """Carlini-Wagner L2 (2017) with a margin loss: minimise ||delta||_2^2 + c * max(z_y - max_{j!=y} z_j, -kappa)
    over x_adv = (tanh(w) + 1) / 2 with Adam; returns per example the smallest-norm misclassified
    iterate, or x itself when none was found.  Report it at an L2 budget: count only ||delta|| <= eps."""
    x, labels = _attack_inputs(x, labels, generator)
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


@torch.no_grad()
def square_linf(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float, queries: int,
                generator: torch.Generator, p_init: float = 0.3) -> torch.Tensor:
    """Square attack, L-inf (Andriushchenko et al. 2020), gradient-free random search.

    Starts from vertical stripes of +-eps; each query changes one random square window (side
    shrinking with the query count) to a random +-eps per channel and keeps the change for the
    examples whose margin loss did not decrease.  Stops early for examples already misclassified."""
    x, labels = _attack_inputs(x, labels, generator)
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


def other_class_start(x: torch.Tensor, labels: torch.Tensor, eps: float, norm: str = "Linf") -> torch.Tensor:
    """Per example, the closest (L2) image *of another class* in the batch, projected onto the
    eps-ball around x: it paints another class in.  No model query; useless at small eps, a strong
    start for PGD at large eps, where an attacker can draw most of a different digit.
    x (B, C, H, W) in [0, 1] with at least two classes among labels (B,)."""
    _check_norm(norm)
    x, labels = check_batch(x, labels)
    eps = check_eps(eps, norm=norm)
    if labels.unique().numel() < 2:
        raise InputError("other_class_start needs at least two classes in the batch")
    d = torch.cdist(x.flatten(1), x.flatten(1))
    d = d.masked_fill(labels[:, None] == labels[None, :], float("inf"))
    return project(x[d.argmin(1)], x, eps, norm)


# ---- model wrappers ---------------------------------------------------------------------------
class FixedNoise(nn.Module):
    """The same sampler noise at every query: ``model(x, generator=Generator().manual_seed(seed))``,
    whatever generator the attack passes.  Attacking it and scoring the original random model
    with fresh noise shows how much of the robustness is only randomness."""

    def __init__(self, model: LogitModel, seed: int = 0):
        super().__init__()
        self.model, self.seed = model, seed

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.model(x, generator=torch.Generator().manual_seed(self.seed))


class BPDA(nn.Module):
    """Backward Pass Differentiable Approximation (Athalye et al. 2018) for an IDC classifier: the
    forward pass runs the real sampler, the backward pass treats the sampler as the identity
    (straight-through), so gradients are those of ``-distance(image) / tau`` at the sampler's output.
    For comparison with the full gradient, which the sampler's few calls make affordable."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        from idc_lite.model.classifier import to_image_scale

        with torch.no_grad():
            purified = to_image_scale(self.model.sample(x, generator=generator).x0)
        straight_through = x + (purified - x).detach()
        return -self.model.distances_to_label_images(straight_through) / self.model.config.tau


class FirstStepSurrogate(nn.Module):
    """A deterministic surrogate of an IDC classifier for transfer attacks: logits
    ``-distance / tau`` of the sampler's *first* x0 prediction, which the U-Net makes from the
    input alone before any noise is injected (one U-Net call instead of four).

    Why it is a good adaptive attack: every later step starts from this prediction, so pushing
    it towards a wrong label image moves the whole trajectory, and its gradient carries no
    sampler noise.  Its examples are scored on the real, random classifier.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        from idc_lite.model.classifier import to_image_scale, to_model_scale

        bridge, m = self.model.bridge, self.model
        y = to_model_scale(x)
        t = torch.full((x.shape[0],), bridge.steps[0], dtype=torch.long, device=x.device)
        x0 = bridge.predict_x0(y, y, t, m.denoise(y, t))
        if m.config.clip_denoised:
            x0 = x0.clamp(-1.0, 1.0)
        return -m.distances_to_label_images(to_image_scale(x0)) / m.config.tau


class _WithGenerator(nn.Module):
    """``model(x)`` for libraries that call it without arguments: the sampler's noise comes from
    ``generator``, fresh at every call."""

    def __init__(self, model, generator: torch.Generator):
        super().__init__()
        self.model, self.generator = model, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, generator=self.generator)


def autoattack_rand(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float,
                    generator: torch.Generator, n_iter: int = 100, eot_iter: int = 20,
                    norm: str = "Linf") -> torch.Tensor:
    """The official AutoAttack's ``version='rand'`` (APGD-CE and APGD-DLR, EOT over ``eot_iter``
    fresh draws, ``n_iter`` iterations), from the ``pyautoattack`` package (optional extra).

    Its flag checks (randomness, softmax outputs, dynamic defences) are printed, not hidden.
    Other ``n_iter`` / ``eot_iter`` than 100 / 20 make it a *reduced* AutoAttack-rand: report it
    so.  Returns adversarial images (B, C, H, W) in [0, 1]."""
    x, labels = _attack_inputs(x, labels, generator)
    eps = check_eps(eps, norm=norm)
    check_int(n_iter, "n_iter", 1)
    check_int(eot_iter, "eot_iter", 1)
    import logging
    import sys

    try:
        from pyautoattack import AutoAttack
    except ImportError as err:   # pragma: no cover - pinned in requirements.txt
        raise ImportError("AutoAttack needs the optional package pyautoattack: pip install pyautoattack==0.2.0") from err
    logger = logging.getLogger("auto-attack")
    if not logger.handlers:   # show its warnings and progress where the user is looking
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[AutoAttack] %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):   # it seeds the global RNG itself; leave the caller's alone
        attack = AutoAttack(_WithGenerator(model, generator), eps=eps, norm=norm, version="rand", seed=seed,
                            device=x.device)
        attack.apgd.n_iter, attack.apgd.eot_iter = n_iter, eot_iter
        adv, _ = attack.run_standard_evaluation(x.detach(), labels, batch_size=x.shape[0])
    return adv.detach()



"""Checks for notebook 04's exercises (EOT gradients, PGD, surrogates, fixed noise)."""
from __future__ import annotations

import inspect
import textwrap
from typing import Callable

import torch
from torch import nn

from idc_lite.evaluation.attacks import FirstStepSurrogate, FixedNoise, PGDSettings, margin, pgd, pgd_linf
from idc_lite.foundation.streams import seeded
from idc_lite.model.classifier import to_image_scale, to_model_scale
from idc_lite.teaching.challenge import check_images
from idc_lite.teaching.checks.common import as_tensor, call_answer, close, diagnose, fail, passed


# ---- 04 attacks ------------------------------------------------------------------------------------
class NoisyLinear(nn.Module):
    """A test model for EOT: logits_k = sum_i x_i (W_ki + noise_std * z_ki), with z ~ N(0, 1) drawn
    from the generator afresh for every example and call.  Two classes, so the margin's gradient
    is W_other - W_label plus noise, and its expectation is known exactly."""

    def __init__(self, pixels: int, noise_std: float, seed: int = 0):
        super().__init__()
        self.weight = torch.randn((2, pixels), generator=seeded(seed, "checks/noisy-linear-weights"))
        self.noise_std = noise_std

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        flat = x.flatten(1)
        w = self.weight.expand(flat.shape[0], *self.weight.shape)
        if self.noise_std:
            w = w + self.noise_std * torch.randn(w.shape, generator=generator)
        return torch.einsum("bd,bkd->bk", flat, w)

    def expected_margin_gradient(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.weight[1 - labels] - self.weight[labels]).view_as(x)


def _toy_batch(seed: int, batch: int, side: int, purpose: str = ""):
    """A batch in [0.2, 0.8] with labels in {0, 1}: from the seed itself, or a stream of its own named ``purpose``."""
    g = seeded(seed, purpose) if purpose else torch.Generator().manual_seed(seed)
    x = 0.2 + 0.6 * torch.rand((batch, 1, side, side), generator=g)
    labels = torch.randint(0, 2, (batch,), generator=g)
    return x, labels


def check_eot_gradient(eot_gradient: Callable, seed: int = 0) -> str:
    """Exercise 04.1a: ``eot_gradient(model, x, labels, samples, generator)``: the input gradient of
    the margin loss summed over the batch, averaged over ``samples`` fresh noise draws."""
    ex = "04.1 EOT gradient"
    x, labels = _toy_batch(seed, 8, 4)
    exact = NoisyLinear(16, 0.0, seed)
    expected = exact.expected_margin_gradient(x, labels)
    got = as_tensor(ex, "the gradient", call_answer(ex, eot_gradient, exact, x.clone(), labels.clone(), 4,
                                            torch.Generator().manual_seed(seed)), x.shape)
    if not close(got, expected, 1e-5):
        diagnose(ex, got, [(-expected, "the sign: the attacker maximises the margin max_{j != y} z_j - z_y"),
                            (expected / x.shape[0], "sum the loss over the batch (a mean divides each example's "
                                                    "gradient by the batch size)"),
                            (4 * expected, "average over the samples instead of summing")], 1e-5,
                  "on a model without noise your gradient should be the margin's gradient")
    noisy = NoisyLinear(16, 2.0, seed)
    samples = 256
    got = as_tensor(ex, "the gradient", call_answer(ex, eot_gradient, noisy, x.clone(), labels.clone(), samples,
                                            seeded(seed, "checks/04.1-noisy-gradient")), x.shape)
    error = float((got - expected.double()).norm() / expected.double().norm())
    if error > 0.3:
        fail(ex, f"averaged over {samples} draws, the gradient should be close to its expectation (relative error "
                  f"< 0.3), yours is off by {error:.2f}: call the model once per sample with the same generator, so "
                  "each call draws fresh noise, and average the gradients")
    return passed(ex, f"exact without noise, relative error {error:.2f} with {samples} noisy samples")


def check_eot_pgd(eot_pgd: Callable, seed: int = 0) -> str:
    """Exercise 04.1b: ``eot_pgd(model, x, labels, eps, alpha, steps, samples, generator)``: L-inf PGD
    on the margin from x itself (no random start), each step along the sign of the EOT gradient,
    projected onto the eps-ball and [0, 1]."""
    ex = "04.1 EOT-PGD"
    eps, alpha = 0.1, 0.05
    x, labels = _toy_batch(seed, 8, 4)
    x[:, :, 0, 0], x[:, :, 0, 1] = 0.97, 0.03                 # pixels where [0, 1] clipping matters
    exact = NoisyLinear(16, 0.0, seed)
    direction = exact.expected_margin_gradient(x, labels).sign()
    expected = (x + eps * direction).clamp(0, 1)
    got = as_tensor(ex, "x_adv", call_answer(ex, eot_pgd, exact, x.clone(), labels.clone(), eps, alpha, 3, 2,
                                     torch.Generator().manual_seed(seed)), x.shape)
    if not close(got, expected, 1e-6):
        diagnose(ex, got, [((x - eps * direction).clamp(0, 1), "the attack steps down the loss: step along +sign(gradient)"),
                            (x + eps * direction, "clip the result to [0, 1] after projecting onto the eps-ball"),
                            ((x + 3 * alpha * direction).clamp(0, 1), "project back onto the eps-ball after every step"),
                            ((x + alpha * direction).clamp(0, 1), "take all the steps, not one")], 1e-6,
                  "on a model without noise, 3 steps of size eps/2 from x should end on the corner x + eps * "
                  "sign(gradient), clipped to [0, 1]")
    eps = 0.1
    x, labels = _toy_batch(seed, 16, 8, purpose="checks/04.1-noisy-batch")
    noisy = NoisyLinear(64, 2.0, seed)
    got = call_answer(ex, eot_pgd, noisy, x.clone(), labels.clone(), eps, eps / 2, 3, 64, torch.Generator().manual_seed(seed))
    got = as_tensor(ex, "x_adv", got, x.shape)
    if float((got - x.double()).abs().max()) > eps + 1e-6 or float(got.min()) < 0 or float(got.max()) > 1:
        fail(ex, "x_adv leaves the eps-ball around x or the range [0, 1]")
    agreement = float(((got - x.double()).sign() == noisy.expected_margin_gradient(x, labels).sign().double()).double().mean())
    if agreement < 0.9:
        fail(ex, f"with 64 samples per step the attack should move almost every pixel the expected way; yours moves "
                  f"{agreement:.0%} of them so: average the gradient over `samples` fresh draws at every step")
    return passed(ex, f"exact without noise; {agreement:.0%} of pixels moved the expected way with 64 noisy samples")


def first_step(model, x: torch.Tensor, t_value: int | None = None, model_scale: bool = True,
                image_scale: bool = True) -> torch.Tensor:
    """The first-step surrogate's logits with one deliberate change each (for diagnosing mistakes).
    (Leaving out the clip to [-1, 1] is no mistake here: ``to_image_scale`` clips to [0, 1] anyway.)"""
    y = to_model_scale(x) if model_scale else x
    t = torch.full((x.shape[0],), model.bridge.steps[0] if t_value is None else t_value, dtype=torch.long)
    x0 = model.bridge.predict_x0(y, y, t, model.denoise(y, t)).clamp(-1, 1)
    images = to_image_scale(x0) if image_scale else x0
    return -model.distances_to_label_images(images) / model.config.tau


@torch.no_grad()
def check_first_step_logits(first_step_logits: Callable, model, x: torch.Tensor) -> str:
    """Exercise 04.2a: ``first_step_logits(model, x) -> logits (B, K)`` of the sampler's first x0
    prediction, against :class:`idc_lite.evaluation.attacks.FirstStepSurrogate`."""
    ex = "04.2 the first-step surrogate"
    expected = FirstStepSurrogate(model)(x)
    got = as_tensor(ex, "the logits", call_answer(ex, first_step_logits, model, x.clone()), expected.shape)
    if close(got, expected, 1e-4):
        return passed(ex, "equals FirstStepSurrogate on the given images")
    diagnose(ex, got, [(first_step(model, x, t_value=0), f"the first step is at t = model.bridge.steps[0] = "
                                                           f"{model.bridge.steps[0]}, not 0"),
                        (first_step(model, x, model_scale=False), "the U-Net works on the [-1, 1] scale: start from "
                                                                   "y = to_model_scale(x)"),
                        (first_step(model, x, image_scale=False), "map the x0 prediction back to [0, 1] "
                                                                   "(to_image_scale) before measuring distances"),
                        (-expected, "logits are -distance / tau")], 1e-4,
              "your logits differ from the first x0 prediction's -distance / tau")


def _attack_progress(ex: str, answer, target, x: torch.Tensor, labels: torch.Tensor, eps: float, seed: int,
                     what: str, teaching_pgd: bool = False) -> str:
    """Shared by the surrogate and fixed-noise exercises: adversarial examples inside the budget that
    raise the attacked target's margin by at least half what 10 steps of PGD achieve.  ``teaching_pgd``: the
    yardstick is the exercise's own attack, ``pgd_linf`` (cross-entropy, last iterate); the package's margin PGD
    keeps each example's best iterate and, on some trained models, raises the mean margin three times as much
    on a single example, which rejected the reference solution."""
    x_adv = as_tensor(ex, "the adversarial examples", answer, x.shape).float()
    if float((x_adv - x.cpu()).abs().max()) > eps + 1e-6 or float(x_adv.min()) < 0 or float(x_adv.max()) > 1:
        fail(ex, f"the examples leave the eps-ball (eps = {eps:.4f}) around x or the range [0, 1]")
    if torch.equal(x_adv, x.cpu().float()):
        fail(ex, "these are the clean images: run the attack")
    with torch.no_grad():
        start = margin(target(x), labels)
        gain = (margin(target(x_adv.to(x.device)), labels) - start).mean().item()
    attack = pgd_linf if teaching_pgd else pgd
    reference = attack(target, x, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=10, loss="ce" if teaching_pgd else "margin"),
                       torch.Generator().manual_seed(seed))
    with torch.no_grad():
        reference_gain = (margin(target(reference), labels) - start).mean().item()
    if gain < 0.5 * max(reference_gain, 1e-6):
        fail(ex, f"your examples raise the margin of the {what} by {gain:.3g} on average, where 10 steps of PGD on it "
                  f"raise it by {reference_gain:.3g}: attack the {what} itself, stepping up its margin")
    return passed(ex, f"margin of the {what} raised by {gain:.3g} (10-step PGD: {reference_gain:.3g})")


def check_surrogate_attack(x_surrogate, model, x: torch.Tensor, labels: torch.Tensor, eps: float, seed: int = 0) -> str:
    """Exercise 04.2b: adversarial examples made against the first-step surrogate."""
    return _attack_progress("04.2 attacking the surrogate", x_surrogate, FirstStepSurrogate(model), x, labels, eps, seed,
                            "first-step surrogate")


def check_fixed_noise_attack(x_fixed, model, x: torch.Tensor, labels: torch.Tensor, eps: float, noise_seed: int = 0,
                             seed: int = 0) -> str:
    """Exercise 04.3: adversarial examples made against the model with its noise fixed to ``noise_seed``."""
    return _attack_progress("04.3 the fixed-noise attack", x_fixed, FixedNoise(model, noise_seed), x, labels, eps, seed,
                            f"model with fixed noise (seed {noise_seed})", teaching_pgd=True)




def check_challenge_submission(attack: Callable, seed: int = 0) -> str:
    """Exercise 04.4: ``attack(model, images, labels, generator, params, start=None)`` for the class challenge:
    the images it returns keep the shape, the range [0, 1] and the budget, differ from the clean ones, lower
    the accuracy of a noisy linear model, and the function runs with nothing of the notebook around it."""
    ex = "04.4 a challenge submission"
    if callable(attack) and getattr(attack, "__name__", "") == "<lambda>":
        fail(ex, "define your attack with def: the scorer reads the function's source, and a lambda has none of its own")
    x, _ = _toy_batch(seed, 16, 4, "checks/challenge")
    model, eps = NoisyLinear(16, 0.5, seed), 0.3
    labels = NoisyLinear(16, 0.0, seed)(x).argmax(1)     # what the model says without noise: mostly right with it
    params = {"eps": eps, "norm": "Linf"}
    answer = call_answer(ex, attack, model, x.clone(), labels.clone(), seeded(seed, "checks/challenge-attack"), params)
    x_adv = as_tensor(ex, "the returned images", answer, x.shape).float()
    problem, _ = check_images(x_adv, x, eps)
    if problem:
        fail(ex, f"{problem}: keep every pixel within params['eps'] of the image and in [0, 1] (clamp after each step)")
    if torch.equal(x_adv, x):
        fail(ex, "your attack returned the clean images unchanged")
    draws = seeded(seed, "checks/challenge-scoring")
    with torch.no_grad():
        clean = sum((model(x, generator=draws).argmax(1) == labels).float().mean() for _ in range(20)) / 20
        attacked = sum((model(x_adv, generator=draws).argmax(1) == labels).float().mean() for _ in range(20)) / 20
    if attacked > clean - 0.2:
        fail(ex, f"on a noisy linear model your attack takes the accuracy from {clean:.0%} to {attacked:.0%} only: step "
                  "up the margin (max over the other classes minus the true class), averaging its gradient over draws")
    try:
        source = textwrap.dedent(inspect.getsource(attack))
    except (OSError, TypeError) as err:
        fail(ex, f"the scorer could not read your function's source ({err}): define it in a cell with def")
    names: dict = {}
    try:
        exec(compile(source, "<submission>", "exec"), names)
        names[attack.__name__](model, x.clone(), labels.clone(), seeded(seed, "checks/challenge-attack"), params)
    except NameError as err:
        fail(ex, f"the scorer runs your function alone, without the notebook's names ({err}): import inside the function")
    except Exception as err:  # noqa: BLE001 - the student's code, run as the scorer will run it
        fail(ex, f"run alone, as the scorer runs it, your function raised {type(err).__name__}: {err}")
    return passed(ex, f"within the budget; a noisy linear model's accuracy {clean:.0%} -> {attacked:.0%}")

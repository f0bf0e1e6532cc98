"""One checker per graded exercise of the notebooks.

Each checker takes the student's answer (a function or a value, under the name the exercise
asks for) plus whatever it needs from the notebook, recomputes the right answer with the
package's own implementation, and returns a one-line "passed" message, or raises
:class:`ExerciseCheckFailed` with a message that points at the likely mistake (a sign, a missing
square root, the wrong noise draw, a hard-coded value) without printing the answer.  The grading
cells of the notebooks call these checkers; ``tests/test_exercise_checks.py`` feeds every one the
notebook's solution and several wrong answers.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..attacks import FirstStepSurrogate, FixedNoise, PGDSettings, margin, pgd
from ..bridge import BrownianBridge, make_schedule, posterior_variance
from ..classifier import to_image_scale, to_model_scale
from ..label_images import label_image_diagnostics, make_label_images
from ..losses import idc_loss
from ..robustness import majority_vote


class ExerciseCheckFailed(AssertionError):
    """A wrong or missing answer; the message says what to look at."""


def _fail(exercise: str, message: str):
    raise ExerciseCheckFailed(f"[{exercise}] {message}")


def _passed(exercise: str, detail: str) -> str:
    return f"[{exercise}] passed: {detail}"


def _call(exercise: str, fn: Callable, *args, **kwargs):
    """Call the student's function, turning 'not answered yet' and crashes into a clear failure."""
    if not callable(fn):
        _fail(exercise, f"expected the function the exercise asks for, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        _fail(exercise, "not answered yet: the function still raises NotImplementedError")
    except ExerciseCheckFailed:
        raise
    except Exception as err:  # the student's bug, reported as a failed check rather than a crash
        _fail(exercise, f"your function raised {type(err).__name__}: {err}")


def _number(exercise: str, name: str, value) -> float:
    """A finite real number (Python number or one-element tensor); never a bool or None."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            _fail(exercise, f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(exercise, f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        _fail(exercise, f"{name} must be finite, got {value}")
    return float(value)


def _tensor(exercise: str, name: str, value, shape) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        _fail(exercise, f"{name} must be a torch.Tensor of shape {tuple(shape)}, got {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        _fail(exercise, f"{name} must have shape {tuple(shape)}, got {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        _fail(exercise, f"{name} contains NaN or infinite values")
    return value.detach().cpu().double()


def _close(a: torch.Tensor, b: torch.Tensor, atol: float) -> bool:
    return bool(torch.allclose(a.double(), b.detach().cpu().double(), atol=atol, rtol=0.0))


def _diagnose(exercise: str, answer: torch.Tensor, known_mistakes: list[tuple[torch.Tensor, str]], atol: float,
              default: str):
    for wrong, hint in known_mistakes:
        if _close(answer, wrong, atol):
            _fail(exercise, hint)
    _fail(exercise, default)


# ---- 01 label images -------------------------------------------------------------------------------
def check_global_minmax(global_minmax: Callable, seed: int = 0, shape: tuple = (5, 1, 4, 4)) -> str:
    """Exercise 01.1: ``global_minmax(columns) -> images`` scales all images with one min and one max."""
    ex = "01.1 global min-max"
    g = torch.Generator().manual_seed(seed)
    columns = torch.randn(shape, generator=g)
    columns[0] = 4.0 * columns[0] + 1.0          # one image with a much larger range than the others
    original = columns.clone()
    out = _call(ex, global_minmax, columns)
    if not torch.equal(columns, original):
        _fail(ex, "your function changed its input in place; return a new tensor")
    out = _tensor(ex, "the result", out, shape)
    c = original.double()
    expected = (c - c.min()) / (c.max() - c.min())
    if _close(out, expected, 1e-6):
        return _passed(ex, f"one min-max over all {shape[0]} images")
    low, high = c.amin(dim=tuple(range(1, c.dim())), keepdim=True), c.amax(dim=tuple(range(1, c.dim())), keepdim=True)
    per_image = (c - low) / (high - low)
    lo, hi = float(out.min()), float(out.max())
    hint = (f"the smallest value over all images should become 0 and the largest 1; yours span [{lo:.3g}, {hi:.3g}]"
            if abs(lo) > 1e-6 or abs(hi - 1) > 1e-6 else
            "subtract the global minimum from every pixel, then divide by (global maximum - global minimum)")
    _diagnose(ex, out, [(per_image, "this is the per-image min-max (each image spans [0, 1] on its own); use one "
                                    "minimum and one maximum over all images together")], 1e-6, hint)


def check_label_image_distances(min_distance_10, min_distance_100) -> str:
    """Exercise 01.2: the smallest mean absolute distance between two different label images, for the
    digits default (10 classes, 1x16x16) and at CIFAR-100 size (100 classes, 3x32x32), seed 0."""
    ex = "01.2 distances between label images"
    answers = {"min_distance_10": _number(ex, "min_distance_10", min_distance_10),
               "min_distance_100": _number(ex, "min_distance_100", min_distance_100)}
    settings = {"min_distance_10": (10, (1, 16, 16)), "min_distance_100": (100, (3, 32, 32))}
    for name, (k, shape) in settings.items():
        value = answers[name]
        reference = label_image_diagnostics(make_label_images(k, shape))["min_off_diagonal_distance"]
        if abs(value - reference) <= 1e-5:
            continue
        if value == 0.0:
            _fail(ex, f"{name} is 0: that is the distance of an image to itself; leave out the diagonal")
        if k == 100 and abs(value - label_image_diagnostics(make_label_images(10, shape))["min_off_diagonal_distance"]) <= 1e-5:
            _fail(ex, f"{name} is the value for 10 classes at CIFAR size; the exercise asks for 100 classes")
        _fail(ex, f"{name} = {value:.4g} is not the smallest mean absolute distance between two different label "
                  f"images for {k} classes of shape {shape} (seed 0): build them with make_label_images and "
                  "measure |a - b| averaged over pixels for every pair")
    return _passed(ex, "both smallest distances")


# ---- 02 the bridge and the loss -------------------------------------------------------------------
def check_q_sample(my_q_sample: Callable, seed: int = 0, num_timesteps: int = 4, mt_type: str = "linear",
                   image_shape: tuple = (1, 4, 4)) -> str:
    """Exercise 02.1: ``my_q_sample(x0, y, t, noise, m_t, variance_t) -> x_t`` against ``BrownianBridge.q_sample``."""
    ex = "02.1 the bridge's forward sample"
    bridge = BrownianBridge(num_timesteps=num_timesteps, mt_type=mt_type)
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(num_timesteps).repeat(2)
    batch = (t.shape[0], *image_shape)
    x0, y = torch.rand(batch, generator=g) * 2 - 1, torch.rand(batch, generator=g) * 2 - 1
    noise = torch.randn(batch, generator=g)
    expected, target = bridge.q_sample(x0, y, t, noise)
    out = _call(ex, my_q_sample, x0.clone(), y.clone(), t.clone(), noise.clone(), bridge.m_t.clone(),
                bridge.variance_t.clone())
    out = _tensor(ex, "x_t", out, batch)
    if _close(out, expected, 1e-5):
        return _passed(ex, f"x_t equals BrownianBridge.q_sample at every t in 0..{num_timesteps - 1}")
    view = (-1, 1, 1, 1)
    m, v = bridge.m_t[t].view(view), bridge.variance_t[t].view(view)
    m_prev, v_prev = bridge.m_t[(t - 1) % num_timesteps].view(view), bridge.variance_t[(t - 1) % num_timesteps].view(view)
    mistakes = [
        ((1 - m) * x0 + m * y + v * noise, "the noise is scaled by the variance; scale it by the standard deviation "
                                           "sqrt(variance_t)"),
        ((1 - m) * y + m * x0 + v.sqrt() * noise, "x0 and y are swapped: at t = 0 the bridge sits at the label image "
                                                  "x0, at t = T at the input image y"),
        (target, "this is the network's training target m_t (y - x0) + sigma_t noise, not the bridge state x_t"),
        ((1 - m) * x0 + m * y, "the noise term is missing"),
        ((1 - m_prev) * x0 + m_prev * y + v_prev.sqrt() * noise, "m_t and variance_t are read at t - 1: use entry t"),
    ]
    _diagnose(ex, out, mistakes, 1e-5, "x_t differs from the bridge's forward sample; check the formula "
                                      "x_t = (1 - m_t) x0 + m_t y + sqrt(variance_t) noise, with m_t and variance_t read at t")


def check_posterior_variance(my_posterior_variance: Callable, noop_variance, num_timesteps: int = 4,
                             mt_type: str = "linear") -> str:
    """Exercise 02.2: ``my_posterior_variance(m_t, variance_t, t, t_next)`` for every step of the
    float64 schedule, and ``noop_variance``, its value for the no-op step 1 -> 1."""
    ex = "02.2 the sampler's posterior variance"
    s = make_schedule(num_timesteps, mt_type, dtype=torch.float64)
    m, v = s["m_t"], s["variance_t"]
    pairs = [(t, n) for t in range(1, num_timesteps) for n in range(t)] + [(t, t) for t in range(1, num_timesteps - 1)]
    for t, n in pairs:
        got = _number(ex, f"my_posterior_variance(m_t, variance_t, {t}, {n})",
                      _call(ex, my_posterior_variance, m.clone(), v.clone(), t, n))
        ref = posterior_variance(float(m[t]), float(m[n]), float(v[t]), float(v[n]))
        if abs(got - ref) <= 1e-12 + 1e-9 * abs(ref):
            continue
        if got == 0.0:
            _fail(ex, f"your function gives 0 for the step {t} -> {n}, whose variance is not zero: compute it from "
                      "the schedule")
        if n < t and abs(got - posterior_variance(float(m[n]), float(m[t]), float(v[n]), float(v[t]))) <= 1e-12:
            _fail(ex, "t and t_next are swapped")
        if n < t and abs(got - (float(v[t]) - float(v[n]) * (1 - float(m[t])) ** 2 / (1 - float(m[n])) ** 2)) <= 1e-12:
            _fail(ex, "the factor variance_next / variance_t is missing")
        _fail(ex, f"wrong value for the step {t} -> {n}: check which schedule entries you read (m_t and variance_t "
                  "at t, and at t_next) and the formula")
    noop = _number(ex, "noop_variance", noop_variance)
    own = _number(ex, "your function at 1 -> 1", _call(ex, my_posterior_variance, m.clone(), v.clone(), 1, 1))
    if abs(noop - own) > 1e-15:
        _fail(ex, "noop_variance must be your function's value for the step 1 -> 1 on the float64 schedule")
    return _passed(ex, f"{len(pairs)} steps of the float64 schedule, the no-op step included")


def check_interclass_term(my_interclass_term: Callable, seed: int = 0, num_classes: int = 4, weight: float = 0.2,
                          batch: int = 8) -> str:
    """Exercise 02.3: ``my_interclass_term(output, per_class_targets, labels, weight) -> simloss``
    against the ``simloss`` of :func:`idc_lite.losses.idc_loss`."""
    ex = "02.3 the inter-class term"
    bridge = BrownianBridge(num_timesteps=4)
    g = torch.Generator().manual_seed(seed)
    label_images = torch.rand((num_classes, 1, 4, 4), generator=g) * 2 - 1
    labels = torch.arange(batch) % num_classes
    x0, y = label_images[labels], torch.rand((batch, 1, 4, 4), generator=g) * 2 - 1
    t = torch.randint(1, 4, (batch,), generator=g)          # t = 0 makes every class target almost the same
    noise = torch.randn((batch, 1, 4, 4), generator=g)
    per_class = bridge.class_targets(x0, label_images, y, t, noise)          # (B, K, C, H, W)
    rows = torch.arange(batch)
    near_own = rows < batch // 2                             # half the outputs sit nearest their own class
    near = torch.where(near_own.view(-1, 1, 1, 1), per_class[rows, labels], per_class[rows, (labels + 1) % num_classes])
    output = near + 0.05 * torch.randn(near.shape, generator=g)
    reference = idc_loss(bridge, lambda x_t, t_: output, x0, y, t, noise, labels, label_images, weight).simloss.item()
    got = _number(ex, "your inter-class term",
                  _call(ex, my_interclass_term, output.clone(), per_class.clone(), labels.clone(), weight))
    if abs(got - reference) <= 1e-6:
        return _passed(ex, f"equals idc_loss's simloss on {batch} samples, {int(near_own.sum())} of them nearest their own class")
    dist = (per_class - output.unsqueeze(1)).abs().mean(dim=(2, 3, 4))
    own = dist[rows, labels]
    wrong = dist.clone()
    wrong[rows, labels] = float("inf")
    nearest_wrong = wrong.min(1).values
    penalised = own != dist.min(1).values
    mistakes = [(-reference, "the sign: the official term is subtracted (the inter-class term is <= 0)"),
                (-weight * nearest_wrong.mean().item(), "penalise only the samples whose output is nearer to a wrong "
                                                        "class's target than to its own"),
                (-weight * torch.where(penalised, own, torch.zeros_like(own)).mean().item(),
                 "use the distance to the nearest wrong class's target, not to the sample's own target"),
                (-weight * torch.where(penalised, nearest_wrong, torch.zeros_like(own)).sum().item(),
                 "average over the batch instead of summing"),
                (reference / weight, "multiply by the weight")]
    for value, hint in mistakes:
        if abs(got - value) <= 1e-6:
            _fail(ex, hint)
    _fail(ex, "your term differs from the official one; per sample, compare the mean absolute distance of the output "
              "to every class's target")


def _logits_from_sampler_output(model, final: torch.Tensor) -> torch.Tensor:
    return -model.distances_to_label_images(to_image_scale(final)) / model.config.tau


@torch.no_grad()
def check_skip_noop(fixed_logits, same, model, x: torch.Tensor, noise: list[torch.Tensor]) -> str:
    """Exercise 02.4: the logits of the sampler without the no-op step, given the official noise
    draws ``noise``, and ``same``: whether the predicted classes agree with the official sampler's."""
    ex = "02.4 the no-op step"
    steps = model.bridge.steps
    noop = [i for i in range(len(steps) - 1) if steps[i] == steps[i + 1]]
    keep = [n for i, n in enumerate(noise) if i not in noop]
    fixed_bridge = BrownianBridge.from_config(model.config, skip_noop_steps=True)
    y = to_model_scale(x)

    def fixed_with(draws):
        return _logits_from_sampler_output(model, fixed_bridge.sample(model.denoise, y, noise=draws,
                                                                      clip_denoised=model.config.clip_denoised).x0)

    expected = fixed_with(keep)
    official = model(x, noise=noise)
    answer = _tensor(ex, "fixed_logits", fixed_logits, expected.shape)
    if not _close(answer, expected, 1e-4):
        mistakes = [(official, "these are the official sampler's logits (with the no-op step); build the sampler with "
                               "skip_noop_steps=True")]
        for wrong in range(len(noise)) if noop else ():   # e.g. draw 1, the no-op's position at the authors' T = 4
            if wrong not in noop:
                mistakes.append((fixed_with(noise[:wrong] + noise[wrong + 1:]),
                                 f"you dropped draw {wrong}, not the no-op's: the no-op step is step {noop[0]} of "
                                 f"{steps}, so leave out draw {noop[0]}"))
        _diagnose(ex, answer, mistakes, 1e-6, "fixed_logits differ from the sampler without the no-op step, run on "
                                              "the same draws minus the no-op's own")
    if not isinstance(same, bool):
        _fail(ex, f"same must be True or False, got {same!r}")
    truth = torch.equal(expected.argmax(1), official.argmax(1))
    if same != truth:
        _fail(ex, "same does not match the predicted classes of the two samplers")
    return _passed(ex, f"the {len(fixed_bridge.steps)}-call sampler on the official draws minus the no-op's")


# ---- 03 trajectories and randomness ---------------------------------------------------------------
@torch.no_grad()
def check_deterministic_sampler(deterministic, a, b, model, x: torch.Tensor) -> str:
    """Exercise 03.1: ``deterministic`` is a copy of ``model`` with ``eta = 0``; ``a`` and ``b`` are
    its logits on ``x`` with generator seeds 0 and 1."""
    ex = "03.1 a deterministic sampler"
    if deterministic is model:
        _fail(ex, "deterministic is the notebook's model itself: work on a copy (copy.deepcopy) so the model stays random")
    if model.bridge.eta != model.config.eta:
        _fail(ex, f"the notebook's model now samples with eta = {model.bridge.eta}: change a copy, not the model")
    eta = getattr(getattr(deterministic, "bridge", None), "eta", None)
    if eta != 0.0:
        _fail(ex, f"the copy's sampler still has eta = {eta}: set deterministic.bridge.eta = 0.0 (the sampler reads "
                  "bridge.eta; changing config.eta after the model is built does nothing)")
    reference = copy.deepcopy(model)
    reference.bridge.eta = 0.0
    expected = reference(x, generator=torch.Generator().manual_seed(0))
    for name, value in (("a", a), ("b", b)):
        answer = _tensor(ex, name, value, expected.shape)
        if not _close(answer, expected, 1e-4):
            _fail(ex, f"{name} must be the logits (N, K) of deterministic on the given images, computed with "
                      "torch.Generator().manual_seed(0) for a and seed 1 for b")
    return _passed(ex, "eta = 0 gives the same logits whatever the noise")


def check_scoring_rules(score_rules: Callable, seed: int = 0) -> str:
    """Exercise 03.2: ``score_rules(predictions (k, N), labels (N,)) -> {'one', 'majority', 'all'}``."""
    ex = "03.2 scoring rules"
    # a tie (classes 1 and 2 twice each: the lowest index wins), a unanimous column, 4 of 5 right,
    # and a plurality of 2 out of 5 (right under 'majority', though less than half the draws)
    crafted = torch.tensor([[1, 0, 2, 0], [2, 0, 2, 1], [1, 0, 2, 2], [2, 0, 1, 3], [3, 0, 2, 3]])
    crafted_labels = torch.tensor([1, 0, 2, 3])
    g = torch.Generator().manual_seed(seed)
    random_labels = torch.randint(0, 4, (40,), generator=g)
    random = torch.where(torch.rand((7, 40), generator=g) < 0.6, random_labels, torch.randint(0, 4, (7, 40), generator=g))
    for predictions, labels in ((crafted, crafted_labels), (random, random_labels)):
        correct = predictions == labels
        expected = {"one": correct.float().mean().item(),
                    "majority": (majority_vote(predictions, 4) == labels).float().mean().item(),
                    "all": correct.all(0).float().mean().item()}
        got = _call(ex, score_rules, predictions.clone(), labels.clone())
        if not isinstance(got, dict) or set(got) != set(expected):
            _fail(ex, f"score_rules must return a dict with the keys 'one', 'majority' and 'all', got {got!r}")
        mistakes = {"one": (correct[0].float().mean().item(), "'one' is the mean over all draws of the one-draw "
                                                              "accuracy, not the first draw's"),
                    "majority": ((correct.float().mean(0) > 0.5).float().mean().item(),
                                 "'majority' takes the most frequent predicted class (ties to the lowest index), which "
                                 "can be right with fewer than half the draws right"),
                    "all": (correct.any(0).float().mean().item(), "'all' needs every draw right, not any")}
        for rule, value in expected.items():
            answer = _number(ex, f"score_rules(...)['{rule}']", got[rule])
            if abs(answer - value) > 1e-6:
                wrong, hint = mistakes[rule]
                _fail(ex, hint if abs(answer - wrong) <= 1e-6 else f"the '{rule}' score is wrong")
    return _passed(ex, "the three rules on a crafted and a random set of draws")


# ---- 04 attacks ------------------------------------------------------------------------------------
class NoisyLinear(nn.Module):
    """A test model for EOT: logits_k = sum_i x_i (W_ki + noise_std * z_ki), with z ~ N(0, 1) drawn
    from the generator afresh for every example and call.  Two classes, so the margin's gradient
    is W_other - W_label plus noise, and its expectation is known exactly."""

    def __init__(self, pixels: int, noise_std: float, seed: int = 0):
        super().__init__()
        self.weight = torch.randn((2, pixels), generator=torch.Generator().manual_seed(seed + 100))
        self.noise_std = noise_std

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        flat = x.flatten(1)
        w = self.weight.expand(flat.shape[0], *self.weight.shape)
        if self.noise_std:
            w = w + self.noise_std * torch.randn(w.shape, generator=generator)
        return torch.einsum("bd,bkd->bk", flat, w)

    def expected_margin_gradient(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.weight[1 - labels] - self.weight[labels]).view_as(x)


def _toy_batch(seed: int, batch: int, side: int):
    g = torch.Generator().manual_seed(seed)
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
    got = _tensor(ex, "the gradient", _call(ex, eot_gradient, exact, x.clone(), labels.clone(), 4,
                                            torch.Generator().manual_seed(seed)), x.shape)
    if not _close(got, expected, 1e-5):
        _diagnose(ex, got, [(-expected, "the sign: the attacker maximises the margin max_{j != y} z_j - z_y"),
                            (expected / x.shape[0], "sum the loss over the batch (a mean divides each example's "
                                                    "gradient by the batch size)"),
                            (4 * expected, "average over the samples instead of summing")], 1e-5,
                  "on a model without noise your gradient should be the margin's gradient")
    noisy = NoisyLinear(16, 2.0, seed)
    samples = 256
    got = _tensor(ex, "the gradient", _call(ex, eot_gradient, noisy, x.clone(), labels.clone(), samples,
                                            torch.Generator().manual_seed(seed + 1)), x.shape)
    error = float((got - expected.double()).norm() / expected.double().norm())
    if error > 0.3:
        _fail(ex, f"averaged over {samples} draws, the gradient should be close to its expectation (relative error "
                  f"< 0.3), yours is off by {error:.2f}: call the model once per sample with the same generator, so "
                  "each call draws fresh noise, and average the gradients")
    return _passed(ex, f"exact without noise, relative error {error:.2f} with {samples} noisy samples")


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
    got = _tensor(ex, "x_adv", _call(ex, eot_pgd, exact, x.clone(), labels.clone(), eps, alpha, 3, 2,
                                     torch.Generator().manual_seed(seed)), x.shape)
    if not _close(got, expected, 1e-6):
        _diagnose(ex, got, [((x - eps * direction).clamp(0, 1), "the attack steps down the loss: step along +sign(gradient)"),
                            (x + eps * direction, "clip the result to [0, 1] after projecting onto the eps-ball"),
                            ((x + 3 * alpha * direction).clamp(0, 1), "project back onto the eps-ball after every step"),
                            ((x + alpha * direction).clamp(0, 1), "take all the steps, not one")], 1e-6,
                  "on a model without noise, 3 steps of size eps/2 from x should end on the corner x + eps * "
                  "sign(gradient), clipped to [0, 1]")
    eps = 0.1
    x, labels = _toy_batch(seed + 1, 16, 8)
    noisy = NoisyLinear(64, 2.0, seed)
    got = _call(ex, eot_pgd, noisy, x.clone(), labels.clone(), eps, eps / 2, 3, 64, torch.Generator().manual_seed(seed))
    got = _tensor(ex, "x_adv", got, x.shape)
    if float((got - x.double()).abs().max()) > eps + 1e-6 or float(got.min()) < 0 or float(got.max()) > 1:
        _fail(ex, "x_adv leaves the eps-ball around x or the range [0, 1]")
    agreement = float(((got - x.double()).sign() == noisy.expected_margin_gradient(x, labels).sign().double()).double().mean())
    if agreement < 0.9:
        _fail(ex, f"with 64 samples per step the attack should move almost every pixel the expected way; yours moves "
                  f"{agreement:.0%} of them so: average the gradient over `samples` fresh draws at every step")
    return _passed(ex, f"exact without noise; {agreement:.0%} of pixels moved the expected way with 64 noisy samples")


def _first_step(model, x: torch.Tensor, t_value: int | None = None, model_scale: bool = True,
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
    prediction, against :class:`idc_lite.attacks.FirstStepSurrogate`."""
    ex = "04.2 the first-step surrogate"
    expected = FirstStepSurrogate(model)(x)
    got = _tensor(ex, "the logits", _call(ex, first_step_logits, model, x.clone()), expected.shape)
    if _close(got, expected, 1e-4):
        return _passed(ex, "equals FirstStepSurrogate on the given images")
    _diagnose(ex, got, [(_first_step(model, x, t_value=0), f"the first step is at t = model.bridge.steps[0] = "
                                                           f"{model.bridge.steps[0]}, not 0"),
                        (_first_step(model, x, model_scale=False), "the U-Net works on the [-1, 1] scale: start from "
                                                                   "y = to_model_scale(x)"),
                        (_first_step(model, x, image_scale=False), "map the x0 prediction back to [0, 1] "
                                                                   "(to_image_scale) before measuring distances"),
                        (-expected, "logits are -distance / tau")], 1e-4,
              "your logits differ from the first x0 prediction's -distance / tau")


def _attack_progress(ex: str, answer, target, x: torch.Tensor, labels: torch.Tensor, eps: float, seed: int,
                     what: str) -> str:
    """Shared by the surrogate and fixed-noise exercises: adversarial examples inside the budget that
    raise the attacked target's margin by at least half what 10 steps of the package's PGD achieve."""
    x_adv = _tensor(ex, "the adversarial examples", answer, x.shape).float()
    if float((x_adv - x.cpu()).abs().max()) > eps + 1e-6 or float(x_adv.min()) < 0 or float(x_adv.max()) > 1:
        _fail(ex, f"the examples leave the eps-ball (eps = {eps:.4f}) around x or the range [0, 1]")
    if torch.equal(x_adv, x.cpu().float()):
        _fail(ex, "these are the clean images: run the attack")
    with torch.no_grad():
        start = margin(target(x), labels)
        gain = (margin(target(x_adv.to(x.device)), labels) - start).mean().item()
    reference = pgd(target, x, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=10, loss="margin"),
                    torch.Generator().manual_seed(seed))
    with torch.no_grad():
        reference_gain = (margin(target(reference), labels) - start).mean().item()
    if gain < 0.5 * max(reference_gain, 1e-6):
        _fail(ex, f"your examples raise the margin of the {what} by {gain:.3g} on average, where 10 steps of PGD on it "
                  f"raise it by {reference_gain:.3g}: attack the {what} itself, stepping up its margin")
    return _passed(ex, f"margin of the {what} raised by {gain:.3g} (10-step PGD: {reference_gain:.3g})")


def check_surrogate_attack(x_surrogate, model, x: torch.Tensor, labels: torch.Tensor, eps: float, seed: int = 0) -> str:
    """Exercise 04.2b: adversarial examples made against the first-step surrogate."""
    return _attack_progress("04.2 attacking the surrogate", x_surrogate, FirstStepSurrogate(model), x, labels, eps, seed,
                            "first-step surrogate")


def check_fixed_noise_attack(x_fixed, model, x: torch.Tensor, labels: torch.Tensor, eps: float, noise_seed: int = 0,
                             seed: int = 0) -> str:
    """Exercise 04.3: adversarial examples made against the model with its noise fixed to ``noise_seed``."""
    return _attack_progress("04.3 the fixed-noise attack", x_fixed, FixedNoise(model, noise_seed), x, labels, eps, seed,
                            f"model with fixed noise (seed {noise_seed})")


# ---- 05 baselines -----------------------------------------------------------------------------------
def check_protocol_gaps(gaps, largest_gap, results: dict, key: str) -> str:
    """Exercise 05.1: per model, paper protocol's worst case at the main eps (``results[m][key]``)
    minus the adaptive worst case; ``largest_gap``: the model with the largest gap."""
    ex = "05.1 paper against adaptive"
    expected = {name: r[key]["worst_case_and_clean"] - r["adaptive"]["worst_case_accuracy"] for name, r in results.items()}
    if not isinstance(gaps, dict) or set(gaps) != set(expected):
        _fail(ex, f"gaps must be a dict with one entry per model: {sorted(expected)}")
    values = {name: _number(ex, f"gaps[{name!r}]", v) for name, v in gaps.items()}
    if any(abs(values[n] - expected[n]) > 1e-9 for n in expected):
        other_keys = {k for r in results.values() for k in r if k.startswith("paper@") and k != key}
        if all(abs(values[n] + expected[n]) <= 1e-9 for n in expected):
            _fail(ex, "the sign: the gap is the paper protocol's number minus the adaptive one")
        for other in other_keys:
            if all(abs(values[n] - (r[other]["worst_case_and_clean"] - r["adaptive"]["worst_case_accuracy"])) <= 1e-9
                   for n, r in results.items()):
                _fail(ex, f"use the paper protocol at the main budget ({key}), not {other}")
        if all(v == 0 for v in values.values()):
            _fail(ex, "a gap of 0 for every model is not what the results say: compute each from `results`")
        _fail(ex, "some gaps are wrong: per model, the paper protocol's worst case (worst_case_and_clean) minus the "
                  "adaptive protocol's worst_case_accuracy")
    best = max(expected, key=expected.get)
    if largest_gap not in expected or abs(expected[largest_gap] - expected[best]) > 1e-12:
        _fail(ex, f"largest_gap must name the model with the largest gap (one of {sorted(expected)}), got {largest_gap!r}")
    return _passed(ex, f"{len(expected)} gaps")


def check_adv_cnn_exercise(adv2_path, adv2_clean, adv2_robust, run_dir, eps: float, x: torch.Tensor,
                           labels: torch.Tensor, seed: int = 0) -> str:
    """Exercise 05.2: a CNN adversarially trained at 2 eps, saved in an exercise folder (never over the
    run's ``adv_cnn.pt``), with its clean accuracy on x and its accuracy under PGD at eps
    (``PGDSettings(eps=eps, alpha=eps / 4, steps=20, loss='margin')``, generator seed ``seed``)."""
    from ..baselines import cnn_settings, load_cnn

    ex = "05.2 adversarial training at 2 eps"
    run = Path(run_dir).resolve()
    if not isinstance(adv2_path, (str, Path)):
        _fail(ex, f"adv2_path must be the path of the saved CNN, got {adv2_path!r}")
    path = Path(adv2_path).resolve()
    if path == run / "adv_cnn.pt":
        _fail(ex, "you saved over the run's adv_cnn.pt, which the baselines table reads: save into "
                  "exercise_dir(run, ...) instead")
    if run / "exercises" not in path.parents:
        _fail(ex, "save the exercise's CNN inside its exercise folder, exercise_dir(run, '05_adv_cnn_2eps')")
    if not path.is_file():
        _fail(ex, f"no file at {path}")
    trained_eps = (cnn_settings(path).get("adversarial") or {}).get("eps")
    if trained_eps is None or abs(trained_eps - 2 * eps) > 1e-9:
        _fail(ex, f"the saved CNN was trained at eps {trained_eps}; the exercise asks for 2 eps = {2 * eps:.4f}")
    main = run / "adv_cnn.pt"
    if main.is_file() and abs((cnn_settings(main).get("adversarial") or {}).get("eps", eps) - eps) > 1e-9:
        _fail(ex, "the run's adv_cnn.pt no longer holds the CNN trained at eps: rerun notebook 05 from the top")
    model = load_cnn(path)
    with torch.no_grad():
        clean = (model(x).argmax(1) == labels).float().mean().item()
    attacked = pgd(model, x, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=20, loss="margin"),
                   torch.Generator().manual_seed(seed))
    with torch.no_grad():
        robust = (model(attacked).argmax(1) == labels).float().mean().item()
    answers = (_number(ex, "adv2_clean", adv2_clean), _number(ex, "adv2_robust", adv2_robust))
    if abs(answers[0] - clean) > 1e-6 or abs(answers[1] - robust) > 1e-6:
        if abs(answers[0] - robust) <= 1e-6 and abs(answers[1] - clean) <= 1e-6:
            _fail(ex, "adv2_clean and adv2_robust are swapped")
        _fail(ex, "recompute adv2_clean (accuracy on the clean x) and adv2_robust (accuracy under the stated PGD at "
                  "eps, generator seed as given) with the CNN you saved")
    return _passed(ex, f"saved in {path.parent.name}/, trained at 2 eps; clean and robust accuracy recomputed")


# ---- 06 efficiency --------------------------------------------------------------------------------
def _row(ex: str, table, method: str) -> dict:
    rows = [r if isinstance(r, dict) else r.to_dict() for r in table]
    for row in rows:
        if row["method"] == method:
            return row
    _fail(ex, f"the cost table has no row {method!r}: run the cells above again")


def check_cost_ratios(idc_per_diffpure, idc_per_rdc, table, idc_method: str, diffpure_method: str,
                      rdc_method: str) -> str:
    """Exercise 06.1: how many IDC predictions (the paper preset, ``idc_method``) cost as many FLOPs as one
    DiffPure prediction, and as one prediction of the RDC-style classifier (rows of the cost table)."""
    ex = "06.1 IDC predictions per DiffPure prediction"
    idc, diffpure, rdc = (_row(ex, table, m) for m in (idc_method, diffpure_method, rdc_method))
    answers = {"idc_per_diffpure": (_number(ex, "idc_per_diffpure", idc_per_diffpure), diffpure),
               "idc_per_rdc": (_number(ex, "idc_per_rdc", idc_per_rdc), rdc)}
    idc_rows = [r if isinstance(r, dict) else r.to_dict() for r in table]
    for name, (value, other) in answers.items():
        expected = other["flops_per_prediction"] / idc["flops_per_prediction"]
        if math.isclose(value, expected, rel_tol=1e-6):
            continue
        if math.isclose(value, 1 / expected, rel_tol=1e-6):
            _fail(ex, f"{name} is upside down: the other method's FLOPs divided by IDC's (a number above 1)")
        per_call = (other["flops_per_prediction"] / other["network_calls"]) / (idc["flops_per_prediction"] / idc["network_calls"])
        if math.isclose(value, per_call, rel_tol=1e-3):
            _fail(ex, f"{name} compares one network call of each; a prediction needs network_calls of them")
        if math.isclose(value, other["parameters"] / idc["parameters"], rel_tol=1e-6):
            _fail(ex, f"{name} compares parameters; the cost of a prediction is its FLOPs (flops_per_prediction)")
        if (other["seconds_per_prediction"] and idc["seconds_per_prediction"]
                and math.isclose(value, other["seconds_per_prediction"] / idc["seconds_per_prediction"], rel_tol=1e-6)):
            _fail(ex, f"{name} compares measured seconds, which depend on this machine; the exercise asks for FLOPs")
        for row in idc_rows:
            if row["kind"] == idc["kind"] and row["method"] != idc_method and math.isclose(
                    value, other["flops_per_prediction"] / row["flops_per_prediction"], rel_tol=1e-6):
                _fail(ex, f"{name} divides by the row {row['method']!r}; the paper's IDC is {idc_method!r}")
        _fail(ex, f"{name} is wrong: the other method's flops_per_prediction divided by that of {idc_method!r}")
    return _passed(ex, f"one DiffPure prediction costs {answers['idc_per_diffpure'][0]:,.0f} IDC predictions, "
                       f"one RDC-style prediction {answers['idc_per_rdc'][0]:,.0f}")


def check_wide_unet_flops(wide_flops_per_prediction, width_factor, config) -> str:
    """Exercise 06.2: FLOPs per prediction of IDC ``config`` (an IDCConfig) with its U-Net's
    ``model_channels`` doubled, every sampler call included, and its ratio to ``config``'s own."""
    from dataclasses import replace

    from ..classifier import IDCClassifier
    from ..unet import UNet, count_flops

    ex = "06.2 a wider U-Net"
    meta = torch.device("meta")
    with meta:
        base_unet = UNet(config.unet)
        wide_unet = UNet(replace(config.unet, model_channels=2 * config.unet.model_channels))
    calls = IDCClassifier(config).bridge.num_network_calls
    base, wide = calls * count_flops(base_unet, config.image_shape), calls * count_flops(wide_unet, config.image_shape)
    value = _number(ex, "wide_flops_per_prediction", wide_flops_per_prediction)
    if not math.isclose(value, wide, rel_tol=1e-9):
        if math.isclose(value, wide / calls, rel_tol=1e-9):
            _fail(ex, f"that is one U-Net call; a prediction makes {calls} of them")
        if math.isclose(value, wide / 2, rel_tol=1e-9) or math.isclose(value, wide / (2 * calls), rel_tol=1e-9):
            _fail(ex, "that counts multiply-adds; count_flops counts 2 FLOPs per multiply-add, use its number as it is")
        if math.isclose(value, base, rel_tol=1e-9) or math.isclose(value, base / calls, rel_tol=1e-9):
            _fail(ex, "that is the U-Net of the preset itself; double model_channels first")
        _fail(ex, f"wide_flops_per_prediction is wrong: count_flops of the U-Net with model_channels="
                  f"{2 * config.unet.model_channels}, times the network calls per prediction")
    factor = _number(ex, "width_factor", width_factor)
    if not math.isclose(factor, wide / base, rel_tol=1e-9):
        if math.isclose(factor, base / wide, rel_tol=1e-9):
            _fail(ex, "width_factor is upside down: the wide U-Net's FLOPs divided by the preset's")
        params = sum(p.numel() for p in wide_unet.parameters()) / sum(p.numel() for p in base_unet.parameters())
        if math.isclose(factor, params, rel_tol=1e-6):
            _fail(ex, "width_factor compares parameters; the exercise asks for FLOPs per prediction")
        _fail(ex, "width_factor is wrong: the wide U-Net's FLOPs per prediction divided by the preset's")
    return _passed(ex, f"{value / 1e9:.1f} GFLOP per prediction, {factor:.2f} times the preset's")


def check_claim_verdict(claim_verdict: Callable) -> str:
    """Exercise 05.3: ``claim_verdict(difference) -> str`` applies the robustness claims' rule to a paired
    interval ``{"difference", "low", "high"}`` of IDC minus another model: 'supported' when the whole
    interval lies above 0, 'contradicted' when it lies below, 'inconclusive at this n' otherwise.
    Checked on crafted intervals, among them ones where the estimate and the interval disagree."""
    from ..claims import interval_verdict

    ex = "05.3 a claim's verdict"
    cases = [{"difference": 0.08, "low": 0.02, "high": 0.14}, {"difference": -0.09, "low": -0.15, "high": -0.03},
             {"difference": 0.05, "low": -0.01, "high": 0.11}, {"difference": -0.04, "low": -0.10, "high": 0.01},
             {"difference": 0.0, "low": -0.06, "high": 0.06}, {"difference": 0.03, "low": 0.0, "high": 0.07}]
    for case in cases:
        got = _call(ex, claim_verdict, dict(case))
        expected = interval_verdict(case)
        if got == expected:
            continue
        if not isinstance(got, str):
            _fail(ex, f"return one of the verdict strings, got {type(got).__name__}")
        if case["low"] == 0 and got == "supported":
            _fail(ex, "an interval that starts at exactly 0 does not lie above 0")
        if case["low"] <= 0 <= case["high"] and got in ("supported", "contradicted"):
            _fail(ex, "the estimate's sign is not enough: the interval must lie wholly on one side of 0 "
                      f"(difference {case['difference']:+.2f}, interval [{case['low']:+.2f}, {case['high']:+.2f}])")
        _fail(ex, f"for the interval [{case['low']:+.2f}, {case['high']:+.2f}] the rule gives another verdict "
                  "(the words must be 'supported', 'contradicted' or 'inconclusive at this n')")
    return _passed(ex, f"{len(cases)} crafted intervals")

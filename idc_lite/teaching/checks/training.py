"""Checks for notebook 02's exercises (the bridge, the loss, the sampler's steps)."""
from __future__ import annotations

from typing import Callable

import torch

from idc_lite.model.bridge import BrownianBridge, make_schedule, posterior_variance
from idc_lite.model.classifier import to_image_scale, to_model_scale
from idc_lite.model.losses import idc_loss
from idc_lite.teaching.checks.common import as_number, as_tensor, call_answer, close, diagnose, fail, passed


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
    out = call_answer(ex, my_q_sample, x0.clone(), y.clone(), t.clone(), noise.clone(), bridge.m_t.clone(),
                bridge.variance_t.clone())
    out = as_tensor(ex, "x_t", out, batch)
    if close(out, expected, 1e-5):
        return passed(ex, f"x_t equals BrownianBridge.q_sample at every t in 0..{num_timesteps - 1}")
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
    diagnose(ex, out, mistakes, 1e-5, "x_t differs from the bridge's forward sample; check the formula "
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
        got = as_number(ex, f"my_posterior_variance(m_t, variance_t, {t}, {n})",
                      call_answer(ex, my_posterior_variance, m.clone(), v.clone(), t, n))
        ref = posterior_variance(float(m[t]), float(m[n]), float(v[t]), float(v[n]))
        if abs(got - ref) <= 1e-12 + 1e-9 * abs(ref):
            continue
        if got == 0.0:
            fail(ex, f"your function gives 0 for the step {t} -> {n}, whose variance is not zero: compute it from "
                      "the schedule")
        if n < t and abs(got - posterior_variance(float(m[n]), float(m[t]), float(v[n]), float(v[t]))) <= 1e-12:
            fail(ex, "t and t_next are swapped")
        if n < t and abs(got - (float(v[t]) - float(v[n]) * (1 - float(m[t])) ** 2 / (1 - float(m[n])) ** 2)) <= 1e-12:
            fail(ex, "the factor variance_next / variance_t is missing")
        fail(ex, f"wrong value for the step {t} -> {n}: check which schedule entries you read (m_t and variance_t "
                  "at t, and at t_next) and the formula")
    noop = as_number(ex, "noop_variance", noop_variance)
    own = as_number(ex, "your function at 1 -> 1", call_answer(ex, my_posterior_variance, m.clone(), v.clone(), 1, 1))
    if abs(noop - own) > 1e-15:
        fail(ex, "noop_variance must be your function's value for the step 1 -> 1 on the float64 schedule")
    return passed(ex, f"{len(pairs)} steps of the float64 schedule, the no-op step included")


def check_interclass_term(my_interclass_term: Callable, seed: int = 0, num_classes: int = 4, weight: float = 0.2,
                          batch: int = 8) -> str:
    """Exercise 02.3: ``my_interclass_term(output, per_class_targets, labels, weight) -> simloss``
    against the ``simloss`` of :func:`idc_lite.model.losses.idc_loss`."""
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
    got = as_number(ex, "your inter-class term",
                  call_answer(ex, my_interclass_term, output.clone(), per_class.clone(), labels.clone(), weight))
    if abs(got - reference) <= 1e-6:
        return passed(ex, f"equals idc_loss's simloss on {batch} samples, {int(near_own.sum())} of them nearest their own class")
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
            fail(ex, hint)
    fail(ex, "your term differs from the official one; per sample, compare the mean absolute distance of the output "
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
    answer = as_tensor(ex, "fixed_logits", fixed_logits, expected.shape)
    if not close(answer, expected, 1e-4):
        mistakes = [(official, "these are the official sampler's logits (with the no-op step); build the sampler with "
                               "skip_noop_steps=True")]
        for wrong in range(len(noise)) if noop else ():   # e.g. draw 1, the no-op's position at the authors' T = 4
            if wrong not in noop:
                mistakes.append((fixed_with(noise[:wrong] + noise[wrong + 1:]),
                                 f"you dropped draw {wrong}, not the no-op's: the no-op step is step {noop[0]} of "
                                 f"{steps}, so leave out draw {noop[0]}"))
        diagnose(ex, answer, mistakes, 1e-6, "fixed_logits differ from the sampler without the no-op step, run on "
                                              "the same draws minus the no-op's own")
    if not isinstance(same, bool):
        fail(ex, f"same must be True or False, got {same!r}")
    truth = torch.equal(expected.argmax(1), official.argmax(1))
    if same != truth:
        fail(ex, "same does not match the predicted classes of the two samplers")
    return passed(ex, f"the {len(fixed_bridge.steps)}-call sampler on the official draws minus the no-op's")



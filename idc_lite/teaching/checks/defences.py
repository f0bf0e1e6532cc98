"""Checks for notebook 07's exercises (DiffPure's forward diffusion, the likelihood classifier's class score)."""
from __future__ import annotations

from typing import Callable

import torch

from idc_lite.defences.ddpm import ClassConditionalUNet, DDPMConfig, DDPMSchedule
from idc_lite.defences.likelihood import DiffusionLikelihoodClassifier
from idc_lite.foundation.streams import seeded
from idc_lite.model.unet import UNetConfig
from idc_lite.teaching.checks.common import as_tensor, call_answer, close, diagnose, fail, passed


def check_diffuse_to_t_star(my_diffuse: Callable, seed: int = 0, image_shape: tuple = (1, 8, 8)) -> str:
    """Exercise 07.1: ``my_diffuse(x, t_star, noise, alphas_cumprod) -> x_t`` (model scale [-1, 1] noised to
    t*) for images x (B, C, H, W) in [0, 1], against :meth:`DDPMSchedule.q_sample`, at several t*."""
    ex = "07.1 the forward diffusion to t*"
    schedule = DDPMSchedule(DDPMConfig())
    ab = schedule.alphas_cumprod.float()
    g = torch.Generator().manual_seed(seed)
    for t_star in (1, 100, 400):
        x = torch.rand(4, *image_shape, generator=g)
        noise = torch.randn(x.shape, generator=g)
        expected = schedule.q_sample(x * 2 - 1, torch.full((len(x),), t_star), noise)
        out = as_tensor(ex, "x_t", call_answer(ex, my_diffuse, x.clone(), t_star, noise.clone(), ab.clone()), x.shape)
        if close(out, expected, 1e-5):
            continue
        a = ab[t_star]
        mistakes = [
            (a * (x * 2 - 1) + (1 - a) * noise, "alpha-bar scales the image and 1 - alpha-bar the noise under a square "
                                               "root: sqrt(alpha-bar) x0 + sqrt(1 - alpha-bar) noise"),
            (a.sqrt() * x + (1 - a).sqrt() * noise, "the image is diffused on the [0, 1] scale: map it to the model's "
                                                   "[-1, 1] first (2 x - 1)"),
            (ab[t_star - 1].sqrt() * (x * 2 - 1) + (1 - ab[t_star - 1]).sqrt() * noise,
             "alpha-bar is read at t* - 1: the entry t* is the product over steps 0..t*"),
            ((1 - a).sqrt() * (x * 2 - 1) + a.sqrt() * noise, "the two square roots are swapped: the image keeps "
                                                             "sqrt(alpha-bar), which is near 1 for small t*"),
            (a.sqrt() * (x * 2 - 1), "the noise term is missing"),
        ]
        diagnose(ex, out, mistakes, 1e-5, f"x_t differs from the forward diffusion at t* = {t_star}; check "
                                          "x_t = sqrt(ab[t*]) (2 x - 1) + sqrt(1 - ab[t*]) noise")
    return passed(ex, "x_t equals the DDPM's forward diffusion at t* = 1, 100 and 400")


def _tiny_classifier(seed: int) -> DiffusionLikelihoodClassifier:
    config = UNetConfig(image_size=8, in_channels=1, model_channels=32, out_channels=1, num_res_blocks=1,
                        attention_resolutions=(), channel_mult=(1, 2), dropout=0.0, num_heads=1)
    unet = ClassConditionalUNet(config, num_classes=3)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():   # random weights everywhere (a fresh U-Net's output layer is zero: every class would tie)
        for p in unet.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return DiffusionLikelihoodClassifier(unet.eval().requires_grad_(False), DDPMSchedule(DDPMConfig()), (1, 8, 8),
                                         timesteps=[50, 250, 450], seed=seed)


def check_class_errors(my_class_errors: Callable, seed: int = 0) -> str:
    """Exercise 07.2: ``my_class_errors(denoiser, schedule, x, timesteps, noises, num_classes) -> (B, K)``,
    the mean squared noise-prediction error of each class over the fixed timesteps and noises, against
    :meth:`DiffusionLikelihoodClassifier.class_errors` on a small random class-conditional U-Net."""
    ex = "07.2 the likelihood classifier's class score"
    model = _tiny_classifier(seed)
    x = torch.rand(5, 1, 8, 8, generator=seeded(seed, "checks/07.2-images"))
    with torch.no_grad():
        expected = model.class_errors(x)
        out = call_answer(ex, my_class_errors, model.denoiser, model.schedule, x.clone(), list(model.timesteps),
                          model.noises.clone(), model.num_classes)
    out = as_tensor(ex, "the class errors", out, expected.shape)
    if close(out, expected, 1e-4):
        return passed(ex, "the errors equal the classifier's on 5 images, 3 classes and 3 fixed timesteps")
    if close(out, expected.T.contiguous().view(expected.shape), 1e-4):
        fail(ex, "the rows and columns are mixed up: the result is (images, classes)")
    n = len(model.timesteps)
    if close(out, expected * n, 1e-4):
        fail(ex, "the errors are summed over the timesteps: average them, so that the score does not grow with their number")
    if close(out, -expected, 1e-4):
        fail(ex, "these are the logits (minus the errors): return the errors themselves, the lowest wins")
    with torch.no_grad():
        unscaled = _errors(model, x, scale=False)
        against_image = _errors(model, x, target_image=True)
    diagnose(ex, out, [(unscaled, "the image is noised on the [0, 1] scale: the denoiser was trained on 2 x - 1"),
                       (against_image, "the error is measured against the clean image; the denoiser predicts the "
                                       "noise, so compare its output with the noise that was added")],
             1e-4, "the errors differ: for every class y, timestep t_k and its noise e_k, noise the image to "
                   "x_t = sqrt(ab[t_k]) (2 x - 1) + sqrt(1 - ab[t_k]) e_k, and average ||denoiser(x_t, t_k, y) - e_k||^2 "
                   "over pixels and timesteps (the same noises for every class)")
    raise AssertionError("unreachable")  # diagnose always raises


def _errors(model: DiffusionLikelihoodClassifier, x: torch.Tensor, scale: bool = True,
            target_image: bool = False) -> torch.Tensor:
    """The class errors with one deliberate mistake, for the checker's diagnosis."""
    x0 = x * 2 - 1 if scale else x
    rows = []
    for y in range(model.num_classes):
        per_t = []
        for t, e in zip(model.timesteps, model.noises):
            noise = e.expand_as(x0)
            x_t = model.schedule.q_sample(x0, torch.full((len(x),), t), noise)
            eps = model.denoiser(x_t, torch.full((len(x),), t), torch.full((len(x),), y))
            per_t.append((eps - (x0 if target_image else noise)).pow(2).flatten(1).mean(1))
        rows.append(torch.stack(per_t).mean(0))
    return torch.stack(rows, 1)

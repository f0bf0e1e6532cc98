"""An RDC-style diffusion classifier (Li et al., ICCV 2023 "Your diffusion model is secretly a zero-shot
classifier"; Chen et al., ICML 2024 "Robust classification via a single diffusion model"): a class-
conditional denoiser scores every class by how well it predicts the noise added to the input, and the
class with the lowest error wins.  The timesteps and noises are fixed when the classifier is built (the
same for every input and class: Li et al.'s paired estimate), so the classifier is deterministic and an
attack takes its exact gradient through the estimate."""
from __future__ import annotations

import torch
from torch import nn

from idc_lite.defences.ddpm import ClassConditionalUNet, DDPMSchedule
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.streams import seeded


def spread_timesteps(schedule: DDPMSchedule, count: int, low: float = 0.05, high: float = 0.5) -> list[int]:
    """``count`` timesteps evenly spread over [low, high] of the schedule (the informative middle: near 0
    every class denoises alike, near T nothing is left of the input)."""
    if count < 1 or not 0 <= low < high <= 1:
        raise InputError(f"need count >= 1 and 0 <= low < high <= 1, got {count}, {low}, {high}")
    T = schedule.timesteps - 1
    return [round(T * (low + (high - low) * i / max(count - 1, 1))) for i in range(count)]


class DiffusionLikelihoodClassifier(nn.Module):
    """x (B, C, H, W) in [0, 1] -> logits (B, K) = -mean_k ||eps(x_{t_k}, t_k, y) - e_k||^2 / tau.

    ``timesteps`` (the estimate's t_k, :func:`spread_timesteps` by default) each with one noise e_k of
    ``image_shape``, drawn once from ``seed``; ``tau`` scales the logits (a temperature: the ranking, and
    so every prediction, does not depend on it).  Cost: K classes x len(timesteps) denoiser calls."""

    def __init__(self, denoiser: ClassConditionalUNet, schedule: DDPMSchedule, image_shape: tuple[int, int, int],
                 timesteps: list[int] | None = None, seed: int = 0, tau: float = 0.01):
        super().__init__()
        self.denoiser, self.schedule, self.tau = denoiser, schedule, tau
        self.num_classes = denoiser.num_classes
        self.timesteps = list(timesteps) if timesteps is not None else spread_timesteps(schedule, 8)
        if not all(0 <= t < schedule.timesteps for t in self.timesteps):
            raise InputError(f"timesteps must lie in [0, {schedule.timesteps}), got {self.timesteps}")
        noises = torch.randn(len(self.timesteps), *image_shape, generator=seeded(seed, "likelihood-classifier/noise"))
        self.register_buffer("noises", noises)

    def class_errors(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared noise-prediction error (B, K) of each class, over the fixed timesteps and noises."""
        b, k, n = len(x), self.num_classes, len(self.timesteps)
        x0 = (x * 2 - 1).repeat_interleave(n, 0)                                   # (B*n, C, H, W)
        t = torch.tensor(self.timesteps, device=x.device).repeat(b)
        noise = self.noises.to(x).repeat(b, 1, 1, 1)
        x_t = self.schedule.q_sample(x0, t, noise)
        y = torch.arange(k, device=x.device)
        eps = self.denoiser(x_t.repeat(k, 1, 1, 1), t.repeat(k), y.repeat_interleave(b * n))   # (K*B*n, ...)
        err = (eps - noise.repeat(k, 1, 1, 1)).pow(2).flatten(1).mean(1)
        return err.view(k, b, n).mean(2).T

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return -self.class_errors(x) / self.tau

    def network_calls(self) -> int:
        """Denoiser calls per prediction."""
        return self.num_classes * len(self.timesteps)

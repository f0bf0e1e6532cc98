"""DiffPure-style purification (Nie et al., ICML 2022), on a DDPM: diffuse the input to t*, run the
reverse process back to an image, classify that with a CNN.  The forward noise and every reverse step's
noise are fresh on each call, so the defence is random and an attack needs EOT; the gradient flows through
every reverse step (Lee & Kim, ICCV 2023 attack it so)."""
from __future__ import annotations

import torch
from torch import nn

from idc_lite.defences.ddpm import DDPMSchedule, reverse_timesteps
from idc_lite.foundation.streams import spawn

PURIFICATION_NOISE = "purification-noise"


class DiffPure(nn.Module):
    """x (B, C, H, W) in [0, 1] -> logits (B, K) of ``classifier`` on the purified image.

    ``t_star``: the diffusion time the input is noised to (DiffPure's t* = 0.1 of the schedule on
    CIFAR-10); ``reverse_steps``: the reverse process's steps from t* to the image, evenly spaced, DDIM
    with ``eta`` = 1 (as random as the DDPM posterior; t* + 1 steps is the full DDPM chain)."""

    def __init__(self, denoiser: nn.Module, schedule: DDPMSchedule, classifier: nn.Module, t_star: int = 100,
                 reverse_steps: int = 5, eta: float = 1.0):
        super().__init__()
        self.denoiser, self.classifier, self.schedule = denoiser, classifier, schedule
        self.t_star, self.eta = t_star, eta
        self.steps = reverse_timesteps(t_star, reverse_steps)

    def purify(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The purified images (B, C, H, W) in [0, 1]; the noise comes from a stream spawned from ``generator``."""
        stream = spawn(generator, PURIFICATION_NOISE) if generator is not None else None   # None: torch's global one
        h = self.schedule.q_sample(x * 2 - 1, torch.full((len(x),), self.t_star), torch.randn(x.shape, generator=stream).to(x))
        for t, t_prev in zip(self.steps, self.steps[1:] + [-1]):
            eps = self.denoiser(h, torch.full((len(x),), t, device=x.device))
            noise = torch.randn(x.shape, generator=stream).to(x) if self.eta > 0 and t_prev >= 0 else None
            h = self.schedule.ddim_step(h, t, t_prev, eps, self.eta, noise)
        return ((h + 1) / 2).clamp(0, 1)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.classifier(self.purify(x, generator))

    def network_calls(self) -> int:
        """Denoiser calls per prediction (the CNN's one call aside)."""
        return len(self.steps)

    def one_shot(self, x: torch.Tensor) -> torch.Tensor:
        """The denoiser's first x0 prediction at t* from the input scaled as at t* without noise
        (B, C, H, W) in [0, 1]: deterministic, one denoiser call."""
        t = torch.full((len(x),), self.t_star, device=x.device)
        ab = self.schedule.alphas_cumprod[self.t_star].item()
        x_t = ab ** 0.5 * (x * 2 - 1)
        x0 = (x_t - (1 - ab) ** 0.5 * self.denoiser(x_t, t)) / ab ** 0.5
        return ((x0 + 1) / 2).clamp(0, 1)

    def first_step_surrogate(self) -> nn.Module:
        """The attacks' deterministic surrogate (target ``first_step``): the CNN on :meth:`one_shot`."""
        return _OneShot(self)

    def bpda(self) -> nn.Module:
        """BPDA (target ``bpda``, a comparison only): the real purification forward, the identity backward."""
        return _StraightThrough(self)


class _OneShot(nn.Module):
    def __init__(self, purifier: DiffPure):
        super().__init__()
        self.purifier = purifier

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.purifier.classifier(self.purifier.one_shot(x))


class _StraightThrough(nn.Module):
    def __init__(self, purifier: DiffPure):
        super().__init__()
        self.purifier = purifier

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            purified = self.purifier.purify(x, generator)
        return self.purifier.classifier(x + (purified - x).detach())

"""A DDPM on the kit's U-Net: the noise schedule (Ho et al. 2020), DDIM steps (Song et al. 2021), a
class-conditional U-Net (guided diffusion's label embedding) and a seeded training loop.

Images are on the model scale [-1, 1] here; the defences convert from and to [0, 1].
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.machine import native_bf16
from idc_lite.foundation.streams import seeded
from idc_lite.foundation.validation import check_choice, check_int
from idc_lite.model.unet import UNet, UNetConfig
from idc_lite.training.trainer import EMA


@dataclass(frozen=True)
class DDPMConfig:
    """The linear beta schedule of Ho et al. (2020): ``timesteps`` betas from ``beta_start`` to ``beta_end``."""
    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def to_dict(self) -> dict:
        return asdict(self)


class DDPMSchedule:
    """alpha-bar_t = prod_{s <= t} (1 - beta_s) for t in [0, T), in float64 (cast where used)."""

    def __init__(self, config: DDPMConfig = DDPMConfig()):
        if config.timesteps < 2 or not 0 < config.beta_start <= config.beta_end < 1:
            raise InputError(f"a DDPM schedule needs at least 2 timesteps and 0 < beta_start <= beta_end < 1, got {config}")
        self.config = config
        betas = torch.linspace(config.beta_start, config.beta_end, config.timesteps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, 0)

    @property
    def timesteps(self) -> int:
        return self.config.timesteps

    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return self.alphas_cumprod.to(like.device)[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise, for x0 (B, C, H, W) and t (B,) long."""
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def ddim_step(self, x_t: torch.Tensor, t: int, t_prev: int, eps: torch.Tensor, eta: float,
                  noise: torch.Tensor | None) -> torch.Tensor:
        """One DDIM step from t to t_prev < t (t_prev = -1: to the image) given the predicted noise ``eps``;
        ``eta`` 1 samples as the DDPM posterior does (``noise`` needed), 0 is deterministic."""
        ab_t = self.alphas_cumprod[t].item()
        ab_prev = self.alphas_cumprod[t_prev].item() if t_prev >= 0 else 1.0
        x0 = (x_t - (1 - ab_t) ** 0.5 * eps) / ab_t ** 0.5
        sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)) ** 0.5
        x_prev = ab_prev ** 0.5 * x0 + max(1 - ab_prev - sigma ** 2, 0.0) ** 0.5 * eps
        if sigma > 0:
            if noise is None:
                raise InputError("a DDIM step with eta > 0 needs noise")
            x_prev = x_prev + sigma * noise
        return x_prev


def reverse_timesteps(t_star: int, steps: int) -> list[int]:
    """``steps`` timesteps from ``t_star`` down, evenly spaced (t* + 1 steps: every one down to 0); the
    reverse process goes from each to the next, and from the last to the image."""
    if not 1 <= steps <= t_star + 1:
        raise InputError(f"reverse steps must be between 1 and t* + 1 = {t_star + 1}, got {steps}")
    return [t_star - (i * (t_star + 1)) // steps for i in range(steps)]


class ClassConditionalUNet(UNet):
    """The kit's U-Net with a label embedding added to the timestep embedding (guided diffusion's
    ``num_classes``): (x_t (B, C, H, W), t (B,), y (B,) long) -> predicted noise (B, C, H, W)."""

    def __init__(self, config: UNetConfig, num_classes: int):
        super().__init__(config)
        self.num_classes = num_classes
        self.label_emb = nn.Embedding(num_classes, 4 * config.model_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise InputError("a class-conditional U-Net needs the class labels y")
        return self.run(x, self.embed_time(t, x.dtype) + self.label_emb(y).to(x.dtype))


@dataclass(frozen=True)
class DenoiserRecipe:
    """How a denoiser learns: Adam at ``lr`` on batches of ``batch_size`` for ``epochs``, an EMA of the
    weights (``ema_decay``) kept for use, every random draw from ``seed``'s named streams.
    ``max_batches`` caps the batches of an epoch (0: the whole training split; smoke runs take 2)."""
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    ema_decay: float = 0.995
    seed: int = 0
    precision: str = "auto"    # 'fp32', 'bf16', or 'auto': bf16 autocast where the CPU has it natively (as IDC trains)
    max_batches: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            check_int(getattr(self, name), f"DenoiserRecipe.{name}", 1)
        check_int(self.max_batches, "DenoiserRecipe.max_batches", 0)

    def to_dict(self) -> dict:
        """The recipe as stored beside a denoiser; an uncapped recipe leaves ``max_batches`` out, so the
        denoisers written before the cap existed are still reused."""
        out = asdict(self)
        if not self.max_batches:
            del out["max_batches"]
        return out

    def uses_bf16(self) -> bool:
        check_choice(self.precision, "DenoiserRecipe.precision", ("auto", "fp32", "bf16"))
        return self.precision == "bf16" or (self.precision == "auto" and native_bf16("cpu"))


def train_denoiser(unet: UNet, schedule: DDPMSchedule, x: torch.Tensor, recipe: DenoiserRecipe,
                   labels: torch.Tensor | None = None, progress: bool = False) -> tuple[UNet, list[float]]:
    """Train ``unet`` to predict the noise added to x (N, C, H, W) in [0, 1] at a uniform timestep
    (the simple loss of Ho et al.); a :class:`ClassConditionalUNet` also gets ``labels`` (N,).
    Returns (the EMA copy in eval mode, the mean loss of each epoch)."""
    conditional = isinstance(unet, ClassConditionalUNet)
    if conditional and labels is None:
        raise InputError("a class-conditional denoiser is trained with labels")
    order_stream, noise_stream = seeded(recipe.seed, "ddpm/order"), seeded(recipe.seed, "ddpm/noise")
    unet.reset_parameters(recipe.seed, official_init=False).train()
    ema = EMA(unet, recipe.ema_decay)     # the trainer's (the authors' EMA)
    optimizer = torch.optim.Adam(unet.parameters(), lr=recipe.lr)
    data, bf16 = x * 2 - 1, recipe.uses_bf16()
    losses = []
    starts = range(0, len(data), recipe.batch_size)
    starts = starts[:recipe.max_batches] if recipe.max_batches else starts
    for epoch in range(recipe.epochs):
        order, total, seen = torch.randperm(len(data), generator=order_stream), 0.0, 0
        for start in starts:
            idx = order[start:start + recipe.batch_size]
            t = torch.randint(0, schedule.timesteps, (len(idx),), generator=noise_stream)
            noise = torch.randn(data[idx].shape, generator=noise_stream)
            args = (labels[idx],) if conditional else ()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                predicted = unet(schedule.q_sample(data[idx], t, noise), t, *args)
            loss = (predicted.float() - noise).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            ema.update(unet)
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        losses.append(total / seen)
        if progress:
            print(f"epoch {epoch + 1}/{recipe.epochs}: loss {losses[-1]:.4f}", flush=True)
    averaged = copy.deepcopy(unet)
    averaged.load_state_dict(ema.state_dict_for(unet))
    return averaged.eval().requires_grad_(False), losses

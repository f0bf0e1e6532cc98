"""The networks of the defences IDC is compared with, built untrained, only to count what they cost.

Nothing here is trained or loaded: a cost comparison needs each architecture's parameters and FLOPs
per call, not its weights.  Build them on the ``meta`` device to count FLOPs without memory
(:func:`idc_lite.comparisons.costs`), on the CPU to time one call.

- :class:`ScoreNet`: the score network family of Song et al. (2021, NCSN++ / DDPM++ with BigGAN-style
  residual blocks), which DiffPure (Nie et al., 2022) runs on CIFAR-10, and, class-conditional, a
  DDPM++ of the kind a diffusion classifier in the style of RDC (Chen et al., 2024) evaluates once per
  class and noise level.
- :func:`WideResNet` (WideResNet-28-10, the classifier after DiffPure's purifier and a common
  adversarially trained CNN) and :func:`preact_resnet18` (PreActResNet-18).

Our own compact versions, written from the papers' descriptions: the layer shapes (and so the
parameter and FLOP counts) follow the published configurations; initialisation and the small
options that do not change the cost (FIR resampling kernels, Fourier features) are left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from idc_lite.model.unet import timestep_embedding


# ---- score networks (NCSN++ / DDPM++ family) --------------------------------------------------
@dataclass(frozen=True)
class ScoreNetConfig:
    """A score network's shape.  ``channels`` is the base width (score_sde's ``nf``, EDM's
    ``model_channels``); ``channel_mult`` one entry per resolution; ``num_res_blocks`` residual blocks
    per resolution on the way down (one more on the way up); ``attention_resolutions`` in pixels;
    ``num_classes`` > 0 adds a class embedding (a conditional model)."""
    image_size: int = 32
    in_channels: int = 3
    channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_res_blocks: int = 8
    attention_resolutions: tuple[int, ...] = (16,)
    num_classes: int = 0
    description: str = ""


# DiffPure's CIFAR-10 score network: score_sde's "DDPM++ cont. (deep)" / NCSN++ family configuration
DIFFPURE_CIFAR10 = ScoreNetConfig(description="DiffPure's CIFAR-10 score network (Score SDE, NCSN++ family: 128 "
                                  "channels, multipliers (1, 2, 2, 2), 8 residual blocks per level, attention at 16x16)")


# a class-conditional DDPM++ of EDM's CIFAR-10 shape, the kind of network RDC evaluates per class and noise level
RDC_CIFAR10 = ScoreNetConfig(channel_mult=(2, 2, 2), num_res_blocks=4, num_classes=10,
                             description="a class-conditional DDPM++ of EDM's CIFAR-10 configuration (128 channels, "
                             "multipliers (2, 2, 2), 4 residual blocks per level, attention at 16x16)")


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(channels // 4, 32), channels, eps=1e-6)


class _ResBlock(nn.Module):
    """BigGAN-style residual block: norm, SiLU, (resample), conv, + embedding, norm, SiLU, conv; a 1x1
    skip when the width or the resolution changes; the sum scaled by 1/sqrt(2) (skip_rescale)."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, resample: str = ""):
        super().__init__()
        self.resample = resample
        self.norm0, self.conv0 = _norm(in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm1, self.conv1 = _norm(out_ch), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch or resample else None

    def _resample(self, h: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(h, 2)
        if self.resample == "up":
            return F.interpolate(h, scale_factor=2.0, mode="nearest")
        return h

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv0(self._resample(F.silu(self.norm0(x))))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv1(F.silu(self.norm1(h)))
        x = self._resample(x)
        return (h + (self.skip(x) if self.skip is not None else x)) / math.sqrt(2.0)


class _Attention(nn.Module):
    """Single-head self-attention over the pixels (score_sde's AttnBlockpp), skip_rescale."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)                      # (B, HW, C)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        h = F.scaled_dot_product_attention(q, k, v)
        h = self.out(h).transpose(1, 2).reshape(b, c, hgt, wid)
        return (x + h) / math.sqrt(2.0)


class ScoreNet(nn.Module):
    """A score / noise-prediction U-Net of the NCSN++ / DDPM++ family.

    ``forward(x, t, labels=None)``: x (B, C, H, W), t (B,) noise levels or timesteps (any float),
    labels (B,) class indices for a conditional configuration; returns (B, C, H, W)."""

    def __init__(self, config: ScoreNetConfig):
        super().__init__()
        self.config = cfg = config
        nf, emb_dim = cfg.channels, 4 * cfg.channels
        self.time_embed = nn.Sequential(nn.Linear(nf, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_embed = nn.Embedding(cfg.num_classes, emb_dim) if cfg.num_classes else None
        self.conv_in = nn.Conv2d(cfg.in_channels, nf, 3, padding=1)
        self.down, skips, ch, res = nn.ModuleList(), [nf], nf, cfg.image_size
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                self.down.append(_ResBlock(ch, nf * mult, emb_dim))
                ch = nf * mult
                if res in cfg.attention_resolutions:
                    self.down.append(_Attention(ch))
                skips.append(ch)
            if level != len(cfg.channel_mult) - 1:
                self.down.append(_ResBlock(ch, ch, emb_dim, resample="down"))
                res //= 2
                skips.append(ch)
        self.middle = nn.ModuleList([_ResBlock(ch, ch, emb_dim), _Attention(ch), _ResBlock(ch, ch, emb_dim)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(_ResBlock(ch + skips.pop(), nf * mult, emb_dim))
                ch = nf * mult
            if res in cfg.attention_resolutions:
                self.up.append(_Attention(ch))
            if level != 0:
                self.up.append(_ResBlock(ch, ch, emb_dim, resample="up"))
                res *= 2
        self.norm_out, self.conv_out = _norm(ch), nn.Conv2d(ch, cfg.in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_embed(timestep_embedding(t, self.config.channels).to(x.dtype))
        if self.class_embed is not None:
            if labels is None:
                raise ValueError("a conditional ScoreNet needs labels")
            emb = emb + self.class_embed(labels)
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            if isinstance(block, _Attention):
                h = hs[-1] = block(h)    # attention refines the residual block's output in place
                continue
            h = block(h, emb)
            hs.append(h)
        for block in self.middle:
            h = block(h) if isinstance(block, _Attention) else block(h, emb)
        for block in self.up:
            if isinstance(block, _Attention):
                h = block(h)
            elif block.resample == "up":
                h = block(h, emb)
            else:
                h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


# ---- adversarially trained CNNs -----------------------------------------------------------------
class _PreActBlock(nn.Module):
    """Pre-activation residual block (BN, ReLU, conv, BN, ReLU, conv), with dropout for WideResNets."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.bn0, self.conv0 = nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1, self.conv1 = nn.BatchNorm2d(out_ch), nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
                         if stride != 1 or in_ch != out_ch else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn0(x))
        skip = self.shortcut(o) if self.shortcut is not None else x
        h = self.conv0(o)
        h = self.conv1(F.relu(self.bn1(h)))
        return h + skip


class PreActNet(nn.Module):
    """A pre-activation residual network for 32x32 images: a 3x3 stem of ``stem_width`` channels, then
    ``stages`` of (width, blocks, stride of the first block), then BN, ReLU, global pooling and a linear
    layer.  x (B, C, 32, 32) -> logits (B, num_classes)."""

    def __init__(self, stem_width: int, stages: list[tuple[int, int, int]], num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False)
        blocks, ch = [], stem_width
        for width, count, stride in stages:
            for i in range(count):
                blocks.append(_PreActBlock(ch, width, stride if i == 0 else 1))
                ch = width
        self.blocks = nn.Sequential(*blocks)
        self.bn, self.fc = nn.BatchNorm2d(ch), nn.Linear(ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.blocks(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


def WideResNet(depth: int = 28, widen: int = 10, num_classes: int = 10) -> PreActNet:
    """WideResNet-depth-widen (Zagoruyko & Komodakis, 2016): (depth - 4) / 6 blocks in each of three groups
    of width 16k, 32k, 64k after a 16-channel stem."""
    if (depth - 4) % 6:
        raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
    n = (depth - 4) // 6
    return PreActNet(16, [(16 * widen, n, 1), (32 * widen, n, 2), (64 * widen, n, 2)], num_classes)


def preact_resnet18(num_classes: int = 10) -> PreActNet:
    """PreActResNet-18 (He et al., 2016): four stages of two blocks, width 64 to 512."""
    return PreActNet(64, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)], num_classes)



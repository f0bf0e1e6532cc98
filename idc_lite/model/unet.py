"""The pruned U-Net that predicts the bridge objective (our own version of the authors' openaimodel UNet).

Module names follow the official state dict (``time_embed``, ``input_blocks``, ``middle_block``,
``output_blocks``, ``out`` and, inside blocks, ``in_layers`` / ``emb_layers`` / ``out_layers`` /
``skip_connection`` / ``qkv`` / ``proj_out``), so official weights load key for key.
Only the configuration IDC uses is implemented: 2-D images, no conditioning ("nocond"),
legacy attention head order, no spatial transformer.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from idc_lite.foundation.cost_meter import count_flops as count_flops_of


@dataclass
class UNetConfig:
    """U-Net settings, named as in the authors' ``UNetParams``.

    ``attention_resolutions`` are *downsample rates* (1 = full resolution, 2 = half, ...), as the
    official code interprets them.  The official CIFAR configs list (32, 16, 8), which as rates
    never match a level of a two- or three-level U-Net, so only the middle block attends
    (quirk Q3, reproduced because it is what the published weights were trained with).
    """
    image_size: int = 16
    in_channels: int = 1
    model_channels: int = 32
    out_channels: int = 1
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = (2,)
    channel_mult: tuple[int, ...] = (1, 2)
    dropout: float = 0.3  # the official UNetModel default; the IDC configs do not override it
    conv_resample: bool = True
    num_heads: int = 4
    num_head_channels: int = -1
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    extra: dict = field(default_factory=dict, repr=False)  # unknown official keys, kept for the record

    def __post_init__(self):
        self.attention_resolutions = tuple(int(v) for v in self.attention_resolutions)
        self.channel_mult = tuple(int(v) for v in self.channel_mult)
        if self.num_heads == -1 and self.num_head_channels == -1:
            raise ValueError("set num_heads or num_head_channels")
        if self.model_channels % 32:
            raise ValueError(f"model_channels must be a multiple of 32 (GroupNorm with 32 groups), got {self.model_channels}")
        factor = 2 ** (len(self.channel_mult) - 1)
        if self.image_size % factor:
            raise ValueError(f"image_size {self.image_size} must be divisible by {factor} for channel_mult {self.channel_mult}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        d["attention_resolutions"] = list(self.attention_resolutions)
        d["channel_mult"] = list(self.channel_mult)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        """Build from a dict in official key names; keys IDC does not use must hold their only supported value."""
        d = dict(d)
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        unsupported = {"dims": 2, "use_spatial_transformer": False, "context_dim": None, "condition_key": "nocond",
                       "use_new_attention_order": False, "num_classes": None, "use_fp16": False}
        extra = {}
        for key in list(d):
            if key in known:
                continue
            value = d.pop(key)
            if key in unsupported and value != unsupported[key]:
                raise ValueError(f"U-Net option {key}={value!r} is not supported (IDC uses {unsupported[key]!r})")
            if key not in unsupported and key != "use_checkpoint":
                raise ValueError(f"unknown U-Net option {key!r}; known: {sorted(known)}")
            extra[key] = value
        return cls(**d, extra=extra)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (B,) -> (B, dim): [cos(t f), sin(t f)] with f = max_period^(-i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels)


class ResBlock(nn.Module):
    """Residual block with timestep FiLM (scale-shift) conditioning; optionally halves or doubles H, W."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = False, up: bool = False, down: bool = False):
        super().__init__()
        self.out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(group_norm(channels), nn.SiLU(),
                                       nn.Conv2d(channels, self.out_channels, 3, padding=1))
        self.updown = up or down
        self.resample = "up" if up else ("down" if down else None)
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * self.out_channels if use_scale_shift_norm else self.out_channels))
        self.out_layers = nn.Sequential(group_norm(self.out_channels), nn.SiLU(), nn.Dropout(p=dropout),
                                        nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1))
        nn.init.zeros_(self.out_layers[-1].weight)
        nn.init.zeros_(self.out_layers[-1].bias)
        if self.out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, self.out_channels, 1)

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.resample == "down":
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.in_layers[:-1](x)
            h = self.in_layers[-1](self._resample(h))
            x = self._resample(x)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over spatial positions (legacy head order: heads split before q, k, v)."""

    def __init__(self, channels: int, num_heads: int):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"{channels} channels do not split into {num_heads} heads")
        self.num_heads = num_heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        length = qkv.shape[-1]
        ch = c // self.num_heads
        q, k, v = qkv.reshape(b * self.num_heads, ch * 3, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale).softmax(dim=-1)
        h = torch.einsum("bts,bcs->bct", weight, v).reshape(b, -1, length)
        return (x + self.proj_out(h)).reshape(b, c, *spatial)


class Downsample(nn.Module):
    def __init__(self, channels: int, use_conv: bool):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2, 2)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int, use_conv: bool):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class TimestepSequential(nn.Sequential):
    """A sequence of layers; residual blocks also get the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class UNet(nn.Module):
    """U-Net mapping (x_t (B, C, H, W) in about [-1, 1], t (B,) long) -> objective (B, C_out, H, W)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = c = config
        emb_dim = c.model_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(c.model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        rb = dict(emb_channels=emb_dim, dropout=c.dropout, use_scale_shift_norm=c.use_scale_shift_norm)

        def heads(ch: int, default: int) -> int:
            return ch // c.num_head_channels if c.num_head_channels != -1 else default

        up_heads = c.num_heads if c.num_heads_upsample == -1 else c.num_heads_upsample
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(c.in_channels, c.model_channels, 3, padding=1))])
        skip_channels = [c.model_channels]
        ch, ds = c.model_channels, 1
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, out_channels=mult * c.model_channels, **rb)]
                ch = mult * c.model_channels
                if ds in c.attention_resolutions:
                    layers.append(AttentionBlock(ch, heads(ch, c.num_heads)))
                self.input_blocks.append(TimestepSequential(*layers))
                skip_channels.append(ch)
            if level != len(c.channel_mult) - 1:
                down = ResBlock(ch, out_channels=ch, down=True, **rb) if c.resblock_updown else Downsample(ch, c.conv_resample)
                self.input_blocks.append(TimestepSequential(down))
                skip_channels.append(ch)
                ds *= 2
        self.middle_block = TimestepSequential(ResBlock(ch, **rb), AttentionBlock(ch, heads(ch, c.num_heads)), ResBlock(ch, **rb))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(c.channel_mult))[::-1]:
            for i in range(c.num_res_blocks + 1):
                layers = [ResBlock(ch + skip_channels.pop(), out_channels=c.model_channels * mult, **rb)]
                ch = c.model_channels * mult
                if ds in c.attention_resolutions:
                    layers.append(AttentionBlock(ch, heads(ch, up_heads)))
                if level and i == c.num_res_blocks:
                    layers.append(ResBlock(ch, out_channels=ch, up=True, **rb) if c.resblock_updown
                                  else Upsample(ch, c.conv_resample))
                    ds //= 2
                self.output_blocks.append(TimestepSequential(*layers))
        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), nn.Conv2d(c.model_channels, c.out_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def reset_parameters(self, seed: int, official_init: bool = True) -> "UNet":
        """Re-initialise every weight from ``seed`` alone (the global RNG is left as it was):
        PyTorch defaults, zeros for the output convolutions, then optionally the authors' init."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for module in self.modules():
                if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.GroupNorm, nn.Embedding)):
                    module.reset_parameters()
            zeroed = [b.out_layers[-1] for b in self.modules() if isinstance(b, ResBlock)]
            zeroed += [b.proj_out for b in self.modules() if isinstance(b, AttentionBlock)] + [self.out[-1]]
            for conv in zeroed:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
            if official_init:
                official_init_(self)
        return self

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.embed_time(t, x.dtype))

    def embed_time(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The timestep embedding (B,) -> (B, 4 * model_channels) every residual block is given."""
        return self.time_embed(timestep_embedding(t, self.config.model_channels).to(dtype))   # float64 copies too

    def run(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The network on x (B, C, H, W) given the blocks' embedding (B, 4 * model_channels): a subclass
        that conditions on more than the timestep adds its own embedding to it (guided diffusion's way)."""
        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)


def official_init_(model: nn.Module, std: float = 0.02) -> nn.Module:
    """The authors' ``weights_init`` applied after construction: every Conv2d and Linear weight
    ~ N(0, 0.02) (this also overwrites the zero-initialised output convolutions; Conv1d in
    attention keeps its default / zero init, biases keep their defaults)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, std)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_call(model: nn.Module, image_shape: tuple[int, int, int]) -> int:
    """FLOPs of one network call on one image (:func:`idc_lite.foundation.cost_meter.count_flops`: 2 per multiply-add)."""
    param = next(model.parameters())
    x = torch.zeros(1, *image_shape, device=param.device, dtype=param.dtype)
    t = torch.zeros(1, dtype=torch.long, device=param.device)
    return count_flops_of(lambda: model(x, t))



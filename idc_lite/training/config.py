"""How to train: :class:`TrainConfig`, named after the authors' YAML where they have a name."""
from __future__ import annotations

from dataclasses import dataclass, fields

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.validation import check_choice, check_int, check_number


@dataclass
class TrainConfig:
    """How to train (names after the authors' YAML where they have one).

    The official recipe: Adam (lr 1e-4, beta1 0.9), ``accumulate_grad_batches`` 2 with the
    gradients *summed* (not averaged), ReduceLROnPlateau stepped on the last batch loss after
    every optimiser step, EMA with decay 0.995 updated every ``update_ema_interval`` optimiser
    steps, copying the raw weights until ``start_ema_step`` batches.
    """
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-4
    beta1: float = 0.9
    weight_decay: float = 0.0
    accumulate_grad_batches: int = 1
    lr_scheduler: str = "plateau"      # 'plateau' (official auto_lr_scheduler), 'step' (per epoch), 'cosine' or 'none'
    warmup_fraction: float = 0.05      # lr_scheduler='cosine': linear warm-up over this share of the optimiser steps
    plateau_factor: float = 0.5
    plateau_patience: int = 3000
    plateau_threshold: float = 1e-4
    plateau_cooldown: int = 3000
    min_lr: float = 5e-7
    step_size: int = 350               # epochs, for lr_scheduler='step'
    step_gamma: float = 0.5
    use_ema: bool = True
    ema_decay: float = 0.995
    update_ema_interval: int = 8       # optimiser steps between EMA updates
    start_ema_step: int = 30000        # batches before the EMA starts averaging
    augment: str = "none"              # 'none', 'shift' (1-pixel moves) or 'flip_rotate' (authors' CIFAR-100 transform)
    timesteps: str = "uniform"         # 'uniform': t ~ U{0..T-1} (official); 'sampler': only the t the sampler calls (quirk Q8)
    first_step_weight: int = 1         # timesteps='sampler': the sampler's first t (the one call that sees the clean
                                       # input, so where the class is decided) counts this many times in the draw
    official_init: bool = True         # the authors' weights_init: N(0, 0.02) for every Conv2d / Linear weight
    precision: str = "fp32"            # 'fp32' (authors); 'bf16': forward and loss under bfloat16 autocast (weights,
                                       # optimiser and EMA stay float32); 'auto': bf16 where the device has it natively
    seed: int = 0

    def __post_init__(self):
        self.validate()

    def validate(self) -> "TrainConfig":
        """Check every option (also after fields were changed by assignment); raises InputError."""
        for name in ("epochs", "step_size", "update_ema_interval", "start_ema_step", "plateau_patience",
                     "plateau_cooldown", "seed"):
            check_int(getattr(self, name), f"TrainConfig.{name}", 0)
        for name in ("batch_size", "accumulate_grad_batches"):
            check_int(getattr(self, name), f"TrainConfig.{name}", 1)
        check_number(self.lr, "TrainConfig.lr", 0.0, strict_minimum=True)
        check_number(self.min_lr, "TrainConfig.min_lr", 0.0)
        check_number(self.weight_decay, "TrainConfig.weight_decay", 0.0)
        for name in ("beta1", "ema_decay", "plateau_factor", "step_gamma"):
            check_number(getattr(self, name), f"TrainConfig.{name}", 0.0, 1.0)
        check_number(self.plateau_threshold, "TrainConfig.plateau_threshold", 0.0)
        check_choice(self.lr_scheduler, "TrainConfig.lr_scheduler", ("plateau", "step", "cosine", "none"))
        check_number(self.warmup_fraction, "TrainConfig.warmup_fraction", 0.0, 1.0)
        check_choice(self.augment, "TrainConfig.augment", ("none", "shift", "flip_rotate"))
        check_choice(self.timesteps, "TrainConfig.timesteps", ("uniform", "sampler"))
        check_int(self.first_step_weight, "TrainConfig.first_step_weight", 1)
        if self.first_step_weight > 1 and self.timesteps != "sampler":
            raise InputError("TrainConfig.first_step_weight weights the sampler's timesteps: it needs timesteps='sampler', "
                             f"got timesteps={self.timesteps!r}")
        check_choice(self.precision, "TrainConfig.precision", ("fp32", "bf16", "auto"))
        for name in ("use_ema", "official_init"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"TrainConfig.{name} must be True or False, got {getattr(self, name)!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise InputError(f"a training configuration must be a dict, got {type(d).__name__}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(f.name for f in fields(cls))}")
        return cls(**d)



"""Named settings: a model configuration, a training configuration and a dataset.

``digits`` runs on a laptop CPU in minutes; ``cifar10_cpu`` and ``mnist`` share a small U-Net and a
short recipe meant for an hour of a 2-core CPU; ``cifar10`` and ``cifar100`` are the authors' published
settings (Template-IDC-cifar*.yaml), meant for GPUs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from idc_lite.model.config import IDCConfig
from idc_lite.model.unet import UNetConfig
from idc_lite.training.config import TrainConfig


@dataclass
class Preset:
    """A model, a training recipe, a dataset, and the notebook parameters a whole run takes with them.

    ``notebook_parameters``: values for notebooks 01 to 05 (label-image size, attack budgets, evaluation
    sizes, baseline epochs) that ``idc-lite reproduce --preset NAME`` (``make reproduce
    PRESET=NAME``) passes, under anything given with ``-p``."""
    name: str
    dataset: str
    model: IDCConfig
    train: TrainConfig
    note: str = ""
    notebook_parameters: dict = field(default_factory=dict)

    def run_parameters(self) -> dict:
        """The papermill parameters of a whole run with this preset (``preset`` included)."""
        return {"preset": self.name, **self.notebook_parameters}


_DIGITS = Preset(
    name="digits", dataset="digits",
    model=IDCConfig(num_classes=10, unet=UNetConfig(
        image_size=16, in_channels=1, model_channels=32, out_channels=1, num_res_blocks=1,
        attention_resolutions=(2,), channel_mult=(1, 2), dropout=0.0, num_heads=4, num_head_channels=-1,
        use_scale_shift_norm=True, resblock_updown=False)),
    # A short run for a 2-core CPU: lr 5e-4, an EMA that starts early, 1-pixel shifts, only the sampler's
    # timesteps (quirk Q8), bf16 where the CPU has it natively.  Measurements: docs/results.md, CHANGELOG.md.
    train=TrainConfig(epochs=40, batch_size=64, lr=5e-4, accumulate_grad_batches=1, lr_scheduler="none",
                      ema_decay=0.995, update_ema_interval=1, start_ema_step=300, augment="shift",
                      timesteps="sampler", precision="auto", seed=0),
    note="CPU teaching preset: 8x8 digits at 16x16, a 0.76 M-parameter U-Net (attention at half resolution)",
)


def _cpu_unet(image_size: int, channels: int) -> IDCConfig:
    """The CPU presets' U-Net: three levels (e.g. 32, 16, 8) so that the middle block and its attention
    see the whole image at a quarter of its size, plain up/down-sampling, no dropout (about 1.2 M parameters)."""
    return IDCConfig(num_classes=10, unet=UNetConfig(
        image_size=image_size, in_channels=channels, model_channels=32, out_channels=channels, num_res_blocks=1,
        attention_resolutions=(4,), channel_mult=(1, 2, 2), dropout=0.0, num_heads=4, num_head_channels=-1,
        use_scale_shift_norm=True, resblock_updown=False))


def _cpu_recipe(epochs: int, first_step_weight: int = 1) -> TrainConfig:
    """The CPU presets' recipe: Adam at lr 1e-3 with a 5 % warm-up and a cosine decay, batches of 32, EMA from
    step 300, only the sampler's timesteps (quirk Q8), ``first_step_weight`` on its first one, PyTorch's default
    initialisation instead of the authors' N(0, 0.02) (``official_init=False``), bf16 where the CPU has it natively."""
    return TrainConfig(epochs=epochs, batch_size=32, lr=1e-3, lr_scheduler="cosine", warmup_fraction=0.05, min_lr=1e-5,
                       ema_decay=0.995, update_ema_interval=1, start_ema_step=300, augment="none", timesteps="sampler",
                       first_step_weight=first_step_weight, official_init=False, precision="auto", seed=0)


# What the CPU presets' hour allows after training: clean accuracy on the first 1,000 test images (5 draws),
# the attacks on the first 64 (16 for the costlier sanity checks), CNN baselines trained on the first
# 10,000 training images, and no ablation model (it would need a second training).
_CPU_RUN = {"eval_examples": 1000, "num_examples": 64, "sanity_examples": 16, "cnn_epochs": 4,
            "cnn_train_examples": 10_000, "adv_epochs": 2, "ablation": False}


# The main attack budget is chosen by notebook 04: the smallest of the grid at which the same attack takes an
# undefended CNN to at most 5 % (below it no model's number says anything about robustness).  Digit images need
# more than CIFAR's 8/255 for that; 16/255 (digits) and the paper's 8/255 (CIFAR) are reported beside it.
_DIGIT_BUDGETS = {"eps_255": 0.0, "budget_grid_255": "16,24,32,48,64", "secondary_eps_255": 16.0}


_CIFAR_BUDGETS = {"eps_255": 0.0, "budget_grid_255": "8,12,16,24,32", "secondary_eps_255": 8.0}


_MNIST = Preset(
    name="mnist", dataset="mnist", model=_cpu_unet(28, 1), train=_cpu_recipe(epochs=3),
    # MNIST needs a larger budget than CIFAR's 8/255 before an undefended CNN falls: the digits' grid
    note="MNIST at 28x28: the CPU presets' 1.2 M-parameter U-Net, 3 epochs",
    notebook_parameters={"image_size": 28, "channels": 1, "eps_sweep_255": "8,16,32,64,128", **_CPU_RUN,
                         **_DIGIT_BUDGETS},
)


_CIFAR10_CPU = Preset(
    # About an hour on a 2-core CPU: 6 epochs of batches of 32, two thirds of each at the sampler's first step
    # (the one call that sees the clean input).  Why this recipe, with the figures: CHANGELOG.md.
    name="cifar10_cpu", dataset="cifar10", model=_cpu_unet(32, 3), train=_cpu_recipe(epochs=6, first_step_weight=4),
    note="CPU CIFAR-10 preset: a 1.19 M-parameter U-Net at 32x32, 6 epochs of batches of 32, two thirds of each at the "
         "sampler's first step",
    notebook_parameters={"image_size": 32, "channels": 3, "eps_sweep_255": "2,4,8,16,32", **_CPU_RUN, **_CIFAR_BUDGETS},
)


_CIFAR10 = Preset(
    name="cifar10", dataset="cifar10",
    model=IDCConfig(num_classes=10, unet=UNetConfig(
        image_size=32, in_channels=3, model_channels=64, out_channels=3, num_res_blocks=1,
        attention_resolutions=(32, 16, 8), channel_mult=(1, 4), dropout=0.3, num_heads=8, num_head_channels=32,
        use_scale_shift_norm=True, resblock_updown=True)),
    train=TrainConfig(epochs=400, batch_size=64, lr=1e-4, beta1=0.9, accumulate_grad_batches=2, lr_scheduler="plateau",
                      plateau_factor=0.5, plateau_patience=3000, plateau_threshold=1e-4, plateau_cooldown=3000,
                      min_lr=5e-7, ema_decay=0.995, update_ema_interval=8, start_ema_step=30000, augment="none"),
    note="the authors' Template-IDC-cifar10.yaml (GPU)",
    notebook_parameters={"image_size": 32, "channels": 3, "eps_sweep_255": "2,4,8,16,32", **_CIFAR_BUDGETS},
)


_CIFAR100 = Preset(
    name="cifar100", dataset="cifar100",
    model=IDCConfig(num_classes=100, unet=UNetConfig(
        image_size=32, in_channels=3, model_channels=64, out_channels=3, num_res_blocks=1,
        attention_resolutions=(32, 16, 8), channel_mult=(1, 4, 8), dropout=0.3, num_heads=8, num_head_channels=64,
        use_scale_shift_norm=True, resblock_updown=True)),
    # auto_lr_scheduler is False in this YAML: the authors' runner then steps StepLR(500 epochs, 0.5) per epoch
    train=TrainConfig(epochs=600, batch_size=64, lr=1e-4, beta1=0.9, accumulate_grad_batches=2, lr_scheduler="step",
                      step_size=500, step_gamma=0.5, ema_decay=0.995, update_ema_interval=8, start_ema_step=30000,
                      augment="flip_rotate"),
    note="the authors' Template-IDC-cifar100.yaml (GPU; flip + 15 degree rotation augmentation, step learning rate)",
    notebook_parameters={"num_classes": 100, "image_size": 32, "channels": 3, "eps_sweep_255": "2,4,8,16,32",
                         **_CIFAR_BUDGETS},
)


SMOKE_BATCHES = 2   # batches per epoch in smoke mode

PRESETS = {p.name: p for p in (_DIGITS, _MNIST, _CIFAR10_CPU, _CIFAR10, _CIFAR100)}


def get_preset(name: str) -> Preset:
    """A fresh copy of a named preset (safe to modify)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def configure_training(preset: str, *, seed: int = 0, epochs: int = 0, precision: str = "", smoke: bool = False,
                       **ablation) -> tuple[Preset, int | None]:
    """Notebook 02's settings: a fresh copy of ``preset`` with the run's seed, epochs (0: the preset's),
    training arithmetic ('': the preset's; else 'fp32', 'bf16' or 'auto') and ablation knobs
    (``num_timesteps``, ``model_channels``, ``num_res_blocks``, ``cls_loss_weight``, ``eta``: see
    :func:`with_ablation`).  ``smoke``: one epoch of two batches, which proves the code path only.
    Returns (preset, batches per epoch: None for all).  Raises InputError for a value out of range."""
    setup = get_preset(preset)
    setup.train.seed = seed
    if epochs:
        setup.train.epochs = epochs
    if precision:
        setup.train.precision = precision
    setup.train.validate()
    setup.model = with_ablation(setup.model, **ablation)
    if smoke:
        setup.train.epochs = 1
        return setup, SMOKE_BATCHES
    return setup, None


def with_ablation(config: IDCConfig, num_timesteps: int = 0, model_channels: int = 0, num_res_blocks: int = 0,
                  cls_loss_weight: float = -1.0, eta: float = -1.0) -> IDCConfig:
    """``config`` with the paper's ablation knobs changed (notebook 02's parameters, the sweeps' axes).
    0 (or a negative weight / eta) keeps the value of ``config``.  ``num_timesteps`` sets the bridge's T
    and the sampler's steps together (the authors' configurations keep them equal); ``model_channels`` must
    be a multiple of 32 (GroupNorm's 32 groups).  Raises InputError for anything out of range."""
    from dataclasses import replace

    from idc_lite.foundation.errors import InputError
    from idc_lite.foundation.validation import check_int, check_number

    check_int(num_timesteps, "num_timesteps", 0)
    check_int(model_channels, "model_channels", 0)
    check_int(num_res_blocks, "num_res_blocks", 0)
    check_number(cls_loss_weight, "cls_loss_weight")
    check_number(eta, "eta")
    if 0 < num_timesteps < 3:
        raise InputError(f"num_timesteps must be at least 3 (the authors' skip sampler needs 3 steps), got {num_timesteps}")
    if model_channels % 32:
        raise InputError(f"model_channels must be a multiple of 32 (GroupNorm's 32 groups), got {model_channels}")
    widths = {"model_channels": model_channels, "num_res_blocks": num_res_blocks}
    unet = replace(config.unet, **{name: value for name, value in widths.items() if value})
    changes = {"unet": unet}
    if num_timesteps:
        changes.update(num_timesteps=num_timesteps, sample_step=num_timesteps)
    if cls_loss_weight >= 0:
        changes["cls_loss_weight"] = float(cls_loss_weight)
    if eta >= 0:
        changes["eta"] = float(eta)
    return replace(config, **changes)



"""Checkpoints in the authors' format (github.com/hfmei/IDC).

An official checkpoint is a dict with ``model`` (the ``BrownianBridgeModel`` state dict: schedule
buffers and the U-Net under ``denoise_fn.*``) and usually ``ema`` (EMA shadow weights).  It is
read with ``torch.load(weights_only=True)``: no pickled code runs.
"""
from __future__ import annotations

from pathlib import Path

import torch

from idc_lite.foundation.errors import CheckpointError, InputError
from idc_lite.foundation.files import read_torch_file
from idc_lite.foundation.validation import check_choice
from idc_lite.model.classifier import IDCClassifier
from idc_lite.model.config import IDCConfig

UNET_PREFIX = "denoise_fn."


SCHEDULE_KEYS = ("m_t", "m_tminus", "variance_t", "variance_tminus", "variance_t_tminus", "posterior_variance_t")


def official_unet_state(checkpoint: dict, weights: str = "ema") -> dict[str, torch.Tensor]:
    """The U-Net's state dict (keys without ``denoise_fn.``) from an official checkpoint.

    ``weights='ema'`` takes the EMA shadow (what the authors evaluate), ``'model'`` the raw weights.
    """
    check_choice(weights, "weights", ("ema", "model"))
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        keys = list(checkpoint)[:5] if isinstance(checkpoint, dict) else "-"
        raise CheckpointError("not an official IDC checkpoint: expected a dict with a 'model' entry "
                              f"(got {type(checkpoint).__name__} with keys {keys})")
    source = checkpoint.get(weights)
    if source is None:
        raise CheckpointError(f"the checkpoint has no '{weights}' weights; available: "
                              f"{[k for k in ('model', 'ema') if k in checkpoint]}")
    state = {k[len(UNET_PREFIX):]: v for k, v in source.items() if k.startswith(UNET_PREFIX)}
    if not state:
        raise CheckpointError(f"no '{UNET_PREFIX}*' tensors under '{weights}'")
    return state


def load_official_classifier(path: str | Path, config: IDCConfig, weights: str = "ema") -> IDCClassifier:
    """Build an :class:`IDCClassifier` from an official checkpoint (in eval mode).

    Raises :class:`CheckpointError` when the file is unreadable, when a tensor is missing or has
    another shape than ``config`` implies, or when the stored bridge schedule disagrees with it.

    What it cannot check: an official checkpoint does not store its configuration, only tensors.
    A ``config`` that differs from the one the checkpoint was trained with *in ways that leave
    every tensor shape and the stored schedule unchanged* loads without error and gives wrong
    predictions: ``eta``, ``sample_step``/``skip_sample``, ``skip_noop_steps``, ``clip_denoised``,
    ``tau``, ``label_seed``, ``cls_loss_weight``, dropout, or a ``num_classes`` that the U-Net's
    shapes do not reveal.  Take these from the authors' YAML for that checkpoint.
    """
    if not isinstance(config, IDCConfig):
        raise InputError(f"config must be an IDCConfig (e.g. IDCConfig.from_official(...)), got {type(config).__name__}")
    checkpoint = read_torch_file(path)
    model = IDCClassifier(config)
    state = official_unet_state(checkpoint, weights)
    if weights == "ema":
        # The EMA shadow holds parameters only; GroupNorm has no buffers, but keep raw buffers if any.
        for key, value in official_unet_state(checkpoint, "model").items():
            state.setdefault(key, value)
    load_unet_state(model, state, source=str(path))
    for key in SCHEDULE_KEYS:
        stored = checkpoint["model"].get(key)
        if stored is not None:
            ours = model.bridge.schedule[key]
            if stored.shape != ours.shape or not torch.allclose(stored.float(), ours, atol=1e-6):
                raise CheckpointError(f"{path}: the stored schedule '{key}' {stored.tolist()} does not match the "
                                      f"configuration (num_timesteps={config.num_timesteps}, mt_type={config.mt_type!r}, "
                                      f"max_var={config.max_var}) which gives {ours.tolist()}")
    return model.eval()


def load_unet_state(model: IDCClassifier, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load a U-Net state dict, explaining any mismatch against the model's configuration."""
    expected = model.unet.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es), e.g. {wrong[:3]}")
        if missing:
            parts.append(f"{len(missing)} tensor(s) missing, e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
        raise CheckpointError(f"{source} does not fit this U-Net configuration "
                              f"({model.config.unet.to_dict()}): " + "; ".join(parts))
    model.unet.load_state_dict(state, strict=True)



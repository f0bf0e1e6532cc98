"""Denoisers on disk: written atomically as plain tensors plus a JSON description (no pickled code), and
loaded only when made with exactly the settings asked for (:mod:`idc_lite.foundation.reuse`'s rule)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from idc_lite.defences.ddpm import ClassConditionalUNet, DDPMConfig, DDPMSchedule, DenoiserRecipe, train_denoiser
from idc_lite.foundation.errors import CheckpointError
from idc_lite.foundation.files import atomic_save, read_torch_file
from idc_lite.foundation.reuse import Artefact, artefact_for_settings
from idc_lite.model.unet import UNet, UNetConfig
from idc_lite.shipped import artefact_or_shipped

FORMAT = "idc_lite-denoiser-1"


def denoiser_settings_wanted(unet: UNetConfig, ddpm: DDPMConfig, recipe: DenoiserRecipe, num_classes: int | None,
                             data_info: dict) -> dict:
    """What a stored denoiser must have been made with to be reused."""
    return {"unet": unet.to_dict(), "ddpm": asdict(ddpm), "recipe": recipe.to_dict(), "num_classes": num_classes,
            "data": data_info}


def save_denoiser(unet: UNet, path, settings: dict, losses: list[float]) -> Path:
    return atomic_save({"format": FORMAT, "state_dict": unet.state_dict(),
                        "info": json.dumps({**settings, "losses": losses})}, path)


def denoiser_settings(path) -> dict:
    """The settings a denoiser file was written with (its losses left out)."""
    data = read_torch_file(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an idc_lite denoiser file")
    info = json.loads(data["info"])
    info.pop("losses", None)
    return info


def load_denoiser(path) -> UNet:
    """A denoiser written by :func:`save_denoiser`, in eval mode with its weights frozen."""
    data = read_torch_file(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an idc_lite denoiser file")
    info = json.loads(data["info"])
    config = UNetConfig(**info["unet"])
    unet = ClassConditionalUNet(config, info["num_classes"]) if info["num_classes"] else UNet(config)
    try:
        unet.load_state_dict(data["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the denoiser: {err}") from err
    return unet.eval().requires_grad_(False)


def load_or_train_denoiser(path, x: torch.Tensor, unet_config: UNetConfig, ddpm: DDPMConfig, recipe: DenoiserRecipe, *,
                           data_info: dict, labels: torch.Tensor | None = None, num_classes: int | None = None,
                           progress: bool = False) -> tuple[UNet, DDPMSchedule, Artefact]:
    """The denoiser of these settings on x (N, C, H, W) in [0, 1] (class-conditional on ``labels`` when
    ``num_classes`` is given): loaded when ``path`` (or the file of its own beside it) holds one made with
    exactly them, else trained and saved.  Returns (denoiser in eval mode, its schedule, the artefact)."""
    wanted = denoiser_settings_wanted(unet_config, ddpm, recipe, num_classes, data_info)
    file = artefact_for_settings(path, wanted, denoiser_settings)
    file = artefact_or_shipped(file, "denoiser", wanted)
    if progress:
        print(file.note)
    schedule = DDPMSchedule(ddpm)
    if file.exists:
        return load_denoiser(file.path), schedule, file
    unet = ClassConditionalUNet(unet_config, num_classes) if num_classes else UNet(unet_config)
    ema, losses = train_denoiser(unet, schedule, x, recipe, labels=labels if num_classes else None, progress=progress)
    save_denoiser(ema, file.path, wanted, losses)
    return ema, schedule, file

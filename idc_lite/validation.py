"""Input checks with errors that say what was expected (a teaching kit should not guess)."""
from __future__ import annotations

import torch


class InputError(ValueError):
    """An image batch that the classifier cannot take, with the reason in the message."""


def check_images(x: object, channels: int, image_size: int, name: str = "x") -> torch.Tensor:
    """Check a batch of images for the classifier.

    Expected: a floating-point ``torch.Tensor`` (B, channels, image_size, image_size), finite,
    with values in [0, 1].  Returns it unchanged; raises :class:`InputError` otherwise.
    """
    expected = f"(B, {channels}, {image_size}, {image_size})"
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be floating point with values in [0, 1], got dtype {x.dtype} "
                         "(convert uint8 images with x.float() / 255)")
    if x.dim() == 3 and tuple(x.shape) == (channels, image_size, image_size):
        raise InputError(f"{name} is a single image {tuple(x.shape)}; add a batch dimension: {name}.unsqueeze(0)")
    if x.dim() != 4:
        raise InputError(f"{name} must have 4 dimensions {expected}, got shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        hint = " (channels-last? use x.permute(0, 3, 1, 2))" if x.shape[-1] == channels else ""
        raise InputError(f"{name} must have {channels} channel(s) {expected}, got shape {tuple(x.shape)}{hint}")
    if tuple(x.shape[2:]) != (image_size, image_size):
        raise InputError(f"{name} must be {image_size}x{image_size} {expected}, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InputError(f"{name} is an empty batch")
    x_values = x.detach()
    finite = torch.isfinite(x_values)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise InputError(f"{name} contains {bad} NaN or infinite value(s)")
    low, high = float(x_values.min()), float(x_values.max())
    if low < 0.0 or high > 1.0:
        hint = " (looks like [0, 255]: divide by 255)" if high > 1.5 else (
            " (looks like [-1, 1]: use (x + 1) / 2)" if low < -0.5 else "")
        raise InputError(f"{name} must have values in [0, 1], got min {low:.4g}, max {high:.4g}{hint}")
    return x

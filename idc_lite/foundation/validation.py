"""One validation layer for every public entry point: checks with messages that say what was expected
and what was given (a teaching kit should not guess, nor fail deep in torch).  They raise the kit's own
errors (:mod:`idc_lite.foundation.errors`), mostly :class:`~idc_lite.foundation.errors.InputError` (a ``ValueError``).

Dtype policy for images: floating point is required (integer images are refused with the hint to
divide by 255).  float16 and bfloat16 are cast to float32; float32 and float64 are kept, and a
model casts its input to its own dtype (float32 unless it was made ``.double()``).  So every
floating dtype gives the model's answer, never an error from inside torch.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable

import torch

from idc_lite.foundation.errors import InputError


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return f"{text[:60]}{'...' if len(text) > 60 else ''} ({type(value).__name__})"


# ---- images and labels --------------------------------------------------------------------------
def check_images(x: object, channels: int | None = None, image_size: int | None = None, name: str = "x",
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """Check a batch of images; return it as a floating tensor (see the dtype policy above).

    Expected: a floating ``torch.Tensor`` (B, C, H, W) with B >= 1, finite values in [0, 1], and
    C = ``channels``, H = W = ``image_size`` where given.  ``dtype``: cast to it (a model's dtype);
    otherwise half precision becomes float32.  Raises :class:`InputError`.
    """
    expected = f"(B, {channels or 'C'}, {image_size or 'H'}, {image_size or 'W'})"
    if not isinstance(x, torch.Tensor):
        hint = " (convert with torch.as_tensor(...).float())" if hasattr(x, "__array__") or isinstance(x, (list, tuple)) else ""
        raise InputError(f"{name} must be a torch.Tensor of shape {expected}, got {_describe(x)}{hint}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be floating point with values in [0, 1], got dtype {x.dtype} "
                         "(convert uint8 images with x.float() / 255)")
    single = x.dim() == 3 and (channels is None or x.shape[0] == channels)
    if single and (image_size is None or tuple(x.shape[1:]) == (image_size, image_size)):
        raise InputError(f"{name} is a single image {tuple(x.shape)}; add a batch dimension: {name}.unsqueeze(0)")
    if x.dim() != 4:
        raise InputError(f"{name} must have 4 dimensions {expected}, got shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        hint = " (channels-last? use x.permute(0, 3, 1, 2))" if x.shape[-1] == channels else ""
        raise InputError(f"{name} must have {channels} channel(s) {expected}, got shape {tuple(x.shape)}{hint}")
    if image_size is not None and tuple(x.shape[2:]) != (image_size, image_size):
        raise InputError(f"{name} must be {image_size}x{image_size} {expected}, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InputError(f"{name} is an empty batch {tuple(x.shape)}; give at least one image")
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
    if dtype is not None:
        return x.to(dtype)
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def check_noise(noise: object, count: int, shape: tuple[int, ...], name: str = "noise") -> list[torch.Tensor]:
    """Check a sampler's explicit noise draws; return them as a list of ``count`` tensors.

    Expected: a list or tuple of ``count`` floating tensors, or one tensor ``(count, *shape)``, each draw of
    shape ``shape`` (the input's) with finite values (standard Gaussian draws).  Raises :class:`InputError`.
    """
    if isinstance(noise, torch.Tensor):
        if noise.dim() == 0 or noise.shape[0] != count:
            raise InputError(f"{name} as one tensor must be ({count}, {', '.join(map(str, shape))}): one draw per step "
                             f"but the last, got shape {tuple(noise.shape)}")
        noise = list(noise)
    if not isinstance(noise, (list, tuple)):
        raise InputError(f"{name} must be a list of {count} tensors shaped like the input, got {_describe(noise)}")
    if len(noise) != count:
        raise InputError(f"{name} must hold {count} tensors (one per step but the last), got {len(noise)}")
    for i, draw in enumerate(noise):
        if not isinstance(draw, torch.Tensor) or not draw.is_floating_point():
            raise InputError(f"{name}[{i}] must be a floating torch.Tensor of shape {tuple(shape)}, got {_describe(draw)}")
        if tuple(draw.shape) != tuple(shape):
            raise InputError(f"{name}[{i}] must have the input's shape {tuple(shape)}, got {tuple(draw.shape)}")
        finite = torch.isfinite(draw.detach())
        if not bool(finite.all()):
            raise InputError(f"{name}[{i}] contains {int((~finite).sum())} NaN or infinite value(s); "
                             "the sampler's draws must be finite (standard Gaussian)")
    return list(noise)


def check_labels(labels: object, batch: int, num_classes: int | None = None, name: str = "labels") -> torch.Tensor:
    """Check class labels for a batch of ``batch`` images; return them as a long tensor (B,).

    Expected: an integer ``torch.Tensor`` (B,) with values in [0, num_classes) (only >= 0 when
    ``num_classes`` is None).  Float, bool and one-hot labels are refused (they would broadcast or
    index silently).  Raises :class:`InputError`.
    """
    classes = f"[0, {num_classes - 1}]" if num_classes else ">= 0"
    if not isinstance(labels, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of {batch} class indices, got {_describe(labels)}"
                         " (use torch.tensor(..., dtype=torch.long))")
    if labels.dim() == 2 and labels.shape[0] == batch and labels.shape[1] > 1:
        raise InputError(f"{name} look one-hot or per-class {tuple(labels.shape)}; give class indices: {name}.argmax(1)")
    if labels.dim() != 1:
        raise InputError(f"{name} must be 1-D (B,) with B = {batch}, got shape {tuple(labels.shape)}")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise InputError(f"{name} must be integer class indices (torch.long), got dtype {labels.dtype}"
                         + (f"; if they are whole numbers use {name}.long()" if labels.is_floating_point() else ""))
    if labels.shape[0] != batch:
        raise InputError(f"{name} must have one entry per image: {batch} images, got {labels.shape[0]} labels")
    if batch:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or (num_classes is not None and high >= num_classes):
            raise InputError(f"{name} must be class indices in {classes}, got values from {low} to {high}")
    return labels.long()


# ---- numbers and options ------------------------------------------------------------------------
def _real(value: object, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value}")
    return value


def check_number(value: object, name: str, minimum: float | None = None, maximum: float | None = None,
                 strict_minimum: bool = False, hint: str = "") -> float:
    """A finite real number within [minimum, maximum] (``strict_minimum``: > minimum)."""
    v = _real(value, name)
    if minimum is not None and (v <= minimum if strict_minimum else v < minimum):
        raise InputError(f"{name} must be {'>' if strict_minimum else '>='} {minimum:g}, got {v:g}{hint}")
    if maximum is not None and v > maximum:
        raise InputError(f"{name} must be <= {maximum:g}, got {v:g}{hint}")
    return v


def check_eps(eps: object, name: str = "eps", norm: str = "Linf") -> float:
    """A perturbation budget: finite, >= 0, and at most 1 for L-inf on images in [0, 1]."""
    if norm == "Linf":
        return check_number(eps, name, 0.0, 1.0, hint=" (budgets are on the [0, 1] scale: 8/255, not 8)"
                            if isinstance(eps, numbers.Real) and not isinstance(eps, bool) and eps > 1 else "")
    return check_number(eps, name, 0.0)


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """A whole number (``int`` or numpy integer, not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be a whole number, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_fraction(value: object, name: str) -> float:
    """A number strictly between 0 and 1."""
    v = _real(value, name)
    if not 0.0 < v < 1.0:
        raise InputError(f"{name} must be strictly between 0 and 1, got {v:g}")
    return v


def check_choice(value: object, name: str, choices: Iterable) -> object:
    choices = tuple(choices)
    if value not in choices:
        raise InputError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_generator(generator: object, name: str = "generator", optional: bool = False) -> torch.Generator | None:
    """A ``torch.Generator`` (or None when ``optional``)."""
    if generator is None and optional:
        return None
    if not isinstance(generator, torch.Generator):
        hint = f" (use torch.Generator().manual_seed({generator}))" if isinstance(generator, numbers.Integral) else ""
        raise InputError(f"{name} must be a torch.Generator, got {_describe(generator)}{hint}")
    return generator


def check_batch(x: object, labels: object, num_classes: int | None = None, channels: int | None = None,
                image_size: int | None = None, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`check_images` and :func:`check_labels` together, labels moved to the images' device."""
    x = check_images(x, channels, image_size, dtype=dtype)
    labels = check_labels(labels, x.shape[0], num_classes)
    return x, labels.to(x.device)



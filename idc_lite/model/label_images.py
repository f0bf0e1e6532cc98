"""Label images: one fixed, seeded "target image" per class (the t = 0 end of the bridge).

The authors' recipe (``IDC/datasets/custom.py``): seed 0, draw ``randn(K, C*H*W)``, take the
reduced QR of its transpose, reshape each of the K orthonormal columns to an image and min-max
scale that image to [0, 1].  After the per-image min-max the images are no longer orthogonal;
:func:`label_image_diagnostics` measures by how much.
"""
from __future__ import annotations

import torch

from idc_lite.foundation.errors import InputError

SCALINGS = ("per_image", "global")


def make_label_images(num_classes: int, image_shape: tuple[int, int, int], seed: int = 0,
                      scaling: str = "per_image") -> torch.Tensor:
    """Build the official label images.

    Args:
        num_classes: K, at most C*H*W (QR cannot give more orthonormal columns than dimensions).
        image_shape: (C, H, W).
        seed: the authors use 0.
        scaling: 'per_image' (official: each image min-max scaled to exactly [0, 1]) or 'global'
            (one min and one max over all images, for comparison in the explorer).

    Returns:
        float32 tensor (K, C, H, W) in [0, 1].
    """
    if scaling not in SCALINGS:
        raise InputError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    channels, height, width = (int(v) for v in image_shape)
    dims = channels * height * width
    if num_classes < 2:
        raise InputError(f"num_classes must be at least 2, got {num_classes}")
    if num_classes > dims:
        raise InputError(f"cannot build {num_classes} orthogonal label images in {dims} dimensions "
                         f"(image shape {image_shape}); use a larger image")
    # A local generator reproduces torch.manual_seed(seed); torch.randn without touching global RNG.
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(num_classes, dims, generator=generator)
    q, _ = torch.linalg.qr(gaussian.T, mode="reduced")  # (dims, K), orthonormal columns
    columns = q.T.reshape(num_classes, channels, height, width)
    dims_to_scale = (1, 2, 3) if scaling == "per_image" else (0, 1, 2, 3)
    low = columns.amin(dim=dims_to_scale, keepdim=True)
    high = columns.amax(dim=dims_to_scale, keepdim=True)
    return ((columns - low) / (high - low)).contiguous()


def label_image_diagnostics(label_images: torch.Tensor) -> dict[str, torch.Tensor | float]:
    """How far apart the label images are, after the min-max step.

    Returns a dict with ``cosine`` (K, K) pairwise cosine similarity of the flattened images,
    ``mean_abs_distance`` (K, K) pairwise mean absolute distance (the classifier's metric),
    ``cosine_centered`` (K, K) cosine after subtracting each image's mean, and the scalars
    ``max_off_diagonal_cosine`` and ``min_off_diagonal_distance``.
    """
    flat = label_images.flatten(1).double()
    unit = flat / flat.norm(dim=1, keepdim=True)
    cosine = unit @ unit.T
    centered = flat - flat.mean(dim=1, keepdim=True)
    centered = centered / centered.norm(dim=1, keepdim=True)
    cosine_centered = centered @ centered.T
    distance = (flat[:, None, :] - flat[None, :, :]).abs().mean(dim=2)
    off = ~torch.eye(flat.shape[0], dtype=torch.bool)
    return {
        "cosine": cosine.float(),
        "cosine_centered": cosine_centered.float(),
        "mean_abs_distance": distance.float(),
        "max_off_diagonal_cosine": float(cosine[off].max()),
        "max_off_diagonal_cosine_centered": float(cosine_centered[off].abs().max()),
        "min_off_diagonal_distance": float(distance[off].min()),
    }



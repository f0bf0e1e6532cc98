"""Checks for notebook 01's exercises (label images)."""
from __future__ import annotations

from typing import Callable

import torch

from idc_lite.model.label_images import label_image_diagnostics, make_label_images
from idc_lite.teaching.checks.common import as_number, as_tensor, call_answer, close, diagnose, fail, passed


# ---- 01 label images -------------------------------------------------------------------------------
def check_global_minmax(global_minmax: Callable, seed: int = 0, shape: tuple = (5, 1, 4, 4)) -> str:
    """Exercise 01.1: ``global_minmax(columns) -> images`` scales all images with one min and one max."""
    ex = "01.1 global min-max"
    g = torch.Generator().manual_seed(seed)
    columns = torch.randn(shape, generator=g)
    # The global minimum and maximum lie in two different images, and no image spans the global range, so
    # neither a min-max over one image (the first, say) nor one per image coincides with the right answer.
    columns[0] = columns[0] - columns[0].min() + 5.0     # image 0 holds the global maximum only
    columns[-1] = columns[-1] - columns[-1].max() - 5.0  # the last image holds the global minimum only
    original = columns.clone()
    out = call_answer(ex, global_minmax, columns)
    if not torch.equal(columns, original):
        fail(ex, "your function changed its input in place; return a new tensor")
    out = as_tensor(ex, "the result", out, shape)
    c = original.double()
    expected = (c - c.min()) / (c.max() - c.min())
    if close(out, expected, 1e-6):
        return passed(ex, f"one min-max over all {shape[0]} images")
    low, high = c.amin(dim=tuple(range(1, c.dim())), keepdim=True), c.amax(dim=tuple(range(1, c.dim())), keepdim=True)
    per_image = (c - low) / (high - low)
    lo, hi = float(out.min()), float(out.max())
    hint = (f"the smallest value over all images should become 0 and the largest 1; yours span [{lo:.3g}, {hi:.3g}]"
            if abs(lo) > 1e-6 or abs(hi - 1) > 1e-6 else
            "subtract the global minimum from every pixel, then divide by (global maximum - global minimum)")
    diagnose(ex, out, [(per_image, "this is the per-image min-max (each image spans [0, 1] on its own); use one "
                                    "minimum and one maximum over all images together")], 1e-6, hint)


def check_label_image_distances(min_distance_10, min_distance_100) -> str:
    """Exercise 01.2: the smallest mean absolute distance between two different label images, for the
    digits default (10 classes, 1x16x16) and at CIFAR-100 size (100 classes, 3x32x32), seed 0."""
    ex = "01.2 distances between label images"
    answers = {"min_distance_10": as_number(ex, "min_distance_10", min_distance_10),
               "min_distance_100": as_number(ex, "min_distance_100", min_distance_100)}
    settings = {"min_distance_10": (10, (1, 16, 16)), "min_distance_100": (100, (3, 32, 32))}
    for name, (k, shape) in settings.items():
        value = answers[name]
        reference = label_image_diagnostics(make_label_images(k, shape))["min_off_diagonal_distance"]
        if abs(value - reference) <= 1e-5:
            continue
        if value == 0.0:
            fail(ex, f"{name} is 0: that is the distance of an image to itself; leave out the diagonal")
        if k == 100 and abs(value - label_image_diagnostics(make_label_images(10, shape))["min_off_diagonal_distance"]) <= 1e-5:
            fail(ex, f"{name} is the value for 10 classes at CIFAR size; the exercise asks for 100 classes")
        fail(ex, f"{name} = {value:.4g} is not the smallest mean absolute distance between two different label "
                  f"images for {k} classes of shape {shape} (seed 0): build them with make_label_images and "
                  "measure |a - b| averaged over pixels for every pair")
    return passed(ex, "both smallest distances")



"""A command that checks the kit against reference outputs of the authors' code.

Command line::

    idc-lite verify CHECKPOINT REFERENCE_JSON REFERENCE_NPZ [--weights ema|model]

Exit status: 0 every check within tolerance, 1 some check failed, 2 a file is missing or is not
a usable checkpoint, 3 a reference file is malformed (the message names the file and key).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from idc_lite.authors.checkpoint import load_official_classifier
from idc_lite.foundation.errors import MalformedReferenceError
from idc_lite.model.classifier import to_image_scale, to_model_scale
from idc_lite.model.config import IDCConfig
from idc_lite.model.label_images import make_label_images
from idc_lite.model.losses import idc_loss
from idc_lite.model.unet import count_parameters

EXIT_OK, EXIT_CHECKS_FAILED, EXIT_BAD_FILE, EXIT_MALFORMED_REFERENCE = 0, 1, 2, 3
REFERENCE_KEYS = ("config", "loss", "recloss", "simloss", "n_params", "n_noise_draws")


REFERENCE_ARRAYS = ("prototypes", "m_t", "variance_t", "steps", "denoiser_in", "denoiser_t", "denoiser_out", "loss_x0",
                    "loss_y", "loss_t", "loss_noise", "loss_labels", "sample_noise", "sample_input", "sample_trajectory",
                    "sample_x0_predictions", "sample_distances", "sample_predictions")


# ---- verification against reference outputs of the authors' code --------------------------
@dataclass
class Check:
    name: str
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.tolerance


def _diff(ours, reference) -> float:
    ours = np.asarray(ours.detach().cpu() if isinstance(ours, torch.Tensor) else ours, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if ours.shape != reference.shape:
        return float("inf")
    return float(np.abs(ours - reference).max()) if ours.size else 0.0


def read_reference(reference_json: str | Path, reference_npz: str | Path) -> tuple[dict, dict]:
    """The fixture's JSON and arrays, with every key :func:`verify` reads present, else
    :class:`MalformedReferenceError` naming the file and key."""
    try:
        ref = json.loads(Path(reference_json).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedReferenceError(f"{reference_json}: not valid JSON ({err})") from None
    if not isinstance(ref, dict):
        raise MalformedReferenceError(f"{reference_json}: expected a JSON object, got {type(ref).__name__}")
    for key in REFERENCE_KEYS:
        if key not in ref:
            raise MalformedReferenceError(f"{reference_json}: missing key {key!r}")
    try:
        with np.load(reference_npz) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as err:   # not a zip, truncated, or pickled objects (refused)
        raise MalformedReferenceError(f"{reference_npz}: not a readable .npz ({type(err).__name__}: {err})") from None
    for key in REFERENCE_ARRAYS:
        if key not in arrays:
            raise MalformedReferenceError(f"{reference_npz}: missing array {key!r}")
    return ref, arrays


def verify(checkpoint_path: str | Path, reference_json: str | Path, reference_npz: str | Path,
           weights: str = "ema") -> list[Check]:
    """Recompute every array and scalar of a reference fixture; return one :class:`Check` each.

    Tolerances (from the fixture's README): 1e-6 for schedule and label images, 1e-4 for
    network outputs, losses and trajectories, exact for integers.
    """
    ref, arrays = read_reference(reference_json, reference_npz)
    try:
        config = IDCConfig.from_official(ref["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise MalformedReferenceError(f"{reference_json}: key 'config' is not a usable configuration "
                                      f"({type(err).__name__}: {err})") from None
    model = load_official_classifier(checkpoint_path, config, weights)
    t = lambda name: torch.from_numpy(arrays[name])  # noqa: E731
    checks: list[Check] = []

    def add(name, ours, reference, tol):
        checks.append(Check(name, _diff(ours, reference), tol))

    label_images = make_label_images(config.num_classes, config.image_shape, config.label_seed)
    add("prototypes", label_images, arrays["prototypes"], 1e-6)
    add("m_t", model.bridge.m_t, arrays["m_t"], 1e-6)
    add("variance_t", model.bridge.variance_t, arrays["variance_t"], 1e-6)
    add("steps", torch.tensor(model.bridge.steps), arrays["steps"], 0)
    with torch.no_grad():
        add("denoiser_out", model.denoise(t("denoiser_in"), t("denoiser_t")), arrays["denoiser_out"], 1e-4)
        terms = idc_loss(model.bridge, model.denoise, to_model_scale(t("loss_x0")), to_model_scale(t("loss_y")),
                         t("loss_t"), t("loss_noise"), t("loss_labels"), to_model_scale(label_images),
                         config.cls_loss_weight, config.loss_type)
        for name in ("loss", "recloss", "simloss"):
            add(name, getattr(terms, name).reshape(()), np.float64(ref[name]), 1e-4)
        noise = list(t("sample_noise"))
        result = model.sample(t("sample_input"), noise=noise, return_trajectory=True)
        add("sample_trajectory", torch.stack(result.trajectory), arrays["sample_trajectory"], 1e-4)
        add("sample_x0_predictions", torch.stack(result.x0_predictions), arrays["sample_x0_predictions"], 1e-4)
        distances = model.distances_to_label_images(to_image_scale(result.x0))
        add("sample_distances", distances, arrays["sample_distances"], 1e-4)
        add("sample_predictions", distances.argmin(dim=1), arrays["sample_predictions"], 0)
    add("n_params", count_parameters(model.unet), ref["n_params"], 0)
    add("n_noise_draws", model.bridge.num_noise_draws, ref["n_noise_draws"], 0)
    return checks

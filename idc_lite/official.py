"""Checkpoints in the authors' format, and a command that checks the kit against their outputs.

An official checkpoint is a dict with ``model`` (the ``BrownianBridgeModel`` state dict: schedule
buffers and the U-Net under ``denoise_fn.*``) and usually ``ema`` (EMA shadow weights).  It is
read with ``torch.load(weights_only=True)``: no pickled code runs.

Command line::

    python -m idc_lite.official verify CHECKPOINT REFERENCE_JSON REFERENCE_NPZ [--weights ema|model]

Exit status: 0 every check within tolerance, 1 some check failed, 2 a file is missing or is not
a usable checkpoint, 3 a reference file is malformed (the message names the file and key).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoints import CheckpointError, read_torch_file
from .classifier import IDCClassifier, to_image_scale, to_model_scale
from .config import IDCConfig
from .label_images import make_label_images
from .losses import idc_loss
from .unet import count_parameters
from .validation import InputError, KitError, check_choice

EXIT_OK, EXIT_CHECKS_FAILED, EXIT_BAD_FILE, EXIT_MALFORMED_REFERENCE = 0, 1, 2, 3
REFERENCE_KEYS = ("config", "loss", "recloss", "simloss", "n_params", "n_noise_draws")
REFERENCE_ARRAYS = ("prototypes", "m_t", "variance_t", "steps", "denoiser_in", "denoiser_t", "denoiser_out", "loss_x0",
                    "loss_y", "loss_t", "loss_noise", "loss_labels", "sample_noise", "sample_input", "sample_trajectory",
                    "sample_x0_predictions", "sample_distances", "sample_predictions")


class MalformedReferenceError(KitError, ValueError):
    """A reference file of the fixture that cannot be read, or lacks a key."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idc_lite.official",
                                     description="Check idc_lite against reference outputs of the authors' code.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="recompute a fixture's arrays and compare")
    v.add_argument("checkpoint")
    v.add_argument("reference_json")
    v.add_argument("reference_npz")
    v.add_argument("--weights", choices=["ema", "model"], default="ema",
                   help="which weights of the checkpoint to load (the fixtures use ema)")
    args = parser.parse_args(argv)
    for path in (args.checkpoint, args.reference_json, args.reference_npz):
        if not Path(path).is_file():
            print(f"error: no such file: {path}", file=sys.stderr)
            return EXIT_BAD_FILE
    try:
        checks = verify(args.checkpoint, args.reference_json, args.reference_npz, args.weights)
    except MalformedReferenceError as err:
        print(f"error: malformed reference: {err}", file=sys.stderr)
        return EXIT_MALFORMED_REFERENCE
    except (CheckpointError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_FILE
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:<{width}}  max |diff| = {c.max_abs_diff:.3e}  (tolerance {c.tolerance:g})")
    failed = [c.name for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks within tolerance" + (f"; failed: {failed}" if failed else ""))
    return EXIT_CHECKS_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

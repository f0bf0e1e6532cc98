"""The verify command must work for any configuration of the official format, not only the shipped one.

Here the reference files are written by the kit itself from a checkpoint in the official layout
(``model`` with schedule buffers and ``denoise_fn.*``, ``ema``), so this tests the command's
generality (shapes, channels, levels, attention, timesteps, sample steps), not fidelity: that is
test_fidelity.py's job.
"""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from idc_lite.model.classifier import IDCClassifier, to_image_scale, to_model_scale
from idc_lite.model.config import IDCConfig
from idc_lite.model.label_images import make_label_images
from idc_lite.model.losses import idc_loss
from idc_lite.model.unet import count_parameters, official_init_

CASES = [
    {"num_classes": 5, "num_timesteps": 6, "sample_step": 5, "mt_type": "sin",
     "unet": {"image_size": 8, "in_channels": 3, "model_channels": 32, "out_channels": 3, "num_res_blocks": 2,
              "attention_resolutions": [1, 4], "channel_mult": [1, 2, 2], "num_heads": 2, "num_head_channels": -1,
              "use_scale_shift_norm": False, "resblock_updown": False, "conv_resample": True}},
    {"num_classes": 3, "num_timesteps": 4, "sample_step": 4, "objective": "noise",
     "unet": {"image_size": 12, "in_channels": 1, "model_channels": 32, "out_channels": 1, "num_res_blocks": 1,
              "attention_resolutions": [], "channel_mult": [1, 2], "num_heads": 4, "num_head_channels": 8}},
]


def _write_official_fixture(tmp_path, official_cfg, seed=0):
    cfg = IDCConfig.from_official(official_cfg)
    torch.manual_seed(seed)
    model = IDCClassifier(cfg)
    official_init_(model.unet)
    raw = {f"denoise_fn.{k}": v.clone() for k, v in model.unet.state_dict().items()}
    ema = {k: v + 0.01 for k, v in raw.items()}
    buffers = dict(model.bridge.schedule)
    torch.save({"step": 1, "epoch": 1, "model": {**buffers, **raw}, "ema": ema}, tmp_path / "ckpt.pth")
    model.unet.load_state_dict({k[len("denoise_fn."):]: v for k, v in ema.items()})
    model.eval()
    g = torch.Generator().manual_seed(seed)
    shape = (4, *cfg.image_shape)
    protos = make_label_images(cfg.num_classes, cfg.image_shape)
    labels = torch.arange(4) % cfg.num_classes
    arrays = {"prototypes": protos, "m_t": model.bridge.m_t, "variance_t": model.bridge.variance_t,
              "steps": torch.tensor(model.bridge.steps), "denoiser_in": torch.rand(shape, generator=g) * 2 - 1,
              "denoiser_t": torch.arange(4) % cfg.num_timesteps, "loss_x0": protos[labels],
              "loss_y": torch.rand(shape, generator=g),
              "loss_t": torch.arange(4) % cfg.num_timesteps, "loss_noise": torch.randn(shape, generator=g),
              "loss_labels": labels, "sample_input": torch.rand(shape, generator=g)}
    arrays["sample_noise"] = torch.randn(model.bridge.num_noise_draws, *shape, generator=g)
    with torch.no_grad():
        arrays["denoiser_out"] = model.denoise(arrays["denoiser_in"], arrays["denoiser_t"])
        terms = idc_loss(model.bridge, model.denoise, to_model_scale(arrays["loss_x0"]), to_model_scale(arrays["loss_y"]),
                         arrays["loss_t"], arrays["loss_noise"], labels, to_model_scale(protos))
        res = model.sample(arrays["sample_input"], noise=list(arrays["sample_noise"]), return_trajectory=True)
    arrays["sample_trajectory"] = torch.stack(res.trajectory)
    arrays["sample_x0_predictions"] = torch.stack(res.x0_predictions)
    arrays["sample_distances"] = model.distances_to_label_images(to_image_scale(res.x0))
    arrays["sample_predictions"] = arrays["sample_distances"].argmin(1)
    np.savez(tmp_path / "ref.npz", **{k: v.numpy() for k, v in arrays.items()})
    (tmp_path / "ref.json").write_text(json.dumps({
        "config": official_cfg, "loss": float(terms.loss), "recloss": float(terms.recloss), "simloss": float(terms.simloss),
        "n_params": count_parameters(model.unet), "n_noise_draws": model.bridge.num_noise_draws}))
    return [str(tmp_path / n) for n in ("ckpt.pth", "ref.json", "ref.npz")]


@pytest.mark.slow  # the verify command per configuration
@pytest.mark.parametrize("official_cfg", CASES, ids=["3ch-3level-sin-T6", "12px-noise-objective"])
def test_verify_handles_other_configurations(official_cfg, tmp_path):
    paths = _write_official_fixture(tmp_path, official_cfg)
    run = subprocess.run([sys.executable, "-m", "idc_lite", "verify", *paths], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAIL" not in run.stdout

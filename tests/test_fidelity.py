"""Fidelity against reference outputs of the authors' code (the shipped fixture)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from idc_lite.checkpoints import CheckpointError
from idc_lite.config import IDCConfig
from idc_lite.official import load_official_classifier, official_unet_state, verify


def _paths(root):
    return root / "small_official_ckpt.pth", root / "small_reference.json", root / "small_reference.npz"


def test_every_reference_array_within_tolerance(official_fixture):
    checks = verify(*_paths(official_fixture))
    names = {c.name for c in checks}
    assert {"prototypes", "m_t", "variance_t", "steps", "denoiser_out", "loss", "recloss", "simloss",
            "sample_trajectory", "sample_x0_predictions", "sample_distances", "sample_predictions",
            "n_params", "n_noise_draws"} <= names
    bad = [(c.name, c.max_abs_diff) for c in checks if not c.ok]
    assert not bad, bad


def test_verify_cli_exit_codes(official_fixture, tmp_path):
    ckpt, ref_json, ref_npz = _paths(official_fixture)
    ok = subprocess.run([sys.executable, "-m", "idc_lite.official", "verify", str(ckpt), str(ref_json), str(ref_npz)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "14 of 14 checks within tolerance" in ok.stdout
    # A reference that disagrees by more than its tolerance must fail, naming the array.
    arrays = dict(np.load(ref_npz))
    arrays["denoiser_out"] = arrays["denoiser_out"] + 1e-3
    bad_npz = tmp_path / "bad.npz"
    np.savez(bad_npz, **arrays)
    bad = subprocess.run([sys.executable, "-m", "idc_lite.official", "verify", str(ckpt), str(ref_json), str(bad_npz)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL denoiser_out" in bad.stdout
    # The raw weights are deliberately different from the EMA ones the references were made with.
    raw = subprocess.run([sys.executable, "-m", "idc_lite.official", "verify", str(ckpt), str(ref_json), str(ref_npz),
                          "--weights", "model"], capture_output=True, text=True)
    assert raw.returncode == 1
    missing = subprocess.run([sys.executable, "-m", "idc_lite.official", "verify", str(tmp_path / "nope.pth"),
                              str(ref_json), str(ref_npz)], capture_output=True, text=True)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_mismatched_configuration_is_explained(official_fixture):
    ckpt, ref_json, _ = _paths(official_fixture)
    official = json.loads(ref_json.read_text())["config"]
    official["unet"]["model_channels"] = 64
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_official_classifier(ckpt, IDCConfig.from_official(official))
    official = json.loads(ref_json.read_text())["config"]
    official["num_timesteps"] = 6
    official["sample_step"] = 5
    with pytest.raises(CheckpointError, match="schedule"):
        load_official_classifier(ckpt, IDCConfig.from_official(official))


def test_raw_and_ema_weights_both_load(official_fixture):
    ckpt, ref_json, _ = _paths(official_fixture)
    cfg = IDCConfig.from_official(json.loads(ref_json.read_text())["config"])
    ema = load_official_classifier(ckpt, cfg, "ema")
    raw = load_official_classifier(ckpt, cfg, "model")
    assert not torch.equal(ema.unet.out[2].weight, raw.unet.out[2].weight)
    with pytest.raises(CheckpointError, match="no 'ema' weights|'model' entry"):
        official_unet_state({"model": {}}, "ema")


def test_corrupt_official_checkpoint(official_fixture, tmp_path):
    ckpt, ref_json, ref_npz = _paths(official_fixture)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(ckpt.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cannot read"):
        verify(broken, ref_json, ref_npz)

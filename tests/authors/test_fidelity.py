"""Fidelity against reference outputs of the authors' code (the shipped fixture)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from idc_lite.authors.checkpoint import load_official_classifier, official_unet_state
from idc_lite.authors.verify import verify
from idc_lite.foundation.errors import CheckpointError
from idc_lite.model.config import IDCConfig


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


@pytest.mark.slow  # four runs of the verify command
def test_verify_cli_exit_codes(official_fixture, tmp_path):
    ckpt, ref_json, ref_npz = _paths(official_fixture)
    ok = subprocess.run([sys.executable, "-m", "idc_lite", "verify", str(ckpt), str(ref_json), str(ref_npz)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "14 of 14 checks within tolerance" in ok.stdout
    # A reference that disagrees by more than its tolerance must fail, naming the array.
    arrays = dict(np.load(ref_npz))
    arrays["denoiser_out"] = arrays["denoiser_out"] + 1e-3
    bad_npz = tmp_path / "bad.npz"
    np.savez(bad_npz, **arrays)
    bad = subprocess.run([sys.executable, "-m", "idc_lite", "verify", str(ckpt), str(ref_json), str(bad_npz)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL denoiser_out" in bad.stdout
    # The raw weights are deliberately different from the EMA ones the references were made with.
    raw = subprocess.run([sys.executable, "-m", "idc_lite", "verify", str(ckpt), str(ref_json), str(ref_npz),
                          "--weights", "model"], capture_output=True, text=True)
    assert raw.returncode == 1
    missing = subprocess.run([sys.executable, "-m", "idc_lite", "verify", str(tmp_path / "nope.pth"),
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


@pytest.mark.slow  # converts and evaluates the fixture
def test_model_path_accepts_the_authors_checkpoint_and_evaluates_it_like_theirs(official_fixture, tmp_path):
    """Notebook 02's model_path with a checkpoint of the authors' code: prepare_trainer converts it to
    a kit checkpoint that notebooks 03 to 05 load, with the same predictions as the authors' weights."""
    from idc_lite.data.datasets import load_dataset
    from idc_lite.foundation.errors import SettingsMismatchError
    from idc_lite.training.checkpoint import checkpoint_record, load_checkpoint_data, load_classifier
    from idc_lite.training.config import TrainConfig
    from idc_lite.training.load_or_train import prepare_trainer

    ckpt, ref_json, _ = _paths(official_fixture)
    config = IDCConfig.from_official(json.loads(ref_json.read_text())["config"])
    data = load_dataset("digits")                       # 16x16 greyscale, 10 classes: fits the fixture's network
    run = tmp_path / "run" / "model.pt"
    run.parent.mkdir()
    trainer, note = prepare_trainer(run, config, TrainConfig(epochs=50), data, model_file=ckpt)
    assert "authors' checkpoint" in note and trainer.train(progress=False) == []        # no training on top
    official = torch.load(ckpt, weights_only=True)
    record = checkpoint_record(run)
    assert record["imported_from"]["file"] == ckpt.name and record["epoch"] == int(official["epoch"])
    x = data.x_test[:16]
    noise = [torch.randn(16, 1, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    for weights, theirs in (("ema", "ema"), ("raw", "model")):
        ours_model = load_classifier(run, weights=weights)
        reference = load_official_classifier(ckpt, config, weights=theirs)
        assert torch.allclose(ours_model(x, noise=noise), reference(x, noise=noise), atol=1e-5)
    assert not torch.equal(load_classifier(run, weights="ema").unet.out[-1].weight,
                           load_classifier(run, weights="raw").unet.out[-1].weight)   # the two sets stay apart
    assert load_checkpoint_data(run).info == data.info
    again, _ = prepare_trainer(run, config, TrainConfig(epochs=50), data, model_file=ckpt)   # a rerun reuses it
    assert again.imported_from["sha256"] == record["imported_from"]["sha256"]

    other = tmp_path / "other.pth"                      # another authors' checkpoint into the same run: refused
    torch.save({**official, "ema": official["model"]}, other)
    with pytest.raises(SettingsMismatchError, match="already holds another model"):
        prepare_trainer(run, config, TrainConfig(), data, model_file=other)
    wrong = IDCConfig.from_official({**json.loads(ref_json.read_text())["config"],
                                     "unet": {**json.loads(ref_json.read_text())["config"]["unet"], "model_channels": 64}})
    with pytest.raises(CheckpointError, match="does not fit this U-Net configuration"):
        prepare_trainer(tmp_path / "wrong.pt", wrong, TrainConfig(), data, model_file=ckpt)
    assert not (tmp_path / "wrong.pt").exists()          # nothing written for a mismatched configuration

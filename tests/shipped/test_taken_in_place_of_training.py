"""A run without its own model takes the shipped one made with exactly the settings asked for, instead of
training; other settings, a model already in the run, or IDC_LITE_SHIPPED_MODELS=0 (make reproduce) train."""
import json
from dataclasses import replace

import pytest
import torch

from idc_lite.comparisons.baselines import load_or_train_cnn
from idc_lite.data.datasets import load_digits
from idc_lite.defences.ddpm import DDPMConfig, DenoiserRecipe
from idc_lite.defences.store import load_or_train_denoiser
from idc_lite.evaluation.attacks import PGDSettings
from idc_lite.foundation.files import file_sha256
from idc_lite.foundation.runtime import SHIPPED_ENV, environment
from idc_lite.model.unet import UNetConfig
from idc_lite.shipped import reference_file, reference_record, shipped_with_settings
from idc_lite.training.checkpoint import checkpoint_record, load_classifier
from idc_lite.training.load_or_train import prepare_trainer
from idc_lite.training.presets import get_preset


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_notebook_02s_defaults_take_the_shipped_idc_and_read_as_a_model_trained_here(tmp_path, digits):
    preset = get_preset("digits")
    trainer, note = prepare_trainer(tmp_path / "model.pt", preset.model, preset.train, digits)
    assert "the kit ships a model trained with exactly these settings ('idc'" in note and "make reproduce" in note
    assert trainer.epoch == preset.train.epochs
    trainer.train(checkpoint_path=tmp_path / "model.pt", progress=False)          # trains nothing further
    assert trainer.epoch == preset.train.epochs
    record = checkpoint_record(tmp_path / "model.pt")
    assert record["imported_from"]["name"] == "idc" and record["imported_from"]["sha256"] == reference_record("idc")["sha256"]
    shipped, here = load_classifier(reference_file("idc")), load_classifier(tmp_path / "model.pt")
    x = digits.x_test[:32]
    with torch.no_grad():
        assert torch.equal(shipped(x, generator=torch.Generator().manual_seed(1)),
                           here(x, generator=torch.Generator().manual_seed(1)))


def test_other_settings_or_a_reproduction_train_their_own(tmp_path, digits):
    preset = get_preset("digits")
    _, note = prepare_trainer(tmp_path / "a.pt", preset.model, replace(preset.train, seed=1), digits)
    assert note.startswith("training from scratch")
    with environment(**{SHIPPED_ENV: "0"}):
        assert shipped_with_settings("cnn", reference_record("cnn")["settings"]) is None
        _, note = prepare_trainer(tmp_path / "b.pt", preset.model, preset.train, digits)
    assert note.startswith("training from scratch")
    assert shipped_with_settings("cnn", reference_record("cnn")["settings"]) == "cnn"


def test_cnns_and_denoisers_are_copied_in_when_their_settings_match(tmp_path, digits):
    for name in ("cnn", "adv_cnn"):
        settings = reference_record(name)["settings"]
        adversarial = PGDSettings(**settings["adversarial"]) if settings["adversarial"] else None
        _, file = load_or_train_cnn(tmp_path / f"{name}.pt", digits, epochs=settings["epochs"], seed=0, adversarial=adversarial)
        assert file.exists and f"({name!r}" in file.note and file_sha256(file.path) == reference_record(name)["sha256"]
    for name in ("ddpm", "ddpm_class_conditional"):
        s = reference_record(name)["settings"]
        unet, _, file = load_or_train_denoiser(
            tmp_path / f"{name}.pt", digits.x_train, UNetConfig(**s["unet"]), DDPMConfig(**s["ddpm"]),
            DenoiserRecipe(**s["recipe"]), data_info=digits.info, labels=digits.y_train, num_classes=s["num_classes"])
        assert file.exists and f"({name!r}" in file.note and not unet.training
    kept = tmp_path / "cnn.pt"                     # a model already in the run is the run's own: never replaced
    stamp = json.dumps(kept.stat().st_mtime_ns)
    _, again = load_or_train_cnn(kept, digits, epochs=reference_record("cnn")["settings"]["epochs"], seed=0)
    assert "made with the same settings, loading it" in again.note and json.dumps(kept.stat().st_mtime_ns) == stamp

"""The reference models shipped in the package: files as the catalogue says (hash, size, dtype), made with
the digits default's settings, loadable by name, and as accurate as their records say."""
import re
import shutil

import pytest
import torch

from idc_lite.comparisons import load_reference
from idc_lite.comparisons.baselines import SmallCNN
from idc_lite.comparisons.reference_models import measured_clean_accuracy
from idc_lite.data.datasets import load_digits
from idc_lite.foundation.errors import CheckpointError, InputError
from idc_lite.foundation.files import file_sha256, read_torch_file
from idc_lite.foundation.reuse import settings_differences
from idc_lite.model.classifier import IDCClassifier
from idc_lite.model.unet import UNet
from idc_lite.shipped import MAX_TOTAL_BYTES, catalogue, reference_file, reference_names, reference_record
from idc_lite.shipped.catalogue import FILES
from idc_lite.training.load_or_train import training_settings
from idc_lite.training.presets import get_preset

EXPECTED = {"idc": "idc", "idc_no_interclass": "idc", "cnn": "cnn", "adv_cnn": "cnn", "ddpm": "denoiser",
            "ddpm_class_conditional": "denoiser"}


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _weights(path, kind) -> dict:
    state = read_torch_file(path)
    return state["unet"] if kind == "idc" else state["state_dict"]


def test_the_files_are_the_catalogues_and_small():
    shipped = catalogue()
    assert {name: r["kind"] for name, r in shipped["models"].items()} == EXPECTED
    assert re.fullmatch(r"[0-9a-f]{40}", shipped["source"]["commit"]) and shipped["source"]["preset"] == "digits"
    total = 0
    for name, record in shipped["models"].items():
        path = FILES / record["file"]
        assert file_sha256(path) == record["sha256"] and path.stat().st_size == record["bytes"], name
        assert record["bytes"] < 5 * 1024 * 1024, name                     # the kit's limit for one tracked file
        dtypes = {v.dtype for v in _weights(path, record["kind"]).values() if v.is_floating_point()}
        assert dtypes == {getattr(torch, record["stored_dtype"])}, name
        total += record["bytes"]
    assert total == shipped["total_bytes"] <= MAX_TOTAL_BYTES


def test_each_record_states_its_seed_robustness_and_clean_accuracy_with_intervals():
    for name, record in catalogue()["models"].items():
        assert record["seed"] == 0, name
        assert {"adaptive@16", "adaptive@48"} <= set(record["robustness"]), name
        for result in record["robustness"].values():
            interval = result["interval"]
            assert interval["low"] <= result["worst_case_accuracy"] <= interval["high"] and result["examples"] > 0
        if record["kind"] != "denoiser":
            clean = record["clean_accuracy"]
            assert clean["n"] == 359 and clean["low"] <= clean["value"] <= clean["high"], name
        else:
            assert 0 < record["largest_output_change_from_float16"] < 1e-3, name


def test_idc_was_made_with_the_digits_defaults_so_a_notebook_at_its_defaults_may_take_it(digits):
    preset = get_preset("digits")
    wanted = training_settings(preset.model, preset.train, digits)
    assert settings_differences(reference_record("idc")["settings"], wanted) == []
    ablation = reference_record("idc_no_interclass")["settings"]
    assert [d.split(":")[0] for d in settings_differences(ablation, wanted)] == ["config.cls_loss_weight"]


def test_models_load_by_name_and_score_as_recorded(digits):
    models = {name: load_reference(name) for name in reference_names()}
    assert isinstance(models["idc"], IDCClassifier) and isinstance(models["cnn"], SmallCNN)
    assert isinstance(models["ddpm"], UNet) and models["ddpm_class_conditional"].num_classes == 10
    for name in ("cnn", "adv_cnn"):          # deterministic: the recorded accuracy, give or take one image
        measured = measured_clean_accuracy(models[name], "cnn", digits)["value"]
        assert abs(measured - reference_record(name)["clean_accuracy"]["value"]) <= 1.5 / 359, name
    for name in ("idc", "idc_no_interclass"):    # random: one draw over the split lands in the recorded interval
        with torch.no_grad():
            predicted = models[name](digits.x_test, generator=torch.Generator().manual_seed(11)).argmax(1)
        accuracy = (predicted == digits.y_test).float().mean().item()
        clean = reference_record(name)["clean_accuracy"]
        assert clean["low"] - 0.01 <= accuracy <= clean["high"] + 0.01, (name, accuracy, clean)


def test_a_damaged_or_unknown_model_is_refused(tmp_path):
    folder = tmp_path / "files"
    shutil.copytree(FILES, folder)
    record = reference_record("cnn", folder)
    data = bytearray((folder / record["file"]).read_bytes())
    data[-100] ^= 0xFF
    (folder / record["file"]).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged or replaced"):
        reference_file("cnn", folder)
    (folder / reference_record("ddpm", folder)["file"]).unlink()
    with pytest.raises(CheckpointError, match="is missing"):
        reference_file("ddpm", folder)
    with pytest.raises(InputError, match="no shipped reference model 'resnet'; the kit ships"):
        reference_record("resnet")
    assert reference_file("cnn") == FILES / record["file"]       # the installed one is untouched

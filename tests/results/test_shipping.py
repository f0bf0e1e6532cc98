"""Shipping a run's models: IDC keeps exactly the EMA weights it was evaluated with, nothing a lab does not use;
a run that cannot give reference models is refused before anything is written."""
import json

import pytest
import torch

from conftest import tiny_config, tiny_data
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.files import atomic_save, read_torch_file
from idc_lite.model.classifier import IDCClassifier
from idc_lite.results.shipping import _half, _slim_idc, ship_run
from idc_lite.training.checkpoint import load_classifier
from idc_lite.training.config import TrainConfig
from idc_lite.training.trainer import Trainer


def test_a_slim_idc_file_predicts_as_the_checkpoints_ema_weights(tmp_path):
    data = tiny_data()
    trainer = Trainer(IDCClassifier(tiny_config()), TrainConfig(epochs=1, batch_size=8, seed=0), data)
    trainer.train(progress=False)
    trainer.save(tmp_path / "model.pt")
    slim, settings = _slim_idc(tmp_path / "model.pt")
    assert "optimizer" not in slim and slim["ema"] is None and settings["train_config"]["seed"] == 0
    atomic_save(slim, tmp_path / "idc.pt")
    original, shipped = load_classifier(tmp_path / "model.pt", "ema"), load_classifier(tmp_path / "idc.pt")
    with torch.no_grad():
        a = original(data.x_test, generator=torch.Generator().manual_seed(3))
        b = shipped(data.x_test, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert (tmp_path / "idc.pt").stat().st_size < (tmp_path / "model.pt").stat().st_size / 2
    raw = read_torch_file(tmp_path / "model.pt")["unet"]
    assert not all(torch.equal(raw[k], slim["unet"][k]) for k in raw)     # the EMA weights, not the raw ones


def test_half_rounds_only_floating_tensors():
    state = _half({"w": torch.tensor([1.0, 1e-3]), "steps": torch.tensor([3])})
    assert state["w"].dtype == torch.float16 and state["steps"].dtype == torch.int64


@pytest.mark.parametrize("summary, files, words", [
    (None, [], "not a finished run folder"),
    ({"smoke": True}, [], "is a smoke or lab-size run"),
    ({"smoke": False, "parameters": {"lab": True}}, [], "is a smoke or lab-size run"),
    ({"smoke": False}, ["model.pt", "cnn.pt"], "lacks ablation_no_interclass.pt, adv_cnn.pt, ddpm.pt"),
])
def test_a_run_that_cannot_give_reference_models_is_refused(tmp_path, summary, files, words):
    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    for name in files:
        (run / name).write_bytes(b"x")
    with pytest.raises(InputError, match=words):
        ship_run(run, out)
    assert not out.exists()

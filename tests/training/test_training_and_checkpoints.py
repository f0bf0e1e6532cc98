import json

import pytest
import torch

from conftest import tiny_config, tiny_data
from idc_lite.data.splits import DataSplit
from idc_lite.foundation.errors import CheckpointError
from idc_lite.foundation.files import atomic_save, read_torch_file
from idc_lite.model.accuracy import evaluate_accuracy
from idc_lite.model.classifier import IDCClassifier
from idc_lite.training.checkpoint import load_checkpoint_data, load_classifier
from idc_lite.training.config import TrainConfig
from idc_lite.training.trainer import EMA, Trainer


def tiny_trainer(**train_overrides):
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, accumulate_grad_batches=2, lr_scheduler="plateau",
                      plateau_patience=1, plateau_cooldown=0, update_ema_interval=1, start_ema_step=3, seed=0)
    for k, v in train_overrides.items():
        setattr(cfg, k, v)
    return Trainer(IDCClassifier(tiny_config()), cfg, tiny_data())


def test_training_reduces_loss_and_records_history():
    trainer = tiny_trainer(epochs=4)
    history = trainer.train(progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    assert trainer.global_step == 4 * 5


def test_ema_follows_the_authors_rule():
    net = torch.nn.Linear(2, 1)
    ema = EMA(net, decay=0.9)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, with_decay=True)
    assert torch.allclose(ema.shadow["weight"], 0.9 * start + 0.1 * net.weight)
    ema.update(net, with_decay=False)
    assert torch.equal(ema.shadow["weight"], net.weight)


def test_resume_is_exact(tmp_path):
    straight = tiny_trainer(epochs=2)
    straight.train(progress=False)
    first = tiny_trainer(epochs=1)
    first.train(progress=False, checkpoint_path=tmp_path / "m.pt")
    resumed = Trainer.resume(tmp_path / "m.pt", tiny_data())
    assert resumed.epoch == 1
    resumed.train(epochs=2, progress=False)
    for (k, a), b in zip(straight.model.unet.state_dict().items(), resumed.model.unet.state_dict().values()):
        assert torch.equal(a, b), k
    assert straight.history == resumed.history


def test_the_training_log_beside_a_checkpoint_is_its_history(tmp_path):
    from idc_lite.training.checkpoint import log_path_for, read_checkpoint

    trainer = tiny_trainer(epochs=3)
    path = tmp_path / "m.pt"
    trainer.train(epochs=1, progress=False, checkpoint_path=path)
    log = log_path_for(path)
    assert log.name == "m.log.jsonl" and [json.loads(line) for line in log.read_text().splitlines()] == trainer.history
    trainer.train(epochs=3, progress=False, checkpoint_path=path, checkpoint_every=2)   # saved at epochs 2 and 3
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == trainer.history and [r["epoch"] for r in lines] == [1, 2, 3]
    assert {r["processes"] for r in lines} == {1}
    assert read_checkpoint(path)["rng"]["dropout_cuda"] is None     # a CPU run: no GPU generator to carry


def test_checkpoint_record_and_safe_loading(tmp_path):
    trainer = tiny_trainer(epochs=1)
    trainer.train(progress=False)
    path = trainer.save(tmp_path / "model.pt", metrics={"test_accuracy": 0.5})
    record = json.loads((tmp_path / "model.json").read_text())
    assert record["metrics"]["test_accuracy"] == 0.5 and record["seed"] == 0
    assert record["data"] == {"dataset": "tiny", "n": 48} and "torch" in record["versions"]
    model = load_classifier(path)
    assert not model.training
    ema_state = trainer.ema_classifier().unet.state_dict()
    assert all(torch.equal(v, ema_state[k]) for k, v in model.unet.state_dict().items())
    raw = load_classifier(path, weights="raw")
    assert all(torch.equal(v, trainer.model.unet.state_dict()[k]) for k, v in raw.unet.state_dict().items())
    acc = evaluate_accuracy(model, tiny_data().x_test, tiny_data().y_test, torch.Generator().manual_seed(0))
    assert 0.0 <= acc <= 1.0


def test_atomic_save_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "ck.pt"
    atomic_save({"a": torch.ones(2)}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"a": Unpicklable()}, path)
    assert torch.equal(read_torch_file(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]     # no temporary file left behind


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_checkpoints_never_execute_pickled_code(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"x": _Payload()}, path)
    with pytest.raises(CheckpointError, match="refused for safety"):
        read_torch_file(path)
    assert "pickled code ran" not in capsys.readouterr().out


def test_corrupt_and_foreign_checkpoints(tmp_path):
    trainer = tiny_trainer(epochs=1)
    trainer.train(progress=False)
    path = trainer.save(tmp_path / "model.pt")
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_classifier(truncated)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_classifier(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "official.pt")
    with pytest.raises(CheckpointError, match="authors' code"):
        load_classifier(tmp_path / "official.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an idc_lite checkpoint"):
        load_classifier(tmp_path / "other.pt")


def test_mismatched_checkpoint_is_explained(tmp_path):
    trainer = tiny_trainer(epochs=1)
    trainer.train(progress=False)
    state = trainer.state()
    cfg = json.loads(state["config"])
    cfg["unet"]["model_channels"] = 64
    state["config"] = json.dumps(cfg)
    torch.save(state, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not fit this U-Net configuration"):
        load_classifier(tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="trained on"):
        trainer.save(tmp_path / "m.pt")
        other = tiny_data()
        other.info = {"dataset": "tiny", "n": 999}
        Trainer.resume(tmp_path / "m.pt", other)


def test_wrong_data_for_model_is_rejected():
    data = tiny_data()
    with pytest.raises(ValueError, match="do not fit the model"):
        Trainer(IDCClassifier(tiny_config()), TrainConfig(), DataSplit(data.x_train[:, :, :4, :4], data.y_train,
                                                                       data.x_test[:, :, :4, :4], data.y_test,
                                                                       data.class_names))


def test_load_checkpoint_data_for_digits(tmp_path):
    from idc_lite.data.datasets import load_digits
    digits = load_digits(image_size=8)
    cfg = tiny_config(num_classes=10)
    trainer = Trainer(IDCClassifier(cfg), TrainConfig(epochs=1, batch_size=512), digits)
    trainer.train(progress=False, max_batches=1)
    trainer.save(tmp_path / "d.pt")
    again = load_checkpoint_data(tmp_path / "d.pt")
    assert torch.equal(again.x_test, digits.x_test) and torch.equal(again.y_train, digits.y_train)


def test_shift_augmentation_translates_by_at_most_one_pixel():
    from idc_lite.training.trainer import augment_shift
    x = torch.zeros(16, 1, 6, 6)
    x[:, :, 2:4, 2:4] = 1.0
    out = augment_shift(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    assert any(not torch.equal(o, x[0]) for o in out)
    rows = out[:, 0].sum(dim=2).argmax(dim=1)
    assert bool(((rows >= 1) & (rows <= 3)).all())
    with pytest.raises(ValueError, match="augment must be"):
        tiny_trainer(augment="mixup")


@pytest.mark.slow  # the train command end to end
def test_train_command_line_twin(tmp_path):
    import subprocess
    import sys
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, "-m", "idc_lite", "train", "--preset", "digits", "--out", str(out), "--smoke",
                           "--device", "cpu", "--precision", "bf16"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["epochs"] == 1 and 0.0 <= result["test_accuracy"] <= 1.0 and "training on cpu in bf16" in done.stdout
    record = json.loads((tmp_path / "cli.json").read_text())
    assert (tmp_path / "cli.pt").is_file() and record["metrics"]["test_examples"] == 32
    assert record["train_config"]["precision"] == "bf16"
    missing = subprocess.run([sys.executable, "-m", "idc_lite", "train", "--preset", "cifar10", "--out", str(tmp_path / "c10"),
                              "--data-root", str(tmp_path / "nodata")], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "IDC_LITE_DATA" in missing.stderr


def test_accuracy_over_draws_states_each_scoring_rule():
    from idc_lite.model.accuracy import accuracy_over_draws
    trainer = tiny_trainer(epochs=1)
    trainer.train(progress=False)
    model = trainer.ema_classifier()
    data = tiny_data()
    result = accuracy_over_draws(model, data.x_test, data.y_test, seeds=[0, 1, 2])
    assert len(result["per_draw"]) == 3 and result["min"] <= result["mean"] <= result["max"]
    assert 0.0 <= result["majority_vote"] <= 1.0 and result["examples"] == 8
    # each image's share of right draws (what a sweep pairs across models): its mean is the mean accuracy
    assert len(result["per_example"]) == 8 and set(result["per_example"]) <= {0.0, 1 / 3, 2 / 3, 1.0} | {0.3333, 0.6667}
    assert sum(result["per_example"]) / 8 == pytest.approx(result["mean"], abs=1e-3)
    again = accuracy_over_draws(model, data.x_test, data.y_test, seeds=[0, 1, 2])
    assert again == result


def test_prepare_trainer_reuses_only_with_the_same_settings(tmp_path):
    from idc_lite.foundation.errors import SettingsMismatchError
    from idc_lite.training.load_or_train import prepare_trainer

    path = tmp_path / "model.pt"
    config = tiny_config()
    recipe = tiny_trainer().config
    trainer, note = prepare_trainer(path, config, recipe, tiny_data())
    assert "from scratch" in note
    trainer.train(epochs=1, progress=False, checkpoint_path=path)        # stopped after 1 of the 2 epochs asked
    saved = path.read_bytes()

    resumed, note = prepare_trainer(path, config, recipe, tiny_data())       # asks 2 epochs, the file has 1
    assert resumed.epoch == 1 and "resuming model.pt at epoch 1 of 2" in note
    resumed.train(progress=False)
    assert resumed.epoch == 2
    other_seed = TrainConfig(**{**recipe.__dict__, "seed": 1})
    with pytest.raises(SettingsMismatchError, match=r"train_config.seed: stored 0, asked 1"):
        prepare_trainer(path, config, other_seed, tiny_data())
    other_model = tiny_config(cls_loss_weight=0.0)
    with pytest.raises(SettingsMismatchError, match=r"(?s)config.cls_loss_weight: stored 0.2, asked 0.0.*retrain=True"):
        prepare_trainer(path, other_model, recipe, tiny_data())
    with pytest.raises(SettingsMismatchError, match="the model has 1, asked 0"):
        prepare_trainer(path, config, TrainConfig(**{**recipe.__dict__, "epochs": 0}), tiny_data())
    assert path.read_bytes() == saved                                      # nothing was replaced
    fresh, note = prepare_trainer(path, other_model, recipe, tiny_data(), retrain=True)
    assert fresh.epoch == 0 and "replacing model.pt" in note


def test_prepare_trainer_uses_a_model_trained_elsewhere(tmp_path):
    from idc_lite.foundation.errors import SettingsMismatchError
    from idc_lite.training.load_or_train import prepare_trainer

    elsewhere = tmp_path / "elsewhere" / "model.pt"
    made = tiny_trainer(epochs=1)
    made.train(progress=False, checkpoint_path=elsewhere)
    run = tmp_path / "run" / "model.pt"
    trainer, note = prepare_trainer(run, tiny_config(), TrainConfig(epochs=99), tiny_data(), model_file=elsewhere)
    assert "trained elsewhere" in note and trainer.epoch == 1 and trainer.config.epochs == 1
    assert run.read_bytes() == elsewhere.read_bytes() and run.with_suffix(".json").is_file()
    trainer.train(progress=False)
    assert trainer.epoch == 1                                               # used as it is: no training
    other = tiny_trainer(epochs=2)
    other.train(progress=False, checkpoint_path=tmp_path / "other.pt")
    with pytest.raises(SettingsMismatchError, match="already holds another model"):
        prepare_trainer(run, tiny_config(), TrainConfig(), tiny_data(), model_file=tmp_path / "other.pt")
    with pytest.raises(CheckpointError):
        prepare_trainer(tmp_path / "new.pt", tiny_config(), TrainConfig(), tiny_data(), model_file=tmp_path / "missing.pt")


def test_cosine_schedule_warms_up_ends_at_min_lr_and_resumes_exactly(tmp_path):
    straight = tiny_trainer(epochs=2, lr_scheduler="cosine", warmup_fraction=0.25, min_lr=1e-5)
    steps = 2 * straight.optimizer_steps_per_epoch()
    factors = [straight._cosine_factor(s) for s in range(steps + 1)]
    warm = round(0.25 * steps)
    assert factors[0] == pytest.approx(1 / warm) and factors[warm - 1] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[warm - 1:], factors[warm:]))          # decays after the warm-up
    straight.train(progress=False)
    assert straight.history[-1]["lr"] == pytest.approx(1e-5)                         # ends at min_lr
    first = tiny_trainer(epochs=2, lr_scheduler="cosine", warmup_fraction=0.25, min_lr=1e-5)
    first.train(epochs=1, progress=False, checkpoint_path=tmp_path / "c.pt")
    resumed = Trainer.resume(tmp_path / "c.pt", tiny_data())
    resumed.train(progress=False)
    for (k, a), b in zip(straight.model.unet.state_dict().items(), resumed.model.unet.state_dict().values()):
        assert torch.equal(a, b), k
    assert straight.history == resumed.history


def _timesteps_drawn(monkeypatch, trainer, batches: int) -> list[int]:
    """The t of every row of ``batches`` training losses of 16 rows (the loss records what it is given)."""
    import idc_lite.training.trainer as train_module

    seen = []
    real_loss = train_module.idc_loss

    def recording_loss(bridge, denoise, x0, y, t, *args):
        seen.extend(t.tolist())
        return real_loss(bridge, denoise, x0, y, t, *args)

    monkeypatch.setattr(train_module, "idc_loss", recording_loss)
    for _ in range(batches):
        trainer._loss(trainer.data.x_train[:16], trainer.data.y_train[:16])
    return seen


@pytest.mark.parametrize("timesteps, expected", [("uniform", {0, 1, 2, 3}), ("sampler", {0, 1, 3})])
def test_training_timesteps_official_uniform_or_only_where_the_sampler_calls(monkeypatch, timesteps, expected):
    """Quirk Q8: the official loss draws t from 0..T-1, but the 4-step sampler ([3, 1, 1, 0]) never
    calls the network at t = 2; timesteps='sampler' trains only on the t it calls."""
    trainer = tiny_trainer(timesteps=timesteps)
    assert trainer.model.bridge.steps == [3, 1, 1, 0]
    assert set(_timesteps_drawn(monkeypatch, trainer, 10)) == expected


def test_first_step_weight_puts_that_share_of_a_batch_on_the_samplers_first_timestep(monkeypatch):
    """first_step_weight w counts the sampler's first t (3 of [3, 1, 1, 0]) w times among the called
    {0, 1, 3}: weight 4 draws t = 3 for two thirds of the rows, weight 1 (default) for a third."""
    def share_of_first_step(weight):
        seen = _timesteps_drawn(monkeypatch, tiny_trainer(timesteps="sampler", first_step_weight=weight), 30)
        assert set(seen) == {0, 1, 3}
        return seen.count(3) / len(seen)

    # 480 draws: a binomial share's standard deviation is at most 0.023, the two shares lie 14 of them apart
    assert abs(share_of_first_step(4) - 2 / 3) < 0.08
    assert abs(share_of_first_step(1) - 1 / 3) < 0.08


def test_first_step_weight_needs_sampler_timesteps_and_a_positive_whole_number():
    from idc_lite.foundation.errors import InputError

    assert TrainConfig(timesteps="sampler", first_step_weight=4).first_step_weight == 4
    with pytest.raises(InputError, match="needs timesteps='sampler'"):
        TrainConfig(first_step_weight=4)
    for bad in (0, -1, 2.5, "4"):
        with pytest.raises(InputError, match="first_step_weight"):
            TrainConfig(timesteps="sampler", first_step_weight=bad)


def test_a_checkpoint_written_before_a_new_training_option_still_resumes(tmp_path):
    """A record without first_step_weight (kits before the option) reads as the default, 1: the
    notebook resumes it instead of calling the settings different."""
    from idc_lite.foundation.errors import SettingsMismatchError
    from idc_lite.training.load_or_train import prepare_trainer

    path = tmp_path / "model.pt"
    recipe = tiny_trainer().config
    trainer, _ = prepare_trainer(path, tiny_config(), recipe, tiny_data())
    trainer.train(epochs=1, progress=False, checkpoint_path=path)
    record_path = path.with_suffix(".json")
    record = json.loads(record_path.read_text())
    del record["train_config"]["first_step_weight"]
    record_path.write_text(json.dumps(record))
    resumed, note = prepare_trainer(path, tiny_config(), recipe, tiny_data())
    assert resumed.epoch == 1 and "resuming" in note
    with pytest.raises(SettingsMismatchError, match=r"first_step_weight: stored 1, asked 4"):
        prepare_trainer(path, tiny_config(), TrainConfig(**{**recipe.__dict__, "timesteps": "sampler",
                                                            "first_step_weight": 4}), tiny_data())


def test_unknown_training_timesteps_option_is_refused():
    from idc_lite.foundation.errors import InputError

    with pytest.raises(InputError, match="timesteps"):
        TrainConfig(timesteps="every")


def _first_conv_output_dtypes(trainer):
    """The dtypes the U-Net's first convolution produced during one training loss."""
    seen = []
    conv = next(m for m in trainer.model.unet.modules() if isinstance(m, torch.nn.Conv2d))
    handle = conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    terms = trainer._loss(trainer.data.x_train[:8], trainer.data.y_train[:8])
    handle.remove()
    return seen, terms


def test_bf16_precision_runs_the_unet_in_bfloat16_keeps_float32_state_and_resumes_exactly(tmp_path):
    """precision='bf16': forward and loss under bfloat16 autocast; weights, optimiser state and EMA stay
    float32, the history says which precision trained each epoch, and resuming is still exact."""
    seen, terms = _first_conv_output_dtypes(tiny_trainer(precision="bf16"))
    assert seen == [torch.bfloat16] and terms.loss.dtype == torch.float32
    seen, _ = _first_conv_output_dtypes(tiny_trainer())
    assert seen == [torch.float32]                                   # the default is the authors' float32

    straight = tiny_trainer(epochs=2, precision="bf16")
    straight.train(progress=False)
    assert all(p.dtype == torch.float32 for p in straight.model.unet.parameters())
    assert all(v.dtype == torch.float32 for v in straight.ema.shadow.values())
    assert all(s.dtype == torch.float32 for state in straight.optimizer.state.values() for s in state.values()
               if isinstance(s, torch.Tensor) and s.is_floating_point())
    assert [h["precision"] for h in straight.history] == ["bf16", "bf16"]
    full = tiny_trainer(epochs=2)
    full.train(progress=False)
    assert [h["precision"] for h in full.history] == ["fp32", "fp32"]
    differs = any(not torch.equal(a, b) for a, b in zip(full.model.unet.parameters(), straight.model.unet.parameters()))
    assert differs                                                   # bf16 really changed the arithmetic
    assert straight.history[-1]["loss"] == pytest.approx(full.history[-1]["loss"], rel=0.1)   # and not the training

    first = tiny_trainer(epochs=1, precision="bf16")
    first.train(progress=False, checkpoint_path=tmp_path / "b.pt")
    resumed = Trainer.resume(tmp_path / "b.pt", tiny_data())
    assert resumed.precision == "bf16"
    resumed.train(epochs=2, progress=False)
    for (k, a), b in zip(straight.model.unet.state_dict().items(), resumed.model.unet.state_dict().values()):
        assert torch.equal(a, b), k
    assert straight.history == resumed.history


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_uses_bf16_only_where_the_device_has_it_natively(monkeypatch, native):
    import idc_lite.training.trainer as train_module

    asked = []
    monkeypatch.setattr(train_module, "native_bf16", lambda device: asked.append(torch.device(device).type) or native)
    trainer = tiny_trainer(precision="auto")
    assert trainer.precision == ("bf16" if native else "fp32") and set(asked) == {"cpu"}   # the model's device now
    assert tiny_trainer(precision="fp32").precision == "fp32" and tiny_trainer(precision="bf16").precision == "bf16"


def test_native_bf16_reads_the_cpu_flags(monkeypatch):
    from idc_lite.foundation.machine import native_bf16

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert native_bf16("cpu") is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert native_bf16("cpu") is True
    assert native_bf16("meta") is False


def test_unknown_precision_is_refused():
    from idc_lite.foundation.errors import InputError

    with pytest.raises(InputError, match="precision"):
        TrainConfig(precision="fp16")

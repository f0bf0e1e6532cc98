"""The package functions the notebooks call for their longer steps: notebook 02's settings and record,
the load-or-train rule for the CNNs and the ablation, the choice of attack suites, the sanity checks run
together, and every model of notebook 05 under both protocols."""
import dataclasses

import pytest
import torch

from conftest import Linear, tiny_config
from idc_lite.comparisons.baselines import cnn_settings, load_or_train_cnn, train_cnn
from idc_lite.comparisons.robustness import evaluate_models, sweep_models
from idc_lite.data.datasets import load_digits
from idc_lite.data.splits import DataSplit
from idc_lite.evaluation import run_protocols, sanity
from idc_lite.evaluation.attacks import PGDSettings
from idc_lite.evaluation.protocol import evaluate_attacks
from idc_lite.evaluation.run_protocols import adaptive_protocol, paper_protocols, protocol_budgets
from idc_lite.evaluation.suites import adaptive_suite, cascade_suite, deterministic_suite
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.run_metrics import AttackSettings
from idc_lite.model.accuracy import accuracy_over_draws, describe_draws
from idc_lite.model.classifier import IDCClassifier
from idc_lite.model.unet import flops_per_call
from idc_lite.training.checkpoint import checkpoint_record
from idc_lite.training.config import TrainConfig
from idc_lite.training.load_or_train import load_or_train_variant
from idc_lite.training.presets import configure_training, get_preset
from idc_lite.training.report import training_metrics
from idc_lite.training.trainer import Trainer

TINY_SETTINGS = AttackSettings(steps=1, eot_samples=2, square_queries=2, scoring_draws=2)
CASCADE_SETTINGS = AttackSettings(steps=1, eot_samples=2, square_queries=2, scoring_draws=2, cascade=True, apgd_steps=2,
                                  apgd_eot=1, apgd_tail_eot=2, rescoring_draws=3, autoattack_queries=5,
                                  autoattack_iterations=2)


def _tiny_split(n_train: int = 16, n_test: int = 6) -> DataSplit:
    g = torch.Generator().manual_seed(0)
    return DataSplit(torch.rand(n_train, 1, 8, 8, generator=g), torch.arange(n_train) % 4,
                     torch.rand(n_test, 1, 8, 8, generator=g), torch.arange(n_test) % 4, ["a", "b", "c", "d"],
                     {"name": "tiny"})


def _tiny_idc() -> IDCClassifier:
    model = IDCClassifier(tiny_config())
    model.unet.reset_parameters(0)
    return model.eval()


# ---- notebook 02 --------------------------------------------------------------------------------
def test_configure_training_applies_the_run_parameters_to_a_fresh_preset():
    setup, max_batches = configure_training("digits", seed=3, epochs=5, precision="fp32", num_timesteps=5,
                                            cls_loss_weight=0.0)
    assert (setup.train.seed, setup.train.epochs, setup.train.precision, max_batches) == (3, 5, "fp32", None)
    assert (setup.model.num_timesteps, setup.model.sample_step, setup.model.cls_loss_weight) == (5, 5, 0.0)
    preset = get_preset("digits")
    assert (preset.train.epochs, preset.model.num_timesteps, preset.model.cls_loss_weight) == (40, 4, 0.2)
    default, _ = configure_training("digits")
    assert default.train == preset.train and default.model == preset.model
    smoke, max_batches = configure_training("digits", epochs=5, smoke=True)
    assert (smoke.train.epochs, max_batches) == (1, 2)


@pytest.mark.parametrize("bad", [{"precision": "fp16"}, {"seed": -1}, {"num_timesteps": 2}, {"model_channels": 48}])
def test_configure_training_refuses_values_out_of_range(bad):
    with pytest.raises(InputError):
        configure_training("digits", **bad)


def test_training_record_states_its_protocol_size_and_cost():
    data = _tiny_split()
    trainer = Trainer(IDCClassifier(tiny_config()), TrainConfig(epochs=1, batch_size=8, seed=0), data)
    trainer.train(progress=False)
    draws = accuracy_over_draws(trainer.ema_classifier(), data.x_test[:4], data.y_test[:4], seeds=[1, 2])
    flops = flops_per_call(trainer.model.unet, (1, 8, 8))
    metrics = training_metrics(trainer, draws, data, preset="tiny", seed=0, n_params=123, flops_per_call=flops,
                               network_calls=4, checkpoint="model.pt", trained_elsewhere=None)
    assert metrics.test_accuracy == draws["mean"] and metrics.test_examples == 4 and metrics.epochs == 1
    assert metrics.flops_per_prediction == 4 * flops and metrics.n_params == 123
    assert metrics.accuracy_protocol.endswith("mean over 2 independent draws (seeds [1, 2]), the first 4 of 6 test images")
    assert metrics.train_precision == ["fp32"] and metrics.checkpoint == "model.pt"
    text = describe_draws(draws)
    assert f"mean {draws['mean']:.2%}" in text and "over 2 draws" in text and text.endswith("4 images")


# ---- load or train ------------------------------------------------------------------------------
def test_load_or_train_cnn_trains_once_then_loads_and_never_replaces_another_settings_file(tmp_path):
    digits = load_digits()
    small = dataclasses.replace(digits, x_train=digits.x_train[:128], y_train=digits.y_train[:128])
    cnn, file = load_or_train_cnn(tmp_path / "cnn.pt", small, epochs=1, seed=0)
    assert file.path == tmp_path / "cnn.pt" and not file.exists and not cnn.training
    reference = train_cnn(small, epochs=1, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(cnn.parameters(), reference.parameters()))
    again, file = load_or_train_cnn(tmp_path / "cnn.pt", small, epochs=1, seed=0)
    assert file.exists and all(torch.equal(p, q) for p, q in zip(again.parameters(), cnn.parameters()))
    before = (tmp_path / "cnn.pt").read_bytes()
    adversarial = PGDSettings(eps=8 / 255, alpha=4 / 255, steps=1)
    _, other = load_or_train_cnn(tmp_path / "cnn.pt", small, epochs=1, seed=0, adversarial=adversarial)
    assert other.path != file.path and not other.exists and "adversarial" in other.note
    assert (tmp_path / "cnn.pt").read_bytes() == before
    assert cnn_settings(other.path)["adversarial"] == adversarial.to_dict()


def test_load_or_train_variant_takes_the_main_recipe_and_reuses_its_own_file(tmp_path):
    data = _tiny_split()
    main = Trainer(IDCClassifier(tiny_config()), TrainConfig(epochs=1, batch_size=8, lr=3e-4, seed=0), data)
    main.train(progress=False)
    main.save(tmp_path / "model.pt")
    variant = dataclasses.replace(tiny_config(), cls_loss_weight=0.0)
    trainer, file = load_or_train_variant(tmp_path / "model.pt", tmp_path / "ablation.pt", variant, data, seed=5)
    record = checkpoint_record(file.path)
    assert file.path == tmp_path / "ablation.pt" and not file.exists and trainer.epoch == 1
    assert record["config"]["cls_loss_weight"] == 0.0
    assert (record["train_config"]["lr"], record["train_config"]["seed"]) == (3e-4, 5)
    again, file = load_or_train_variant(tmp_path / "model.pt", tmp_path / "ablation.pt", variant, data, seed=5)
    assert file.exists and again.epoch == 1
    assert all(torch.equal(p, q) for p, q in zip(again.model.parameters(), trainer.model.parameters()))
    _, longer = load_or_train_variant(tmp_path / "model.pt", tmp_path / "ablation.pt", variant, data, seed=5, epochs=2,
                                      max_batches=1)
    assert longer.path != file.path and "epochs" in longer.note


# ---- which attacks -------------------------------------------------------------------------------
def test_protocol_budgets_are_sorted_without_repeats():
    assert protocol_budgets(8 / 255, 8 / 255, None) == [8 / 255]
    assert protocol_budgets(8 / 255, 32 / 255, 16 / 255) == [8 / 255, 16 / 255, 32 / 255]


def test_adaptive_protocol_picks_the_suite_and_scoring_by_model_kind(monkeypatch):
    calls = []
    monkeypatch.setattr(run_protocols, "evaluate_attacks", lambda model, x, labels, suite, **kw: calls.append((suite, kw)) or {})
    x, labels = torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    adaptive_protocol("idc", x, labels, 0.1, TINY_SETTINGS, seed=3, sources={"cnn": "a cnn"}, gradient_model="twin")
    adaptive_protocol("cnn", x, labels, 0.1, TINY_SETTINGS, seed=3, random_model=False)
    (random_suite, random_kw), (fixed_suite, fixed_kw) = calls
    expected = adaptive_suite(0.1, steps=1, eot_samples=2, square_queries=2, transfer_source="cnn")
    assert [s.name for s in random_suite] == [s.name for s in expected]
    assert (random_kw["draws"], random_kw["gradient_model"], random_kw["protocol"]) == (2, "twin", "adaptive")
    assert [s.name for s in fixed_suite] == [s.name for s in deterministic_suite(0.1, steps=1, square_queries=2)]
    assert fixed_kw["draws"] == 1 and fixed_kw["seed"] == 3
    assert not random_kw["cascade"] and not fixed_kw["cascade"]
    calls.clear()
    adaptive_protocol("idc", x, labels, 0.1, CASCADE_SETTINGS, seed=3, sources={"cnn": "a cnn"})
    adaptive_protocol("cnn", x, labels, 0.1, CASCADE_SETTINGS, seed=3, random_model=False)
    (random_suite, random_kw), (fixed_suite, fixed_kw) = calls
    expected = cascade_suite(0.1, apgd_steps=2, apgd_eot=1, steps=1, eot_samples=2, square_queries=2, transfer_source="cnn",
                             tail_eot=2)
    assert [s.name for s in random_suite] == [s.name for s in expected] and random_kw["cascade"]
    assert "apgd_dlr_eot2" in [s.name for s in random_suite]
    assert fixed_suite[-1].kind == "autoattack_standard" and fixed_suite[-1].params["square_queries"] == 5
    calls.clear()   # a secondary budget: the same cascade without its EOT-heavy tail
    adaptive_protocol("idc", x, labels, 0.1, CASCADE_SETTINGS, seed=3, sources={"cnn": "a cnn"}, main_budget=False)
    assert [s.name for s in calls[0][0]] == [s.name for s in expected if s.name != "apgd_dlr_eot2"]


def test_adaptive_and_paper_protocols_equal_evaluate_with_their_suites():
    model, x = Linear(), torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(8) % 4
    ours = adaptive_protocol(model, x, labels, 0.1, TINY_SETTINGS, seed=1, random_model=False)
    direct = evaluate_attacks(model, x, labels, deterministic_suite(0.1, steps=1, square_queries=2), seed=1, draws=1,
                      protocol="adaptive")
    assert ours["worst_case_per_example"] == direct["worst_case_per_example"]
    paper = paper_protocols(model, x, labels, [8 / 255, 16 / 255], seed=1, target="model", max_steps=1)
    assert list(paper) == [8 / 255, 16 / 255]
    assert all(a["settings"].get("steps", 1) <= 1 for r in paper.values() for a in r["attacks"])
    with pytest.raises(InputError):
        paper_protocols(model, x, labels, [8 / 255], seed=1, target="model", max_steps=0)


@pytest.mark.slow  # every sanity check, each running its attacks (about a minute on 2 cores)
@pytest.mark.parametrize("settings", [TINY_SETTINGS, CASCADE_SETTINGS], ids=["every attack on every example", "cascade"])
def test_sanity_checks_run_together_in_the_guides_order(settings):
    idc, cnn = _tiny_idc(), Linear()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3])
    eps = 32 / 255
    adversarial = {}
    adaptive = adaptive_protocol(idc, x, labels, eps, settings, seed=0, sources={"cnn": cnn},
                                 examples=adversarial)
    checks = sanity.run_sanity_checks(idc, cnn, adaptive, adversarial, x, labels, eps=eps, eps_list=[eps],
                                      eot_list=[1, 2], settings=settings, sanity_examples=2, seed=0,
                                      num_classes=4)
    names = [c["check"] for c in checks]
    assert names[:4] == ["iterative beats single-step", "white-box beats black-box, example by example",
                         "full gradient beats BPDA", "gradients finite, non-zero, equal to finite differences under "
                         "fixed noise"]
    if settings.cascade:
        assert names[4:7] == ["APGD is not weaker than PGD", "white-box alone gets within 3 points of the worst case",
                              "twice the iterations and draws move the worst case by at most 2 points"]
        assert "doubling steps or adding a restart no longer changes the result" not in names
        assert checks[1]["values"]["rescoring_draws"] == 3
        doubled = checks[6]["values"]["settings"]   # the strongest white-box attack, the tail (EOT 2), doubled
        assert (doubled["loss"], doubled["eot_samples"], doubled["steps"]) == ("dlr", 4, 4)
    assert len(checks) == (12 if settings.cascade else 10)
    assert all(c["status"] in ("passed", "FAILED", "measured") for c in checks)
    sweep = next(c for c in checks if c["check"] == "accuracy falls to chance as eps grows")
    assert [c["eps"] for c in sweep["values"]["curve"]] == [0.0, eps]
    assert sanity.summary_rows(checks)[0] == {k: checks[0][k] for k in ("status", "check", "criterion")}


# ---- notebook 05 --------------------------------------------------------------------------------
def test_notebook_05_runs_the_eot_heavy_tail_at_the_main_budget_only(monkeypatch):
    from idc_lite.comparisons import robustness

    calls = []
    monkeypatch.setattr(robustness, "paper_protocols", lambda *a, **kw: {})
    monkeypatch.setattr(robustness, "adaptive_protocol",
                        lambda model, x, labels, budget, settings, **kw: calls.append((budget, kw["main_budget"])))
    x, labels = torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    evaluate_models({"ablation": None}, x, labels, eps=48 / 255, paper_eps=8 / 255, secondary_eps=16 / 255,
                    settings=CASCADE_SETTINGS, random_models={"ablation"}, gradient_models={}, sources={}, seed=0)
    assert calls == [(48 / 255, True), (16 / 255, False)]


def test_every_model_is_evaluated_by_its_kind_and_known_results_are_kept():
    x, labels = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3])
    known = {"IDC": {"from": "04"}}
    results = evaluate_models({"IDC": None, "linear": Linear()}, x, labels, eps=16 / 255, paper_eps=8 / 255,
                              secondary_eps=None, settings=TINY_SETTINGS, random_models={"IDC"},
                              gradient_models={"IDC": None, "linear": None}, sources={}, seed=0, known=known,
                              max_steps=1)
    assert results["IDC"] is known["IDC"] and list(results["linear"]) == ["paper@8", "paper@16", "adaptive"]
    assert results["linear"]["adaptive"]["draws"] == 1 and results["linear"]["paper@8"]["protocol"] == "paper"
    sweeps = sweep_models({"IDC": None, "linear": Linear()}, x, labels, [16 / 255], settings=TINY_SETTINGS,
                          random_models={"IDC"}, gradient_models={}, seed=0,
                          known={"IDC, paper": ["p"], "IDC, adaptive": ["a"]})
    assert list(sweeps) == ["IDC, paper", "IDC, adaptive", "linear, paper", "linear, adaptive"]
    assert sweeps["IDC, adaptive"] == ["a"] and [c["eps"] for c in sweeps["linear, adaptive"]] == [0.0, 16 / 255]

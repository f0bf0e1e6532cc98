import json

import pytest
import torch

from conftest import Linear, tiny_config
from idc_lite.evaluation.protocol import AttackSpec, evaluate_attacks
from idc_lite.evaluation.suites import adaptive_suite, paper_suite
from idc_lite.model.classifier import IDCClassifier


def test_evaluate_reports_every_attack_and_the_worst_case():
    model = Linear()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(x).argmax(1)
    attacks = [AttackSpec("fgsm", "fgsm", {"eps": 0.05}),
               AttackSpec("pgd", "pgd", {"eps": 0.05, "alpha": 0.01, "steps": 10}),
               AttackSpec("cw", "cw_l2", {"c": 10.0, "steps": 50, "lr": 0.05})]
    result = evaluate_attacks(model, x, labels, attacks, seed=0, batch_size=8, l2_budget=0.5)
    json.dumps(result)
    assert result["clean_accuracy"] == 1.0 and [a["name"] for a in result["attacks"]] == ["fgsm", "pgd", "cw"]
    per_attack = [a["robust_accuracy"] for a in result["attacks"]]
    assert result["worst_case_accuracy"] <= min(per_attack)
    assert result["attacks"][1]["max_linf"] <= 0.05 + 1e-6 and result["attacks"][2]["max_l2"] <= 0.5 + 1e-6
    assert result["attacks"][1]["params"] == {"eps": 0.05, "alpha": 0.01, "steps": 10}


@pytest.mark.slow  # every suite end to end
def test_suites_build_and_run_on_a_tiny_idc_model():
    idc = IDCClassifier(tiny_config())
    idc.unet.reset_parameters(0)
    idc.eval()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3])
    small = adaptive_suite(8 / 255, steps=2, eot_samples=2, square_queries=3, random_start_eot=True) + paper_suite()
    assert {s.target for s in small} == {"model", "fixed_noise", "bpda", "first_step", "paper_wrapper"}
    for spec in small:
        if spec.kind in ("pgd", "mi_fgsm", "torchattacks"):
            spec.params["steps"] = min(spec.params["steps"], 2)
    result = evaluate_attacks(idc, x, labels, small, rule="majority", draws=3)
    assert len(result["attacks"]) == len(small) and result["draws"] == 3
    assert all(a["max_linf"] <= 8 / 255 + 1e-6 for a in result["attacks"])
    settings = {a["name"]: a["settings"] for a in result["attacks"]}
    assert settings["eot2_pgd2_margin"]["eot_samples"] == 2 and settings["paper_pgd20"]["restarts"] == 1
    assert all(s.get("eps") is not None for s in settings.values())


def test_bad_specs_are_rejected():
    with pytest.raises(ValueError, match="attack kind"):
        AttackSpec("x", "deepfool")
    with pytest.raises(ValueError, match="attack target"):
        AttackSpec("x", "pgd", target="surrogate")


def test_start_from_and_transfer_specs():
    model, other = Linear(), Linear()
    with torch.no_grad():
        other.weight.mul_(-1)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = model(x).argmax(1)
    attacks = [AttackSpec("far", "pgd", {"eps": 0.1, "alpha": 0.05, "steps": 5, "loss": "margin"}),
               # zero steps: the result is the starting point itself, projected onto the smaller ball
               AttackSpec("from_far", "pgd", {"eps": 0.02, "alpha": 0.01, "steps": 0, "random_start": False},
                          start_from="far"),
               AttackSpec("transfer", "pgd", {"eps": 0.05, "alpha": 0.01, "steps": 5}, "transfer", source="other")]
    examples = {}
    result = evaluate_attacks(model, x, labels, attacks, sources={"other": other}, examples=examples)
    expected = (x + (examples["far"] - x).clamp(-0.02, 0.02)).clamp(0, 1)
    assert torch.allclose(examples["from_far"], expected, atol=1e-6)
    assert result["attacks"][2]["source"] == "other" and len(result["worst_case_per_example"]) == 6
    assert result["worst_case_rescored"] == pytest.approx(result["worst_case_accuracy"])   # deterministic: no bias
    with pytest.raises(ValueError, match="must come earlier"):
        evaluate_attacks(model, x, labels, [attacks[1]])
    with pytest.raises(ValueError, match="sources="):
        evaluate_attacks(model, x, labels, [attacks[2]])
    with pytest.raises(ValueError, match="source="):
        AttackSpec("t", "pgd", target="transfer")
    with pytest.raises(ValueError, match="unique"):
        evaluate_attacks(model, x, labels, [attacks[0], attacks[0]])


def test_examples_file_round_trip_and_bad_files(tmp_path):
    from idc_lite.evaluation.examples import load_examples, save_examples
    from idc_lite.foundation.errors import CheckpointError

    x, labels = torch.rand(5, 1, 8, 8), torch.arange(5)
    path = save_examples(tmp_path / "examples.pt", x, labels, split="test", first=5)
    x2, labels2 = load_examples(path)
    assert torch.equal(x, x2) and torch.equal(labels, labels2)
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="examples file"):
        load_examples(tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        save_examples(tmp_path / "bad.pt", x * 2, labels)


def test_baseline_files_and_cost(tmp_path):
    from idc_lite.comparisons.baselines import SmallCNN, load_cnn, prediction_cost, save_cnn
    from idc_lite.foundation.errors import CheckpointError

    cnn = SmallCNN(1, 8, 4).eval()
    path = save_cnn(cnn, tmp_path / "cnn.pt", epochs=1)
    again = load_cnn(path)
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(cnn(x), again(x))
    cost = prediction_cost(cnn, (1, 8, 8), batch_size=4, repeats=1)
    assert cost["parameters"] == sum(p.numel() for p in cnn.parameters()) and cost["flops_per_prediction"] > 0
    idc = IDCClassifier(tiny_config()).eval()
    idc_cost = prediction_cost(idc, (1, 8, 8), batch_size=2, repeats=1)
    from idc_lite.model.unet import flops_per_call
    assert idc_cost["flops_per_prediction"] >= idc.bridge.num_network_calls * flops_per_call(idc.unet, (1, 8, 8))
    (tmp_path / "bad.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError):
        load_cnn(tmp_path / "bad.pt")


def test_tables_render_accuracies_as_percentages():
    from idc_lite.figures.plots import table_markdown

    text = table_markdown([{"attack": "pgd", "robust_accuracy": 0.5, "eps": 8 / 255, "steps": 10},
                           {"attack": "worst", "robust_accuracy": 0.25}], title="t")
    assert "| pgd | 50.0 % | 0.03137 | 10 |" in text and "| worst | 25.0 % |  |  |" in text


def test_outside_evaluators_way_in(tmp_path):
    """idc_lite.load_classifier gives an nn.Module from [0, 1] images to logits whose noise is controlled
    by a generator or fixed; idc_lite.load_examples reads the evaluated examples."""
    import idc_lite
    from idc_lite.data.splits import DataSplit
    from idc_lite.evaluation.examples import save_examples
    from idc_lite.training.config import TrainConfig
    from idc_lite.training.trainer import Trainer

    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 4
    data = DataSplit(x, y, x, y, ["a", "b", "c", "d"], {"dataset": "synthetic"})
    trainer = Trainer(IDCClassifier(tiny_config()), TrainConfig(epochs=1, batch_size=4), data)
    trainer.train(checkpoint_path=tmp_path / "model.pt")
    model = idc_lite.load_classifier(tmp_path / "model.pt")
    assert isinstance(model, torch.nn.Module) and not model.training
    logits = model(x, generator=torch.Generator().manual_seed(1))
    assert logits.shape == (8, 4) and torch.equal(logits, model(x, generator=torch.Generator().manual_seed(1)))
    model.fix_noise(3)
    assert torch.equal(model(x, generator=torch.Generator().manual_seed(1)), model(x, generator=torch.Generator().manual_seed(2)))
    save_examples(tmp_path / "eval_examples.pt", x, y)
    x2, y2 = idc_lite.load_examples(tmp_path / "eval_examples.pt")
    assert torch.equal(x2, x) and torch.equal(y2, y)
    with pytest.raises(AttributeError):
        _ = idc_lite.no_such_name


def test_adaptive_suite_refines_the_transfer_examples_with_white_box_eot_pgd():
    from idc_lite.evaluation.suites import adaptive_suite

    suite = adaptive_suite(8 / 255, steps=3, eot_samples=2, square_queries=5, transfer_source="cnn")
    names = [a.name for a in suite]
    refine = suite[-1]
    assert refine.name == "eot2_pgd3_from_transfer_from_cnn" and refine.start_from == "transfer_from_cnn"
    assert refine.target == "model" and refine.params["eot_samples"] == 2 and refine.params["steps"] == 3
    assert names.index("transfer_from_cnn") < names.index(refine.name)
    without = adaptive_suite(8 / 255, steps=3, eot_samples=2, square_queries=5)
    assert not any(a.target == "transfer" or "transfer" in str(a.start_from) for a in without)


def test_sweep_suites_per_protocol_and_model_kind():
    from idc_lite.evaluation.suites import sweep_suite

    paper = sweep_suite(0.1, "paper", random_model=True)
    assert [(a.name, a.target) for a in paper] == [("paper_pgd20", "paper_wrapper")]
    pair = sweep_suite(0.1, "adaptive", random_model=True, steps=5, eot_samples=8)
    assert pair[1].start_from == pair[0].name and pair[1].params["eot_samples"] == 4 and pair[0].target == "first_step"
    assert sweep_suite(0.1, "adaptive", random_model=False)[0].target == "model"
    large = sweep_suite(64 / 255, "adaptive", random_model=True)
    assert [a.name for a in large][2:] == ["other_class", "eot_from_other_class"] and large[3].start_from == "other_class"
    with pytest.raises(ValueError, match="protocol"):
        sweep_suite(0.1, "adaptve", random_model=True)


def test_pick_worst_and_accuracy_curve():
    from idc_lite.evaluation.protocol import accuracy_curve, pick_worst

    adversarial = {"a": torch.zeros(3, 1, 2, 2), "b": torch.ones(3, 1, 2, 2)}
    picked = pick_worst({"a": [0.2, 1.0, 0.5], "b": torch.tensor([0.4, 0.0, 0.5])}, adversarial)
    assert picked[:, 0, 0, 0].tolist() == [0.0, 1.0, 0.0]          # lowest score wins, ties go to the first attack
    model = Linear()
    x = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    labels = model(x).argmax(1)
    curve = accuracy_curve(model, x, labels, [0.0, 0.5], lambda e: [AttackSpec("pgd", "pgd", {"eps": e, "alpha": e / 4,
                                                                                            "steps": 10})], draws=1)
    assert [c["accuracy"] for c in curve] == [1.0, 0.0]
    with pytest.raises(ValueError, match="count"):
        accuracy_curve(model, x, labels, [0.1], lambda e: [], count="both")


def test_rescore_under_several_rules_reuses_one_set_of_draws():
    """rescore with a list of rules gives exactly what one call per rule gives, from one set of
    sampler calls; a rule outside one / majority / all is refused."""
    from idc_lite.evaluation.protocol import rescore
    from idc_lite.foundation.errors import InputError

    calls = []

    class Counting(Linear):
        def forward(self, x, generator=None):
            calls.append(x.shape[0])
            return super().forward(x, generator)

    model = Counting(noise_std=2.0)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    examples = {"a": (x + 0.1).clamp(0, 1), "b": (x - 0.1).clamp(0, 1)}
    together = rescore(model, x, labels, examples, ["one", "majority", "all"], draws=7, seed=3)
    calls_together = len(calls)
    separately = [rescore(model, x, labels, examples, rule, draws=7, seed=3) for rule in ("one", "majority", "all")]
    assert together == separately
    # 3 image sets x 7 draws of 6 images, once: each set's draws share a call (one generator makes them all)
    assert calls_together == 3 and sum(calls[:3]) == 3 * 7 * 6 and sum(calls) == 4 * 3 * 7 * 6
    assert [r["scoring_rule"] for r in together] == ["one", "majority", "all"]
    one, majority, every = together
    assert every["worst_case_accuracy"] <= one["worst_case_accuracy"] <= 1.0
    assert len({one["clean_accuracy"], majority["clean_accuracy"], every["clean_accuracy"]}) > 1   # noisy enough to differ
    with pytest.raises(InputError, match="rule"):
        rescore(model, x, labels, examples, ["one", "best"])
    with pytest.raises(InputError, match="rule"):
        rescore(model, x, labels, examples, [])


def test_every_accuracy_carries_an_interval_of_the_right_kind():
    """One-draw outcomes: Wilson; scores averaged over draws and every worst case: a bootstrap over examples."""
    from conftest import Linear as Noisy

    model = Noisy(noise_std=3.0)
    x = torch.rand(24, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(24) % 4
    attacks = [AttackSpec("fgsm", "fgsm", {"eps": 0.05}), AttackSpec("pgd", "pgd", {"eps": 0.05, "alpha": 0.02, "steps": 3})]
    one = evaluate_attacks(model, x, labels, attacks, draws=1)
    assert one["intervals"]["clean"]["method"] == "wilson" and one["intervals"]["clean"]["n"] == 24
    assert [a["interval"]["method"] for a in one["attacks"]] == ["wilson", "wilson"]
    assert one["intervals"]["worst_case"]["method"] == "bootstrap"
    for a in one["attacks"]:
        assert a["interval"]["low"] <= a["robust_accuracy"] <= a["interval"]["high"]
    averaged = evaluate_attacks(model, x, labels, attacks, draws=4)
    assert averaged["intervals"]["clean"]["method"] == "bootstrap"
    assert averaged["attacks"][0]["interval"]["method"] == "bootstrap"
    assert averaged["intervals"]["worst_case_rescored"]["n"] == 24
    json.dumps(averaged)


def test_the_paper_protocol_leaves_the_model_in_the_mode_it_found_it():
    """torchattacks restores the mode of the module it attacks, recursively; the kit's wrappers start in the wrapped
    model's mode, so an evaluated model stays in eval mode (a U-Net with dropout would otherwise go on sampling
    with dropout on, through every later attack and score)."""
    from idc_lite.evaluation.attacks.wrappers import BPDA, CountingModel, FirstStepSurrogate, FixedNoise, WithGenerator
    from idc_lite.evaluation.run_protocols import paper_protocols
    from idc_lite.evaluation.scoring import PaperProtocolModel

    model = IDCClassifier(tiny_config()).eval()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    paper_protocols(model, x, torch.tensor([0, 1]), [8 / 255], seed=0, max_steps=1)
    assert not any(m.training for m in model.modules())
    for wrap in (PaperProtocolModel, FixedNoise, BPDA, FirstStepSurrogate, CountingModel,
                 lambda m: WithGenerator(m, torch.Generator())):
        assert not wrap(model).training and wrap(model.train()).training
        model.eval()

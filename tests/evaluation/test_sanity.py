import pytest
import torch

from conftest import Linear, tiny_config
from idc_lite.evaluation import sanity
from idc_lite.evaluation.attacks import PGDSettings
from idc_lite.evaluation.protocol import AttackSpec
from idc_lite.model.classifier import IDCClassifier


def _data(n=12, seed=3):
    model = Linear()
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        labels = model(x).argmax(1)
    return model, x, labels


def test_gradient_check_passes_on_an_idc_model_with_fixed_noise():
    idc = IDCClassifier(tiny_config()).eval()
    idc.unet.reset_parameters(0)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    record = sanity.gradient_checks(idc, x, torch.tensor([0, 1, 2]))
    assert record["status"] == "passed", record
    assert record["values"]["finite"] and max(record["values"]["relative_errors"]) < 1e-3


def test_gradient_check_fails_when_the_gradient_is_zero():
    idc = IDCClassifier(tiny_config()).eval()
    idc.unet.reset_parameters(0)
    idc.config.tau = float("inf")        # logits all zero: no gradient at all
    record = sanity.gradient_checks(idc, torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))
    assert record["status"] == "FAILED" and record["values"]["nonzero_fraction"] == 0.0


def test_undefended_model_check_passes_and_fails_as_it_should():
    model, x, labels = _data()
    strong = sanity.undefended_model_falls(model, x, labels, PGDSettings(eps=0.5, alpha=0.1, steps=10))
    weak = sanity.undefended_model_falls(model, x, labels, PGDSettings(eps=1e-4, alpha=1e-4, steps=1))
    assert strong["status"] == "passed" and strong["values"]["robust"] == 0.0
    assert weak["status"] == "FAILED" and weak["values"]["robust"] == 1.0


def test_library_match_and_eps_sweep():
    model, x, labels = _data()
    assert sanity.matches_library_pgd(model, x, labels, 0.05, 0.01, 5)["status"] == "passed"
    record = sanity.accuracy_against_eps(
        model, x, labels, [0.0, 0.02, 0.5], lambda e: [AttackSpec("pgd", "pgd", {"eps": e, "alpha": e / 4, "steps": 10})],
        num_classes=4)
    accs = [c["accuracy"] for c in record["values"]["curve"]]
    assert accs[0] == 1.0 and accs[-1] == 0.0 and record["status"] == "passed"


def test_eot_budget_and_fixed_noise_checks_on_a_random_model():
    _, x, labels = _data()
    noisy = Linear(noise_std=0.5)
    settings = PGDSettings(eps=0.03, alpha=0.01, steps=3, loss="margin")
    eot = sanity.eot_convergence(noisy, x, labels, settings, [1, 2])
    assert [c["eot_samples"] for c in eot["values"]["curve"]] == [1, 2] and eot["status"] in ("passed", "FAILED")
    doubling = sanity.budget_doubling(noisy, x, labels, settings)
    assert set(doubling["values"]) >= {"base", "doubled_steps", "with_second_restart"}
    assert doubling["values"]["with_second_restart"] <= doubling["values"]["base"] + 1e-6   # per-example minimum
    floor = sanity.fixed_noise_floor(noisy, x, labels, settings)
    assert floor["status"] == "measured" and 0 <= floor["values"]["floor_same_noise"] <= 1


def _result(rows):
    return {"attacks": [{"name": n, "robust_accuracy": sum(v) / len(v), "per_example": v} for n, v in rows.items()]}


def test_checks_read_from_results_report_failures():
    good = _result({"fgsm": [1, 1, 1, 0], "pgd": [1, 0, 0, 0], "bpda": [1, 1, 0, 0], "square": [1, 1, 1, 0]})
    bad = _result({"fgsm": [0, 0, 0, 0], "pgd": [1, 1, 1, 1], "bpda": [0, 0, 1, 1], "square": [0, 0, 0, 0]})
    assert sanity.iterative_beats_single_step(good, "fgsm", ["pgd"])["status"] == "passed"
    assert sanity.iterative_beats_single_step(bad, "fgsm", ["pgd"])["status"] == "FAILED"
    assert sanity.full_gradient_beats_bpda(good, ["pgd"], "bpda")["status"] == "passed"
    assert sanity.full_gradient_beats_bpda(bad, ["pgd"], "bpda")["status"] == "FAILED"
    record = sanity.white_box_beats_black_box(bad, ["pgd"], ["square"])
    assert record["status"] == "FAILED" and record["values"]["square"]["examples_only_black_box_breaks"] == 4
    assert sanity.white_box_beats_black_box(good, ["pgd", "bpda"], ["square"])["status"] == "passed"
    with pytest.raises(KeyError):
        sanity.iterative_beats_single_step(good, "fgsm", ["nope"])


class _Recorder(torch.nn.Module):
    """Delegates to ``inner`` and counts the calls made with and without autograd."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.grad_calls, self.plain_calls = inner, 0, 0

    def forward(self, x, generator=None):
        if torch.is_grad_enabled() and x.requires_grad:
            self.grad_calls += 1
        else:
            self.plain_calls += 1
        return self.inner(x, generator=generator)


def test_sanity_attacks_query_the_gradient_model_and_score_on_the_model():
    """With gradient_model (the 3-call twin in the notebooks) every gradient comes from it and the
    fresh-noise scores from the model; a useless gradient model weakens the attacks, so it is used."""
    _, x, labels = _data()
    settings = PGDSettings(eps=0.2, alpha=0.05, steps=4, loss="margin")
    runs = {
        "eot": lambda m, g: sanity.eot_convergence(
            m, x, labels, settings, [1, 2], gradient_model=g)["values"]["curve"][-1]["accuracy"],
        "doubling": lambda m, g: sanity.budget_doubling(m, x, labels, settings, gradient_model=g)["values"]["base"],
        "floor": lambda m, g: sanity.fixed_noise_floor(
            m, x, labels, settings, gradient_model=g)["values"]["rescored_fresh_noise"],
        "sweep": lambda m, g: sanity.accuracy_against_eps(
            m, x, labels, [0.0, 0.2], lambda e: [AttackSpec("pgd", "pgd", {"eps": e, "alpha": e / 4, "steps": 4})],
            num_classes=4, gradient_model=g)["values"]["curve"][-1]["accuracy"],
    }
    for name, run in runs.items():
        scored, attacker = _Recorder(Linear(noise_std=0.1)), _Recorder(Linear(noise_std=0.1))
        with_gradient_model = run(scored, attacker)
        assert attacker.grad_calls > 0 and scored.grad_calls == 0, name
        assert scored.plain_calls > 0, name
        alone = run(Linear(noise_std=0.1), None)
        assert with_gradient_model == pytest.approx(alone), name      # the same weights: the same attack
        blind = Linear(noise_std=0.1)
        with torch.no_grad():
            blind.weight.neg_()                                      # gradients that point the wrong way
        assert run(Linear(noise_std=0.1), blind) > alone + 0.2, name


def test_the_main_budget_is_the_smallest_on_the_grid_where_the_undefended_model_falls():
    model, x, labels = _data(n=40)
    tried = {}
    for b in (1, 2, 4, 8, 16, 32, 64, 128):
        tried[b] = sanity.undefended_model_falls(model, x, labels, PGDSettings(eps=b / 255, alpha=b / 255 / 4, steps=10)
                                                 )["values"]["robust"]
    falls = [b for b, acc in tried.items() if acc <= 0.05]
    assert falls and falls[0] > 1, f"the crafted model should survive small budgets: {tried}"
    choice = sanity.choose_main_budget(model, x, labels, ["128", 1, 2, 4, 8, 16, 32, 64], steps=10)
    assert choice["eps_255"] == falls[0] and choice["undefended_model_falls"]
    assert [m["eps_255"] for m in choice["measured"]] == [b for b in tried if b <= falls[0]]   # stops at the first
    assert f"{falls[0]:g}/255" in choice["reason"] and "smallest budget" in choice["reason"]
    none = sanity.choose_main_budget(model, x, labels, [1, 2], steps=10)
    assert none["eps_255"] == 2 and not none["undefended_model_falls"] and "the sanity check fails" in none["reason"]
    with pytest.raises(ValueError):
        sanity.choose_main_budget(model, x, labels, [], steps=10)

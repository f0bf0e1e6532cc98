"""The attack registry: an attack registered from outside the package runs in a suite, and evaluate_attacks()'s
cascade keeps the worst case while the later attacks run on fewer examples."""
import pytest
import torch

from conftest import Linear
from idc_lite.evaluation.attacks import AttackEntry, attack_entry, attack_kinds, register_attack, unregister_attack
from idc_lite.evaluation.protocol import AttackSpec, evaluate_attacks
from idc_lite.foundation.errors import InputError


def corner_noise(model, x, labels, generator, params, start=None):
    """A registered attack of this test module: a random corner of the L-inf ball, the best of ``tries``."""
    best, best_margin = x.clone(), torch.full((x.shape[0],), float("-inf"))
    for _ in range(params["tries"]):
        candidate = (x + params["eps"] * (torch.randint(0, 2, x.shape, generator=generator) * 2 - 1)).clamp(0, 1)
        with torch.no_grad():
            logits = model(candidate, generator=generator)
        m = logits.masked_fill(torch.nn.functional.one_hot(labels, logits.shape[1]).bool(), -1e9).max(1).values \
            - logits.gather(1, labels[:, None]).squeeze(1)
        better = m > best_margin
        best = torch.where(better.view(-1, 1, 1, 1), candidate, best)
        best_margin = torch.where(better, m, best_margin)
    return best


@pytest.fixture
def corner_attack():
    entry = register_attack(AttackEntry(kind="corner_noise", run=corner_noise, family="black-box",
                                        defaults={"eps": 8 / 255, "tries": 4}, summary="random corners of the ball"))
    yield entry
    unregister_attack("corner_noise")


@pytest.fixture
def linear_batch():
    model = Linear()
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(x).argmax(1)
    return model, x, labels


def test_an_attack_registered_from_a_test_module_runs_in_a_suite(corner_attack, linear_batch):
    model, x, labels = linear_batch
    assert "corner_noise" in attack_kinds() and attack_entry("corner_noise") is corner_attack
    suite = [AttackSpec("pgd", "pgd", {"eps": 0.05, "alpha": 0.01, "steps": 5}),
             AttackSpec("corners", "corner_noise", {"eps": 0.3, "tries": 8})]
    result = evaluate_attacks(model, x, labels, suite, draws=1)
    row = result["attacks"][1]
    assert row["kind"] == "corner_noise" and row["family"] == "black-box"
    assert row["settings"] == {"eps": 0.3, "tries": 8}
    assert row["queries_per_example"] == 8 and row["gradient_draws_per_example"] == 0
    assert row["max_linf"] <= 0.3 + 1e-6 and row["robust_accuracy"] < 1.0


def test_the_registry_refuses_what_it_cannot_run(corner_attack):
    with pytest.raises(InputError, match="registered already"):
        register_attack(corner_attack)
    with pytest.raises(InputError, match="unknown setting"):
        AttackSpec("c", "corner_noise", {"eps": 0.1, "queries": 3})
    with pytest.raises(InputError, match="start_from"):
        AttackSpec("c", "corner_noise", {"eps": 0.1}, start_from="pgd")
    with pytest.raises(InputError, match="attack kind"):
        AttackSpec("x", "no_such_attack", {})
    unregister_attack("corner_noise")
    with pytest.raises(InputError, match="attack kind"):
        AttackSpec("c", "corner_noise", {"eps": 0.1})


def _suite():
    # no random start: each example's attack is the same whichever examples run beside it
    return [AttackSpec("fgsm", "fgsm", {"eps": 0.04}),
            AttackSpec("pgd", "pgd", {"eps": 0.04, "alpha": 0.01, "steps": 10, "random_start": False}),
            AttackSpec("apgd", "apgd", {"eps": 0.04, "steps": 10, "random_start": False, "loss": "margin"})]


def test_a_cascade_keeps_the_worst_case_and_spends_less(linear_batch):
    model, x, labels = linear_batch
    full = evaluate_attacks(model, x, labels, _suite(), draws=1)
    cascade = evaluate_attacks(model, x, labels, _suite(), draws=1, cascade=True)
    assert cascade["cascade"] and not full["cascade"]
    assert cascade["worst_case_per_example"] == full["worst_case_per_example"]
    assert 0 < full["worst_case_accuracy"] < 1
    first, later = cascade["attacks"][0], cascade["attacks"][1:]
    assert first["attacked_examples"] == x.shape[0] and first["gradient_draws_per_example"] == 1
    assert all(r["attacked_examples"] < x.shape[0] for r in later)
    standing = [i for i, v in enumerate(first["per_example"]) if v > 0]
    assert [i for i, v in enumerate(later[0]["per_example"]) if v is not None] == standing
    assert later[0]["gradient_draws_per_example"] == 11, "PGD-10 spends 11 gradients per attacked example"
    # each row's accuracy is what is left after it, and the last one is the worst case
    left = [r["robust_accuracy"] for r in cascade["attacks"]]
    assert left == sorted(left, reverse=True) and left[-1] == pytest.approx(cascade["worst_case_accuracy"])


def test_a_cascade_on_a_random_model_takes_the_minimum_where_each_attack_ran(linear_batch):
    _, x, labels = linear_batch
    result = evaluate_attacks(Linear(noise_std=3.0), x, labels, _suite(), draws=4, cascade=True)
    rows = [r["per_example"] for r in result["attacks"]]
    for i, worst in enumerate(result["worst_case_per_example"]):
        ran = [row[i] for row in rows if row[i] is not None]
        assert worst == min(ran) and (worst == 0 or len(ran) == len(rows)), "stopped only at 0"
    assert result["worst_case_rescored"] is not None and "worst_case_rescored" in result["intervals"]


def test_the_contributing_pages_worked_example_registers_and_runs(linear_batch):
    import re

    from conftest import REPO

    page = (REPO / "docs" / "contributing.md").read_text()
    module = next(block for block in re.findall(r"```python\n(.*?)```", page, re.S) if "ATTACK = AttackEntry" in block)
    namespace = {}
    exec(compile(module, "contributing.md", "exec"), namespace)
    register_attack(namespace["ATTACK"])
    try:
        model, x, labels = linear_batch
        result = evaluate_attacks(model, x, labels, [AttackSpec("corners10", "corners", {"eps": 0.3, "tries": 10})], draws=1)
        row = result["attacks"][0]
        assert row["family"] == "black-box" and row["queries_per_example"] == 10
        assert row["settings"]["loss"] == "margin" and row["robust_accuracy"] < 1.0
    finally:
        unregister_attack("corners")


def test_a_cascade_refines_square_only_where_it_found_more_and_a_transfer_wherever_standing(linear_batch):
    _, x, labels = linear_batch
    model = Linear(noise_std=0.5)
    suite = [AttackSpec("weak", "pgd", {"eps": 0.1, "alpha": 0.002, "steps": 1, "random_start": False}),
             AttackSpec("square", "square", {"eps": 0.1, "queries": 20}),
             AttackSpec("refine", "apgd", {"eps": 0.1, "steps": 5, "loss": "margin"}, start_from="square")]
    result = evaluate_attacks(model, x, labels, suite, draws=4, cascade=True)
    weak, square, refine = (r["per_example"] for r in result["attacks"])
    expected = [i for i in range(len(x)) if square[i] is not None and 0 < square[i] < weak[i]]
    assert expected, "the test needs examples where the black-box attack found more than the first"
    assert [i for i, v in enumerate(refine) if v is not None] == expected
    # the same from a transfer (PGD on another model, scored on this one): every example still standing
    suite = [suite[0], AttackSpec("transfer", "pgd", {"eps": 0.1, "alpha": 0.01, "steps": 5}, "transfer", source="other"),
             AttackSpec("refine", "apgd", {"eps": 0.1, "steps": 5, "loss": "margin"}, start_from="transfer")]
    other = Linear()
    with torch.no_grad():   # another model: half its weights those of the attacked one, half unrelated
        other.weight.mul_(0.5).add_(torch.randn(4, 64, generator=torch.Generator().manual_seed(5)))
    result = evaluate_attacks(model, x, labels, suite, draws=4, cascade=True, sources={"other": other})
    left = result["attacks"][1]["accuracy_left_per_example"]
    refine = result["attacks"][2]["per_example"]
    assert 0 < sum(v > 0 for v in left) < len(x), "the test needs examples standing and examples broken"
    assert [i for i, v in enumerate(refine) if v is not None] == [i for i, v in enumerate(left) if v > 0]
    first, transfer = (result["attacks"][k]["per_example"] for k in (0, 1))
    assert any(v > 0 and transfer[i] is not None and transfer[i] >= first[i] for i, v in enumerate(left)), \
        "the test needs a standing example where the transfer found no more (the rule for Square skips it)"

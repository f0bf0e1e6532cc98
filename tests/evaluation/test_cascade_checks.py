"""The cascade's sanity checks fail where the gradient lies and pass where it does not."""
import pytest
import torch
from torch import nn

from conftest import Linear
from idc_lite.evaluation import cascade_checks
from idc_lite.evaluation.attacks import APGDSettings
from idc_lite.evaluation.protocol import AttackSpec, evaluate_attacks
from idc_lite.evaluation.suites import cascade_suite
from idc_lite.foundation.errors import InputError


class Rounded(nn.Module):
    """A linear model on images rounded to 8 levels: every input gradient is zero (obfuscated), though the
    model is as easy to fool as the linear one without it."""

    def __init__(self, noise_std=0.0):
        super().__init__()
        self.inner = Linear(noise_std)

    def forward(self, x, generator=None):
        return self.inner(torch.round(x * 8) / 8, generator=generator)


def _suite(eps=0.3):
    return [AttackSpec("pgd", "pgd", {"eps": eps, "alpha": eps / 4, "steps": 10, "random_start": False}),
            AttackSpec("fgsm", "fgsm", {"eps": eps}),
            AttackSpec("square", "square", {"eps": eps, "queries": 200})]


def _run(model, n=40):
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        labels = Linear()(x).argmax(1)
    adversarial = {}
    result = evaluate_attacks(model, x, labels, _suite(), draws=4, cascade=True, examples=adversarial)
    return result, adversarial, x, labels


def test_a_black_box_attack_breaking_what_the_white_box_stage_missed_fails_the_check():
    model = Rounded(noise_std=0.5)
    result, adversarial, x, labels = _run(model)
    record = cascade_checks.challengers_break_little(model, result, adversarial, labels, ["square"],
                                                     "white-box beats black-box")
    assert record["status"] == "FAILED", record
    assert len(record["values"]["broken_alone"]) > 0.01 * len(x)
    assert record["values"]["first_stage"] == ["pgd"]
    assert cascade_checks.white_box_alone(result)["status"] == "FAILED"


def test_an_honest_gradient_passes_the_same_check():
    model = Linear(noise_std=0.5)
    result, adversarial, x, labels = _run(model)
    record = cascade_checks.challengers_break_little(model, result, adversarial, labels, ["square", "fgsm"],
                                                     "white-box beats black-box")
    assert record["status"] == "passed", record
    assert cascade_checks.white_box_alone(result)["status"] == "passed"


def test_a_disputed_example_is_decided_by_rescoring_on_the_same_draws():
    model = Linear(noise_std=0.5)
    result, adversarial, x, labels = _run(model)
    rows = {a["name"]: a for a in result["attacks"]}
    # make square look as if it broke example 0 alone, with the first stage's own image: re-scoring clears it
    rows["pgd"]["per_example"][0], rows["square"]["per_example"][0] = 1.0, 0.0
    adversarial["square"] = adversarial["square"].clone()
    adversarial["square"][0] = adversarial["pgd"][0]
    record = cascade_checks.challengers_break_little(model, result, adversarial, labels, ["square"], "check")
    assert 0 in record["values"]["square"]["disputed"]
    assert 0 not in record["values"]["broken_alone"]


def test_more_attack_finds_more_on_a_model_the_cascade_left_standing():
    model = Linear(noise_std=0.5)
    x = torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        labels = Linear()(x).argmax(1)
    weak = [AttackSpec("pgd", "pgd", {"eps": 0.2, "alpha": 0.001, "steps": 1, "random_start": False})]
    result = evaluate_attacks(model, x, labels, weak, draws=4, cascade=True)
    settings = APGDSettings(eps=0.2, steps=10, loss="margin")
    record = cascade_checks.more_attack_moves_little(model, result, x, labels, settings, draws=4)
    assert record["status"] == "FAILED" and record["values"]["settings"]["steps"] == 20
    strong = [AttackSpec("apgd", "apgd", {"eps": 0.2, "steps": 20, "loss": "margin"})]
    result = evaluate_attacks(model, x, labels, strong, draws=4, cascade=True)
    assert cascade_checks.more_attack_moves_little(model, result, x, labels, settings, draws=4)["status"] == "passed"


def test_blocks_judged_apart_and_joined_give_the_verdict_on_all_their_examples():
    model = Rounded(noise_std=0.5)
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        labels = Linear()(x).argmax(1)
    parts, results = [], []
    for start in (0, 20):   # two blocks of 20, each evaluated and judged on its own images
        adversarial = {}
        result = evaluate_attacks(model, x[start:start + 20], labels[start:start + 20], _suite(), draws=4, cascade=True,
                          examples=adversarial)
        breaks = cascade_checks.challenger_breaks(model, result, adversarial, labels[start:start + 20], ["square"],
                                                  "check", seed=start)
        parts.append((start, breaks))
        results.append((result, breaks))
    joined = cascade_checks.join_challenger_breaks(parts)
    alone = joined["square"]["broken_alone_after_rescoring"]
    assert alone == [i for b, (start, _) in zip(results, parts) for i in
                     (start + j for j in b[1]["square"]["broken_alone_after_rescoring"])]
    assert any(i >= 20 for i in alone), "the second block's breaks keep their place among all 40 examples"
    assert joined["square"]["attacked"] == sum(r["attacks"][2]["attacked_examples"] for r, _ in results)
    from idc_lite.evaluation.sharding import merge_results
    merged = merge_results([r for r, _ in results], seed=0, block_size=20)
    record = cascade_checks.judge_challengers(merged, joined, "check", draws=32)
    assert record["status"] == "FAILED" and record["values"]["broken_alone"] == sorted(alone)
    assert "of the 40 examples" in record["criterion"]


def test_the_eot_heavy_tail_closes_the_white_box_stage():
    """The tail counts as white-box from a random point (the first stage), runs after the cheaper APGD runs
    and before any challenger, and must average more draws than they do."""
    suite = cascade_suite(0.1, apgd_steps=100, apgd_eot=2, tail_eot=20, transfer_source="cnn")
    stage = cascade_checks.first_stage({"attacks": [{"name": s.name} for s in suite]})
    assert stage[-1] == "apgd_dlr_eot20" and stage[-2] == "apgd_eot2_from_other_class"
    tail = suite[len(stage) - 1]
    assert (tail.kind, tail.start_from, tail.params) == ("apgd", None, {"eps": 0.1, "steps": 100, "eot_samples": 20,
                                                                        "loss": "dlr"})
    assert "apgd_dlr_eot20" not in [s.name for s in cascade_suite(0.1, apgd_eot=2, transfer_source="cnn")]
    with pytest.raises(InputError, match="tail_eot"):
        cascade_suite(0.1, apgd_eot=2, tail_eot=2)

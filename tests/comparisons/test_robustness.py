import pytest
import torch

from conftest import tiny_config
from idc_lite.evaluation.scoring import PaperProtocolModel, correct_under_rule, paper_robust, worst_case
from idc_lite.model.classifier import IDCClassifier


class Scripted(torch.nn.Module):
    """Predicts class 0 with probability p (from the generator), else class 1."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x, generator=None):
        u = torch.rand(x.shape[0], generator=generator)
        pred = (u >= self.p).long()
        return torch.nn.functional.one_hot(pred, 2).float()


def test_scoring_rules_differ_as_they_should():
    x = torch.zeros(400, 1, 2, 2)
    labels = torch.zeros(400, dtype=torch.long)
    model = Scripted(0.7)
    g = torch.Generator().manual_seed(0)
    one = correct_under_rule(model, x, labels, "one", g).float().mean()
    majority = correct_under_rule(model, x, labels, "majority", g, draws=9).float().mean()
    every = correct_under_rule(model, x, labels, "all", g, draws=9).float().mean()
    assert every < one < majority
    assert abs(float(one) - 0.7) < 0.08 and float(every) < 0.1
    with pytest.raises(ValueError):
        correct_under_rule(model, x, labels, "best", g)


def test_worst_case_and_paper_count():
    a = torch.tensor([True, True, False, True])
    b = torch.tensor([True, False, True, True])
    assert worst_case({"pgd": a, "square": b}).tolist() == [True, False, False, True]
    assert paper_robust(torch.tensor([True, False]), torch.tensor([True, True])).tolist() == [True, False]
    with pytest.raises(ValueError):
        worst_case({})


def test_paper_protocol_model_is_fixed_noise_probabilities():
    idc = IDCClassifier(tiny_config())
    idc.unet.reset_parameters(0)
    idc.eval()
    wrapped = PaperProtocolModel(idc)
    x = torch.rand(3, 1, 8, 8)
    p1 = wrapped(x, generator=torch.Generator().manual_seed(1))
    p2 = wrapped(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(p1, p2)
    assert torch.allclose(p1.sum(1), torch.ones(3)) and bool((p1 >= 0).all())
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    wrapped(x)
    assert torch.equal(torch.rand(1), before)       # the global RNG is left alone


def test_score_under_rule_estimates_the_chance_of_a_correct_draw():
    from conftest import Linear
    from idc_lite.evaluation.scoring import score_under_rule

    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    deterministic = Linear()
    labels = deterministic(x).argmax(1)
    assert score_under_rule(deterministic, x, labels, "one", torch.Generator().manual_seed(0), draws=4).eq(1).all()
    noisy = Linear(noise_std=3.0)
    score = score_under_rule(noisy, x, labels, "one", torch.Generator().manual_seed(0), draws=20)
    assert ((score > 0) & (score < 1)).any() and score.dtype == torch.float32
    majority = score_under_rule(noisy, x, labels, "majority", torch.Generator().manual_seed(0), draws=5)
    assert set(majority.tolist()) <= {0.0, 1.0}


def test_worst_case_of_scores_is_the_per_example_minimum():
    out = worst_case({"a": torch.tensor([1.0, 0.4, 0.8]), "b": torch.tensor([0.6, 0.9, 0.8])})
    assert torch.allclose(out, torch.tensor([0.6, 0.4, 0.8]))

"""One settings type and one result type for notebook 04 and `idc-lite evaluate` (idc_lite.evaluation.model_evaluation)."""
import pytest
import torch

from conftest import Linear
from idc_lite.evaluation.model_evaluation import SMOKE_CNN_TRAIN_EXAMPLES, Budgets, Evaluation, EvaluationSettings
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.run_metrics import AttackMetrics, AttackSettings


def test_settings_come_from_a_notebooks_parameters_and_shrink_for_smoke_runs():
    params = {"seed": 3, "steps": 7, "num_examples": 50, "run_dir": "ignored", "autoattack_examples": 9}
    settings = EvaluationSettings.from_parameters(params)
    assert (settings.seed, settings.steps, settings.num_examples, settings.smoke) == (3, 7, 50, False)
    small = EvaluationSettings.from_parameters(params, smoke=True)
    assert small.smoke and small.num_examples == 6 and small.steps == 2 and small.autoattack_examples == 2
    assert small.eps_sweep_255 == "8,128" and small.eot_list == [1, 2] and small.seed == 3
    assert small.attack_settings("fp32", None).autoattack_iterations == 2
    # the CNN baselines of a smoke run learn from a capped number of training images ("all" included)
    assert small.cnn_train_examples == SMOKE_CNN_TRAIN_EXAMPLES
    sized = [EvaluationSettings.from_parameters({"cnn_train_examples": n}, smoke=True).cnn_train_examples
             for n in (10_000, 800)]
    assert sized == [SMOKE_CNN_TRAIN_EXAMPLES, 800] and settings.cnn_train_examples == 0
    assert settings.attack_settings("bf16", 100) == AttackSettings(
        steps=7, eot_samples=2, square_queries=100, scoring_draws=5, gradient_twin=True, gradient_precision="bf16",
        cnn_train_examples=100, cascade=True, apgd_steps=100, apgd_eot=2, apgd_tail_eot=20, rescoring_draws=32,
        autoattack_queries=5000, autoattack_iterations=100)


def test_a_step_before_the_budgets_is_refused():
    x = torch.rand(2, 1, 4, 4)
    evaluation = Evaluation(Linear(), Linear(), x, torch.tensor([0, 1]), EvaluationSettings(), AttackSettings())
    with pytest.raises(InputError, match="main_budget"):
        evaluation.paper_protocols()


def test_a_set_budget_is_used_and_the_secondary_one_dropped_when_equal():
    x = torch.rand(2, 1, 4, 4)
    settings = EvaluationSettings(eps_255=16.0, secondary_eps_255=16.0, paper_eps_255=8.0)
    budgets = Evaluation(Linear(), Linear(), x, torch.tensor([0, 1]), settings, AttackSettings()).main_budget(cnn=None)
    assert budgets == Budgets(16 / 255, None, 8 / 255, None) and budgets.all == [8 / 255, 16 / 255]


def test_a_recorded_evaluation_answers_every_step_from_its_record():
    x, labels = torch.rand(3, 1, 4, 4), torch.tensor([0, 1, 0])
    paper = {"paper@8": {"examples": 3}, "paper@16": {"examples": 3}}
    record = AttackMetrics(num_examples=3, sanity_examples=2, eps=16 / 255, paper_eps=8 / 255, seed=5,
                           paper_protocol=paper, adaptive_protocol={"worst_case_accuracy": 0.5},
                           other_scoring_rules=[{"scoring_rule": "all"}], sanity_checks=[{"check": "c", "status": "passed"}],
                           budget_choice={"eps_255": 16.0}, settings=AttackSettings(steps=4),
                           evaluation={"blocks": 1})
    worst = torch.zeros_like(x)
    evaluation = Evaluation.recorded(None, None, record, x, labels, worst, {"a": worst})
    budgets = evaluation.main_budget(cnn=None)          # nothing is attacked: the models are None
    assert budgets.eps == 16 / 255 and budgets.choice == {"eps_255": 16.0}
    assert evaluation.paper_protocols() == {8 / 255: paper["paper@8"], 16 / 255: paper["paper@16"]}
    assert evaluation.adaptive_protocols(cnn=None).main == {"worst_case_accuracy": 0.5}
    assert evaluation.sanity_checks(cnn=None, num_classes=2) == record.sanity_checks
    assert evaluation.worst_adversarial() is worst
    again = evaluation.metrics(cost={}, cnn_file="cnn.pt")
    assert (again.paper_protocol, again.sanity_checks, again.evaluation, again.settings, again.seed) == (
        paper, record.sanity_checks, {"blocks": 1}, AttackSettings(steps=4), 5)


def test_a_recorded_evaluation_without_a_budget_is_refused():
    x = torch.rand(1, 1, 4, 4)
    record = AttackMetrics(num_examples=1, eps=16 / 255, paper_eps=8 / 255, paper_protocol={"paper@8": {}})
    evaluation = Evaluation.recorded(None, None, record, x, torch.tensor([0]), x, {})
    with pytest.raises(InputError, match="no paper-protocol result at 16/255"):
        evaluation.paper_protocols()

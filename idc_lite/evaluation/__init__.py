"""Attacking a model and scoring it honestly: the attacks, the two protocols, the sanity checks.

- ``attacks/``: one module per attack and the ``registry`` of them by kind;
- ``scoring``: the rules a random classifier is scored under; ``protocol``: ``evaluate_attacks`` (the paper's
  protocol and the adaptive one, a cascade); ``suites`` and ``run_protocols``: which attacks a model gets;
- ``sanity`` and ``cascade_checks``: the checks that an evaluation is strong enough, and their shared
  ``check_record``; ``sharding``: an evaluation cut into seeded blocks; ``comparison``: models on the same
  examples; ``examples``: the evaluated examples on disk;
- ``model_evaluation``: notebook 04's evaluation of a model, one settings type and one result type, step by step.

It imports the model and the foundation; ``defences`` is beside it, and neither imports the other.
"""
from idc_lite.evaluation import attacks, sanity
from idc_lite.evaluation.attacks import PGDSettings, autoattack_rand, pgd, pgd_linf
from idc_lite.evaluation.comparison import models_table, paired_comparisons
from idc_lite.evaluation.examples import load_examples, save_examples
from idc_lite.evaluation.model_evaluation import Evaluation, EvaluationSettings
from idc_lite.evaluation.protocol import (
    AttackSpec,
    attack_table,
    evaluate_attacks,
    idc_protocols,
    pick_worst,
    protocol_gap,
    protocols_side_by_side,
    rescore,
)
from idc_lite.evaluation.run_protocols import adaptive_protocol, paper_protocols, protocol_budgets
from idc_lite.evaluation.sanity import summary_rows
from idc_lite.evaluation.scoring import score_under_rule
from idc_lite.evaluation.suites import DEFAULTS

__all__ = ["AttackSpec", "DEFAULTS", "Evaluation", "EvaluationSettings", "PGDSettings", "adaptive_protocol",
           "attack_table", "attacks", "autoattack_rand", "evaluate_attacks", "idc_protocols", "load_examples",
           "models_table", "paired_comparisons", "paper_protocols", "pgd", "pgd_linf", "pick_worst",
           "protocol_budgets", "protocol_gap", "protocols_side_by_side", "rescore", "sanity", "save_examples",
           "score_under_rule", "summary_rows"]

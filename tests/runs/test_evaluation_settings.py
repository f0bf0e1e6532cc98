"""`idc-lite evaluate`'s settings, each from the options, else the smoke sizes, else notebook 04's record, else the
defaults (runs.sharded_evaluation.resolve_config)."""
import argparse

import pytest

from idc_lite.evaluation.model_evaluation import EvaluationSettings
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.run_metrics import AttackMetrics, AttackSettings
from idc_lite.runs.sharded_evaluation import resolve_config

OPTIONS = dict(examples=100, block_size=None, protocol="both", seed=None, eps_255=None, secondary_eps_255=None,
               paper_eps_255=None, paper_full_suite=False, steps=None, eot_samples=None, square_queries=None,
               scoring_draws=None, sanity_examples=None, smoke=False)


def _args(**given):
    return argparse.Namespace(**{**OPTIONS, **given})


RECORD = AttackMetrics(num_examples=100, sanity_examples=12, eps=32 / 255, secondary_eps=None, paper_eps=8 / 255, seed=4,
                       settings=AttackSettings(steps=7, eot_samples=3, square_queries=50, scoring_draws=4, cascade=True,
                                               apgd_steps=0, apgd_eot=0, apgd_tail_eot=0, rescoring_draws=0,
                                               autoattack_queries=None))


def test_without_a_record_the_notebooks_defaults_hold():
    config, settings = resolve_config(_args(), None, 359)
    defaults = EvaluationSettings()
    assert (settings.steps, settings.scoring_draws, settings.sanity_examples) == (defaults.steps, defaults.scoring_draws, 24)
    assert config.eps == 0.0 and config.secondary_eps == 16 / 255 and config.paper_eps == 8 / 255 and config.seed == 0


def test_a_record_of_notebook_04_is_kept_value_for_value_zeros_included():
    config, settings = resolve_config(_args(), RECORD, 359)
    assert (settings.steps, settings.eot_samples, settings.square_queries, settings.scoring_draws) == (7, 3, 50, 4)
    zeros = (settings.apgd_steps, settings.apgd_tail_eot, settings.rescoring_draws, settings.cnn_autoattack_queries)
    assert zeros == (0, 0, 0, 0)
    assert (config.eps, config.secondary_eps, config.seed, config.sanity_examples) == (32 / 255, None, 4, 12)


def test_smoke_sizes_beat_the_record_and_options_beat_both():
    _, smoke = resolve_config(_args(smoke=True), RECORD, 359)
    assert (smoke.steps, smoke.scoring_draws, smoke.sanity_examples, smoke.cnn_epochs) == (2, 2, 4, 1)
    config, given = resolve_config(_args(smoke=True, steps=9, seed=2, secondary_eps_255=0.0, examples=0), RECORD, 359)
    assert (given.steps, given.seed, config.secondary_eps, config.examples) == (9, 2, None, 359)


@pytest.mark.parametrize("given, message", [({"steps": 0}, "--steps must be at least 1"),
                                            ({"eps_255": 300.0}, "between 0 and 255"),
                                            ({"examples": 500}, "between 1 and the test set's 359"),
                                            ({"block_size": 0}, "--block-size must be at least 1")])
def test_bad_options_are_refused(given, message):
    with pytest.raises(InputError, match=message):
        resolve_config(_args(**given), None, 359)

"""Every case of the bad-input table (tests/bad_input_table.py) gets the behaviour it states: the
kit's own error type with a message that says what was expected, a command line's exit status, or
the documented acceptance; and nothing is lost (checkpoints and their records stay byte for byte)."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from bad_input_table import Case, Env, cases, run_case

CASES = cases()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return Env(tmp_path_factory.mktemp("bad-inputs"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, env: Env):
    if case.entry == "idc-lite verify" and env.official_fixture is None:
        pytest.skip("the official-idc fixture is not here: see docs/fidelity.md, 'Checking the kit against their outputs'")
    right, detail = run_case(case, env)
    assert right, detail


def test_the_table_covers_every_public_entry_point():
    per_entry = Counter(c.entry for c in CASES)
    assert len(CASES) >= 200
    for entry in ("IDCClassifier.forward", "IDCClassifier.predict", "IDCClassifier.sample", "SmallCNN.forward",
                  "attacks.pgd", "attacks.pgd_linf", "attacks.fgsm", "attacks.mi_fgsm", "attacks.cw_l2",
                  "attacks.square_linf", "attacks.autoattack_rand", "attacks.other_class_start", "attacks.PGDSettings",
                  "scoring.score_under_rule", "scoring.correct_under_rule", "accuracy.predictions_over_draws",
                  "evaluation.evaluate_attacks", "evaluation.AttackSpec", "accuracy.accuracy_over_draws",
                  "accuracy.evaluate_accuracy", "Trainer", "Trainer.train", "Trainer.save", "Trainer.resume",
                  "training.TrainConfig", "checkpoint.load_classifier",
                  "checkpoint.checkpoint_record", "checkpoint.load_checkpoint_data", "data.DataSplit", "data.load_digits",
                  "data.load_dataset", "baselines.load_cnn", "authors.load_official_classifier",
                  "idc-lite train", "idc-lite verify", "idc-lite reproduce",
                  "runs.check_parameters", "reproduce.check_run_parameters"):
        assert per_entry[entry] >= 1, f"no bad-input case for {entry}"
    assert all(c.expect == "ok" or c.expect.startswith("exit") or c.match for c in CASES), \
        "every error case names the message it expects"


def test_the_runner_catches_wrong_behaviour(env):
    """The table's runner must be able to fail: no error, another error type, a message without the
    expected words, another exit status, and a failed after-check all count as wrong."""
    def raise_value_error(env):
        raise ValueError("plain")

    def input_error(env):
        from idc_lite.foundation.errors import InputError
        raise InputError("eps must be >= 0, got -1")

    def failing_check(env, result):
        raise AssertionError("the file was changed")

    wrong = [Case("t", "no error", lambda env: None, "InputError", "x"),
             Case("t", "another type", raise_value_error, "InputError", "plain"),
             Case("t", "another message", input_error, "InputError", "must be finite"),
             Case("t", "another exit", lambda env: (1, "error: boom"), "exit 2", "boom"),
             Case("t", "exit without the words", lambda env: (2, "error: boom"), "exit 2", "exists"),
             Case("t", "ok that raises", input_error, "ok"),
             Case("t", "check fails", input_error, "InputError", "eps", check=failing_check)]
    for case in wrong:
        assert not run_case(case, env)[0], case.what
    assert run_case(Case("t", "right", input_error, "InputError", "eps must be >= 0"), env)[0]


def test_a_half_precision_batch_gives_the_float32_answer(env):
    """The dtype policy in numbers: float64 input gives exactly the float32 input's logits."""
    x = env.x
    assert torch.equal(env.model(x.double(), generator=torch.Generator().manual_seed(3)),
                       env.model(x, generator=torch.Generator().manual_seed(3)))

"""A heavy call shared between a class's gradings: loaded only when every input is the same, and then exactly
what a fresh call returns and leaves behind."""
import pickle

import pytest
import torch

from idc_lite.foundation.shared_work import SHARED_WORK_ENV, shareable

CALLS = []


@shareable
def noisy_sum(model, x, generator, scale=1.0):
    """Draws from the generator passed in, as a heavy call of the kit does."""
    CALLS.append(1)
    with torch.no_grad():
        return scale * model(x + torch.randn(x.shape, generator=generator)).sum()


@shareable
def global_draw(x):
    CALLS.append(1)
    return x + torch.rand(())


@shareable(fills=("examples",))
def fill(x, examples):
    CALLS.append(1)
    examples["double"] = 2 * x
    return len(examples)


@shareable
def unwritable(x):
    CALLS.append(1)
    return lambda: x


def student_function(x):      # defined outside the kit: a student's answer, never named by its name alone
    return x


@pytest.fixture()
def shared(tmp_path, monkeypatch):
    CALLS.clear()
    monkeypatch.setenv(SHARED_WORK_ENV, str(tmp_path))
    return tmp_path


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())


def _call(model, x, seed=1):
    g = torch.Generator().manual_seed(seed)
    out = noisy_sum(model, x, g)
    return out, g.get_state()


def test_off_unless_the_variable_names_a_folder(monkeypatch, tmp_path):
    CALLS.clear()
    monkeypatch.delenv(SHARED_WORK_ENV, raising=False)
    model, x = _model(), torch.ones(2, 4)
    assert _call(model, x)[0] == _call(model, x)[0] and len(CALLS) == 2
    assert not list(tmp_path.iterdir())


def test_the_same_inputs_load_what_a_fresh_call_returned_and_left_behind(shared):
    model, x = _model(), torch.ones(2, 4)
    fresh = _call(model, x)
    loaded = _call(model, x)
    assert len(CALLS) == 1 and len(list(shared.glob("noisy_sum-*.pkl"))) == 1
    assert loaded[0] == fresh[0] and torch.equal(loaded[1], fresh[1])     # the generator where a fresh call leaves it


@pytest.mark.parametrize("change", ["input", "weights", "attribute", "seed", "keyword"])
def test_any_other_input_runs_the_call(shared, change):
    model, x = _model(), torch.ones(2, 4)
    _call(model, x)
    g = torch.Generator().manual_seed(2 if change == "seed" else 1)
    if change == "weights":
        model[0].bias.data[0] += 1e-6
    if change == "attribute":        # a plain attribute can change what a module computes (a sampler's eta, say)
        model[1].inplace = True
    noisy_sum(model, x + (1e-6 if change == "input" else 0), g, **({"scale": 2.0} if change == "keyword" else {}))
    assert len(CALLS) == 2


def test_a_students_function_a_lambda_or_a_hook_is_never_shared(shared):
    model, x = _model(), torch.ones(2, 4)
    for argument in (student_function, lambda v: v):
        model.forward_fn = argument
        _call(model, x)
        _call(model, x)
    del model.forward_fn
    model.register_forward_hook(lambda module, args, out: out * 2)
    _call(model, x)
    _call(model, x)
    assert len(CALLS) == 6 and not list(shared.iterdir())


def test_a_call_that_draws_from_the_global_generator_is_never_shared(shared):
    """torch seeds its global generator afresh in every process: such a call has no one result to share."""
    torch.manual_seed(5)
    first = global_draw(torch.zeros(1))
    torch.manual_seed(5)
    assert torch.equal(global_draw(torch.zeros(1)), first) and len(CALLS) == 2 and not list(shared.iterdir())


def test_a_filled_dict_comes_back_and_an_unwritable_result_is_only_returned(shared):
    first, second = {}, {}
    assert fill(torch.arange(3), first) == fill(torch.arange(3), second) == 1 and len(CALLS) == 1
    assert torch.equal(second["double"], torch.tensor([0, 2, 4])) and second.keys() == first.keys()
    assert unwritable(torch.ones(1))() == unwritable(torch.ones(1))() and len(CALLS) == 3
    assert [p.name.split("-")[0] for p in shared.iterdir()] == ["fill"]
    with open(next(shared.iterdir()), "rb") as handle:
        assert set(pickle.load(handle)) == {"result", "generators", "fills"}


@shareable
def outer(x):
    CALLS.append("outer")
    return global_draw_free(x) + 1


@shareable
def global_draw_free(x):
    CALLS.append("inner")
    return 2 * x


def test_a_call_inside_a_shared_one_is_not_shared_itself(shared):
    assert torch.equal(outer(torch.ones(1)), torch.tensor([3.0])) and torch.equal(outer(torch.ones(1)), torch.tensor([3.0]))
    assert CALLS == ["outer", "inner"] and [p.name.split("-")[0] for p in shared.iterdir()] == ["outer"]

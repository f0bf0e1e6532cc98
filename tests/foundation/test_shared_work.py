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


CROSS_PROCESS = """
import json, sys
import torch
sys.path.insert(0, {tests!r})
from conftest import tiny_config
from idc_lite.evaluation.model_evaluation import EvaluationSettings
from idc_lite.evaluation.run_protocols import adaptive_protocol, paper_protocols
from idc_lite.model.classifier import IDCClassifier

model = IDCClassifier(tiny_config())
model.load_state_dict(torch.load({state!r}))
model.eval().requires_grad_(False)
x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
labels = torch.tensor([0, 1, 2])
paper = paper_protocols(model, x, labels, [8 / 255], seed=0, max_steps=1)
examples = {{}}
adaptive = adaptive_protocol(model, x, labels, 8 / 255, EvaluationSettings().smoke_sized().attack_settings("fp32", None),
                             seed=0, transfer_source=None, examples=examples)
print(json.dumps([paper[8 / 255]["attacks"][0]["per_example"], adaptive["worst_case_per_example"], sorted(examples)]))
"""


def test_a_second_process_loads_notebook_04s_calls_as_the_next_student_would(tmp_path):
    """What a class's grading relies on, across processes as its students' kernels are: the paper protocol and then
    the adaptive protocol, called in two fresh processes on the same model and images, run once.  (A key holding
    per-process state, torch's global generator, or a paper protocol that changed the model's mode, made the
    second process compute them again.)"""
    import json
    import os
    import subprocess
    import sys

    from conftest import REPO, tiny_config
    from idc_lite.model.classifier import IDCClassifier

    torch.save(IDCClassifier(tiny_config()).state_dict(), tmp_path / "state.pt")
    script = CROSS_PROCESS.format(tests=str(REPO / "tests"), state=str(tmp_path / "state.pt"))
    env = {**os.environ, SHARED_WORK_ENV: str(tmp_path / "shared")}
    printed, files = [], []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        printed.append(json.loads(done.stdout.strip().splitlines()[-1]))
        files.append(sorted(p.name for p in (tmp_path / "shared").iterdir()))
    assert printed[0] == printed[1] and printed[0][2]                      # the same results, the examples filled in
    assert [f.split("-")[0] for f in files[0]] == ["adaptive_protocol", "paper_protocols"] and files[1] == files[0]


def test_a_kept_folder_loads_only_calls_made_by_this_kit_version(shared, monkeypatch):
    """A grading stopped part way and started again with the folder kept loads the calls it made; another kit
    version's calls, or a folder not kept, start empty."""
    from idc_lite.foundation import shared_work

    folder = shared / "kept"
    assert shared_work.open_folder(folder, keep=True) == 0          # a new folder: nothing to load
    monkeypatch.setenv(SHARED_WORK_ENV, str(folder))
    model, x = _model(), torch.ones(2, 4)
    first, _ = _call(model, x)
    assert shared_work.open_folder(folder, keep=True) == 1          # started again: the call is there
    again, _ = _call(model, x)
    assert torch.equal(first, again) and len(CALLS) == 1            # and loaded, not made again
    assert shared_work.open_folder(folder, keep=False) == 0         # not kept: emptied
    _call(model, x)
    monkeypatch.setattr(shared_work, "kit_version", lambda: "another version")
    assert shared_work.open_folder(folder, keep=True) == 0          # another kit version's calls never load
    assert (folder / shared_work.VERSION_FILE).read_text().strip() == "another version"

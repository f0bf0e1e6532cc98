"""A notebook's three sizes (full, lab, smoke): the switches and their environment variables, the note every
figure and table of a lab or smoke run carries, lab-sized evaluation settings, and the model a lab run starts
from when notebook 02 has not run."""
import base64

import pytest
from matplotlib.figure import Figure

from idc_lite.evaluation.model_evaluation import EvaluationSettings
from idc_lite.figures import plots
from idc_lite.foundation.errors import MissingArtifactError
from idc_lite.foundation.runtime import is_lab
from idc_lite.runs.sizes import LAB_NOTE, SMOKE_NOTE, model_for, run_sizes


@pytest.fixture(autouse=True)
def _no_size_variables(monkeypatch):
    for name in ("IDC_LITE_SMOKE", "IDC_LITE_LAB", "IDC_LITE_SHIPPED_MODELS"):
        monkeypatch.delenv(name, raising=False)
    yield
    plots.set_figure_note("")


@pytest.mark.parametrize("value, parameter, expected", [
    (None, False, False), (None, True, True), ("1", False, True), ("0", True, False), ("off", True, False),
    ("yes", False, True), ("", True, True)])
def test_the_grader_variable_decides_over_the_parameter_both_ways(monkeypatch, value, parameter, expected):
    if value is not None:
        monkeypatch.setenv("IDC_LITE_LAB", value)
    assert is_lab(parameter) is expected


def test_smoke_wins_over_lab_and_each_size_sets_its_note(monkeypatch):
    assert run_sizes(False, False) == (False, False) and plots.figure_note() == ""
    assert run_sizes(False, True) == (False, True) and plots.figure_note() == LAB_NOTE
    assert run_sizes(True, True) == (True, False) and plots.figure_note() == SMOKE_NOTE
    monkeypatch.setenv("IDC_LITE_SMOKE", "1")
    assert run_sizes(False, True) == (True, False)


def test_every_shown_figure_and_table_carries_the_note_once():
    fig = Figure()
    fig.subplots().plot([0, 1])
    assert plots.stamp_note(fig) is fig and not fig.texts            # full settings: nothing added
    plots.set_figure_note(LAB_NOTE)
    plots.stamp_note(plots.stamp_note(fig))
    assert [t.get_text() for t in fig.texts] == [LAB_NOTE]
    shown = Figure()
    shown.subplots()
    assert base64.b64decode(plots._figure_png(shown)).startswith(b"\x89PNG")       # the notebooks' display hook
    assert [t.get_text() for t in shown.texts] == [LAB_NOTE]
    plots.set_figure_note(SMOKE_NOTE)
    assert [t.get_text() for t in plots.stamp_note(shown).texts] == [SMOKE_NOTE]     # a new note replaces the old one
    plots.set_figure_note(LAB_NOTE)
    assert plots.table_markdown([{"a": 1}], "title").startswith(f"**title** *{LAB_NOTE}*\n\n| a |")
    assert plots.table_markdown([{"a": 1}]).startswith(f"*{LAB_NOTE}*\n\n| a |")
    plots.set_figure_note("")
    assert plots.table_markdown([{"a": 1}]).startswith("| a |")


def test_lab_settings_shrink_every_size_and_keep_the_attacks():
    full = EvaluationSettings()
    lab = EvaluationSettings.from_parameters({"num_examples": 100, "steps": 10}, lab=True)
    smoke = EvaluationSettings.from_parameters({}, smoke=True, lab=True)
    assert lab.lab and not lab.smoke and smoke.smoke and not smoke.lab
    assert lab.num_examples == 8 and lab.sanity_examples == 4 and lab.steps == full.steps and lab.budget_examples == 100
    assert lab.secondary_eps_255 == 0 and lab.paper_max_steps == 10 and full.paper_max_steps is None
    for name in ("square_queries", "scoring_draws", "apgd_steps", "apgd_eot", "apgd_tail_eot", "rescoring_draws",
                 "cnn_autoattack_queries"):
        assert 0 < getattr(lab, name) <= getattr(full, name), name
        assert getattr(smoke, name) <= getattr(lab, name), name
    assert lab.eps_sweep_255 == "32,128" and lab.eot_curve == "1,2,4" and lab.autoattack_examples == 0
    assert EvaluationSettings(eot_curve="1,8,16").lab_sized().eot_curve == "1,4,8"       # never more than asked for
    assert EvaluationSettings(eps_sweep_255="16,32").lab_sized().eps_sweep_255 == "16,32"   # a curve, never one point
    assert lab.cascade == full.cascade and lab.gradient_twin == full.gradient_twin
    assert smoke.cost_batch < lab.cost_batch < full.cost_batch      # the cost is timed on a smaller batch at lab sizes
    assert lab.attack_settings("fp32", None).autoattack_iterations < full.attack_settings("fp32", None).autoattack_iterations
    assert EvaluationSettings(num_examples=5).lab_sized().num_examples == 5       # never more than asked for


def test_a_lab_run_without_a_model_starts_from_the_shipped_one(tmp_path, monkeypatch, capsys):
    from idc_lite.training import load_checkpoint_data, load_classifier

    with pytest.raises(MissingArtifactError, match="02_train_classifier"):
        model_for(tmp_path, lab=False)
    monkeypatch.setenv("IDC_LITE_SHIPPED_MODELS", "0")
    with pytest.raises(MissingArtifactError, match="02_train_classifier"):
        model_for(tmp_path, lab=True)
    monkeypatch.delenv("IDC_LITE_SHIPPED_MODELS")
    path = model_for(tmp_path, lab=True)
    assert path == tmp_path / "model.pt" and "lab run" in capsys.readouterr().out
    assert load_checkpoint_data(path).info["dataset"] == "digits" and load_classifier(path).config.num_timesteps == 4
    stamp = path.stat().st_mtime_ns
    assert model_for(tmp_path, lab=True) == path and path.stat().st_mtime_ns == stamp      # a model there is kept


def test_a_kernel_shows_a_figure_as_one_png_with_the_note():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.display_formatter.formatters["image/svg+xml"].for_type(Figure, lambda fig: "<svg/>")   # %matplotlib's
        plots.set_figure_note(LAB_NOTE)                    # registers the hook again, as a notebook's setup cell does
        fig = Figure()
        fig.subplots().plot([0, 1])
        data, _ = shell.display_formatter.format(fig)
        assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG") and "image/svg+xml" not in data
        assert [t.get_text() for t in fig.texts] == [LAB_NOTE]
    finally:
        InteractiveShell.clear_instance()


def test_a_lab_variable_that_says_neither_is_refused(monkeypatch):
    from idc_lite.foundation.errors import InputError

    monkeypatch.setenv("IDC_LITE_LAB", "maybe")
    with pytest.raises(InputError, match="IDC_LITE_LAB='maybe': use 1"):
        is_lab(True)

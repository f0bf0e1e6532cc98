import json

import pytest

from idc_lite.foundation.errors import MissingArtifactError
from idc_lite.foundation.runtime import is_smoke
from idc_lite.runs.folders import require, resolve_run_dir
from idc_lite.runs.parameters import check_parameters


def _namespace(**params):
    before = {"torch", "np"}
    ns = {"torch": 1, "np": 2, "__annotations__": {"epochs": int, "lr": float, "name": str, "smoke": bool}, "_i3": "x"}
    ns.update({"epochs": 3, "lr": 0.1, "name": "a", "smoke": False})
    ns.update(params)
    return ns, before


def test_declared_parameters_pass_and_ints_are_floats():
    ns, before = _namespace(lr=1)
    assert check_parameters(ns, before) == {"epochs": 3, "lr": 1, "name": "a", "smoke": False}


@pytest.mark.parametrize("extra, message", [
    ({"epcohs": 3}, r"unknown parameter\(s\) \['epcohs'\]; this notebook takes: epochs: int"),
    ({"epochs": "3"}, "parameter epochs must be int"),
    ({"epochs": True}, "parameter epochs must be int"),
    ({"smoke": "yes"}, "parameter smoke must be bool"),
])
def test_unknown_or_mistyped_parameters_are_rejected(extra, message):
    ns, before = _namespace(**extra)
    with pytest.raises(ValueError, match=message):
        check_parameters(ns, before)


def test_smoke_switch_and_run_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("IDC_LITE_SMOKE", raising=False)
    assert not is_smoke(False) and is_smoke(True)
    monkeypatch.setenv("IDC_LITE_SMOKE", "1")
    assert is_smoke(False)
    monkeypatch.setenv("IDC_LITE_RUN_DIR", str(tmp_path / "r"))
    assert resolve_run_dir("") == tmp_path / "r" and (tmp_path / "r").is_dir()
    assert resolve_run_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"
    with pytest.raises(MissingArtifactError, match="run 02_train_classifier.ipynb first"):
        require(tmp_path / "model.pt", "02_train_classifier.ipynb")


def test_paths_resolve_against_the_repository_wherever_the_kernel_starts(monkeypatch, tmp_path):
    from conftest import REPO
    from idc_lite.data.datasets import resolve_data_root
    from idc_lite.foundation.runtime import repository_root

    monkeypatch.delenv("IDC_LITE_RUN_DIR", raising=False)
    monkeypatch.delenv("IDC_LITE_DATA", raising=False)
    monkeypatch.chdir(REPO / "notebooks")                      # where JupyterLab starts a notebook's kernel
    assert repository_root() == REPO
    assert resolve_data_root() == REPO / "data"
    assert resolve_data_root("elsewhere") == REPO / "elsewhere"
    assert resolve_data_root(str(tmp_path)) == tmp_path
    monkeypatch.setenv("IDC_LITE_RUN_DIR", str(tmp_path / "runs" / "mine"))
    assert resolve_run_dir() == tmp_path / "runs" / "mine"
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        resolve_run_dir(str(tmp_path / "a_file"))


def test_default_run_dir_is_in_the_repository(monkeypatch, tmp_path):
    from conftest import REPO

    monkeypatch.delenv("IDC_LITE_RUN_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    target = REPO / "runs" / "interactive"
    existed = target.exists()
    try:
        assert resolve_run_dir() == target and target.is_dir()
    finally:
        if not existed:
            target.rmdir()


def test_settings_differences_name_every_changed_setting():
    from idc_lite.foundation.reuse import settings_differences

    stored = {"epochs": 15, "seed": 0, "adversarial": {"eps": 0.0627, "steps": 5}, "shape": [1, 16, 16]}
    assert settings_differences(stored, {**stored, "shape": (1, 16, 16)}) == []     # tuples and lists alike
    diff = settings_differences(stored, {**stored, "seed": 1, "adversarial": {"eps": 0.125, "steps": 5}, "new": 3})
    assert diff == ["adversarial.eps: stored 0.0627, asked 0.125", "new: stored '<missing>', asked 3",
                    "seed: stored 0, asked 1"]
    assert settings_differences(stored, {**stored, "epochs": 30}, ignore=("epochs",)) == []


def test_artefact_for_settings_never_reuses_or_replaces_silently(tmp_path):
    import json

    from idc_lite.foundation.reuse import artefact_for_settings

    def stored(path):
        return json.loads(path.read_text())

    main = tmp_path / "cnn.pt"
    first = artefact_for_settings(main, {"epochs": 15}, stored)
    assert first.path == main and not first.exists and "not there yet" in first.note
    main.write_text(json.dumps({"epochs": 15}))
    same = artefact_for_settings(main, {"epochs": 15}, stored)
    assert same.path == main and same.exists
    other = artefact_for_settings(main, {"epochs": 1}, stored)
    assert other.path != main and other.path.parent == tmp_path and other.path.suffix == ".pt" and not other.exists
    assert "epochs: stored 15, asked 1" in other.note and "leaving cnn.pt as it is" in other.note
    other.path.write_text(json.dumps({"epochs": 1}))
    again = artefact_for_settings(main, {"epochs": 1}, stored)
    assert again.path == other.path and again.exists
    assert json.loads(main.read_text()) == {"epochs": 15}


def test_exercise_dir_is_inside_the_run(tmp_path):
    from idc_lite.runs.folders import exercise_dir

    path = exercise_dir(tmp_path, "05_adv_cnn_2eps")
    assert path == tmp_path / "exercises" / "05_adv_cnn_2eps" and path.is_dir()


def test_progress_bars_only_where_someone_watches(monkeypatch):
    from idc_lite.foundation.runtime import progress_bar

    monkeypatch.delenv("IDC_LITE_SMOKE", raising=False)
    monkeypatch.delenv("IDC_LITE_HEADLESS", raising=False)
    assert not progress_bar(range(3)).disable and progress_bar(range(3), disable=True).disable
    monkeypatch.setenv("IDC_LITE_HEADLESS", "1")     # papermill, nbval, grading: no widget bar in the notebook
    assert progress_bar(range(3)).disable


def test_environment_sets_and_restores(monkeypatch):
    import os

    from idc_lite.foundation.runtime import environment

    monkeypatch.setenv("IDC_LITE_A", "old")
    monkeypatch.delenv("IDC_LITE_B", raising=False)
    with environment(IDC_LITE_A=None, IDC_LITE_B="new"):
        assert "IDC_LITE_A" not in os.environ and os.environ["IDC_LITE_B"] == "new"
    assert os.environ["IDC_LITE_A"] == "old" and "IDC_LITE_B" not in os.environ


def _notebook(path, source: str):
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("smoke: bool = False\nseed: int = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_run_stopped_by_a_failing_notebook_still_reports_what_finished(tmp_path):
    """run() writes summary.json / summary.md marked incomplete, naming the notebook that stopped it,
    and raises the notebook's error again; --summarize rebuilds the same report."""
    import papermill

    from idc_lite.runs import reproduce

    notebooks = [_notebook(tmp_path / "01_fine.ipynb", "print('fine')"),
                 _notebook(tmp_path / "02_broken.ipynb", "raise RuntimeError('broken on purpose')")]
    out = tmp_path / "run"
    with pytest.raises(papermill.PapermillExecutionError, match="broken on purpose"):
        reproduce.run(out, smoke=True, seed=0, extra={}, notebooks=notebooks)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["finished_notebooks"] == ["01_fine"]
    assert summary["unfinished_notebooks"] == ["02_broken"] and summary["stopped"]["notebook"] == "02_broken"
    text = (out / "summary.md").read_text()
    assert "INCOMPLETE RUN" in text and "broken on purpose" in text
    with pytest.raises(reproduce.ParameterError, match="epochs"):
        reproduce.run(tmp_path / "other", smoke=True, seed=0, extra={"epochs": 3}, notebooks=notebooks)
    assert not (tmp_path / "other").exists()

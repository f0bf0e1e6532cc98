import pytest

from idc_lite.runs import MissingArtifactError, check_parameters, is_smoke, require, resolve_run_dir


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

"""`idc-lite` is the documented way in (also as `python -m idc_lite`), with the console script,
`idc_lite.load_classifier` and `idc_lite.load_examples`."""
import runpy
import subprocess
import sys

import pytest
import tomllib

from conftest import REPO
from idc_lite import cli


def test_help_lists_every_subcommand(capsys):
    assert cli.main(["--help"]) == 0
    printed = capsys.readouterr().out
    for name in ("train", "reproduce", "verify", "sweep", "assignments", "grade", "check-report", "results"):
        assert name in printed and name in cli.SUBCOMMANDS


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_each_subcommand_answers_help_under_its_own_name(name, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: idc-lite {name}")


def test_an_unknown_subcommand_is_refused_with_the_list(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["trian"])
    assert done.value.code == 2 and "invalid choice: 'trian'" in capsys.readouterr().err
    assert cli.main([]) == 2


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_python_dash_m_idc_lite_runs_each_subcommand(name, monkeypatch, capsys):
    """As `python -m idc_lite NAME --help` (and torchrun's `-m idc_lite NAME`) runs it: runpy, in this process."""
    monkeypatch.setattr(sys, "argv", ["idc_lite", name, "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("idc_lite", run_name="__main__", alter_sys=True)
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: idc-lite {name}")


def test_python_dash_m_idc_lite_is_the_command():
    done = subprocess.run([sys.executable, "-m", "idc_lite", "verify", "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: idc-lite verify"), done.stderr[-2000:]


def test_console_scripts_point_at_functions_that_exist():
    import importlib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["idc-lite"] == "idc_lite.cli:main"
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


def test_the_stable_way_in_for_outside_evaluators():
    import idc_lite
    from idc_lite.evaluation.examples import load_examples
    from idc_lite.training.checkpoint import load_classifier

    assert idc_lite.load_classifier is load_classifier and idc_lite.load_examples is load_examples
    assert not hasattr(idc_lite, "no_such_thing")     # anything else: an AttributeError, as for any module


def test_reproduce_through_a_notebook_runs_the_ones_up_to_it_and_refuses_an_unknown_one(tmp_path, capsys):
    from idc_lite.cli.reproduce import main, notebooks_through

    assert [p.stem[:2] for p in notebooks_through("05")] == ["01", "02", "03", "04", "05"]
    assert notebooks_through("03_denoising_trajectories")[-1].stem == "03_denoising_trajectories"
    assert notebooks_through(None) is None
    assert main(["--smoke", "--through", "5", "--out", str(tmp_path / "run")]) == 2
    assert "--through '5': name one notebook" in capsys.readouterr().err and not (tmp_path / "run").exists()

"""The pip requirements and the conda environment describe the same packages, and the two README
commands are what the Makefile and CI run."""
import re

from conftest import REPO


def _pins(lines):
    return sorted(line.strip() for line in lines if re.match(r"^[A-Za-z0-9_.\-]+==", line.strip()))


def test_environment_yml_matches_requirements():
    req = _pins((REPO / "requirements.txt").read_text().splitlines())
    yml = (REPO / "environment.yml").read_text().splitlines()
    pip_section = [line.strip()[2:] for line in yml if line.strip().startswith("- ") and "==" in line]
    assert req, "requirements.txt pins nothing"
    assert _pins(pip_section) == req
    assert any(line.strip() == "- python=3.11" for line in yml)


def test_every_requirement_is_pinned():
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert "==" in line, f"unpinned requirement: {line}"


def test_design_card_dependencies_are_present():
    names = {p.split("==")[0].lower() for p in _pins((REPO / "requirements.txt").read_text().splitlines())}
    assert {"torch", "torchvision", "jupyterlab", "matplotlib", "ipywidgets", "papermill", "nbval"} <= names


def test_readme_commands_match_makefile_and_ci():
    readme = (REPO / "README.md").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert "make reproduce" in readme and "make test" in readme
    assert re.search(r"^reproduce:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()

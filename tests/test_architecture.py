"""The package's shape is a contract: its layers (import-linter, configured in pyproject.toml), no import
cycles, modules and functions small enough to read, every error type in one module, one FLOP counter and
one timer, and notebook records read through one typed accessor."""
import ast
import re
import subprocess
import sys

import pytest

from conftest import REPO

PACKAGE = REPO / "idc_lite"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def test_import_linter_contracts_hold():
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
                           "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"Contracts: 3 kept, 0 broken", done.stdout), done.stdout[-2000:]


def _contract_layers(container: str) -> set[str]:
    """The names the layers contract of ``container`` places (pyproject.toml)."""
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    contract = next(c for c in contracts if c.get("containers") == [container])
    return {name.strip() for layer in contract["layers"] for name in layer.split("|")}


def test_the_layers_are_folders():
    """Nothing but ``__init__`` and ``__main__`` lies loose in the package: every layer is a folder."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert loose == []


@pytest.mark.parametrize("container, folder", [("idc_lite", PACKAGE), ("idc_lite.foundation", PACKAGE / "foundation")])
def test_the_contract_names_every_module_and_package(container, folder):
    present = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} | {p.name for p in folder.iterdir()
                                                                               if (p / "__init__.py").is_file()}
    named = _contract_layers(container)
    assert present <= named, f"not placed in a layer: {sorted(present - named)}"
    assert named <= present, f"layers that do not exist: {sorted(named - present)}"


def test_no_module_is_loaded_behind_the_contracts_back():
    """import-linter sees import statements only: no importlib or __import__ in the package."""
    hidden = [str(p.relative_to(PACKAGE)) for p in MODULES
              if re.search(r"\bimportlib\.import_module\(|__import__\(", p.read_text())]
    assert hidden == []


PACKAGES = sorted(p.parent for p in PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("folder", PACKAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_package_says_what_it_holds(folder):
    """Each ``__init__.py`` opens with a docstring: what the folder holds and what it may import."""
    doc = ast.get_docstring(_tree(folder / "__init__.py"))
    assert doc and len(doc.split()) >= 12, f"{folder.relative_to(REPO)}/__init__.py says nothing about its folder"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_500_lines(path):
    assert len(path.read_text().splitlines()) <= 500


def test_no_function_is_over_80_lines():
    long = [f"{path.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in MODULES for node in ast.walk(_tree(path))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80]
    assert long == []


def test_every_error_type_lives_in_errors_py():
    import idc_lite.foundation.errors as errors

    elsewhere = []
    for path in MODULES:
        if path.name == "errors.py":
            continue
        for node in ast.walk(_tree(path)):
            bases = [getattr(b, "id", getattr(b, "attr", "")) for b in getattr(node, "bases", [])]
            if isinstance(node, ast.ClassDef) and any(re.search(r"(Error|Exception|Failed|Warning)$", b) for b in bases):
                elsewhere.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert elsewhere == []
    kit = [v for v in vars(errors).values()
           if isinstance(v, type) and issubclass(v, Exception) and v.__module__ == errors.__name__]
    assert len(kit) >= 15 and all(issubclass(e, errors.KitError) for e in kit)


def test_one_flop_counter_and_one_timer():
    sources = [*MODULES, *(REPO / "benchmarks").glob("*.py")]
    counters = [p.relative_to(REPO) for p in sources if "FlopCounterMode(" in p.read_text()]
    assert [str(p) for p in counters] == ["idc_lite/foundation/cost_meter.py"]
    timing_loops = [p.relative_to(REPO) for p in sources if re.search(r"for _ in range\(repeats\)", p.read_text())]
    assert [str(p) for p in timing_loops] == ["idc_lite/foundation/cost_meter.py"]


def test_notebook_records_are_read_through_the_typed_accessor():
    """No module or notebook reads a record by its file stem ('04_attack') as a key."""
    pattern = re.compile(r"""\.get\(\s*["']0[1-6]_[a-z_]+["']|\[\s*["']0[1-6]_[a-z_]+["']\s*\]""")
    sources = {str(p.relative_to(REPO)): p.read_text() for p in [*MODULES, *(REPO / "benchmarks").glob("*.py")]}
    sources.update({str(p.relative_to(REPO)): p.read_text() for p in (REPO / "notebooks").glob("*.ipynb")})
    assert [name for name, text in sources.items() if pattern.search(text)] == []


def test_notebook_04_takes_its_attack_defaults_from_the_one_place():
    """Papermill needs literals in the parameters cell; they must be the kit's defaults (evaluation.suites.DEFAULTS)."""
    import nbformat

    from idc_lite.evaluation.suites import DEFAULTS

    cell = next(c for c in nbformat.read(REPO / "notebooks" / "04_attack.ipynb", as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))
    values = {n.target.id: ast.literal_eval(n.value) for n in ast.parse(cell.source).body if isinstance(n, ast.AnnAssign)}
    for name in ("steps", "eot_samples", "square_queries", "apgd_steps", "apgd_eot", "apgd_tail_eot", "rescoring_draws"):
        assert values[name] == getattr(DEFAULTS, name), name
    # notebook 04 and idc-lite evaluate share one settings type, whose defaults are the parameters cell's
    from dataclasses import fields

    from idc_lite.evaluation.model_evaluation import EvaluationSettings

    shared = [f for f in fields(EvaluationSettings) if f.name not in ("smoke", "lab", "budget_examples")]   # the sizes
    assert {f.name for f in shared} <= set(values), sorted({f.name for f in shared} - set(values))
    assert {f.name: values[f.name] for f in shared} == {f.name: f.default for f in shared}


def test_notebook_04_takes_one_path_for_a_recorded_and_a_fresh_evaluation():
    """No cell of notebook 04 branches on a recorded evaluation or sizes itself for smoke runs: the settings type
    (``EvaluationSettings.smoke_sized``) and the evaluation (``Evaluation``) do, for the notebook and the command."""
    import nbformat

    code = [c.source for c in nbformat.read(REPO / "notebooks" / "04_attack.ipynb", as_version=4).cells
            if c.cell_type == "code"]
    forks = [line for src in code for line in src.splitlines()
             if re.match(r"\s*(el)?if (not )?(smoke|recorded|evaluation_dir)\b", line)
             or re.search(r" if (smoke|recorded|evaluation_dir) else ", line)]
    assert forks == []
    assert sum("begin_evaluation(" in src for src in code) == 1
    assert sum("EvaluationSettings.from_parameters(" in src for src in code) == 1


def _logic_lines(source: str) -> int:
    """Lines that do something: not blank, not a comment, not an import."""
    return sum(1 for line in source.splitlines()
               if line.strip() and not line.lstrip().startswith(("#", "import ", "from ")))


def test_notebook_cells_call_the_package():
    """No code cell holds more than 15 lines of logic (imports and the papermill parameters cell aside):
    orchestration (load-or-train, attack suites, sanity checks, evaluating every model) is in the package."""
    import nbformat

    long_cells = []
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
                if _logic_lines(cell.source) > 15:
                    long_cells.append(f"{path.name} cell {index}: {_logic_lines(cell.source)} lines")
    assert long_cells == []


def test_logic_lines_leave_out_comments_and_imports():
    assert _logic_lines("import torch\nfrom a import b\n\n# why\nx = 1  # what\n    y = 2\n") == 2


LAYER_PACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "cli")


@pytest.mark.parametrize("name", LAYER_PACKAGES)
def test_each_package_says_truly_what_it_imports(name):
    """The face's "It imports ..." sentence names every package of the kit its modules import."""
    doc = ast.get_docstring(_tree(PACKAGE / name / "__init__.py"))
    said = re.search(r"It imports ([^.;(]*)", doc)
    named = set() if "imports nothing of the kit" in doc else set(re.findall(r"\w+", said.group(1) if said else ""))
    imported = set()
    for path in (PACKAGE / name).rglob("*.py"):
        imported |= set(re.findall(r"^\s*(?:from|import) idc_lite\.(\w+)", path.read_text(), flags=re.M))
    assert imported - {name} <= named, f"idc_lite/{name}/__init__.py does not say it imports {sorted(imported - {name} - named)}"
    assert named & set(LAYER_PACKAGES) <= imported | {name}, f"idc_lite/{name} does not import {sorted(named - imported)}"


def test_the_tests_mirror_the_package():
    """``tests/<layer>/`` holds the tests of ``idc_lite/<layer>/``: each test folder names a folder of the package."""
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name not in ("fixtures", "__pycache__")}
    assert folders and folders <= set(LAYER_PACKAGES) | {"cli"}, sorted(folders - set(LAYER_PACKAGES))


def test_no_test_module_imports_another():
    """Shared helpers live in conftest.py, exercise_solutions.py or bad_input_table.py: a test module imported by
    another works only when pytest happened to load it first (its folder on sys.path)."""
    imports = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in (REPO / "tests").rglob("test_*.py")
               for m in re.finditer(r"^\s*(from|import) test_\w+", p.read_text(), flags=re.M)]
    assert imports == []


def test_nbformat_is_read_through_one_place_and_no_kernel_imports_it():
    """nbformat's schema checker is slow to import: every module reaches it through ``read_notebook`` or
    ``write_notebook`` (foundation/files.py, which import it on first use), so a kernel that imports what the
    notebooks import never loads it."""
    direct = [str(p.relative_to(REPO)) for p in MODULES if p.name != "files.py"
              and re.search(r"^\s*(import nbformat|from nbformat)", p.read_text(), re.M)]
    assert direct == []
    notebook_imports = sorted({m.group(1) for nb in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")
                               for m in re.finditer(r"(?:from|import) (idc_lite[\w.]*)", nb.read_text())})
    assert "idc_lite.teaching" in notebook_imports, notebook_imports
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in notebook_imports) + \
           "print(sorted(m for m in sys.modules if m.split('.')[0] == 'nbformat'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout

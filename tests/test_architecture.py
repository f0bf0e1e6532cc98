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
    assert re.search(r"Contracts: 2 kept, 0 broken", done.stdout), done.stdout[-2000:]


def test_the_contract_names_every_top_level_module_and_package():
    text = (REPO / "pyproject.toml").read_text()
    layers = text.split("layers = [", 1)[1].split("]", 1)[0]
    named = set(re.findall(r"[\w]+", layers))
    present = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {p.name for p in PACKAGE.iterdir()
                                                                                if (p / "__init__.py").is_file()}
    assert present <= named, f"not placed in a layer: {sorted(present - named)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_500_lines(path):
    assert len(path.read_text().splitlines()) <= 500


def test_no_function_is_over_80_lines():
    long = [f"{path.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in MODULES for node in ast.walk(_tree(path))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80]
    assert long == []


def test_every_error_type_lives_in_errors_py():
    import idc_lite.errors as errors

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
    assert [str(p) for p in counters] == ["idc_lite/measure.py"]
    timing_loops = [p.relative_to(REPO) for p in sources if re.search(r"for _ in range\(repeats\)", p.read_text())]
    assert [str(p) for p in timing_loops] == ["idc_lite/measure.py"]


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
    # idc-lite evaluate falls back on the same defaults where a run has no record of notebook 04
    from idc_lite.runs.evaluate import NOTEBOOK_DEFAULTS

    for name, value in NOTEBOOK_DEFAULTS.items():
        assert values[name] == value, name


def _smoke_overrides(source: str) -> dict:
    """``{name: value}`` of the tuple assignments under ``if smoke:`` (``min(x, N)`` read as N)."""
    smoke = next(n for n in ast.parse(source).body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "smoke")
    values = {}
    for node in (n for n in smoke.body if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Tuple)):
        for target, value in zip(node.targets[0].elts, node.value.elts):
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "min":
                value = value.args[-1]
            if isinstance(value, ast.Constant):
                values[target.id] = value.value
    return values


def test_notebook_04_and_idc_lite_evaluate_smoke_alike():
    """`idc-lite evaluate --smoke` proves the code path with notebook 04's smoke settings: one table kept equal."""
    import nbformat

    from idc_lite.runs.evaluate import SMOKE

    cells = nbformat.read(REPO / "notebooks" / "04_attack.ipynb", as_version=4).cells
    values = _smoke_overrides(next(c.source for c in cells if c.cell_type == "code" and c.source.startswith("eps_list")))
    assert set(SMOKE) <= set(values), sorted(set(SMOKE) - set(values))
    assert {name: values[name] for name in SMOKE} == SMOKE


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

"""The main job: run every notebook in order with papermill into a new run folder, then write
``summary.md`` and ``summary.json`` there.  ``make reproduce`` calls this.

    idc-lite reproduce [--preset NAME] [--smoke] [--out runs/NAME] [--seed 0] [-p NAME VALUE ...]

``--preset`` passes the preset's notebook parameters (:meth:`~idc_lite.training.presets.Preset.run_parameters`:
its label-image size, attack budgets, evaluation sizes); ``-p`` values override them.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from idc_lite.foundation.errors import KitError, ParameterError
from idc_lite.foundation.machine import machine_info
from idc_lite.foundation.runtime import HEADLESS_ENV, LAB_ENV, MODEL_ENV, SHIPPED_ENV, environment, resolve_path
from idc_lite.runs.folders import notebook_paths
from idc_lite.runs.html_report import export_html
from idc_lite.runs.parameters import check_value
from idc_lite.runs.summary import build_summary, write_summary


def declared_parameters(notebooks: list[Path]) -> dict[Path, dict[str, str]]:
    """Each notebook's ``parameters`` cell as papermill reads it: {name: annotated type name}."""
    import papermill

    return {nb: {name: info.get("inferred_type_name") or "None"
                 for name, info in papermill.inspect_notebook(str(nb)).items()} for nb in notebooks}


def check_run_parameters(notebooks: list[Path], parameters: dict,
                         declared: dict[Path, dict[str, str]] | None = None) -> None:
    """Every parameter must be declared by some notebook, with a value of the declared type;
    checked before the first notebook runs, so a typo costs nothing.  Raises ParameterError.
    ``declared``: :func:`declared_parameters` of the notebooks, when already read."""
    declared = declared or declared_parameters(notebooks)
    types: dict[str, str] = {}
    for names in declared.values():
        types.update(names)
    unknown = sorted(set(parameters) - set(types))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; the notebooks take: {sorted(types)}")
    problems = []
    for name, value in parameters.items():
        try:
            check_value(name, value, types[name])
        except ParameterError as err:
            problems.append(str(err))
    if problems:
        raise ParameterError("; ".join(problems) + " (-p values are JSON: -p epochs 10, -p run_name '\"text\"')")


def check_model_path(model_path: str) -> None:
    """A ``model_path`` (or ``$IDC_LITE_MODEL``) must be a checkpoint, checked before notebook 01 runs, as
    notebook 02 resolves it.  Raises ParameterError naming the file and what is wrong with it."""
    if not model_path:
        return
    from idc_lite.training.load_or_train import check_model_file

    path = resolve_path(model_path)
    try:
        check_model_file(path)
    except (KitError, OSError, ValueError) as err:
        raise ParameterError(f"model_path {path} is not a usable checkpoint: {err}") from None


def run(out: Path, smoke: bool, seed: int, extra: dict, notebooks: list[Path] | None = None) -> dict:
    """Run the notebooks into ``out``.  A notebook that fails (or an interrupt) stops the run; the
    summary of what finished is still written, marked incomplete, and the error is raised again."""
    import papermill

    notebooks = notebooks or notebook_paths()
    declared = declared_parameters(notebooks)
    check_run_parameters(notebooks, {"smoke": smoke, "seed": seed, **extra}, declared)
    check_model_path(extra.get("model_path") or os.environ.get(MODEL_ENV, ""))
    machine = machine_info()             # where the timings below are measured (about a second)
    out.mkdir(parents=True, exist_ok=True)
    executed = out / "notebooks"
    executed.mkdir(exist_ok=True)
    base = {"run_dir": str(out.resolve()), "smoke": smoke, "seed": seed, **extra}
    timings = {}
    started = time.perf_counter()
    stopped = None
    try:
        for i, nb in enumerate(notebooks, 1):
            print(f"[{i}/{len(notebooks)}] {nb.name} ...", flush=True)
            t0 = time.perf_counter()
            parameters = {k: v for k, v in base.items() if k in declared[nb]}
            # the kernel inherits the environment: explorers show their default figure, no widget progress bars, and
            # no shipped model stands in for one the run must train (a reproduction trains everything it reports), and
            # an IDC_LITE_LAB left in the shell never shrinks it: lab sizes only when asked for with -p lab true
            with environment(**{HEADLESS_ENV: "1", SHIPPED_ENV: "0", LAB_ENV: "1" if base.get("lab") else "0"}):
                try:
                    papermill.execute_notebook(str(nb), str(executed / nb.name), parameters=parameters,
                                               kernel_name="python3", cwd=str(nb.parent), progress_bar=True,
                                               log_output=True, request_save_on_cell_execute=True)
                except BaseException as err:
                    # papermill's errors carry the notebook's own exception as ename / evalue
                    what = (f"{err.ename}: {err.evalue}" if hasattr(err, "ename")
                            else f"{type(err).__name__}: {str(err).strip()}")
                    stopped = {"notebook": nb.stem, "error": what[:800],
                               "executed_notebook": f"notebooks/{nb.name}"}
                    raise
            timings[nb.stem] = round(time.perf_counter() - t0, 1)
            print(f"[{i}/{len(notebooks)}] {nb.name} done in {timings[nb.stem]:.1f} s", flush=True)
    finally:
        total = round(time.perf_counter() - started, 1)
        executed_paths = [executed / nb.name for nb in notebooks if (executed / nb.name).is_file()]
        export_html(executed_paths, out / "html")
        summary = build_summary(out, smoke, seed, extra, timings, total, executed_paths,
                                expected=[nb.stem for nb in notebooks], stopped=stopped, machine=machine)
        write_summary(out, summary)
    return summary

"""The main job: run every notebook in order with papermill into a new run folder, then write
``summary.md`` and ``summary.json`` there.  ``make reproduce`` calls this.

    python -m idc_lite.reproduce [--preset NAME] [--smoke] [--out runs/NAME] [--seed 0] [-p NAME VALUE ...]

``--preset`` passes the preset's notebook parameters (:meth:`~idc_lite.training.presets.Preset.run_parameters`:
its label-image size, attack budgets, evaluation sizes); ``-p`` values override them.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from idc_lite.errors import KitError, ParameterError
from idc_lite.machine import machine_info
from idc_lite.runs.folders import REPO, notebook_paths
from idc_lite.runs.html_report import export_html
from idc_lite.runs.parameters import check_value
from idc_lite.runs.summary import build_summary, resummarize, write_summary
from idc_lite.runtime import HEADLESS_ENV, environment
from idc_lite.training.presets import PRESETS, get_preset


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


def run(out: Path, smoke: bool, seed: int, extra: dict, notebooks: list[Path] | None = None) -> dict:
    """Run the notebooks into ``out``.  A notebook that fails (or an interrupt) stops the run; the
    summary of what finished is still written, marked incomplete, and the error is raised again."""
    import papermill

    notebooks = notebooks or notebook_paths()
    declared = declared_parameters(notebooks)
    check_run_parameters(notebooks, {"smoke": smoke, "seed": seed, **extra}, declared)
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
            # the kernel inherits the environment: explorers show their default figure, no widget progress bars
            with environment(**{HEADLESS_ENV: "1"}):
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


def _literal(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def stream_papermill_output() -> None:
    """Show each notebook's printed output (training progress lines) as it runs: papermill passes it
    through its logger."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("    %(message)s"))
    papermill_log = logging.getLogger("papermill")
    papermill_log.addHandler(handler)
    papermill_log.setLevel(logging.INFO)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog or "python -m idc_lite.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny settings: proves the code path, not the numbers")
    parser.add_argument("--out", default=None, help="run folder (default runs/<UTC time>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=None, choices=sorted(PRESETS),
                        help="run every notebook with this preset's parameters (default: the notebooks' own, digits)")
    parser.add_argument("--summarize", default=None, metavar="RUN",
                        help="only rebuild RUN/summary.json and summary.md from RUN/metrics")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra notebook parameter (JSON literal), e.g. -p epochs 10")
    args = parser.parse_args(argv)
    if args.summarize:
        try:
            summary = resummarize(Path(args.summarize))
        except KitError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print((Path(args.summarize) / "summary.md").read_text())
        return 0 if summary["complete"] else 1
    stream_papermill_output()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else REPO / "runs" / (stamp + ("-smoke" if args.smoke else ""))
    if out.exists() and not out.is_dir():
        print(f"error: --out {out} is a file; give a new folder", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} exists and is not empty; choose a new --out", file=sys.stderr)
        return 2
    extra = {**(get_preset(args.preset).run_parameters() if args.preset else {}),
             **{k: _literal(v) for k, v in args.parameter}}
    try:
        summary = run(out, args.smoke, args.seed, extra)
    except ParameterError as err:
        print(f"error: {err} (nothing was run or written)", file=sys.stderr)
        return 2
    except Exception as err:   # a notebook failed: summary.md says what finished
        print(f"error: the run stopped: {type(err).__name__}: {str(err).strip()[-500:]}\n"
              f"report of what finished (marked incomplete): {out / 'summary.md'}", file=sys.stderr)
        return 1
    print((out / "summary.md").read_text())
    print(f"report: {out / 'summary.md'}")
    return 0 if summary.get("clean_accuracy") is not None else 1

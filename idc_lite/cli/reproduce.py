"""Run every notebook in order with papermill into a new run folder, then summarise it.

``idc-lite reproduce`` (``make reproduce``) writes ``summary.md`` and ``summary.json`` in the run folder
(:mod:`idc_lite.runs.reproduce`).

    idc-lite reproduce [--preset NAME] [--smoke] [--out runs/NAME] [--seed 0] [--through 05] [-p NAME VALUE ...]
    idc-lite reproduce --summarize runs/NAME        # only rebuild the summary from the run's records

``--preset`` passes the preset's notebook parameters (:meth:`~idc_lite.training.presets.Preset.run_parameters`:
its label-image size, attack budgets, evaluation sizes); ``-p`` values override them.  ``--through 05`` stops after
notebook 05: the summary covers the notebooks that ran (a preset's smoke test needs no more).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

from idc_lite.foundation.errors import KitError, ParameterError
from idc_lite.foundation.runtime import REPO
from idc_lite.runs.folders import notebook_paths
from idc_lite.runs.reproduce import run
from idc_lite.runs.summary import resummarize
from idc_lite.training.presets import PRESETS, get_preset


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


def notebooks_through(last: str | None) -> list[Path] | None:
    """The notebooks from 01 up to ``last`` (its number, ``05``, or its name, ``05_baselines``); None: all of them."""
    if last is None:
        return None
    paths = notebook_paths()
    found = [i for i, p in enumerate(paths) if last in (p.stem, p.name) or p.stem.startswith(f"{last}_")]
    if len(found) != 1:
        raise ParameterError(f"--through {last!r}: name one notebook, one of {[p.stem for p in paths]}")
    return paths[:found[0] + 1]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog or "idc-lite reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny settings: proves the code path, not the numbers")
    parser.add_argument("--out", default=None, help="run folder (default runs/<UTC time>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=None, choices=sorted(PRESETS),
                        help="run every notebook with this preset's parameters (default: the notebooks' own, digits)")
    parser.add_argument("--summarize", default=None, metavar="RUN",
                        help="only rebuild RUN/summary.json and summary.md from RUN/metrics")
    parser.add_argument("--through", default=None, metavar="NOTEBOOK",
                        help="run the notebooks up to this one only (its number, e.g. 05, or its name)")
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
    try:
        notebooks = notebooks_through(args.through)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    extra = {**(get_preset(args.preset).run_parameters() if args.preset else {}),
             **{k: _literal(v) for k, v in args.parameter}}
    try:
        summary = run(out, args.smoke, args.seed, extra, notebooks)
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

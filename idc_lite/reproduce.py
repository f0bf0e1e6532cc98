"""The main job: run every notebook in order with papermill into a new run folder, then write
``summary.md`` and ``summary.json`` there.  ``make reproduce`` calls this.

    python -m idc_lite.reproduce [--smoke] [--out runs/NAME] [--seed 0] [-p NAME VALUE ...]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .checkpoints import atomic_write_bytes, atomic_write_json, library_versions
from .runs import read_metrics

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


def notebook_paths(folder: Path = NOTEBOOKS) -> list[Path]:
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no numbered notebooks in {folder}")
    return paths


def declared_parameters(notebooks: list[Path]) -> dict[Path, set[str]]:
    """The parameter names of each notebook's ``parameters`` cell, as papermill reads them."""
    import papermill

    return {nb: set(papermill.inspect_notebook(str(nb))) for nb in notebooks}


def run(out: Path, smoke: bool, seed: int, extra: dict, notebooks: list[Path] | None = None) -> dict:
    import papermill

    notebooks = notebooks or notebook_paths()
    declared = declared_parameters(notebooks)
    declared_any = set().union(*declared.values())
    unknown = sorted(set(extra) - declared_any)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the notebooks take: {sorted(declared_any)}")
    out.mkdir(parents=True, exist_ok=True)
    executed = out / "notebooks"
    executed.mkdir(exist_ok=True)
    base = {"run_dir": str(out.resolve()), "smoke": smoke, "seed": seed, **extra}
    timings = {}
    started = time.perf_counter()
    for i, nb in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {nb.name} ...", flush=True)
        t0 = time.perf_counter()
        parameters = {k: v for k, v in base.items() if k in declared[nb]}
        papermill.execute_notebook(str(nb), str(executed / nb.name), parameters=parameters,
                                   kernel_name="python3", cwd=str(nb.parent), progress_bar=True,
                                   log_output=True, request_save_on_cell_execute=True)
        timings[nb.stem] = round(time.perf_counter() - t0, 1)
        print(f"[{i}/{len(notebooks)}] {nb.name} done in {timings[nb.stem]:.1f} s", flush=True)
    total = round(time.perf_counter() - started, 1)
    summary = build_summary(out, smoke, seed, extra, timings, total, [executed / nb.name for nb in notebooks])
    atomic_write_json(summary, out / "summary.json")
    text = summary_markdown(summary)
    atomic_write_bytes(out / "summary.md", lambda h: h.write(text.encode()))
    return summary


def build_summary(out: Path, smoke: bool, seed: int, extra: dict, timings: dict, total: float,
                  executed: list[Path]) -> dict:
    metrics = read_metrics(out)
    training = metrics.get("02_train_classifier", {})
    attack = metrics.get("04_attack", {})
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "smoke": smoke,
        "seed": seed,
        "parameters": extra,
        "clean_accuracy": training.get("test_accuracy"),
        "clean_accuracy_protocol": training.get("accuracy_protocol"),
        "clean_accuracy_over_draws": training.get("accuracy_over_draws"),
        "attack": attack,
        "n_params": training.get("n_params"),
        "flops_per_prediction": training.get("flops_per_prediction"),
        "flops_per_network_call": training.get("flops_per_network_call"),
        "network_calls_per_prediction": training.get("network_calls_per_prediction"),
        "wall_seconds_per_notebook": timings,
        "wall_seconds_total": total,
        "versions": library_versions(),
        "executed_notebooks": [str(p.relative_to(out)) for p in executed],
        "model": training.get("checkpoint"),
        "metrics": metrics,
    }


def _pct(v):
    return "n/a" if v is None else f"{100 * v:.1f} %"


def summary_markdown(s: dict) -> str:
    a = s.get("attack") or {}
    settings = a.get("settings", {})
    lines = [
        "# idc_lite reproduction report", "",
        f"- created: {s['created']}" + ("  **SMOKE RUN: numbers are not meaningful**" if s["smoke"] else ""),
        f"- seed: {s['seed']}; parameters: {json.dumps(s['parameters']) or '{}'}", "",
        "## Results", "",
        "| figure | value | protocol |", "|---|---|---|",
        f"| clean accuracy (test split) | {_pct(s['clean_accuracy'])} | {s.get('clean_accuracy_protocol') or ''} |",
        *([f"| clean accuracy: spread over draws | {_pct(d['min'])} to {_pct(d['max'])} | one draw per image, each draw |",
           f"| clean accuracy: majority vote | {_pct(d['majority_vote'])} | majority of the {d['draws']} draws per image |"]
          if (d := s.get("clean_accuracy_over_draws")) else []),
        f"| accuracy under attack | {_pct(a.get('robust_accuracy'))} | {a.get('protocol', '')} |",
        f"| clean accuracy of the attacked subset | {_pct(a.get('clean_accuracy'))} | same examples, fresh noise |",
        f"| parameters | {s['n_params']:,} | U-Net |" if s.get("n_params") else "| parameters | n/a | |",
        (f"| FLOPs per prediction | {s['flops_per_prediction'] / 1e6:.1f} M | {s.get('network_calls_per_prediction')} "
         f"U-Net calls x {s['flops_per_network_call'] / 1e6:.1f} M |") if s.get("flops_per_prediction") else "| FLOPs | n/a | |",
        "", "Attack settings: " + (", ".join(f"{k}={v}" for k, v in settings.items()) or "n/a"),
        f"on {a.get('num_examples', 'n/a')} test examples.", "",
        "## Wall time", "", "| notebook | seconds |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in s["wall_seconds_per_notebook"].items()],
        f"| **total** | {s['wall_seconds_total']} |", "",
        "## Executed notebooks", "", *[f"- [{p}]({p})" for p in s["executed_notebooks"]], "",
        "## Versions", "", ", ".join(f"{k} {v}" for k, v in s["versions"].items()), "",
    ]
    return "\n".join(lines)


def _literal(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idc_lite.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny settings: proves the code path, not the numbers")
    parser.add_argument("--out", default=None, help="run folder (default runs/<UTC time>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra notebook parameter (JSON literal), e.g. -p epochs 10")
    args = parser.parse_args(argv)
    # papermill streams each notebook's printed output (training progress lines) through its logger
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("    %(message)s"))
    papermill_log = logging.getLogger("papermill")
    papermill_log.addHandler(handler)
    papermill_log.setLevel(logging.INFO)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else REPO / "runs" / (stamp + ("-smoke" if args.smoke else ""))
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} exists and is not empty; choose a new --out", file=sys.stderr)
        return 2
    extra = {k: _literal(v) for k, v in args.parameter}
    try:
        summary = run(out, args.smoke, args.seed, extra)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print((out / "summary.md").read_text())
    print(f"report: {out / 'summary.md'}")
    return 0 if summary.get("clean_accuracy") is not None else 1


if __name__ == "__main__":
    sys.exit(main())

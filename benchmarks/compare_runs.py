"""Two runs of `make reproduce` side by side (printed as Markdown, never asserted).

    python benchmarks/compare_runs.py runs/OLD runs/NEW

For speed claims that hold: run the old commit and the new one on the same machine, one right after
the other, then compare their ``summary.json`` files here.  Prints each run's machine, the wall time
in all and per notebook with the speed-up, clean accuracy, every model's adaptive worst case (and its
rescored value), the paper protocol's worst cases, and each sanity check's status.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from idc_lite.machine import describe
from idc_lite.uncertainty import format_estimate


def _load(folder: str) -> dict:
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise SystemExit(f"{path} not found: give the run folders that `make reproduce` wrote")
    return json.loads(path.read_text())


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def compare(old: dict, new: dict, names: tuple[str, str]) -> list[str]:
    """Markdown lines comparing two summaries (old first)."""
    lines = [f"- {name}: " + (describe(s["machine"]) if s.get("machine") else "machine not recorded (older commit)")
             for name, s in zip(names, (old, new))]
    lines += ["", _row(["", names[0], names[1], "old / new"]), _row(["---"] * 4)]
    times_old, times_new = old["wall_seconds_per_notebook"], new["wall_seconds_per_notebook"]
    for nb in dict.fromkeys([*times_old, *times_new]):
        a, b = times_old.get(nb), times_new.get(nb)
        ratio = f"{a / b:.2f}" if a and b else "–"
        lines.append(_row([f"{nb} (s)", a if a is not None else "–", b if b is not None else "–", ratio]))
    total_old, total_new = old["wall_seconds_total"], new["wall_seconds_total"]
    lines.append(_row(["**total (s)**", f"{total_old:.0f} ({total_old / 60:.1f} min)",
                       f"{total_new:.0f} ({total_new / 60:.1f} min)", f"**{total_old / total_new:.2f}**"]))
    draws = [s.get("clean_accuracy_over_draws") or {} for s in (old, new)]
    lines.append(_row(["clean accuracy, mean of draws (range; majority)"] + [
        f"{_pct(d.get('mean'))} ({_pct(d.get('min'))} to {_pct(d.get('max'))}; {_pct(d.get('majority_vote'))})"
        for d in draws] + [""]))
    models = dict.fromkeys([*old.get("robustness", {}), *new.get("robustness", {})])
    for model in models:
        for kind in ("adaptive", "paper"):
            keys = sorted({k for s in (old, new) for k in s.get("robustness", {}).get(model, {}).get("protocols", {})
                           if k.startswith(kind)})
            for key in keys:
                cells = []
                for s in (old, new):
                    p = s.get("robustness", {}).get(model, {}).get("protocols", {}).get(key)
                    if p is None:
                        cells.append("missing")
                        continue
                    interval = p.get("worst_case_interval")
                    text = format_estimate(interval) if interval else _pct(p["worst_case_accuracy"])
                    if p.get("worst_case_rescored") is not None:
                        text += f" / rescored {_pct(p['worst_case_rescored'])}"
                    cells.append(text)
                lines.append(_row([f"{model}, {key} worst case"] + cells + [""]))
    checks_old = {c["check"]: c["status"] for c in old.get("sanity_checks", [])}
    checks_new = {c["check"]: c["status"] for c in new.get("sanity_checks", [])}
    for check in dict.fromkeys([*checks_old, *checks_new]):
        a, b = checks_old.get(check, "missing"), checks_new.get(check, "missing")
        lines.append(_row([f"sanity: {check}", a, b, "same" if a == b else "**changed**"]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    args = parser.parse_args()
    print("\n".join(compare(_load(args.old), _load(args.new), (args.old, args.new))))


if __name__ == "__main__":
    main()

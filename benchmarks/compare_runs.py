"""Two runs of `make reproduce` side by side (printed as Markdown, never asserted).

    python benchmarks/compare_runs.py runs/OLD runs/NEW            # the side-by-side table
    python benchmarks/compare_runs.py runs/OLD runs/NEW --values   # every recorded value that differs

``--values`` reads every notebook's record (``metrics/*.json``) of both runs and lists each value that differs,
leaving out what measures time or names the machine, the commit or the date: after a change that should move no
number (a refactoring), it should print nothing but its count.  Exit status 1 when some value differs.

For speed claims that hold: run the old commit and the new one on the same machine, one right after
the other, then compare their ``summary.json`` files here.  Prints each run's machine, the wall time
in all and per notebook with the speed-up, clean accuracy, every model's adaptive worst case (and its
rescored value), the paper protocol's worst cases, and each sanity check's status.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from idc_lite.foundation.machine import describe_machine
from idc_lite.foundation.uncertainty import format_estimate


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
    lines = [f"- {name}: " + (describe_machine(s["machine"]) if s.get("machine") else "machine not recorded (older commit)")
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


# keys whose values are times, the machine, or where and when a run was made: they differ between any two runs
VOLATILE = re.compile(r"(^|_)(seconds|time|times|ms|wall|duration|started|finished|date|commit|machine|python|"
                      r"versions?|run_dir|path|hostname)($|_)|_s$|seconds_per", re.I)


def _leaves(value, prefix: str = ""):
    """(dotted key, value) of every leaf of a JSON value, volatile keys left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not VOLATILE.search(str(key)):
                yield from _leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def value_differences(old_run: Path, new_run: Path) -> tuple[int, list[str]]:
    """(values compared, one line per difference) between the notebook records of two run folders."""
    lines, compared = [], 0
    for old_file in sorted((Path(old_run) / "metrics").glob("*.json")):
        new_file = Path(new_run) / "metrics" / old_file.name
        if not new_file.is_file():
            lines.append(f"{old_file.name}: missing in {new_run}")
            continue
        old, new = (dict(_leaves(json.loads(f.read_text()))) for f in (old_file, new_file))
        compared += len(old)
        for key in sorted(set(old) | set(new)):
            if old.get(key, "(missing)") != new.get(key, "(missing)"):
                lines.append(f"{old_file.stem}: {key}: {old.get(key, '(missing)')!r} -> {new.get(key, '(missing)')!r}")
    for new_file in sorted((Path(new_run) / "metrics").glob("*.json")):
        if not (Path(old_run) / "metrics" / new_file.name).is_file():
            lines.append(f"{new_file.name}: missing in {old_run}")
    return compared, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--values", action="store_true", help="list every recorded value that differs")
    args = parser.parse_args()
    if args.values:
        compared, lines = value_differences(Path(args.old), Path(args.new))
        print("\n".join(lines + [f"{compared} recorded values compared, {len(lines)} differ"]))
        return 1 if lines else 0
    print("\n".join(compare(_load(args.old), _load(args.new), (args.old, args.new))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

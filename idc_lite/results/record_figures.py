"""The results pages' figures, drawn from the records like their tables (never by hand):

- accuracy against the L-inf budget, per model and protocol, each point with its 95 % interval as a band;
- a forest plot of the paired differences behind the claims, each with its rule's threshold drawn in, and the
  cost ratios of C3a and C3b on a log scale with theirs.

``idc-lite results render`` writes them as ``docs/records/figures/<record>-<figure>.png``.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

FIGURES = ("accuracy", "claims")


def _budget(label: str) -> float:
    return float(label.split("@")[1])


def accuracy_figure(record: dict) -> Figure:
    """Worst-case accuracy against eps (in /255) per model: adaptive protocol solid, paper protocol dashed,
    the band the 95 % interval of each point; clean accuracy at eps 0."""
    fig = Figure(figsize=(10, 4.4))
    ax = fig.add_subplot()
    colours = {}
    for model, entry in (record.get("robustness") or {}).items():
        for protocol, style in (("adaptive", "-"), ("paper", "--")):
            points = sorted((_budget(k), p) for k, p in entry["protocols"].items() if k.startswith(protocol + "@"))
            if not points:
                continue
            first = points[0][1]
            clean = first.get("clean_interval") or {"value": first["clean_accuracy"], "low": first["clean_accuracy"],
                                                    "high": first["clean_accuracy"]}
            ivs = [clean] + [p["worst_case_interval"] for _, p in points]
            eps = [0.0] + [e for e, _ in points]
            line, = ax.plot(eps, [100 * i["value"] for i in ivs], style, marker="o", ms=3,
                            color=colours.get(model), label=f"{model}, {protocol} (n = {first['examples']})")
            colours[model] = line.get_color()
            ax.fill_between(eps, [100 * i["low"] for i in ivs], [100 * i["high"] for i in ivs], color=line.get_color(),
                            alpha=0.12, linewidth=0)
    ax.set_xlabel("L-inf budget eps (/255)")
    ax.set_ylabel("accuracy (%), worst case over the protocol's attacks")
    ax.set_ylim(-2, 102)
    ax.set_title(f"{record.get('data')}: accuracy against eps, 95 % intervals", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _difference_rows(record: dict) -> list[tuple[str, dict, float]]:
    """(label, paired difference, the rule's threshold) for every claim judged on one."""
    from idc_lite.comparisons.claims import ACCURACY_MARGIN

    rows = []
    for c in record.get("claims") or []:
        values = c.get("values") or {}
        threshold = ACCURACY_MARGIN if c["claim"] == "C5" else 0.0
        if "difference" in values:
            rows.append((f"{c['claim']} ({c['verdict']})", values["difference"], threshold))
        for other, d in (values.get("differences") or {}).items():
            where = "at" if other.endswith("/255") else "against"      # seed claims are keyed by budget
            rows.append((f"{c['claim']} {where} {other} ({c['verdict']})", d, threshold))
    return rows


def claims_figure(record: dict) -> Figure:
    """Left: the paired differences (points) with their 95 % intervals and each rule's threshold (a red
    tick); right: C3a's and C3b's FLOP ratios (IDC / other) with the rule's 0.1 and 1 lines."""
    from idc_lite.comparisons.claims import COST_FRACTION

    diffs = _difference_rows(record)
    ratios = [(f"{c['claim']}: {name}", r) for c in record.get("claims") or []
              for name, r in ((c.get("values") or {}).get("ratios") or {}).items()]
    fig = Figure(figsize=(12, 1.2 + 0.45 * max(len(diffs), len(ratios), 2)))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1]})
    for i, (_, d, threshold) in enumerate(diffs):
        below, above = 100 * (d["difference"] - d["low"]), 100 * (d["high"] - d["difference"])
        left.errorbar(100 * d["difference"], i, xerr=[[below], [above]], fmt="o", color="black", capsize=3)
        left.plot([100 * threshold] * 2, [i - 0.35, i + 0.35], color="tab:red", lw=2)
    left.set_yticks(range(len(diffs)), [label for label, _, _ in diffs], fontsize=7)
    left.axvline(0, color="grey", lw=0.8)
    left.set_xlabel("paired difference, points (95 % interval); red: the rule's threshold", fontsize=8)
    left.invert_yaxis()
    for i, (_, r) in enumerate(ratios):
        right.plot(r, i, "o", color="black")
    right.axvline(COST_FRACTION, color="tab:green", lw=1, label=f"{COST_FRACTION:g}: supported at or below")
    right.axvline(1.0, color="tab:red", lw=1, label="1: contradicted at or above")
    right.set_xscale("log")
    right.set_yticks(range(len(ratios)), [label for label, _ in ratios], fontsize=7)
    right.set_xlabel("FLOPs per prediction, IDC / other (measured here)", fontsize=8)
    right.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    right.invert_yaxis()
    fig.suptitle(f"{record.get('data')}: the evidence behind each claim's verdict", fontsize=10)
    fig.tight_layout()
    return fig


def figure_path(figures_dir: Path, name: str, figure: str) -> Path:
    return figures_dir / f"{name}-{figure}.png"


def write_figures(records: dict[str, dict], figures_dir: Path) -> list[Path]:
    """Draw every record's figures into ``figures_dir`` (PNG, no timestamp in the file); returns their paths."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, record in records.items():
        if not record.get("robustness"):
            continue
        for figure, draw in (("accuracy", accuracy_figure), ("claims", claims_figure)):
            path = figure_path(figures_dir, name, figure)
            draw(record).savefig(path, dpi=110, metadata={"Software": None})
            written.append(path)
    return written

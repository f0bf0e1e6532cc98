"""A sweep's training seeds: each point's runs gathered into a group, its figures over seeds and examples,
the costs of the points a claim compares (measured side by side, after the runs), and the claims the grid
names (:mod:`idc_lite.comparisons.replicate_claims`).  Called by :func:`idc_lite.sweeps.grid.run_sweep`."""
from __future__ import annotations

from pathlib import Path

from idc_lite.comparisons.replicate_claims import assess_replicate_claims
from idc_lite.foundation.uncertainty import format_estimate, seeds_estimate


def group_runs(rows: list[dict]) -> dict[str, dict]:
    """{point: group} from a sweep's finished runs (see :mod:`idc_lite.comparisons.replicate_claims` for a
    group's keys); per-example lists are kept only where every seed has them on the same examples."""
    groups: dict[str, dict] = {}
    for row in rows:
        if row["status"] != "finished":
            continue
        g = groups.setdefault(row["group"], {"seeds": [], "runs": [], "parameters": row["parameters"],
                                             "flops_per_prediction": row.get("flops_per_prediction")})
        g["seeds"].append(row["seed"])
        g["runs"].append(row["point"])
        for key, source in (("clean", "clean_per_example"), ("main", "adaptive_per_example"),
                            ("secondary", "secondary_per_example")):
            g.setdefault(key, []).append(row.get(source))
        for key in ("eps_255", "secondary_eps_255"):
            g.setdefault(key + "_per_seed", []).append(row.get(key))
        if "undefended_check" in row:          # notebook 04 ran: its check's status, 'missing' when absent
            g.setdefault("undefended_checks", []).append(row["undefended_check"] or "missing")
        g.setdefault("failed_checks", []).extend(c for c in row.get("failed_checks") or [] if c not in g["failed_checks"])
    for g in groups.values():
        for key, eps in (("clean", None), ("main", "eps_255"), ("secondary", "secondary_eps_255")):
            lists = g[key]
            budgets = set(g[eps + "_per_seed"]) if eps else {None}
            if eps:
                g[eps] = next(iter(budgets)) if len(budgets) == 1 else None
            # pooled only when every seed has scores on the same examples, attacked at the same budget
            if not all(lists) or len({len(x) for x in lists}) != 1 or len(budgets) != 1:
                g[key] = None
    return groups


def measure_costs(groups: dict[str, dict], folders: dict[str, Path], points: list[str], batch_size: int = 100) -> None:
    """Seconds and FLOPs per prediction of each named point's first run's model, one after the other on
    this machine (the kit's one counter and timer, the same batch and threads), written into its group."""
    from idc_lite.comparisons.baselines import prediction_cost
    from idc_lite.training.checkpoint import load_classifier

    for point in dict.fromkeys(points):
        group = groups.get(point)
        path = folders[group["runs"][0]] / "model.pt" if group else None
        if path is None or not path.is_file():
            continue
        model = load_classifier(path).eval()
        cost = prediction_cost(model, model.config.image_shape, batch_size=batch_size, repeats=3)
        group.update(flops_per_prediction=cost["flops_per_prediction"], seconds_per_prediction=cost["seconds_per_image"],
                     n_params=cost["parameters"], threads=cost["threads"])


def group_summary(group: dict) -> dict:
    """What the sweep's table and the record keep of a group: its seeds, each figure's seed x example
    estimate (with each seed's own mean), its budgets and its cost."""
    out = {k: group.get(k) for k in ("seeds", "runs", "parameters", "eps_255", "secondary_eps_255", "flops_per_prediction",
                                     "seconds_per_prediction", "n_params", "threads", "undefended_checks", "failed_checks")}
    for key in ("clean", "main", "secondary"):
        out[key] = seeds_estimate(group[key]) if group.get(key) else None
    return out


def add_replicates(sweep: dict, claims: dict[str, dict], folders: list[Path]) -> None:
    """Add ``replicates`` (each point's figures over its seeds) and ``claims`` to a finished sweep."""
    groups = group_runs(sweep["points"])
    by_run = {row["point"]: folder for row, folder in zip(sweep["points"], folders)}
    measure_costs(groups, by_run, [p for pair in claims.values() for p in (pair["reference"], pair["other"])])
    sweep["claims"] = assess_replicate_claims(groups, claims)
    sweep["replicates"] = {name: group_summary(g) for name, g in groups.items()}


def replicates_markdown(sweep: dict) -> list[str]:
    """The sweep page's section on training seeds and the claims judged from them."""
    groups = sweep.get("replicates") or {}
    if not groups:
        return []
    lines = ["## Over training seeds", "",
             "Each point over its training seeds: the mean over seeds and examples with a 95 % interval from a "
             "bootstrap over seeds and examples (idc_lite.foundation.uncertainty.seeds_estimate), then each seed's own "
             "figure. Clean: notebook 02's test split (mean of its draws); adaptive: notebook 04's per-example worst case.", "",
             "| point | seeds | clean | per seed | adaptive, main budget | per seed | adaptive, secondary budget | per seed "
             "| MFLOPs / prediction | ms / prediction |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, g in groups.items():
        cells = []
        for key, eps in (("clean", None), ("main", "eps_255"), ("secondary", "secondary_eps_255")):
            e = g.get(key)
            at = f" @{g[eps]:g}/255" if eps and g.get(eps) is not None else ""
            cells += [format_estimate(e) + at if e else "", ", ".join(f"{100 * v:.1f}" for v in e["per_seed"]) if e else ""]
        flops = f"{g['flops_per_prediction'] / 1e6:,.1f}" if g.get("flops_per_prediction") else ""
        ms = f"{1e3 * g['seconds_per_prediction']:.2f}" if g.get("seconds_per_prediction") else ""
        lines.append(f"| {name} | {', '.join(map(str, g['seeds']))} | " + " | ".join(cells) + f" | {flops} | {ms} |")
    lines.append("")
    if sweep.get("claims"):
        lines += ["## Claims judged from the seeds", "", "| claim | verdict | evidence | rule |", "|---|---|---|---|"]
        lines += [f"| {c['claim']}: {c['text']} | **{c['verdict']}** | {c['evidence']} | {c['rule']} |"
                  for c in sweep["claims"]] + [""]
    return lines

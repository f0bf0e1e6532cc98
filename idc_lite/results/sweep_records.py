"""The records of sweeps with training seeds (``docs/records/sweeps/<name>.json``), and what the results
page shows of them: each point over its seeds, and the claims judged from the seeds, which take the place
of the reference run's single-seed verdicts for the same claims.

    idc-lite results add runs/<sweep folder> --name digits-seeds     # a folder with sweep.json: a sweep record
"""
from __future__ import annotations

import json
from pathlib import Path

from idc_lite.foundation.errors import RunFolderError
from idc_lite.foundation.files import atomic_write_json
from idc_lite.foundation.uncertainty import format_estimate

SWEEPS = "sweeps"                  # the records' subfolder


def compact_sweep(sweep: dict, name: str, note: str = "") -> dict:
    """The figures of a sweep (dict of ``sweep.json``) that the pages show: each run's status and time, each
    point's figures over its seeds, the claims; no per-example lists."""
    runs = [{k: r.get(k) for k in ("point", "group", "seed", "status", "error", "seconds", "notebooks")}
            | ({"rerun": r["rerun"]} if r.get("rerun") else {}) for r in sweep["points"]]
    return {"name": name, "note": note, "kind": "sweep", "preset": (sweep.get("base") or {}).get("preset", "digits"),
            "commit": sweep.get("commit"), "created": sweep.get("created"),
            "machine": sweep.get("machine"), "machine_line": sweep.get("machine_line"), "grid": sweep.get("name"),
            "grid_file": sweep.get("grid_file"), "description": sweep.get("description"), "base": sweep.get("base"),
            "seeds": sweep.get("seeds"), "replicate": sweep.get("replicate"), "wall_seconds": sweep.get("wall_seconds"),
            "runs": runs, "replicates": sweep.get("replicates") or {}, "claims": sweep.get("claims") or []}


def add_sweep(sweep_dir: Path, name: str, records_dir: Path, note: str = "", allow_failed: bool = False) -> Path:
    """Store ``sweep_dir``'s record as ``records_dir/sweeps/<name>.json``; refuses a smoke sweep, one made from
    uncommitted changes, and one with a failed run unless ``allow_failed`` (then the page names each failed run
    and its error beside the figures, which leave it out)."""
    try:
        sweep = json.loads((sweep_dir / "sweep.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFolderError(f"{sweep_dir}/sweep.json is not a readable sweep: {err}") from None
    if not sweep.get("replicates") and not sweep.get("claims"):
        raise RunFolderError(f"{sweep_dir} has no training seeds or claims to record (a plain ablation sweep: its "
                             "table is sweep.md)")
    if sweep.get("smoke"):
        raise RunFolderError(f"{sweep_dir} is a smoke sweep: its figures mean nothing")
    failed = [r["point"] for r in sweep["points"] if r["status"] != "finished"]
    if failed and not allow_failed:
        raise RunFolderError(f"{sweep_dir}: runs {failed} did not finish; rerun them before recording the sweep, or "
                             "record it with --allow-failed (the page then names them)")
    if not sweep.get("commit") or sweep["commit"].endswith("+changes"):
        raise RunFolderError(f"{sweep_dir} was made from uncommitted changes ({sweep.get('commit')}): rerun it on a commit")
    dirty = [r["point"] for r in sweep["points"] if r.get("rerun")
             and (not r["rerun"].get("commit") or r["rerun"]["commit"].endswith("+changes"))]
    if dirty:
        raise RunFolderError(f"{sweep_dir}: runs {dirty} were rerun outside a commit (uncommitted changes or no git "
                             "checkout): rerun them on a commit")
    return atomic_write_json(compact_sweep(sweep, name, note), records_dir / SWEEPS / f"{name}.json")


def load_sweeps(records_dir: Path) -> dict[str, dict]:
    """{name: sweep record}, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((Path(records_dir) / SWEEPS).glob("*.json"))}


def seed_claims(sweeps: dict[str, dict], preset: str | None) -> dict[str, tuple[str, dict]]:
    """{claim id: (sweep record name, claim)} for every claim a sweep of ``preset`` tested with its seeds (the
    last record by name wins; a claim the sweep could not test leaves the run's own verdict in place)."""
    from idc_lite.comparisons.claims import NOT_TESTED

    return {c["claim"]: (name, c) for name, s in sweeps.items() if s.get("preset", "digits") == preset
            for c in s.get("claims") or [] if c["verdict"] != NOT_TESTED}


def _cut(error: str | None, limit: int = 240) -> str:
    """An error message for the page: its first ``limit`` characters, an ellipsis where it goes on."""
    text = (error or "").strip()
    return text if len(text) <= limit else text[:limit].rstrip(" ,;:") + " …"


def _provenance(s: dict) -> str:
    return (f"commit `{(s.get('commit') or '?')[:10]}`, {(s.get('created') or '?')[:10]}, {s.get('machine_line') or '?'}"
            + (f"; {s['note']}" if s.get("note") else ""))


def seeds_block(sweeps: dict[str, dict]) -> str:
    """The results page's section on training seeds: per sweep, each point over its seeds and its claims."""
    if not sweeps:
        return "No sweep with training seeds is recorded yet.\n"
    out = []
    for name, s in sweeps.items():
        hours = (s.get("wall_seconds") or 0) / 3600
        out += [f"### {name}", "", f"`make sweep GRID={s['grid_file']}`, measured at {_provenance(s)}; "
                f"{len(s['runs'])} runs in {hours:.1f} hours. {s.get('description') or ''}", "",
                "Each point over its training seeds: mean over seeds and examples [95 % interval, a bootstrap over seeds "
                "and examples], then each seed's own value (%).", "",
                "| point | seeds | clean (test split) | per seed | adaptive, main | per seed | adaptive, secondary | per seed "
                "| MFLOPs / prediction | ms / prediction |", "|---|---|---|---|---|---|---|---|---|---|"]
        for point, g in s["replicates"].items():
            cells = []
            for key, eps in (("clean", None), ("main", "eps_255"), ("secondary", "secondary_eps_255")):
                e = g.get(key)
                at = f" at {g[eps]:g}/255" if eps and g.get(eps) is not None else ""
                cells += [format_estimate(e) + at if e else "–",
                          ", ".join(f"{100 * v:.1f}" for v in e["per_seed"]) if e else "–"]
            flops = f"{g['flops_per_prediction'] / 1e6:,.1f}" if g.get("flops_per_prediction") else "–"
            ms = f"{1e3 * g['seconds_per_prediction']:.2f}" if g.get("seconds_per_prediction") else "–"
            out.append(f"| {point} | {', '.join(map(str, g['seeds']))} | " + " | ".join(cells) + f" | {flops} | {ms} |")
        out.append("")
        failed = [r for r in s["runs"] if r["status"] != "finished"]
        if failed:
            out += ["Runs that did not finish, left out of the figures above: " + "; ".join(
                f"{r['point']} ({r['status']}: {_cut(r.get('error'))})" for r in failed) + ".", ""]
        reruns = [r for r in s["runs"] if r.get("rerun")]
        if reruns:
            out += ["Runs that stopped in the first pass and were run again: " + "; ".join(
                f"{r['point']} at commit `{(r['rerun'].get('commit') or '?')[:10]}`, {r['rerun']['created'][:10]}, "
                f"{r['rerun']['machine_line']} (first try: {_cut(r['rerun']['first_try'].get('error'))})"
                for r in reruns) + ".", ""]
        for c in s.get("claims") or []:
            out += [f"*{c['claim']} ({c['text']}), {c['verdict']}.* {c['evidence']}. Rule: {c['rule']}.", ""]
    return "\n".join(out)


def with_seed_claims(record: dict, sweeps: dict[str, dict]) -> dict:
    """``record`` with its single-seed verdicts replaced by those the sweeps judged from training seeds (the
    single-seed verdict kept in the evidence); the record itself is not changed."""
    judged = seed_claims(sweeps, record.get("preset"))
    if not judged or not record.get("claims"):
        return record
    claims = []
    for c in record["claims"]:
        if c["claim"] in judged:
            name, seeded = judged[c["claim"]]
            c = {**seeded, "seeds_record": name,
                 "evidence": f"{seeded['evidence']} (sweep record {name}; this run's single-seed verdict: {c['verdict']})"}
        claims.append(c)
    return {**record, "claims": claims}

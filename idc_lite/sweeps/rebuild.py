"""A finished sweep rebuilt from its runs' folders (``idc-lite sweep GRID --out FOLDER --tabulate``), and the
runs that stopped run again first (``--rerun-unfinished``), each rerun's row naming the commit it ran at."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from idc_lite.foundation.cluster import run_tasks
from idc_lite.foundation.errors import GridError
from idc_lite.foundation.runtime import repository_commit
from idc_lite.sweeps.grid import check_runs, folder_name, load_grid, sweep_runs, tabulate

STATUS_KEYS = ("status", "error", "seconds", "rerun")    # what a run's row keeps of how it ran (and its parameters)


def _finished_sweep(grid_file: str | Path, out: Path) -> tuple[dict, list[dict], list[dict], dict]:
    """(grid, runs, statuses, header) of the sweep in ``out`` as its sweep.json recorded them; each status
    keeps the parameters the run was made with."""
    grid = load_grid(grid_file)
    try:
        old = json.loads((out / "sweep.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GridError(f"{out} holds no readable sweep.json to rebuild from: {err}") from None
    if old.get("seed") is not None:
        grid["seed"] = old["seed"]
    runs = sweep_runs(grid)
    by_name = {row["point"]: row for row in old["points"]}
    missing = [run["run"] for run in runs if run["run"] not in by_name]
    if missing:
        raise GridError(f"{out}/sweep.json has no runs {missing}: it was made from another grid")
    statuses = [{k: by_name[run["run"]][k] for k in STATUS_KEYS if by_name[run["run"]].get(k) is not None}
                | {"parameters": by_name[run["run"]].get("parameters")} for run in runs]
    header = {k: old.get(k) for k in ("smoke", "seed", "created", "commit", "wall_seconds", "machine", "machine_line")}
    return grid, runs, statuses, header


def retabulate(grid_file: str | Path, out: Path) -> dict:
    """Rebuild a finished sweep's table, seeds and claims from its runs' folders with this checkout's code (the
    runs themselves, their statuses, commit, machine and times stay those of ``out/sweep.json``)."""
    grid, runs, statuses, header = _finished_sweep(grid_file, out)
    return tabulate(grid, grid_file, out, runs, [out / "points" / folder_name(run["run"]) for run in runs], statuses, header)


def rerun_unfinished(grid_file: str | Path, out: Path, run_point=None) -> dict:
    """Run again, into their own folders, the runs of the sweep in ``out`` that did not finish (a notebook
    stopped, a worker was lost), with this checkout's code, then rebuild the table.  Each rerun keeps in its
    row the commit, machine and time it ran at and the first pass's try (``rerun``); the sweep's own
    commit and machine stay those of the first pass, and the records name every rerun.  ``run_point`` as
    in :func:`run_sweep`.  Raises GridError, before running anything, when every run finished or when the grid
    now gives a run to rerun other parameters than the first pass did."""
    from idc_lite.foundation.machine import describe_machine, machine_info
    from idc_lite.runs.reproduce import run as run_notebooks

    grid, runs, statuses, header = _finished_sweep(grid_file, out)
    todo = [i for i, status in enumerate(statuses) if status["status"] != "finished"]
    if not todo:
        raise GridError(f"every run of {out} finished: nothing to rerun")
    changed = [runs[i]["run"] for i in todo if statuses[i]["parameters"] != runs[i]["parameters"]]
    if changed:
        raise GridError(f"the grid gives runs {changed} other parameters than the first pass ran them with: a rerun "
                        "would mix two grids (nothing was run)")
    check_runs(grid, [runs[i] for i in todo], bool(header.get("smoke")))
    run_point = run_point or run_notebooks
    machine, commit = machine_info(), repository_commit()
    folders = [out / "points" / folder_name(run["run"]) for run in runs]
    outcomes = run_tasks(run_point, [(folders[i], bool(header.get("smoke")), runs[i]["seed"], runs[i]["parameters"],
                                      runs[i]["notebooks"]) for i in todo], [runs[i]["run"] for i in todo],
                         on_start=lambda k, name: print(f"=== rerun {k + 1}/{len(todo)}: {name}", flush=True))
    for i, outcome in zip(todo, outcomes):
        before = statuses[i]      # the first pass's try, kept through any number of reruns
        first = (before.get("rerun") or {}).get("first_try") or {k: before.get(k) for k in ("status", "error", "seconds")}
        statuses[i] = {"status": outcome.status, **({"error": outcome.error} if outcome.error else {}),
                       "seconds": outcome.seconds,
                       "rerun": {"commit": commit, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "machine_line": describe_machine(machine), "first_try": first}}
    return tabulate(grid, grid_file, out, runs, folders, statuses, header)

"""The sweep command (``idc-lite sweep``, ``make sweep``): runs a grid (:mod:`idc_lite.sweeps.grid`), or rebuilds
a finished sweep and reruns its stopped runs (:mod:`idc_lite.sweeps.rebuild`)."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from idc_lite.cli.reproduce import stream_papermill_output
from idc_lite.foundation.errors import GridError, InputError, RunFolderError
from idc_lite.foundation.runtime import REPO
from idc_lite.sweeps.grid import __doc__ as sweep_doc
from idc_lite.sweeps.grid import folder_name, load_grid, run_sweep
from idc_lite.sweeps.rebuild import rerun_unfinished, retabulate


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog or "idc-lite sweep", description=sweep_doc.splitlines()[0])
    parser.add_argument("grid", help="grid file (JSON), e.g. sweeps/digits_ablations.json")
    parser.add_argument("--out", default=None, help="sweep folder (default runs/sweep-<grid name>-<UTC time>)")
    parser.add_argument("--smoke", action="store_true", help="tiny settings: proves the code path, not the numbers")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of every point the grid does not replicate over its 'seeds' (default: the grid's, else 0)")
    parser.add_argument("--workers", type=int, default=1,
                        help="points run at once, each in a worker process of a Dask LocalCluster "
                             "(default 1: one after the other, here)")
    parser.add_argument("--scheduler", default=None,
                        help="address of a running Dask scheduler (e.g. tcp://host:8786, a dask-jobqueue SLURMCluster's) "
                             "to run the points on instead; the sweep folder must be on a file system the workers share")
    parser.add_argument("--tabulate", action="store_true",
                        help="run nothing: rebuild the table, seeds and claims of the finished sweep in --out from its "
                             "runs' folders with this checkout's code")
    parser.add_argument("--rerun-unfinished", action="store_true",
                        help="run again, with this checkout's code, the runs of the sweep in --out that did not finish, "
                             "then rebuild its table (each rerun's row and the records name its commit)")
    args = parser.parse_args(argv)
    if args.tabulate or args.rerun_unfinished:
        option = "--tabulate" if args.tabulate else "--rerun-unfinished"
        # the sweep's own smoke flag and seeds hold, and reruns run here one after the other
        others = args.smoke or args.seed is not None or args.workers != 1 or args.scheduler
        if not args.out or (args.tabulate and args.rerun_unfinished) or others:
            print(f"error: {option} needs --out, the sweep folder to rebuild, and takes no other option "
                  "(--smoke, --seed, --workers, --scheduler)", file=sys.stderr)
            return 2
        if args.rerun_unfinished:
            stream_papermill_output()
        try:
            sweep = retabulate(args.grid, Path(args.out)) if args.tabulate else rerun_unfinished(args.grid, Path(args.out))
        except (GridError, InputError, RunFolderError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print((Path(args.out) / "sweep.md").read_text())
        return 0 if all(r["status"] == "finished" for r in sweep["points"]) else 1
    try:
        grid = load_grid(args.grid)
    except GridError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else REPO / "runs" / f"sweep-{folder_name(grid['name'])}-{stamp}"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        print(f"error: {out} exists and is not an empty folder; choose a new --out", file=sys.stderr)
        return 2
    stream_papermill_output()
    try:
        sweep = run_sweep(args.grid, out, smoke=args.smoke, seed=args.seed, workers=args.workers,
                          scheduler=args.scheduler)
    except (GridError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print((out / "sweep.md").read_text())
    print(f"sweep report: {out / 'sweep.md'}")
    return 0 if all(r["status"] == "finished" for r in sweep["points"]) else 1

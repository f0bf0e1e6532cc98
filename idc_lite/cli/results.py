"""Record a reference run; rewrite or check the results pages generated from the records.

``idc-lite results``; the records and pages are :mod:`idc_lite.results.records`.

    idc-lite results add runs/<run> --name digits [--commit SHA]    # store or replace a run's record
    idc-lite results render                                          # rewrite every generated block and figure
    idc-lite results check                                           # exit 1 when a block is stale
    idc-lite results ship runs/<run> [--record digits]               # the run's models become the shipped ones
"""
from __future__ import annotations

import argparse
import sys

from idc_lite.foundation.errors import InputError, RunFolderError
from idc_lite.results.records import REFERENCE, add_run, render, stale_files


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Exit status: 0 done (check: every block up to date), 1 check found stale blocks, 2 bad arguments."""
    parser = argparse.ArgumentParser(prog=prog or "idc-lite results", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="store a run's record (and its report) under docs/records/; a sweep folder's "
                                     "(with sweep.json) under docs/records/sweeps/")
    add.add_argument("run_dir")
    add.add_argument("--name", required=True, help=f"the record's name ({REFERENCE!r} feeds the README)")
    add.add_argument("--commit", default=None, help="the commit the run was made at, when its summary does not say")
    add.add_argument("--note", default="", help="what a reader must know about how it was measured")
    add.add_argument("--allow-failed", action="store_true",
                     help="a sweep: record it although some runs failed (the page names them and their errors)")
    sub.add_parser("render", help="rewrite the generated blocks of README.md and docs/ from the records")
    sub.add_parser("check", help="exit 1 when a generated block disagrees with the records")
    ship = sub.add_parser("ship", help="make a finished digits run's models the reference models shipped in the package")
    ship.add_argument("run_dir")
    ship.add_argument("--record", default=None, help="the results record made from the same run (e.g. digits)")
    args = parser.parse_args(argv)
    try:
        if args.command == "ship":
            from idc_lite.results.shipping import ship_run

            shipped = ship_run(args.run_dir, record_name=args.record)
            for name, record in shipped["models"].items():
                print(f"{name}: {record['file']}, {record['bytes']:,} bytes ({record['stored_dtype']})")
            print(f"{shipped['total_bytes']:,} bytes in all, from commit {shipped['source']['commit']}")
            return 0
        if args.command == "add":
            print(f"wrote {add_run(args.run_dir, args.name, args.commit, note=args.note, allow_failed=args.allow_failed)}")
            args.command = "render"
        if args.command == "render":
            print("rewrote: " + (", ".join(render()) or "nothing (up to date)"))
            return 0
    except (InputError, RunFolderError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stale = stale_files()
    print("stale: " + ", ".join(stale) if stale else "every generated block matches the records")
    return 1 if stale else 0

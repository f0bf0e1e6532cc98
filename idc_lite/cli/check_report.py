"""Open a run's HTML pages in headless Chromium and say what is wrong with each.

``idc-lite check-report``; :mod:`idc_lite.runs.html_report` lists what the check fails on.

    idc-lite check-report runs/<run>      # exit 1 if a page has a problem
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idc_lite.runs.html_report import check_pages, run_pages


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Exit status: 0 every page fine, 1 some page has a problem, 2 no pages or no browser."""
    parser = argparse.ArgumentParser(prog=prog or "idc-lite check-report", description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder (with html/ and notebooks/)")
    args = parser.parse_args(argv)
    pages = run_pages(Path(args.run))
    if not pages:
        print(f"error: no HTML pages in {Path(args.run) / 'html'}", file=sys.stderr)
        return 2
    try:
        problems = check_pages(pages)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, found in problems.items():
        print(f"{name}: " + ("ok" if not found else "; ".join(found)))
    return 1 if any(problems.values()) else 0

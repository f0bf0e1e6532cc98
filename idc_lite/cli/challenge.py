"""The class's attack challenge: every student's attack against the shipped IDC model, and a leaderboard.

``idc-lite challenge``; the scorer is :mod:`idc_lite.teaching.challenge`.

    idc-lite challenge SUBMISSIONS [--eps-255 48] [--examples 64] [--time-limit 600] [--no-reference] [--smoke]

SUBMISSIONS holds ``<student>.py`` or ``<student>/attack.py``, each with a function
``attack(model, images, labels, generator, params, start=None)``; the leaderboard goes to
``SUBMISSIONS/leaderboard.md``, ``.html`` and ``.json``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idc_lite.foundation.errors import CheckpointError, InputError
from idc_lite.shipped import catalogue
from idc_lite.teaching.challenge import EXAMPLES, LEADERBOARD, find_submissions, kit_reference, run_challenge


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Exit status 0 (every submission has its row, scored or not); 2 for bad arguments or a folder without submissions."""
    parser = argparse.ArgumentParser(prog=prog or "idc-lite challenge", description=__doc__.splitlines()[0])
    parser.add_argument("submissions")
    parser.add_argument("--eps-255", type=float, default=None,
                        help="L-inf budget in 1/255 (default: the main budget of the run the shipped model comes from)")
    parser.add_argument("--examples", type=int, default=EXAMPLES, help="held-back test images (the last of the split)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds each submission may run")
    parser.add_argument("--no-reference", action="store_true", help="leave out the kit's own adaptive suite")
    parser.add_argument("--smoke", action="store_true", help="the reference suite at smoke sizes (proves the path)")
    parser.add_argument("--secret", type=int, default=None,
                        help="the scoring seed (default: a new secret; a leaderboard.json's scoring_secret scores late "
                             "submissions with the same draws)")
    args = parser.parse_args(argv)
    try:
        eps_255 = args.eps_255 if args.eps_255 is not None else catalogue()["source"]["main_eps_255"]
        if not 0 < eps_255 <= 255 or args.time_limit <= 0:
            raise InputError(f"--eps-255 must be in (0, 255] and --time-limit above 0, got {eps_255:g} and {args.time_limit:g}")
        eps = eps_255 / 255
        find_submissions(Path(args.submissions))          # a folder without submissions is refused before any work
        reference = [] if args.no_reference else [kit_reference(eps, args.examples, smoke=args.smoke)]
        rows = run_challenge(Path(args.submissions), eps, args.examples, args.time_limit, reference, args.secret)
    except (InputError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    scored = sum(r.status == "scored" for r in rows)
    print(f"{scored} of {sum(r.status != 'reference' for r in rows)} submissions scored; "
          f"leaderboard: {Path(args.submissions) / (LEADERBOARD + '.md')} (and .html, .json)")
    return 0

"""Check the kit against reference outputs of the authors' code.

``idc-lite verify``; the checks themselves are :mod:`idc_lite.authors.verify`.

    idc-lite verify CHECKPOINT REFERENCE_JSON REFERENCE_NPZ [--weights ema|model]

Exit status: 0 every check within tolerance, 1 some check failed, 2 a file is missing or is not
a usable checkpoint, 3 a reference file is malformed (the message names the file and key).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idc_lite.authors.verify import (
    EXIT_BAD_FILE,
    EXIT_CHECKS_FAILED,
    EXIT_MALFORMED_REFERENCE,
    EXIT_OK,
    MalformedReferenceError,
    verify,
)
from idc_lite.foundation.errors import CheckpointError, InputError


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Exit status: see the module's docstring."""
    parser = argparse.ArgumentParser(prog=prog or "idc-lite verify", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint in the authors' format")
    parser.add_argument("reference_json", help="the reference outputs' settings (JSON)")
    parser.add_argument("reference_npz", help="the reference outputs' arrays (NPZ)")
    parser.add_argument("--weights", choices=["ema", "model"], default="ema",
                   help="which weights of the checkpoint to load (the fixtures use ema)")
    args = parser.parse_args(argv)
    for path in (args.checkpoint, args.reference_json, args.reference_npz):
        if not Path(path).is_file():
            print(f"error: no such file: {path}", file=sys.stderr)
            return EXIT_BAD_FILE
    try:
        checks = verify(args.checkpoint, args.reference_json, args.reference_npz, args.weights)
    except MalformedReferenceError as err:
        print(f"error: malformed reference: {err}", file=sys.stderr)
        return EXIT_MALFORMED_REFERENCE
    except (CheckpointError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_FILE
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:<{width}}  max |diff| = {c.max_abs_diff:.3e}  (tolerance {c.tolerance:g})")
    failed = [c.name for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks within tolerance" + (f"; failed: {failed}" if failed else ""))
    return EXIT_CHECKS_FAILED if failed else EXIT_OK

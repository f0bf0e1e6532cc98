"""Robustness evaluation outside the notebooks, on any number of examples, spread over processes.

``idc-lite evaluate``; :mod:`idc_lite.runs.sharded_evaluation` says how the blocks are seeded, shared and resumed.

    idc-lite evaluate --model runs/X/model.pt --examples 0 --out runs/X/eval-all/            # one process
    torchrun --standalone --nproc_per_node=4 -m idc_lite evaluate --model ... --out ...     # four (NCCL/gloo)
"""
from __future__ import annotations

import argparse
import sys

import torch

from idc_lite.foundation.errors import InputError, KitError
from idc_lite.runs.sharded_evaluation import PROTOCOLS, run_evaluation
from idc_lite.training import distributed


def _parser(prog: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog or "idc-lite evaluate", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Under torchrun each process evaluates its share of the blocks; see docs/scale.md.")
    p.add_argument("--model", required=True, help="a trained model.pt (its run folder supplies cnn.pt and 04's record)")
    p.add_argument("--out", required=True, help="evaluation folder (new, or the same one to resume)")
    p.add_argument("--examples", type=int, default=100, help="first test images evaluated; 0: the whole test set (default 100)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="both", help="which protocol(s) (default both, as notebook 04)")
    p.add_argument("--block-size", type=int, default=None, help="examples per block, the unit of randomness and "
                   "of resumption (default 100: block 0 is notebook 04's evaluation)")
    p.add_argument("--seed", type=int, default=None, help="default: the seed of 04's record, else 0")
    p.add_argument("--eps-255", type=float, default=None, help="main L-inf budget in 1/255 (default: 04's record, "
                   "else chosen as 04 chooses it, where the undefended CNN falls)")
    p.add_argument("--secondary-eps-255", type=float, default=None,
                   help="a second budget (default: 04's record's, else notebook 04's default 16; 0: none)")
    p.add_argument("--paper-eps-255", type=float, default=None, help="the paper protocol's budget (default 8)")
    p.add_argument("--paper-full-suite", action="store_true", help="the paper's expensive attacks too")
    p.add_argument("--steps", type=int, default=None, help="PGD steps of the adaptive attacks (default: 04's)")
    p.add_argument("--eot-samples", type=int, default=None)
    p.add_argument("--square-queries", type=int, default=None)
    p.add_argument("--scoring-draws", type=int, default=None)
    p.add_argument("--sanity-examples", type=int, default=None, help="examples of the costlier sanity checks; 0: no checks")
    p.add_argument("--smoke", action="store_true", help="notebook 04's smoke settings: proves the code path")
    p.add_argument("--device", default="", help="'cpu' or 'cuda' (default: the GPU of this process where there is one)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per process (default: the launcher's or torch's)")
    return p


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Exit status 0; 2 for bad options or files (nothing is overwritten)."""
    args = _parser(prog).parse_args(argv)
    group = None
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise InputError(f"--threads must be at least 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        if distributed.launched_by_torchrun():
            group = distributed.start(args.device, timeout_s=7 * 24 * 3600)   # ranks wait for the slowest block
        run_evaluation(args, group)
        return 0
    except KitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if group is not None:
            distributed.stop()

"""Would the cascade's EOT-heavy tail find more at the secondary budget, where it does not run? (printed, not asserted)

    python benchmarks/tail_at_secondary.py runs/<run> [--examples 16] [--eot 20] [--steps 100] [--record out.json]

The tail (APGD-DLR, 100 iterations x ``apgd_tail_eot`` draws) runs at the main budget only, because at the
secondary budget most examples stand and it would cost most of the run.  This checks that choice on a
recorded run: the tail on the first ``--examples`` examples the secondary cascade left standing, scored on the
faithful model with 32 fresh draws each, beside the cascade's score on the same examples.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from timing import evaluated_run

from idc_lite.evaluation.attacks import APGDSettings, CountingModel, apgd
from idc_lite.evaluation.scoring import score_under_rule
from idc_lite.foundation.machine import machine_info
from idc_lite.foundation.runtime import repository_commit
from idc_lite.foundation.streams import seeded
from idc_lite.foundation.uncertainty import estimate

SCORING_DRAWS = 32


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--eot", type=int, default=20, help="draws per APGD iteration (the tail's default: 20)")
    parser.add_argument("--steps", type=int, default=100, help="APGD iterations (the tail's default: 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args(argv)
    summary, evaluation, model, x, labels = evaluated_run(args.run, None)   # every evaluated example
    secondary = evaluation.adaptive_protocol_secondary
    if not secondary:
        raise SystemExit(f"{args.run} has no secondary budget to check")
    kit = torch.tensor(secondary["worst_case_per_example"])
    chosen = (kit > 0.5).nonzero().squeeze(1)[:args.examples]   # standing: right on most of the scoring draws
    if not chosen.numel():
        raise SystemExit(f"no example stands at the secondary budget of {args.run}: nothing to check")
    eps = evaluation.secondary_eps
    counted = CountingModel(model.gradient_twin("auto"))
    started = time.perf_counter()
    adv = apgd(counted, x[chosen], labels[chosen], APGDSettings(eps=eps, steps=args.steps, loss="dlr",
                                                                eot_samples=args.eot),
               seeded(args.seed, "tail-at-secondary/attack"))
    score = score_under_rule(model, adv, labels[chosen], "one", seeded(args.seed, "tail-at-secondary/score"),
                             SCORING_DRAWS)
    report = {"benchmark": "tail_at_secondary", "commit": repository_commit(), "run_commit": summary.get("commit"),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
              "eps_255": round(eps * 255, 2), "standing": int((kit > 0.5).sum()), "examples": int(chosen.numel()),
              "steps": args.steps, "eot": args.eot, "draws_per_example": counted.gradient_draws / chosen.numel(),
              "kit_worst_case_on_them": estimate(kit[chosen], "bootstrap"),
              "after_tail": estimate(score, "bootstrap"), "broken_by_tail": int((score < 0.5).sum()),
              "per_example": score.tolist(), "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps({k: v for k, v in report.items() if k not in ("machine", "per_example")}, indent=1))
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

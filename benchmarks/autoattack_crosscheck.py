"""Cross-check a run's adaptive evaluation with AutoAttack's ``version='rand'`` (printed, not asserted).

    python benchmarks/autoattack_crosscheck.py runs/<run> [--examples 10] [--n-iter 100] [--eot-iter 20]

Loads the run's evaluated model and examples the way an outside evaluator would
(``idc_lite.load_classifier`` / ``idc_lite.load_examples``), attacks the first N examples at the
run's main eps with AutoAttack-rand (APGD-CE + APGD-DLR, EOT over fresh noise), scores the result
like the kit (one draw, mean over the run's scoring draws) and prints it beside the kit's
per-example adaptive worst case on the same examples.  About 4,000 gradients per example.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from timing import evaluated_run

from idc_lite.evaluation.attacks import autoattack_rand
from idc_lite.evaluation.scoring import score_under_rule
from idc_lite.foundation.streams import seeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument("--n-iter", type=int, default=100)
    parser.add_argument("--eot-iter", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    summary, evaluation, model, x, labels = evaluated_run(args.run, args.examples)
    eps, draws = evaluation.eps, evaluation.adaptive_protocol["draws"]
    t0 = time.perf_counter()
    adv = autoattack_rand(model, x, labels, eps, generator=seeded(args.seed, "04/autoattack-rand"),
                          n_iter=args.n_iter, eot_iter=args.eot_iter)
    seconds = time.perf_counter() - t0
    score = score_under_rule(model, adv, labels, "one", seeded(args.seed, "autoattack-crosscheck/scoring"), draws)
    kit = torch.tensor(evaluation.adaptive_protocol["worst_case_per_example"][:args.examples])
    label = "AutoAttack-rand" if (args.n_iter, args.eot_iter) == (100, 20) else "reduced AutoAttack-rand"
    print(json.dumps({
        "attack": label, "n_iter": args.n_iter, "eot_iter": args.eot_iter, "eps": eps, "examples": args.examples,
        "scoring": f"one draw, mean over {draws} draws", "autoattack_accuracy": score.mean().item(),
        "kit_adaptive_worst_case_same_examples": kit.mean().item(),
        "examples_autoattack_clearly_lower": int(((kit - score) > 0.5).sum()),
        "seconds": round(seconds, 1), "seconds_per_example": round(seconds / args.examples, 1)}, indent=2))


if __name__ == "__main__":
    main()

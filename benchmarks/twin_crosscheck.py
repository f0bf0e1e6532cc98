"""Are attacks through a cheaper gradient model as strong as the run's? (printed, not asserted)

    python benchmarks/twin_crosscheck.py runs/<run> [--gradients 4-call|3-call|3-call-bf16]

Runs notebook 04's adaptive suite again on the run's model, examples, CNN (transfer source),
budget, seeds and scoring draws, with the attack gradients taken through another model than the
run used: the 4-call sampler, its 3-call twin, or the twin with its U-Net calls under bfloat16
autocast (default: the 4-call sampler if the run used a twin, else the float32 twin).  Prints every
attack's robust accuracy and the worst case beside the run's own.  Scoring is on the faithful
float32 4-call model both times, so only the gradient source differs.  About as long as the run's
adaptive protocol.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from idc_lite.comparisons.baselines import load_cnn
from idc_lite.evaluation.examples import load_examples
from idc_lite.evaluation.protocol import evaluate_attacks
from idc_lite.evaluation.suites import adaptive_suite
from idc_lite.foundation.machine import describe_machine, machine_info
from idc_lite.training.checkpoint import load_classifier

GRADIENT_MODELS = {"4-call": "4-call model", "3-call": "3-call twin", "3-call-bf16": "3-call twin, bf16 U-Net"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--gradients", choices=GRADIENT_MODELS, default=None,
                        help="what the attacks query this time (default: 4-call if the run used a twin, else 3-call)")
    args = parser.parse_args()
    metrics = json.loads((args.run / "metrics" / "04_attack.json").read_text())
    recorded = metrics["adaptive_protocol"]
    settings = metrics["settings"]
    used = ("4-call" if not settings.get("gradient_twin", False)
            else "3-call-bf16" if settings.get("gradient_precision") == "bf16" else "3-call")
    now = args.gradients or ("3-call" if used == "4-call" else "4-call")
    model = load_classifier(args.run / "model.pt").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x, labels = load_examples(args.run / metrics["examples_file"])
    cnn = load_cnn(args.run / metrics["cnn_file"])
    suite = adaptive_suite(metrics["eps"], steps=settings["steps"], eot_samples=settings["eot_samples"],
                           square_queries=settings["square_queries"], transfer_source="cnn")
    result = evaluate_attacks(model, x, labels, suite, seed=metrics["seed"], draws=recorded["draws"], sources={"cnn": cnn},
                      protocol="adaptive", gradient_model=None if now == "4-call" else
                      model.gradient_twin("bf16" if now == "3-call-bf16" else "fp32"))
    names = (GRADIENT_MODELS[used], GRADIENT_MODELS[now])
    print(f"{args.run}: {len(x)} examples, eps {255 * metrics['eps']:.0f}/255, {describe_machine(machine_info())}")
    print(f"| attack | run (gradients via {names[0]}) | now (gradients via {names[1]}) | seconds then / now |")
    print("|---|---|---|---|")
    then = {a["name"]: a for a in recorded["attacks"]}
    for a in result["attacks"]:
        old = then.get(a["name"], {})
        print(f"| {a['name']} | {100 * old.get('robust_accuracy', float('nan')):.1f} % | {100 * a['robust_accuracy']:.1f} % | "
              f"{old.get('seconds', float('nan')):.0f} / {a['seconds']:.0f} |")
    print(f"| worst case (min over attacks / rescored) | {100 * recorded['worst_case_accuracy']:.1f} % / "
          f"{100 * recorded['worst_case_rescored']:.1f} % | {100 * result['worst_case_accuracy']:.1f} % / "
          f"{100 * result['worst_case_rescored']:.1f} % | {recorded['seconds']:.0f} / {result['seconds']:.0f} |")


if __name__ == "__main__":
    main()

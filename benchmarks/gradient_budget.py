"""How far pure white-box attacks get on a run's IDC model, and what limits their gradient (printed, not asserted).

    python benchmarks/gradient_budget.py runs/<run> [--examples 24] [--draws 50,200,1000,4000] [--record out.json]

With ``--record docs/records/benchmarks/gradient_budget.json`` (then ``make results``) its figures become the
generated table of ``docs/evaluation.md``.

On the first N evaluated examples at the run's main budget:

1. **Accuracy against gradient draws per example.**  APGD-DLR from a random start (no transfer, no Square,
   no other-class start) at each budget in ``--draws``, spent two ways from 1,000 draws on: more EOT draws
   per step (100 steps x EOT D/100), or more random restarts (D/200 runs of 100 steps x EOT 2).  Scored on
   the faithful model with 32 fresh draws per example, beside the run's recorded worst case on the same examples.
2. **What limits the gradient**, each measured on the same examples:
   - *noise*: cosine between two independent EOT-k estimates of the DLR gradient at the clean image, for
     k = 1 .. 64 (1.0: the gradient is the same whichever noise is drawn);
   - *clamps*: the share of x0-prediction pixels the sampler clips to [-1, 1] at each step (their gradient is
     zero) on the clean images;
   - *the sampler's steps and noise*: APGD-DLR at 200 draws per example (``--surrogate-draws``) through
     three gradient surrogates, each scored on the faithful model: the sampler without its clamps, the sampler
     without its noise (eta = 0), and the first step alone (one U-Net call, no noise); and the true gradient
     started from the other-class image instead of a random point.  A row that breaks many more examples than
     the true gradient at the same cost names what holds the attack back.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from timing import evaluated_run

from idc_lite.evaluation.attacks import APGDSettings, CountingModel, FirstStepSurrogate, apgd, loss_and_grad, other_class_start
from idc_lite.evaluation.scoring import score_under_rule
from idc_lite.foundation.machine import machine_info
from idc_lite.foundation.runtime import repository_commit
from idc_lite.foundation.streams import seeded
from idc_lite.foundation.uncertainty import estimate, paired_difference
from idc_lite.model.bridge import BrownianBridge
from idc_lite.model.classifier import to_model_scale

SCORING_DRAWS = 32                 # per example, as the cascade's re-scoring
SURROGATE_DRAWS = 200              # the cascade's APGD budget (100 steps x EOT 2)


def _split(draws: int, restarts: bool = False) -> tuple[int, int, int]:
    """(steps, eot, restarts) for a budget of gradient draws per example: 100 steps (AutoAttack's) once
    affordable; the rest in EOT draws, or with ``restarts`` in runs of EOT 2."""
    steps = min(100, max(draws // 2, 1))
    if restarts:
        return steps, 2, max(draws // (2 * steps), 1)
    return steps, max(draws // steps, 1), 1


def _score(model, adv, labels, seed: int, purpose: str) -> torch.Tensor:
    return score_under_rule(model, adv, labels, "one", seeded(seed, f"gradient-budget/score/{purpose}"), SCORING_DRAWS)


def _attack(gradient_model, model, x, labels, eps, draws, seed, purpose, kit, restarts=False, start=None) -> dict:
    """APGD-DLR at about ``draws`` gradient draws per example (restarts skip examples every draw already
    misclassifies, so they may spend less: the draws are counted), scored on the faithful ``model``."""
    steps, eot, runs = _split(draws, restarts)
    t0 = time.perf_counter()
    counted = CountingModel(gradient_model)
    adv = apgd(counted, x, labels, APGDSettings(eps=eps, steps=steps, loss="dlr", eot_samples=eot,
                                                        restarts=runs), seeded(seed, f"gradient-budget/attack/{purpose}"), start)
    score = _score(model, adv, labels, seed, purpose)
    return {"draws_per_example": counted.gradient_draws / x.shape[0], "steps": steps, "eot": eot, "restarts": runs,
            "accuracy": estimate(score, "bootstrap"), "minus_kit_worst_case": paired_difference(score, kit),
            "per_example": score.tolist(), "seconds": round(time.perf_counter() - t0, 1)}


def _show(row: dict, **extra) -> str:
    return json.dumps({**extra, **{k: v for k, v in row.items() if k not in ("per_example", "accuracy", "minus_kit_worst_case")},
                       "accuracy": round(row["accuracy"]["value"], 3),
                       "minus_kit_worst_case": round(row["minus_kit_worst_case"]["difference"], 3)})


def gradient_agreement(gradient_model, x, labels, ks=(1, 4, 16, 64), seed=0) -> dict:
    """Mean cosine (over examples) between two independent EOT-k gradient estimates at x, per k."""
    out = {}
    for k in ks:
        g = [loss_and_grad(gradient_model, x, labels, "dlr", seeded(seed, f"gradient-budget/agreement/{k}/{r}"), k)[1]
             for r in range(2)]
        out[k] = torch.nn.functional.cosine_similarity(g[0].flatten(1), g[1].flatten(1)).mean().item()
    return out


@torch.no_grad()
def clamp_shares(model, x, draws: int = 8, seed: int = 0) -> list[float]:
    """Per sampler step, the share of x0-prediction pixels outside [-1, 1] (clipped: zero gradient)."""
    gen = seeded(seed, "gradient-budget/clamps")
    totals = None
    for _ in range(draws):
        result = model.bridge.sample(model.denoise, to_model_scale(x), generator=gen, clip_denoised=False,
                                     return_trajectory=True)
        shares = [(p.abs() > 1.0).float().mean().item() for p in result.x0_predictions]
        totals = shares if totals is None else [a + b for a, b in zip(totals, shares)]
    return [t / draws for t in totals]


def surrogates(model, gradient_model) -> dict:
    """Gradient models that each remove one suspect: the clamps, the noise, every step but the first."""
    no_clamp = model.gradient_twin("auto")
    no_clamp.config = dataclasses.replace(no_clamp.config, clip_denoised=False)
    no_noise = model.gradient_twin("auto")
    no_noise.bridge = BrownianBridge.from_config(dataclasses.replace(no_noise.config, eta=0.0))
    return {"true gradient (EOT)": gradient_model, "without clamps": no_clamp, "without noise (eta = 0)": no_noise,
            "first step only": FirstStepSurrogate(model)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--examples", type=int, default=24)
    parser.add_argument("--draws", default="50,200,1000,4000", help="gradient draws per example, comma-separated")
    parser.add_argument("--surrogate-draws", type=int, default=SURROGATE_DRAWS,
                        help=f"gradient draws per example of the surrogate comparison (default {SURROGATE_DRAWS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", type=Path, default=None, help="also write the figures, with the commit and machine, here")
    args = parser.parse_args(argv)
    summary, evaluation, model, x, labels = evaluated_run(args.run, args.examples)
    gradient_model = model.gradient_twin("auto")
    eps, seed = evaluation.eps, args.seed                  # every consumer below draws from a named stream of its own
    kit = torch.tensor(evaluation.adaptive_protocol["worst_case_per_example"][:args.examples])
    report = {"benchmark": "gradient_budget", "commit": repository_commit(),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
              "run_commit": summary.get("commit"), "examples": args.examples, "eps": eps,
              "scoring": f"one draw, mean over {SCORING_DRAWS} draws",
              "kit_worst_case_same_examples": estimate(kit, "bootstrap"),
              "kit_scoring": f"one draw, mean over {evaluation.adaptive_protocol['draws']} draws",
              "clean": estimate(_score(model, x, labels, seed, "clean"), "bootstrap")}
    print(json.dumps({"examples": args.examples, "eps": eps, "clean": report["clean"]["value"],
                      "kit_worst_case": report["kit_worst_case_same_examples"]["value"]}), flush=True)
    curve = []
    for draws in (int(d) for d in args.draws.split(",")):
        for restarts in (False, True) if draws >= 1000 else (False,):
            row = _attack(gradient_model, model, x, labels, eps, draws, seed, f"{draws}/{restarts}", kit, restarts)
            curve.append(row)
            print(_show(row), flush=True)
    report["apgd_dlr_from_random_start"] = curve
    report["gradient_cosine_between_two_eot_k_estimates"] = gradient_agreement(gradient_model, x, labels, seed=seed)
    report["clamped_share_per_step"] = clamp_shares(model, x, seed=seed)
    print(json.dumps({k: report[k] for k in ("gradient_cosine_between_two_eot_k_estimates", "clamped_share_per_step")}),
          flush=True)
    report["surrogate_draws"] = args.surrogate_draws
    report["surrogates"] = {}
    for name, surrogate in surrogates(model, gradient_model).items():
        row = _attack(surrogate, model, x, labels, eps, args.surrogate_draws, seed, name, kit)
        report["surrogates"][name] = row
        print(_show(row, surrogate=name), flush=True)
    name = "true gradient from the other-class start"
    row = _attack(gradient_model, model, x, labels, eps, args.surrogate_draws, seed, name, kit,
                  start=other_class_start(x, labels, eps))
    report["surrogates"][name] = row
    print(_show(row, surrogate=name), flush=True)
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Run a list of attacks on a model and report robust accuracy with its full protocol.

Each attack is an :class:`AttackSpec` (what it is, its settings, and whether it attacks the model
itself, a fixed-noise copy, the BPDA approximation or the authors' probability wrapper).  The
adversarial examples are always *scored on the model itself* with fresh noise under a stated
scoring rule, and the per-example worst case over all attacks is reported beside each attack.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from .attacks import BPDA, FixedNoise, PGDSettings, cw_l2, fgsm, mi_fgsm, pgd, square_linf
from .robustness import PaperProtocolModel, correct_under_rule, worst_case

ATTACK_KINDS = ("fgsm", "pgd", "mi_fgsm", "cw_l2", "square")
TARGETS = ("model", "fixed_noise", "bpda", "paper_wrapper")


@dataclass
class AttackSpec:
    """One attack: ``kind`` in ATTACK_KINDS, its ``params`` (keyword arguments / PGDSettings
    fields), and the ``target`` it computes gradients or queries on (TARGETS)."""
    name: str
    kind: str
    params: dict = field(default_factory=dict)
    target: str = "model"

    def __post_init__(self):
        if self.kind not in ATTACK_KINDS:
            raise ValueError(f"attack kind must be one of {ATTACK_KINDS}, got {self.kind!r}")
        if self.target not in TARGETS:
            raise ValueError(f"attack target must be one of {TARGETS}, got {self.target!r}")


def _target(model, spec: AttackSpec):
    if spec.target == "fixed_noise":
        return FixedNoise(model, seed=spec.params.get("noise_seed", 0))
    if spec.target == "bpda":
        return BPDA(model)
    if spec.target == "paper_wrapper":
        return PaperProtocolModel(model)
    return model


def run_attack(model, spec: AttackSpec, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Adversarial examples (B, C, H, W) in [0, 1] for one attack spec."""
    target = _target(model, spec)
    p = {k: v for k, v in spec.params.items() if k != "noise_seed"}
    if spec.kind == "pgd":
        return pgd(target, x, labels, PGDSettings(**p), generator)
    if spec.kind == "fgsm":
        return fgsm(target, x, labels, generator=generator, **p)
    if spec.kind == "mi_fgsm":
        return mi_fgsm(target, x, labels, generator=generator, **p)
    if spec.kind == "cw_l2":
        return cw_l2(target, x, labels, generator, **p)
    return square_linf(target, x, labels, generator=generator, **p)


def evaluate(model, x: torch.Tensor, labels: torch.Tensor, attacks: list[AttackSpec], *, seed: int = 0,
             rule: str = "one", draws: int = 5, batch_size: int = 100, l2_budget: float | None = None,
             progress: bool = False) -> dict:
    """Robust accuracy per attack and the per-example worst case, with everything recorded.

    Attack randomness comes from ``Generator().manual_seed(seed + i)`` for the i-th attack; scoring
    uses separate generators (``seed + 10_000 + i``) so no attack sees the noise it is scored with.
    ``l2_budget``: CW-L2 examples further than this from x count as failed attacks.
    Returns a JSON-serialisable dict.
    """
    clean = correct_under_rule(model, x, labels, rule, torch.Generator().manual_seed(seed + 10_000), draws)
    correct_by_attack, table = {}, []
    for i, spec in enumerate(tqdm(attacks, desc="attacks", disable=not progress)):
        generator = torch.Generator().manual_seed(seed + i + 1)
        adv = torch.cat([run_attack(model, spec, x[j:j + batch_size], labels[j:j + batch_size], generator)
                         for j in range(0, x.shape[0], batch_size)])
        if spec.kind == "cw_l2" and l2_budget is not None:
            too_far = (adv - x).flatten(1).norm(dim=1) > l2_budget
            adv = torch.where(too_far.view(-1, 1, 1, 1), x, adv)
        correct = correct_under_rule(model, adv, labels, rule, torch.Generator().manual_seed(seed + 10_001 + i), draws)
        correct_by_attack[spec.name] = correct
        table.append({**asdict(spec), "robust_accuracy": correct.float().mean().item(),
                      "clean_and_adversarial_correct": (clean & correct).float().mean().item(),
                      "max_linf": (adv - x).abs().flatten(1).max(1).values.max().item(),
                      "max_l2": (adv - x).flatten(1).norm(dim=1).max().item()})
    worst = worst_case(correct_by_attack) if correct_by_attack else clean
    result = {"scoring_rule": rule, "draws": 1 if rule == "one" else draws, "seed": seed, "examples": int(x.shape[0]),
              "clean_accuracy": clean.float().mean().item(), "attacks": table,
              "worst_case_accuracy": worst.float().mean().item(),
              "worst_case_and_clean": (worst & clean).float().mean().item()}
    json.dumps(result)   # fail here, not in the report, if anything is not serialisable
    return result


def adaptive_suite(eps: float, steps: int = 50, eot_samples: int = 10, square_queries: int = 500) -> list[AttackSpec]:
    """The adaptive protocol's L-inf attacks at one eps: full-gradient PGD with EOT (cross-entropy
    and margin), fixed-noise PGD, BPDA, FGSM and Square."""
    alpha = eps / 10 if steps >= 20 else eps / 4
    return [
        AttackSpec("fgsm", "fgsm", {"eps": eps}),
        AttackSpec(f"pgd{steps}_ce", "pgd", {"eps": eps, "alpha": alpha, "steps": steps}),
        AttackSpec(f"eot{eot_samples}_pgd{steps}_margin", "pgd",
                   {"eps": eps, "alpha": alpha, "steps": steps, "loss": "margin", "eot_samples": eot_samples}),
        AttackSpec(f"fixed_noise_pgd{steps}", "pgd", {"eps": eps, "alpha": alpha, "steps": steps}, "fixed_noise"),
        AttackSpec(f"bpda_pgd{steps}_margin", "pgd", {"eps": eps, "alpha": alpha, "steps": steps, "loss": "margin"}, "bpda"),
        AttackSpec(f"square{square_queries}", "square", {"eps": eps, "queries": square_queries}),
    ]


def paper_suite(eps: float = 8 / 255) -> list[AttackSpec]:
    """The authors' attacks and budgets on their wrapper (probabilities, same noise every query):
    PGD-20 (alpha 2/255, random start), FGSM, MI-FGSM 5 steps (alpha 2/255, decay 1)."""
    return [
        AttackSpec("paper_pgd20", "pgd", {"eps": eps, "alpha": 2 / 255, "steps": 20}, "paper_wrapper"),
        AttackSpec("paper_fgsm", "fgsm", {"eps": eps}, "paper_wrapper"),
        AttackSpec("paper_mifgsm5", "mi_fgsm", {"eps": eps, "alpha": 2 / 255, "steps": 5, "decay": 1.0}, "paper_wrapper"),
    ]

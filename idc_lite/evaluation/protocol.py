"""Run a list of attacks on a model and report robust accuracy with its full protocol.

Each attack is an :class:`AttackSpec`: what it is, its settings, what it computes gradients or
queries on (the model itself, a fixed-noise copy, the BPDA approximation, the first-step
surrogate, the authors' probability wrapper, or another model for transfer), and optionally the
earlier attack whose output it starts from.  The adversarial examples are always *scored on the
model itself* with fresh noise under a stated scoring rule, and the per-example worst case over
all attacks is reported beside each attack.

Two suites: :func:`paper_suite` (the authors' protocol) and :func:`adaptive_suite`.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import torch

from idc_lite.evaluation.attacks import BPDA, CountingModel, FirstStepSurrogate, FixedNoise
from idc_lite.evaluation.attacks.registry import attack_entry, attack_kinds
from idc_lite.evaluation.comparison import worst_case_scores
from idc_lite.evaluation.scoring import SCORING_RULES, PaperProtocolModel, score_from_predictions, score_under_rule, worst_case
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.run_metrics import AttackMetrics
from idc_lite.foundation.runtime import progress_bar
from idc_lite.foundation.shared_work import shareable
from idc_lite.foundation.streams import hashed_seed, seeded
from idc_lite.foundation.uncertainty import estimate, paired_difference
from idc_lite.foundation.validation import check_batch, check_choice, check_eps, check_int, check_number
from idc_lite.model.accuracy import predictions_over_draws

TARGETS = ("model", "fixed_noise", "bpda", "first_step", "paper_wrapper", "transfer")


@dataclass
class AttackSpec:
    """One attack of a suite.

    ``kind`` names an attack of the registry (:func:`idc_lite.evaluation.attacks.attack_kinds`);
    ``params`` are its settings (its entry's ``defaults`` fill in the rest; for 'torchattacks' the
    class name under ``attack`` plus its arguments); ``target`` in TARGETS; ``source`` names the model
    of ``evaluate_attacks(sources=...)`` a 'transfer' attack runs on; ``start_from`` names an earlier attack
    of the same list whose examples this one starts from (kinds that take a start only).
    """
    name: str
    kind: str
    params: dict = field(default_factory=dict)
    target: str = "model"
    start_from: str | None = None
    source: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"attack name must be a non-empty string, got {self.name!r}")
        check_choice(self.kind, "attack kind", attack_kinds())
        check_choice(self.target, "attack target", TARGETS)
        if not isinstance(self.params, dict):
            raise InputError(f"attack params must be a dict, got {type(self.params).__name__}")
        if (self.target == "transfer") != (self.source is not None):
            raise InputError("a 'transfer' attack needs source=<model name>, and only it takes one")
        entry = attack_entry(self.kind)
        if self.start_from is not None and not entry.takes_start:
            starting = [k for k in attack_kinds() if attack_entry(k).takes_start]
            raise InputError(f"start_from is supported for the kinds {starting} only, not {self.kind!r}")
        if "eps" in self.params:
            check_eps(self.params["eps"], f"attack {self.name!r} eps", self.params.get("norm", "Linf"))
        entry.validate(self.attack_params, self.name)

    @property
    def attack_params(self) -> dict:
        """The attack's own settings: ``params`` without ``noise_seed``, which is the fixed-noise target's."""
        return {k: v for k, v in self.params.items() if k != "noise_seed"}

    @property
    def family(self) -> str:
        """'white-box', 'black-box' or 'no query' (its registry entry's); a transfer attack is black-box
        for the model it is scored on, whatever it does on its source."""
        return "black-box" if self.target == "transfer" else attack_entry(self.kind).family

    def settings(self) -> dict:
        """The attack's full settings, defaults filled in: eps, norm, steps, step size (alpha),
        restarts, EOT samples, loss, plus anything specific."""
        noise = {"noise_seed": self.params["noise_seed"]} if "noise_seed" in self.params else {}
        return {**attack_entry(self.kind).settings(self.attack_params), **noise}


def _target(model, spec: AttackSpec, sources: dict | None):
    if spec.target == "fixed_noise":
        return FixedNoise(model, seed=spec.params.get("noise_seed", 0))
    if spec.target == "bpda":   # a defence other than IDC brings its own (idc_lite.defences)
        return model.bpda() if hasattr(model, "bpda") else BPDA(model)
    if spec.target == "first_step":
        return model.first_step_surrogate() if hasattr(model, "first_step_surrogate") else FirstStepSurrogate(model)
    if spec.target == "paper_wrapper":
        return PaperProtocolModel(model)
    if spec.target == "transfer":
        if not sources or spec.source not in sources:
            raise ValueError(f"attack {spec.name!r} transfers from {spec.source!r}: pass it in sources=")
        return sources[spec.source]
    return model


def run_attack(model, spec: AttackSpec, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
               start: torch.Tensor | None = None, sources: dict | None = None) -> torch.Tensor:
    """Adversarial examples (B, C, H, W) in [0, 1] for one attack spec, run by its registry entry."""
    return attack_entry(spec.kind).run(_target(model, spec, sources), x, labels, generator, spec.attack_params, start)


def evaluate_attacks(model, x: torch.Tensor, labels: torch.Tensor, attacks: list[AttackSpec], *, seed: int = 0,
             rule: str = "one", draws: int = 5, batch_size: int = 100, l2_budget: float | None = None,
             sources: dict | None = None, protocol: str = "", progress: bool = False,
             examples: dict | None = None, gradient_model=None, cascade: bool = False) -> dict:
    """Robust accuracy per attack and the per-example worst case, with everything recorded.

    x (B, C, H, W) in [0, 1], labels (B,).  Every consumer draws from a stream of its own, named and
    derived from ``seed`` (:func:`idc_lite.foundation.streams.seeded`): attack ``name`` from ``'attack/<name>'``, its
    scoring from ``'scoring/<name>'``, the clean scoring from ``'scoring/clean'``; so no attack sees the
    noise it is scored with, an attack's draws do not depend on its place in the list, and no stream is
    shared with another notebook's integer seeds.  The integer seeds are recorded per attack.
    ``rule``/``draws``: see :func:`idc_lite.evaluation.scoring.score_under_rule` ('one' averages ``draws`` one-draw
    scores; ``draws=1`` scores with a single draw, as the paper does).
    ``l2_budget``: CW-L2 examples further than this from x count as failed attacks.
    ``examples``: a dict that receives each attack's adversarial examples by name.
    ``gradient_model``: what the attacks query instead of ``model`` (e.g. ``model.gradient_twin()``,
    the 3-call sampler); scoring always uses ``model`` itself, and the result records which was used.
    Returns a JSON-serialisable dict (per-example scores included, for example-by-example checks).
    ``cascade``: as AutoAttack runs its attacks, each attack only on the examples that every earlier one
    left standing (per-example worst case above 0 under the scoring draws); an example at 0 cannot go
    lower, so the worst case keeps its definition while the later, costlier attacks run on fewer
    examples.  A row's ``per_example`` then holds None where the attack did not run, and its
    ``robust_accuracy`` is the accuracy left after it (AutoAttack's running figure).  Every row records
    ``attacked_examples`` and the gradient draws and queries it spent per attacked example.
    ``worst_case_accuracy`` is the mean per-example minimum over attacks; with rule 'one' and
    several draws, ``worst_case_rescored`` scores each example's chosen attack again on fresh
    draws (stream 'rescoring/worst_case'), because a minimum of noisy scores leans low.
    """
    if not isinstance(attacks, (list, tuple)) or not all(isinstance(a, AttackSpec) for a in attacks):
        raise InputError(f"attacks must be a list of AttackSpec, got {attacks!r}"[:300])
    num_classes = getattr(getattr(model, "config", None), "num_classes", None)
    x, labels = check_batch(x, labels, num_classes)
    check_int(seed, "seed", 0)
    check_choice(rule, "rule", ("one", "majority", "all"))
    check_int(draws, "draws", 1)
    check_int(batch_size, "batch_size", 1)
    if l2_budget is not None:
        check_number(l2_budget, "l2_budget", 0.0)
    names = [a.name for a in attacks]
    if len(set(names)) != len(names):
        raise InputError(f"attack names must be unique, got {names}")
    started = time.perf_counter()
    clean = score_under_rule(model, x, labels, rule, seeded(seed, "scoring/clean"), draws)
    attacker = gradient_model if gradient_model is not None else model
    scores, table, adversarial, running = _run_attacks(model, attacker, x, labels, clean, attacks, seed=seed, rule=rule,
                                                       draws=draws, batch_size=batch_size, l2_budget=l2_budget,
                                                       sources=sources, cascade=cascade, progress=progress)
    worst = running if cascade and scores else worst_case(scores) if scores else clean
    rescored = None
    if scores and rule == "one" and draws > 1:
        # The minimum of noisy scores leans low (it picks each example's luckiest draws for the
        # attacker).  Unbiased check: keep each example's chosen attack, score it on fresh draws.
        rescored = score_under_rule(model, pick_worst(scores, adversarial), labels, rule,
                                    seeded(seed, "rescoring/worst_case"), draws)
    intervals = accuracy_intervals(table, clean, worst, rescored, one_draw=draws == 1 or rule != "one")
    result = {"protocol": protocol, "scoring_rule": rule, "draws": draws, "seed": seed,
              "attacks_query": "the scored model" if gradient_model is None else _describe_model(gradient_model),
              "examples": int(x.shape[0]), "clean_accuracy": clean.mean().item(),
              "clean_per_example": [round(v, 4) for v in clean.tolist()], "attacks": table,
              "worst_case_accuracy": worst.mean().item(), "worst_case_and_clean": (worst * clean).mean().item(),
              "worst_case_per_example": [round(v, 4) for v in worst.tolist()],
              "worst_case_rescored": None if rescored is None else rescored.mean().item(),
              "worst_case_rescored_per_example": None if rescored is None else [round(v, 4) for v in rescored.tolist()],
              "intervals": intervals, "l2_budget": l2_budget, "cascade": cascade,
              "seconds": round(time.perf_counter() - started, 2)}
    json.dumps(result)   # fail here, not in the report, if anything is not serialisable
    if examples is not None:
        examples.update(adversarial)
    return result


def _run_attacks(model, attacker, x, labels, clean, attacks, *, seed, rule, draws, batch_size, l2_budget, sources,
                 cascade, progress):
    """:func:`evaluate_attacks`'s loop over the attacks: per attack its scores (B,) (NaN where a cascade did not
    run it), its table row and its adversarial examples; and the per-example worst case so far (B,)."""
    scores, table, adversarial, before = {}, [], {}, {}
    running = torch.full_like(clean, float("inf"))    # per-example worst case so far
    for spec in progress_bar(attacks, desc="attacks", disable=not progress):
        if spec.start_from is not None and spec.start_from not in adversarial:
            raise InputError(f"attack {spec.name!r} starts from {spec.start_from!r}, which must come earlier in the list")
        attack_seed, scoring_seed = hashed_seed(seed, f"attack/{spec.name}"), hashed_seed(seed, f"scoring/{spec.name}")
        before[spec.name] = running
        on = _cascade_rows(spec, running, scores, before, attacks) if cascade else None
        t0 = time.perf_counter()
        adv, spent = _attack_in_batches(attacker, spec, x, labels, torch.Generator().manual_seed(attack_seed),
                                        batch_size, adversarial.get(spec.start_from), sources, on)
        seconds = time.perf_counter() - t0
        if spec.kind == "cw_l2" and l2_budget is not None:
            too_far = (adv - x).flatten(1).norm(dim=1) > l2_budget
            adv = torch.where(too_far.view(-1, 1, 1, 1), x, adv)
        adversarial[spec.name] = adv
        # a cascade scores the rows it attacked (a query-free attack: every row still standing)
        scored = None if not cascade else on if on is not None else (running > 0).nonzero().squeeze(1)
        score = _score_on(model, adv, labels, rule, torch.Generator().manual_seed(scoring_seed), draws, scored)
        scores[spec.name] = score
        running = torch.fmin(running, score)
        table.append(_attack_row(spec, x, adv, clean, score, attack_seed, scoring_seed, seconds, spent,
                                 running if cascade else None))
    return scores, table, adversarial, running


def _cascade_rows(spec: AttackSpec, running: torch.Tensor, scores: dict, before: dict, attacks: list) -> torch.Tensor | None:
    """The examples a cascade runs ``spec`` on: those still standing (worst case so far above 0); a
    query-free attack (a painted-in image) depends on the whole batch and costs nothing, so it runs on all
    (None).  An attack started from a query-based black-box attack's examples (Square) refines only where
    that attack found a lower score than every attack before it: elsewhere its example is x plus a few
    random changes, no start to build on.  One started from a transfer runs on every standing example: a
    transfer's example carries another model's gradient even where it did not lower the score (the
    changelog has the 359-image evaluation that showed it)."""
    if spec.family == "no query":
        return None
    rows = running > 0
    start = next((a for a in attacks if a.name == spec.start_from), None)
    if start is not None and start.family == "black-box" and start.target != "transfer":
        rows &= scores[start.name].nan_to_num(nan=float("inf")) < before[start.name]
    return rows.nonzero().squeeze(1)


def _attack_in_batches(attacker, spec: AttackSpec, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                       batch_size: int, start: torch.Tensor | None, sources: dict | None,
                       on: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
    """``spec``'s adversarial examples (B, C, H, W) for x, ``batch_size`` at a time, from one generator,
    and what it spent.  ``on``: the indices to attack (None: all); the other rows keep x."""
    index = torch.arange(x.shape[0]) if on is None else on
    target = CountingModel(_target(attacker, spec, sources))
    entry = attack_entry(spec.kind)
    params = spec.attack_params
    adv = x.clone()
    for j in range(0, index.numel(), batch_size):
        rows = index[j:j + batch_size]
        adv[rows] = entry.run(target, x[rows], labels[rows], generator, params, None if start is None else start[rows])
    attacked = max(index.numel(), 1)
    return adv, {"attacked_examples": int(index.numel()), "gradient_draws_per_example": target.gradient_draws / attacked,
                 "queries_per_example": target.queries / attacked}


def _score_on(model, adv: torch.Tensor, labels: torch.Tensor, rule: str, generator: torch.Generator, draws: int,
              rows: torch.Tensor | None) -> torch.Tensor:
    """Per-example scores (B,) of ``adv``; with ``rows``, only those are scored and the rest are NaN."""
    if rows is None:
        return score_under_rule(model, adv, labels, rule, generator, draws)
    score = torch.full((adv.shape[0],), float("nan"))
    if rows.numel():
        score[rows] = score_under_rule(model, adv[rows], labels[rows], rule, generator, draws)
    return score


def _attack_row(spec: AttackSpec, x: torch.Tensor, adv: torch.Tensor, clean: torch.Tensor, score: torch.Tensor,
                attack_seed: int, scoring_seed: int, seconds: float, spent: dict,
                running: torch.Tensor | None) -> dict:
    """One attack's entry in evaluate_attacks()'s table: its spec, seeds, time, what it spent, scores and the
    largest perturbation.  ``running`` (cascade): the worst case after it, its robust accuracy."""
    shown = score if running is None else running
    return {**asdict(spec), "settings": spec.settings(), "family": spec.family, "attack_seed": attack_seed,
            "scoring_seed": scoring_seed, "seconds": round(seconds, 2), **spent,
            "robust_accuracy": shown.mean().item(),
            "clean_and_adversarial_correct": (clean * shown).mean().item(),
            "max_linf": (adv - x).abs().flatten(1).max(1).values.max().item(),
            "max_l2": (adv - x).flatten(1).norm(dim=1).max().item(),
            "per_example": [None if v != v else round(v, 4) for v in score.tolist()],
            **({} if running is None else {"accuracy_left_per_example": [round(v, 4) for v in running.tolist()]})}


def accuracy_intervals(table: list[dict], clean: torch.Tensor, worst: torch.Tensor, rescored: torch.Tensor | None,
               one_draw: bool) -> dict:
    """95 % intervals (idc_lite.foundation.uncertainty) for every accuracy of one evaluation.  One-draw 0/1
    outcomes get Wilson's; scores averaged over draws, and every worst case (a minimum over attacks),
    a bootstrap over examples.  Each attack's row in ``table`` gains its own under ``"interval"`` (robust
    accuracy) and ``"clean_and_adversarial_interval"``."""
    method = "wilson" if one_draw else "bootstrap"
    for row in table:   # a cascade's rows: the accuracy left after the attack, defined on every example
        score = torch.tensor(row.get("accuracy_left_per_example", row["per_example"]))
        row["interval"] = estimate(score, method)
        row["clean_and_adversarial_interval"] = estimate(score * clean, method)
    out = {"clean": estimate(clean, method),
           "worst_case": estimate(worst, "bootstrap" if table else method),
           "worst_case_and_clean": estimate(worst * clean, "bootstrap" if table else method)}
    if rescored is not None:
        out["worst_case_rescored"] = estimate(rescored, "bootstrap")
    return out


def _describe_model(model) -> str:
    bridge = getattr(model, "bridge", None)
    if bridge is None:
        return type(model).__name__
    autocast = getattr(model, "unet_autocast", None)
    precision = "" if autocast is None else f", U-Net under {str(autocast).replace('torch.', '')} autocast"
    return f"{type(model).__name__} with {bridge.num_network_calls} U-Net calls per prediction (steps {bridge.steps}){precision}"


def scores_tensor(scores) -> torch.Tensor:
    """Per-example scores as a float tensor; None (an example a cascade did not attack) becomes NaN."""
    if isinstance(scores, torch.Tensor):
        return scores.float()
    return torch.tensor([float("nan") if v is None else v for v in scores])


def pick_worst(scores: dict[str, torch.Tensor], adversarial: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per example, the adversarial example (B, C, H, W) of the attack with the lowest score
    (B,) for it (the first such attack on ties): what the per-example worst case keeps."""
    # NaN or None: an attack a cascade did not run on that example, never the worst
    chosen = torch.stack([scores_tensor(scores[name]) for name in adversarial]).nan_to_num(nan=float("inf")).argmin(0)
    stacked = torch.stack(list(adversarial.values()))
    return stacked[chosen, torch.arange(stacked.shape[1])]


def accuracy_curve(model, x: torch.Tensor, labels: torch.Tensor, eps_values: list[float], make_attacks, *,
                   seed: int = 0, draws: int = 5, count: str = "adversarial", gradient_model=None) -> list[dict]:
    """Worst-case accuracy over ``make_attacks(eps)`` at each eps, as [{"eps", "accuracy"}].
    eps 0 gives the clean accuracy.  ``count``: 'adversarial' (accuracy on the adversarial
    examples) or 'clean_and_adversarial' (the authors' count).  ``gradient_model``: see
    :func:`evaluate_attacks`."""
    check_choice(count, "count", ("adversarial", "clean_and_adversarial"))
    if not isinstance(eps_values, (list, tuple)) or not eps_values:
        raise InputError(f"eps_values must be a non-empty list of budgets, got {eps_values!r}")
    for eps in eps_values:
        check_eps(eps, "eps_values[i]")
    key = "worst_case_accuracy" if count == "adversarial" else "worst_case_and_clean"
    curve = []
    for eps in eps_values:
        result = evaluate_attacks(model, x, labels, make_attacks(eps) if eps > 0 else [], seed=seed, draws=draws,
                          gradient_model=gradient_model)
        curve.append({"eps": eps, "accuracy": result[key] if eps > 0 else result["clean_accuracy"]})
    return curve


@shareable
def rescore(model, x: torch.Tensor, labels: torch.Tensor, examples: dict[str, torch.Tensor], rule,
            draws: int = 5, seed: int = 0):
    """The same adversarial examples scored under another rule (e.g. 'majority' or 'all' of
    ``draws`` draws): accuracy per attack and the per-example worst case.  Forward passes only.
    ``rule`` may be a list of rules: then one dict per rule comes back, all scored from the same
    ``draws`` predictions per image (one set of sampler calls instead of one per rule)."""
    rules = [rule] if isinstance(rule, str) else list(rule) if isinstance(rule, (list, tuple)) else [rule]
    if not rules:
        raise InputError("rule must be a scoring rule or a non-empty list of them")
    for r in rules:
        check_choice(r, "rule", SCORING_RULES)
    check_int(draws, "draws", 1)
    x, labels = check_batch(x, labels, getattr(getattr(model, "config", None), "num_classes", None))
    for name, adv in examples.items():
        if not isinstance(adv, torch.Tensor) or adv.shape != x.shape:
            raise InputError(f"examples[{name!r}] must have the shape of x {tuple(x.shape)}, "
                             f"got {getattr(adv, 'shape', type(adv).__name__)}")

    @torch.no_grad()
    def scored(images: torch.Tensor, stream: str) -> dict[str, torch.Tensor]:
        predictions = predictions_over_draws(model, images, [seeded(seed, stream)] * draws)
        return {r: score_from_predictions(predictions, labels, r) for r in rules}

    per_attack = {name: scored(adv, f"rescoring/{name}") for name, adv in examples.items()}
    clean = scored(x, "rescoring/clean")
    results = []
    for r in rules:
        scores = {name: by_rule[r] for name, by_rule in per_attack.items()}
        results.append({"scoring_rule": r, "draws": draws, "clean_accuracy": clean[r].mean().item(),
                        "attacks": {name: v.mean().item() for name, v in scores.items()},
                        "worst_case_accuracy": worst_case(scores).mean().item() if scores else clean[r].mean().item()})
    return results[0] if isinstance(rule, str) else results


def _ci(interval: dict | None) -> str:
    return "" if not interval else f"[{100 * interval['low']:.1f}, {100 * interval['high']:.1f}]"


def attack_table(result: dict) -> list[dict]:
    """Rows (attack, robust accuracy and its 95 % interval, clean-and-adversarial and its interval, key
    settings, the examples attacked and the draws spent per attacked example, seconds) for display; n is the
    result's ``examples``.  In a cascade, an attack's robust accuracy is the accuracy left after it."""
    rows = []
    for a in result["attacks"]:
        s = a["settings"]
        rows.append({"attack": a["name"], "target": a["target"] + (f" ({a['source']})" if a["source"] else ""),
                     "robust_accuracy": a["robust_accuracy"], "95 % interval": _ci(a.get("interval")),
                     "clean_and_adversarial": a["clean_and_adversarial_correct"],
                     "clean_and_adversarial 95 % interval": _ci(a.get("clean_and_adversarial_interval")),
                     "eps": s.get("eps"), "norm": s.get("norm"), "steps": s.get("steps"), "alpha": s.get("alpha"),
                     "restarts": s.get("restarts"), "eot_samples": s.get("eot_samples"), "loss": s.get("loss"),
                     **({"attacked": a["attacked_examples"],
                         "gradient draws/example": round(a["gradient_draws_per_example"], 1),
                         "queries/example": round(a["queries_per_example"], 1)} if "attacked_examples" in a else {}),
                     "seconds": a["seconds"]})
    intervals = result.get("intervals") or {}
    rows.append({"attack": "worst case (per example)", "target": "", "robust_accuracy": result["worst_case_accuracy"],
                 "95 % interval": _ci(intervals.get("worst_case")),
                 "clean_and_adversarial": result["worst_case_and_clean"],
                 "clean_and_adversarial 95 % interval": _ci(intervals.get("worst_case_and_clean"))})
    return rows


def protocols_side_by_side(paper: dict, adaptive: dict) -> list[dict]:
    """Rows for the paper protocol's and the adaptive protocol's results ({eps: evaluate_attacks(...) result}
    each), every accuracy with its 95 % interval and n."""
    def row(protocol, eps, r, robust, interval):
        iv = r.get("intervals") or {}
        return {"protocol": protocol, "eps_255": round(255 * eps, 1), "n": r["examples"],
                "clean": r["clean_accuracy"], "clean 95 % interval": _ci(iv.get("clean")),
                "robust (worst case)": r[robust], "robust 95 % interval": _ci(iv.get(interval)),
                "attacks": len(r["attacks"]),
                "scoring": "one draw, clean and adversarial" if protocol == "paper" else f"one draw (mean of {r['draws']})"}
    return ([row("paper", b, r, "worst_case_and_clean", "worst_case_and_clean") for b, r in sorted(paper.items())]
            + [row("adaptive", b, r, "worst_case_accuracy", "worst_case") for b, r in sorted(adaptive.items())])


def protocol_gap(paper_result: dict, adaptive_result: dict) -> dict:
    """How much more robust accuracy the paper protocol reports than the adaptive one on the same examples:
    a paired bootstrap over examples (idc_lite.foundation.uncertainty.paired_difference) of the per-example scores."""
    return paired_difference(worst_case_scores(paper_result), adaptive_result["worst_case_per_example"])


def idc_protocols(from_04: AttackMetrics) -> dict:
    """{protocol key: result} of the IDC model from notebook 04's record: 'paper@B' for each paper budget,
    'adaptive' at the main budget and 'adaptive_secondary' at the secondary one where 04 ran it."""
    out = {**from_04.paper_protocol, "adaptive": from_04.adaptive_protocol}
    if from_04.adaptive_protocol_secondary:
        out["adaptive_secondary"] = from_04.adaptive_protocol_secondary
    return out



"""Sanity checks that must pass before a robustness number is believed (see the README's
"Honest evaluation" section and Carlini et al. 2019, Tramer et al. 2020).

Every check returns a record ``{"check", "status", "criterion", "values"}`` whose status is
``"passed"``, ``"FAILED"`` or ``"measured"`` (a number reported without a pass mark).  A failed
check is reported as failed; nothing here raises on failure.

``tol`` is the slack allowed between two accuracies measured on the same examples (default 0.03:
three examples in a hundred), because scoring a random classifier is itself noisy.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import torch

from idc_lite.evaluation.attacks import FixedNoise, PGDSettings, margin, pgd, pgd_linf
from idc_lite.evaluation.check_record import check_record
from idc_lite.evaluation.protocol import accuracy_curve
from idc_lite.evaluation.scoring import score_under_rule
from idc_lite.evaluation.suites import DEFAULTS, adaptive_suite_for, sweep_suite, tail_name
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.run_metrics import AttackSettings
from idc_lite.foundation.shared_work import shareable
from idc_lite.foundation.streams import seeded

TOLERANCE = 0.03
# The checks' own streams (idc_lite.foundation.streams), apart from every stream of the evaluation, so that a
# check never replays an attack's or a scoring's noise.
ATTACK_STREAM, SCORING_STREAM = "sanity-attack", "sanity-scoring"


def _accuracy(result: dict, name: str) -> float:
    for a in result["attacks"]:
        if a["name"] == name:
            return a["robust_accuracy"]
    raise KeyError(f"no attack named {name!r} in the result")


def _per_example(result: dict, names: list[str]) -> torch.Tensor:
    rows = {a["name"]: a["per_example"] for a in result["attacks"]}
    return torch.tensor([rows[n] for n in names], dtype=torch.float32).min(0).values


# ---- checks read from an evaluation result ------------------------------------------------------
def iterative_beats_single_step(result: dict, single: str, iterative: list[str], tol: float = TOLERANCE) -> dict:
    """Sanity check 2a: the best iterative attack is at least as strong as the single-step one."""
    best = min(_accuracy(result, n) for n in iterative)
    return check_record("iterative beats single-step", best <= _accuracy(result, single) + tol,
                   f"min accuracy over {iterative} <= accuracy under {single} + {tol}",
                   single_step=_accuracy(result, single), best_iterative=best)


def white_box_beats_black_box(result: dict, white_box: list[str], black_box: list[str], tol: float = TOLERANCE) -> dict:
    """Sanity check 3: per example, the white-box attacks' worst case against each black-box
    (gradient-free or transfer) attack.  Counts the examples a black-box attack breaks clearly
    better (score lower by more than 0.5) than every white-box attack."""
    white = _per_example(result, white_box)
    values, passed = {"white_box_worst_case": white.mean().item()}, True
    for name in black_box:
        black = _per_example(result, [name])
        only_black = int(((white - black) > 0.5).sum())
        values[name] = {"accuracy": black.mean().item(), "examples_only_black_box_breaks": only_black}
        passed &= white.mean().item() <= black.mean().item() + tol and only_black <= tol * len(white)
    return check_record("white-box beats black-box, example by example", passed,
                   f"white-box worst case <= each black-box accuracy + {tol}, and black-box alone breaks at most "
                   f"{tol:.0%} of the examples", **values)


def full_gradient_beats_bpda(result: dict, full: list[str], bpda: str, tol: float = TOLERANCE) -> dict:
    """Sanity check 4a: the full gradient through the sampler is at least as strong as BPDA."""
    best = min(_accuracy(result, n) for n in full)
    return check_record("full gradient beats BPDA", best <= _accuracy(result, bpda) + tol,
                   f"min accuracy over {full} <= accuracy under {bpda} + {tol}", full_gradient=best,
                   bpda=_accuracy(result, bpda))


# ---- checks that run attacks ----------------------------------------------------------------------
def accuracy_against_eps(model, x: torch.Tensor, labels: torch.Tensor, eps_values: list[float], make_attacks,
                         num_classes: int, seed: int = 0, draws: int = 5, tol: float = TOLERANCE,
                         gradient_model=None) -> dict:
    """Sanity check 1: worst-case accuracy over ``make_attacks(eps)`` for each eps falls steadily
    and ends at or below chance (``1 / num_classes``) at the largest eps.  ``gradient_model``:
    what the attacks query (see :func:`idc_lite.evaluation.protocol.evaluate_attacks`); scoring always uses ``model``."""
    curve = accuracy_curve(model, x, labels, eps_values, make_attacks, seed=seed, draws=draws,
                           gradient_model=gradient_model)
    accs = [c["accuracy"] for c in curve]
    monotone = all(b <= a + tol for a, b in zip(accs, accs[1:]))
    chance = 1.0 / num_classes
    return check_record("accuracy falls to chance as eps grows", monotone and accs[-1] <= chance + tol,
                   f"non-increasing (within {tol}) and <= chance {chance:.2f} + {tol} at eps {eps_values[-1]:.3f}",
                   curve=curve, attacks=[a.name for a in make_attacks(eps_values[-1])])


def budget_doubling(model, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings, seed: int = 0,
                    draws: int = 5, tol: float = TOLERANCE, start: torch.Tensor | None = None,
                    gradient_model=None) -> dict:
    """Sanity check 2b: doubling a PGD attack's steps, or adding a second (random) restart, moves
    accuracy by at most ``tol``.  ``start``: examples the first restart starts from (e.g. the
    first-step surrogate's).  The restart is counted per example (the attacker keeps whichever
    restart does better).  All runs are scored on ``model`` with the same scoring noise; the
    attacks query ``gradient_model`` when given."""
    attacker = model if gradient_model is None else gradient_model

    def run(s: PGDSettings, attack_stream: str, start_at) -> torch.Tensor:
        # every run scored with the same draws: the comparisons are paired
        adv = pgd(attacker, x, labels, s, seeded(seed, attack_stream), start=start_at)
        return score_under_rule(model, adv, labels, "one", seeded(seed, SCORING_STREAM), draws)

    base = run(settings, ATTACK_STREAM, start)
    doubled = run(replace(settings, steps=2 * settings.steps), ATTACK_STREAM, start).mean().item()
    second = run(settings, "sanity-restart", None)     # a random start
    restarted = torch.minimum(base, second).mean().item()
    base = base.mean().item()
    passed = abs(doubled - base) <= tol and abs(restarted - base) <= tol
    return check_record("doubling steps or adding a restart no longer changes the result", passed,
                   f"|change| <= {tol} on {x.shape[0]} examples", base=base, doubled_steps=doubled,
                   with_second_restart=restarted, settings=settings.to_dict(), started_from_given_examples=start is not None)


def eot_convergence(model, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings, samples: list[int],
                    seed: int = 0, draws: int = 5, tol: float = TOLERANCE, start: torch.Tensor | None = None,
                    gradient_model=None) -> dict:
    """Sanity check 4c: accuracy under EOT-PGD against the number of fresh noise draws per step;
    passes when the last doubling of the draws moves accuracy by at most ``tol`` (flattened).
    The attacks query ``gradient_model`` when given; scoring uses ``model``."""
    attacker = model if gradient_model is None else gradient_model
    curve = []
    for k in samples:
        adv = pgd(attacker, x, labels, replace(settings, eot_samples=k), seeded(seed, ATTACK_STREAM), start=start)
        acc = score_under_rule(model, adv, labels, "one", seeded(seed, SCORING_STREAM), draws).mean().item()
        curve.append({"eot_samples": k, "accuracy": acc})
    flat = len(curve) >= 2 and abs(curve[-1]["accuracy"] - curve[-2]["accuracy"]) <= tol
    return check_record("accuracy against EOT samples has flattened", flat,
                   f"last step of the curve moves accuracy by at most {tol}", curve=curve, settings=settings.to_dict(),
                   started_from_given_examples=start is not None)


def fixed_noise_floor(model, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings, noise_seed: int = 0,
                      seed: int = 0, draws: int = 5, gradient_model=None) -> dict:
    """Sanity check 4d: PGD against a fixed-noise copy, scored with that same noise (the floor)
    and then with fresh noise: the difference is robustness that comes only from randomness.
    With ``gradient_model`` the fixed-noise copy (attacked and floor-scored) wraps it instead;
    the fresh-noise score always uses ``model``."""
    fixed = FixedNoise(model if gradient_model is None else gradient_model, noise_seed)
    adv = pgd(fixed, x, labels, settings, seeded(seed, ATTACK_STREAM))
    with torch.no_grad():
        floor = (fixed(adv).argmax(1) == labels).float().mean().item()
    fresh = score_under_rule(model, adv, labels, "one", seeded(seed, SCORING_STREAM), draws).mean().item()
    return check_record("fixed-noise floor, then fresh noise", None,
                   "measured: accuracy with the attack's own noise (floor) and with fresh noise",
                   floor_same_noise=floor, rescored_fresh_noise=fresh, settings=settings.to_dict(), noise_seed=noise_seed)


def gradient_checks(model, x: torch.Tensor, labels: torch.Tensor, seed: int = 0, directions: int = 3,
                    h: float = 1e-4, rtol: float = 1e-3) -> dict:
    """Sanity check 4b: the input gradient of the margin is finite and non-zero, and with the
    noise fixed it agrees with central finite differences along random directions (float64
    copy of the model, so rounding does not blur the comparison), at x moved into [0.05, 0.95]."""
    model64 = copy.deepcopy(model).double()
    # at interior points: many pixels sit exactly at 0, on the kink of the input clamp, where a
    # central difference straddles two slopes
    x64 = x.detach().double() * 0.9 + 0.05
    noise = [torch.randn(x.shape, generator=seeded(seed, f"sanity-gradient-noise-{i}"), dtype=torch.float64)
             for i in range(model64.bridge.num_noise_draws)]

    def f(inp):
        return margin(model64(inp, noise=noise), labels).sum()

    xg = x64.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(xg), xg)
    finite = bool(torch.isfinite(grad).all())
    nonzero = float((grad.flatten(1).abs().sum(1) > 0).float().mean())
    generator = seeded(seed, "sanity-directions")
    errors = []
    with torch.no_grad():
        for _ in range(directions):
            v = torch.randn(x.shape, generator=generator, dtype=torch.float64)
            v = v / v.norm()
            numeric = (f(x64 + h * v) - f(x64 - h * v)) / (2 * h)
            analytic = (grad * v).sum()
            errors.append(abs(numeric - analytic).item() / max(abs(analytic).item(), 1e-12))
    passed = finite and nonzero == 1.0 and max(errors) <= rtol
    return check_record("gradients finite, non-zero, equal to finite differences under fixed noise", passed,
                   f"all finite, non-zero for every example, relative error <= {rtol} (h = {h}, float64)",
                   finite=finite, nonzero_fraction=nonzero, relative_errors=errors,
                   mean_abs_gradient=grad.abs().mean().item())


def undefended_model_falls(model, x: torch.Tensor, labels: torch.Tensor, settings: PGDSettings, seed: int = 0,
                           threshold: float = 0.05) -> dict:
    """Sanity check 5: the same PGD code drives an undefended model to about 0 % at the same eps."""
    adv = pgd(model, x, labels, settings, seeded(seed, ATTACK_STREAM))
    with torch.no_grad():
        clean = (model(x).argmax(1) == labels).float().mean().item()
        acc = (model(adv).argmax(1) == labels).float().mean().item()
    return check_record("the same attack takes an undefended CNN to about 0 %", acc <= threshold,
                   f"accuracy under attack <= {threshold}", clean=clean, robust=acc, settings=settings.to_dict())


@shareable
def choose_main_budget(model, x: torch.Tensor, labels: torch.Tensor, grid_255, steps: int = DEFAULTS.steps, seed: int = 0,
                       threshold: float = 0.05) -> dict:
    """The main attack budget: the smallest eps on ``grid_255`` (in 1/255) at which check 5's attack
    (PGD, ``steps`` steps of eps / 4 on the cross-entropy) takes the undefended ``model`` to at most
    ``threshold``.  Below that budget the check cannot pass, so no model's number there says anything
    about robustness.  Budgets are tried from the smallest up; when none is enough, the largest is
    returned with ``undefended_model_falls = False`` (and check 5 will show the failure).

    Returns ``{"eps_255", "grid_255", "threshold", "undefended_model_falls", "measured", "reason"}``,
    ``measured`` a list of ``{"eps_255", "clean", "robust", "n"}`` for every budget tried."""
    try:
        grid = sorted(float(b) for b in (grid_255.split(",") if isinstance(grid_255, str) else grid_255))
    except (TypeError, ValueError):
        grid = []
    if not grid or any(not 0 < b <= 255 for b in grid):
        raise InputError(f"grid_255 must be budgets in 1/255 between 0 and 255 (e.g. '16,24,32'), got {grid_255!r}")
    measured = []
    for budget in grid:
        eps = budget / 255
        record = undefended_model_falls(model, x, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=steps), seed=seed,
                                        threshold=threshold)
        measured.append({"eps_255": budget, "clean": record["values"]["clean"], "robust": record["values"]["robust"],
                         "n": int(x.shape[0])})
        if record["status"] == "passed":
            break
    falls = measured[-1]["robust"] <= threshold
    tried = ", ".join(f"{m['eps_255']:g}/255: {100 * m['robust']:.1f} %" for m in measured)
    reason = (f"the smallest budget of the grid {', '.join(f'{b:g}' for b in grid)} (/255) at which the undefended CNN "
              f"falls to at most {100 * threshold:g} % under PGD-{steps} (accuracy under attack on {x.shape[0]} "
              f"examples: {tried})" if falls else
              f"no budget of the grid {', '.join(f'{b:g}' for b in grid)} (/255) takes the undefended CNN to "
              f"{100 * threshold:g} % ({tried}); the largest is used and the sanity check fails")
    return {"eps_255": measured[-1]["eps_255"], "grid_255": grid, "threshold": threshold,
            "undefended_model_falls": falls, "measured": measured, "reason": reason, "steps": steps}


def matches_library_pgd(model, x: torch.Tensor, labels: torch.Tensor, eps: float, alpha: float, steps: int,
                        atol: float = 1e-5) -> dict:
    """Sanity check 6: the hand-written PGD equals torchattacks' PGD on a deterministic model
    from the same start (no random start, so both start at x)."""
    import torchattacks

    settings = PGDSettings(eps=eps, alpha=alpha, steps=steps, random_start=False)
    ours = pgd(model, x, labels, settings, torch.Generator().manual_seed(0))
    # torchattacks returns the last iterate, as the teaching pgd_linf does; pgd keeps the best-so-far one
    last = pgd_linf(model, x, labels, settings, torch.Generator().manual_seed(0))
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, labels)
    diff = (last - theirs).abs().max().item()
    return check_record("hand-written PGD matches torchattacks' PGD", diff <= atol,
                   f"max |difference| of the last iterates <= {atol}", max_abs_difference=diff,
                   best_iterate_within_budget=bool((ours - x).abs().max() <= eps + 1e-6), torchattacks=torchattacks.__version__)




def _example_checks(adaptive: dict, suite, settings: AttackSettings) -> list[dict]:
    """Checks 2a, 3 and 4a read from a result whose attacks all ran on every example (no cascade)."""
    model_pgd = [a.name for a in suite if a.kind == "pgd" and a.target == "model"]
    black_box = [f"square{settings.square_queries}", "transfer_from_cnn"]
    # white-box attacks of their own: an EOT-PGD started from a black-box attack's examples would pass by construction
    white_box = [a.name for a in suite if a.target in ("model", "first_step") and a.start_from not in black_box]
    return [iterative_beats_single_step(adaptive, "fgsm", model_pgd),
            white_box_beats_black_box(adaptive, white_box, black_box),
            full_gradient_beats_bpda(adaptive, model_pgd, f"bpda_pgd{settings.steps}_margin")]


def challenger_groups(settings: AttackSettings, transfer: bool = True) -> dict[str, list[str]]:
    """{check: the challengers it judges} of a cascade run with ``settings`` (:func:`adaptive_suite_for`'s
    names); ``transfer``: the suite has a transfer from the CNN."""
    steps = settings.steps
    return {"iterative beats single-step": ["fgsm"],
            "white-box beats black-box, example by example": [f"square{settings.square_queries}"]
            + (["transfer_from_cnn"] if transfer else []),
            "full gradient beats BPDA": [f"fixed_noise_pgd{steps}_margin", f"bpda_pgd{steps}_margin"],
            "APGD is not weaker than PGD": [f"eot{settings.eot_samples}_pgd{steps}_margin"]}


def cascade_challenger_breaks(model, adaptive: dict, adversarial: dict, labels: torch.Tensor,
                              settings: AttackSettings, seed: int) -> dict:
    """{check: :func:`cascade_checks.challenger_breaks`} for every group of :func:`challenger_groups`, on
    a cascade's result whose images are all in ``adversarial`` (notebook 04's, or one block's)."""
    from idc_lite.evaluation import cascade_checks as cc

    transfer = any(a["name"] == "transfer_from_cnn" for a in adaptive["attacks"])
    return {check: cc.challenger_breaks(model, adaptive, adversarial, labels, names, check,
                                        draws=settings.rescoring_draws, seed=seed)
            for check, names in challenger_groups(settings, transfer).items()}


def _cascade_checks(model, adaptive: dict, adversarial: dict, suite, x, labels, settings: AttackSettings, seed: int,
                    gradient_model, breaks: dict | None) -> list[dict]:
    """Checks 2a, 3, 4a and the cascade's own (APGD against PGD, twice the attack, white-box alone) on all
    the evaluated examples: every challenger's breaks, re-scored with ``settings.rescoring_draws`` draws
    (``breaks``: already computed, block by block, by a sharded evaluation)."""
    from idc_lite.evaluation import cascade_checks as cc
    from idc_lite.evaluation.attacks import APGDSettings

    names = {a.name: a for a in suite}
    if breaks is None:
        breaks = cascade_challenger_breaks(model, adaptive, adversarial, labels, settings, seed)
    groups = challenger_groups(settings, "transfer_from_cnn" in names)
    # twice the strongest white-box attack: the EOT-heavy tail where the suite has one, else APGD-CE
    tail = tail_name(settings.apgd_tail_eot)
    strongest = tail if tail in names else f"apgd_ce_eot{settings.apgd_eot}"
    apgd_settings = APGDSettings(**names[strongest].params)
    # in the groups' order, whatever order a record read back from JSON keeps
    return [*(cc.judge_challengers(adaptive, {name: breaks[check][name] for name in challengers}, check,
                                   draws=settings.rescoring_draws) for check, challengers in groups.items()),
            cc.white_box_alone(adaptive),
            cc.more_attack_moves_little(model, adaptive, x, labels, apgd_settings, draws=settings.scoring_draws,
                                        seed=seed, gradient_model=gradient_model)]


def cascade_checks_of(model, adaptive: dict, adversarial: dict, x: torch.Tensor, labels: torch.Tensor, *, eps: float,
                      settings: AttackSettings, seed: int, random_model: bool = True) -> list[dict]:
    """The cascade's own checks for any model evaluated at ``eps`` with ``settings`` (notebook 07's defences),
    from its result ``adaptive`` and its adversarial examples by name.  A random model (DiffPure) gets IDC's:
    every challenger group re-scored with ``settings.rescoring_draws`` draws, white-box alone, doubled APGD.
    A deterministic one under :func:`~idc_lite.evaluation.suites.deterministic_cascade_suite_for` (the
    likelihood classifier) gets white-box against black-box example by example and white-box alone, scored
    once (one draw is exact), and APGD-DLR with twice its iterations (one draw each: no noise to average) on the
    examples left standing.  Raises InputError on a result that is not such a cascade."""
    from idc_lite.evaluation import cascade_checks as cc
    from idc_lite.evaluation.attacks import APGDSettings
    from idc_lite.evaluation.suites import deterministic_cascade_suite_for

    if random_model:
        return _cascade_checks(model, adaptive, adversarial, adaptive_suite_for(eps, settings), x, labels, settings,
                               seed, None, None)
    names = {a["name"] for a in adaptive["attacks"]}
    suite = {a.name: a for a in deterministic_cascade_suite_for(eps, settings)}
    black_box = [n for n in suite if n in names and (n.startswith("square") or n.startswith("transfer_from"))]
    if not black_box:       # the check would pass with nothing to compare
        raise InputError("not a deterministic cascade's result: it has no Square or transfer attack to check")
    check = "white-box beats black-box, example by example"
    breaks = cc.challenger_breaks(model, adaptive, adversarial, labels, black_box, check, draws=1, seed=seed)
    dlr = APGDSettings(**suite["apgd_dlr"].params)
    return [cc.judge_challengers(adaptive, breaks, check, draws=1), cc.white_box_alone(adaptive),
            cc.more_attack_moves_little(model, adaptive, x, labels, dlr, draws=1, seed=seed, double_draws=False)]


# ---- all of them, as notebook 04 runs them ---------------------------------------------------------
@shareable
def run_sanity_checks(model, cnn, adaptive: dict, adversarial: dict, x: torch.Tensor, labels: torch.Tensor, *,
                      eps: float, eps_list: list[float], eot_list: list[int], settings: AttackSettings,
                      sanity_examples: int, seed: int, num_classes: int, gradient_model=None,
                      challenger_breaks: dict | None = None) -> list[dict]:
    """Every check above, in the order of docs/evaluation.md's list, for the adaptive protocol's result ``adaptive`` at ``eps``
    (:func:`idc_lite.evaluation.run_protocols.adaptive_protocol` with ``settings`` and a transfer from
    the undefended ``cnn``) and its adversarial examples by name.  The costlier checks use the first
    ``sanity_examples`` of x (B, C, H, W) in [0, 1]; ``eps_list`` are the budgets of the accuracy sweep,
    ``eot_list`` the EOT samples of the convergence check.  Returns the checks' records."""
    steps, draws = settings.steps, settings.scoring_draws
    suite = adaptive_suite_for(eps, settings)
    xs, ys = x[:sanity_examples], labels[:sanity_examples]
    if adaptive.get("cascade"):
        checks = _cascade_checks(model, adaptive, adversarial, suite, x, labels, settings, seed, gradient_model,
                                 challenger_breaks)
    else:
        checks = _example_checks(adaptive, suite, settings)
    checks.insert(3, gradient_checks(model, xs[:8], ys[:8], seed=seed))

    def sweep_attacks(budget):   # the cheaper adaptive pair: surrogate PGD, then EOT-PGD from its examples
        return sweep_suite(budget, "adaptive", random_model=True, steps=steps, eot_samples=settings.eot_samples)

    checks.append(accuracy_against_eps(model, xs, ys, [0.0] + eps_list, sweep_attacks, num_classes, seed=seed,
                                       draws=draws, gradient_model=gradient_model))
    eot_settings = PGDSettings(eps=eps, alpha=eps / 8, steps=steps, loss="margin", eot_samples=settings.eot_samples)
    start = adversarial[next(a.name for a in suite if a.target == "first_step")][:len(xs)]
    if not adaptive.get("cascade"):   # the cascade's own check doubles APGD on every standing example instead
        checks.append(budget_doubling(model, xs, ys, eot_settings, seed=seed, draws=draws, start=start,
                                      gradient_model=gradient_model))
    checks.append(eot_convergence(model, xs, ys, eot_settings, eot_list, seed=seed, draws=draws, start=start,
                                  gradient_model=gradient_model))
    checks.append(fixed_noise_floor(model, xs, ys, PGDSettings(eps=eps, alpha=eps / 4, steps=steps, loss="margin"),
                                    seed=seed, draws=draws, gradient_model=gradient_model))
    checks.append(undefended_model_falls(cnn, x, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=steps), seed=seed))
    checks.append(matches_library_pgd(cnn, x[:16], labels[:16], eps, eps / 4, steps))
    return checks


def summary_rows(checks: list[dict]) -> list[dict]:
    """One row per check for a table: status, check, criterion."""
    return [{"status": c["status"], "check": c["check"], "criterion": c["criterion"]} for c in checks]

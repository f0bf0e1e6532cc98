"""Both protocols on one model, with the attack suite chosen from a run's settings: what notebooks 04
and 05 run, so that the two evaluate every model with the same code, settings and seeds."""
from __future__ import annotations

from idc_lite.evaluation.protocol import evaluate_attacks
from idc_lite.evaluation.suites import adaptive_suite_for, deterministic_suite_for, paper_suite
from idc_lite.foundation.run_metrics import AttackSettings
from idc_lite.foundation.shared_work import shareable
from idc_lite.foundation.validation import check_int


def protocol_budgets(paper_eps: float, eps: float, secondary_eps: float | None) -> list[float]:
    """The budgets a run evaluates (L-inf, in [0, 1] units), ascending and without repeats: the paper's,
    the main one and the secondary one (None: none)."""
    return sorted({paper_eps, eps} | ({secondary_eps} if secondary_eps else set()))


@shareable
def paper_protocols(model, x, labels, budgets: list[float], *, seed: int, full: bool = False,
                    target: str = "paper_wrapper", max_steps: int | None = None) -> dict[float, dict]:
    """The paper protocol (:func:`idc_lite.evaluation.suites.paper_suite` on ``target``, one draw, the
    authors' count) at each budget: {budget: :func:`idc_lite.evaluation.protocol.evaluate_attacks` result}.
    ``max_steps`` caps every attack's steps (smoke runs only: it proves the code path)."""
    if max_steps is not None:
        check_int(max_steps, "max_steps", 1)
    results = {}
    for budget in budgets:
        suite = paper_suite(budget, full=full, target=target)
        if max_steps is not None:
            for spec in suite:
                if "steps" in spec.params:
                    spec.params["steps"] = min(spec.params["steps"], max_steps)
        results[budget] = evaluate_attacks(model, x, labels, suite, seed=seed, draws=1, protocol="paper")
    return results


@shareable(fills=("examples",))
def adaptive_protocol(model, x, labels, eps: float, settings: AttackSettings, *, seed: int, random_model: bool = True,
                      sources: dict | None = None, transfer_source: str | None = "cnn", gradient_model=None,
                      examples: dict | None = None, progress: bool = False, main_budget: bool = True) -> dict:
    """The adaptive protocol at ``eps``: for a random model (IDC) the adaptive suite scored over
    ``settings.scoring_draws`` draws, with gradients through ``gradient_model`` (None: the model itself)
    and a transfer attack from ``sources[transfer_source]``; for a deterministic model (a CNN) PGD on
    cross-entropy and margin plus Square, and AutoAttack standard where the settings ask, scored once.
    ``settings.cascade`` runs the suite as a cascade (each attack on the examples still standing).
    ``examples`` receives the adversarial examples by attack name; ``main_budget`` False (a secondary
    budget) leaves out the cascade's EOT-heavy tail.  Returns the
    :func:`idc_lite.evaluation.protocol.evaluate_attacks` result."""
    if random_model:
        suite = adaptive_suite_for(eps, settings, transfer_source, main_budget)
    else:
        suite = deterministic_suite_for(eps, settings)
    return evaluate_attacks(model, x, labels, suite, seed=seed, draws=settings.scoring_draws if random_model else 1,
                    sources=sources, protocol="adaptive", examples=examples, progress=progress,
                    gradient_model=gradient_model, cascade=settings.cascade)

"""Every model of notebook 05 under both protocols and along the accuracy-against-eps sweep, with the
attacks, settings, seeds and examples of notebook 04 (:class:`idc_lite.foundation.run_metrics.AttackSettings`)."""
from __future__ import annotations

import time
from functools import partial

from idc_lite.evaluation.protocol import accuracy_curve
from idc_lite.evaluation.run_protocols import adaptive_protocol, paper_protocols, protocol_budgets
from idc_lite.evaluation.suites import sweep_suite
from idc_lite.foundation.run_metrics import AttackSettings
from idc_lite.foundation.shared_work import shareable


@shareable
def evaluate_models(models: dict, x, labels, *, eps: float, paper_eps: float, secondary_eps: float | None,
                    settings: AttackSettings, random_models: set, gradient_models: dict, sources: dict, seed: int,
                    known: dict | None = None, max_steps: int | None = None, progress: bool = False) -> dict:
    """{model name: {'paper@B': result for each budget B (in 1/255), 'adaptive': result at eps,
    'adaptive_secondary': result at secondary_eps}}, each an :func:`idc_lite.evaluation.protocol.evaluate_attacks`
    result.  A name in ``random_models`` is attacked on the authors' wrapper (paper) and with the adaptive
    suite through ``gradient_models[name]`` (None: the model itself); the others are deterministic.
    ``known``: results already measured with the same code and settings (the main IDC, from 04), kept
    as they are.  ``max_steps`` caps the paper attacks' steps (smoke runs); ``progress`` prints the time."""
    results, started = {}, time.time()
    for name, model in models.items():
        if known and name in known:
            results[name] = known[name]
            continue
        is_random = name in random_models
        paper = paper_protocols(model, x, labels, protocol_budgets(paper_eps, eps, secondary_eps), seed=seed,
                                target="paper_wrapper" if is_random else "model", max_steps=max_steps)
        per_protocol = {f"paper@{255 * budget:.0f}": result for budget, result in paper.items()}
        for key, budget in (("adaptive", eps), ("adaptive_secondary", secondary_eps)):
            if budget is not None:
                per_protocol[key] = adaptive_protocol(model, x, labels, budget, settings, seed=seed, random_model=is_random,
                                                      sources=sources, gradient_model=gradient_models.get(name),
                                                      main_budget=key == "adaptive")
        results[name] = per_protocol
        if progress:
            print(f"{name}: {time.time() - started:.0f} s so far")
    return results


@shareable
def sweep_models(models: dict, x, labels, eps_list: list[float], *, settings: AttackSettings, random_models: set,
                 gradient_models: dict, seed: int, known: dict | None = None) -> dict[str, list[dict]]:
    """Accuracy against eps for every model under both protocols: {'<name>, paper' | '<name>, adaptive':
    [{'eps', 'accuracy'}] from eps 0 (clean) through ``eps_list``}.  Paper: the authors' PGD-20, one
    draw, clean and adversarial both right; adaptive: the cheaper adaptive attacks
    (:func:`idc_lite.evaluation.suites.sweep_suite`), scored over ``settings.scoring_draws`` draws for a
    random model.  ``known``: curves already measured with the same attacks and examples (04's sweep)."""
    sweeps = {}
    for name, model in models.items():
        is_random = name in random_models
        for protocol in ("paper", "adaptive"):
            key = f"{name}, {protocol}"
            if known and key in known:
                sweeps[key] = known[key]
                continue
            sweeps[key] = accuracy_curve(
                model, x, labels, [0.0] + eps_list,
                partial(sweep_suite, protocol=protocol, random_model=is_random, steps=settings.steps,
                        eot_samples=settings.eot_samples),
                seed=seed, draws=1 if protocol == "paper" or not is_random else settings.scoring_draws,
                count="clean_and_adversarial" if protocol == "paper" else "adversarial",
                gradient_model=gradient_models.get(name) if protocol == "adaptive" else None)
    return sweeps

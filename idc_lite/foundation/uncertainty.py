"""Every accuracy with its n and a 95 % interval; differences between two models on the same examples
with a paired interval.  One module, used by the notebooks, the run summary and the sweep.

Which interval (the rule docs/evaluation.md states):

* ``wilson``: a one-draw rate, every example scored 0 or 1 once (the paper protocol's counts, a CNN's
  accuracy).  Wilson's score interval, good at rates near 0 or 1 where the normal one is not.
* ``bootstrap``: a score averaged over draws (0.6 = right in 3 of 5 draws) or minimised over attacks
  (the worst case).  Percentile bootstrap over examples, seeded, so the same scores give the same interval.

Paired comparisons: :func:`paired_difference` (bootstrap of the per-example difference, resampling
examples together) and :func:`mcnemar_exact` (exact two-sided test on the discordant pairs of one-draw
outcomes).  Models trained with several seeds: :func:`seeds_estimate` and :func:`seeds_difference`, a
bootstrap over seeds and examples, so that the interval holds the luck of training too.
"""
from __future__ import annotations

import math

import torch

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.streams import seeded

METHODS = ("wilson", "bootstrap")


CONFIDENCE = 0.95


RESAMPLES = 2000


def _z(confidence: float) -> float:
    return math.sqrt(2.0) * torch.erfinv(torch.tensor(confidence, dtype=torch.float64)).item()


def _scores(values, name: str = "scores") -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float64).flatten()
    if t.numel() == 0:
        raise InputError(f"{name} must hold at least one example, got none")
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()) or bool((t > 1).any()):
        raise InputError(f"{name} must be per-example scores in [0, 1]")
    return t


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval (low, high) in [0, 1] for ``successes`` out of ``n`` one-draw outcomes."""
    if n < 1 or not 0 <= successes <= n:
        raise InputError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    z, p = _z(confidence), successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(scores, seed: int = 0, resamples: int = RESAMPLES,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap (low, high) of the mean of per-example ``scores`` (n,) in [0, 1]."""
    t = _scores(scores)
    g = seeded(seed, "bootstrap")
    index = torch.randint(0, t.numel(), (resamples, t.numel()), generator=g)
    means = t[index].mean(1)
    tail = (1 - confidence) / 2
    return (torch.quantile(means, tail).item(), torch.quantile(means, 1 - tail).item())


def estimate(scores, method: str, seed: int = 0) -> dict:
    """``{"value", "n", "low", "high", "method", "confidence"}`` for per-example scores (n,) in [0, 1].

    ``method``: 'wilson' (scores must be 0 or 1: one draw each) or 'bootstrap' (any scores).
    Example::

        estimate([1, 1, 0, 1], "wilson")   # {'value': 0.75, 'n': 4, 'low': 0.30, 'high': 0.95, ...}
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    t = _scores(scores)
    n = t.numel()
    if method == "wilson":
        if not bool(((t == 0) | (t == 1)).all()):
            raise InputError("a Wilson interval needs one-draw outcomes (0 or 1); use method='bootstrap' for "
                             "scores averaged over draws or minimised over attacks")
        low, high = wilson_interval(int(t.sum().item()), n)
    else:
        low, high = bootstrap_interval(t, seed)
    return {"value": t.mean().item(), "n": n, "low": low, "high": high, "method": method, "confidence": CONFIDENCE}


def rate_estimate(value: float, n: int) -> dict:
    """Wilson estimate for a one-draw rate known only as ``value`` of ``n`` (successes rounded)."""
    successes = int(round(value * n))
    low, high = wilson_interval(successes, n)
    return {"value": value, "n": n, "low": low, "high": high, "method": "wilson", "confidence": CONFIDENCE}


def paired_difference(a, b, seed: int = 0, resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> dict:
    """Mean of a - b over the same examples (per-example scores in [0, 1]), with a paired bootstrap
    interval: examples are resampled together, so what the two share does not widen the interval.
    ``excludes_zero`` says whether the interval leaves out 0 (a difference at this n)."""
    ta, tb = _scores(a, "a"), _scores(b, "b")
    if ta.shape != tb.shape:
        raise InputError(f"a paired comparison needs scores on the same examples: {ta.numel()} against {tb.numel()}")
    d = ta - tb
    g = seeded(seed, "paired-bootstrap")
    index = torch.randint(0, d.numel(), (resamples, d.numel()), generator=g)
    means = d[index].mean(1)
    tail = (1 - confidence) / 2
    low, high = torch.quantile(means, tail).item(), torch.quantile(means, 1 - tail).item()
    return {"difference": d.mean().item(), "n": d.numel(), "low": low, "high": high, "method": "paired bootstrap",
            "confidence": confidence, "excludes_zero": low > 0 or high < 0}


def _per_seed(groups, name: str) -> torch.Tensor:
    """(seeds, n) scores from a list of per-seed lists, each on the same n examples."""
    if not isinstance(groups, (list, tuple)) or not groups or not all(isinstance(g, (list, tuple, torch.Tensor))
                                                                        for g in groups):
        raise InputError(f"{name} must be a non-empty list of per-seed scores (one list per seed), got {groups!r}"[:300])
    rows = [_scores(g, f"{name}[{i}]") for i, g in enumerate(groups)]
    if len({r.numel() for r in rows}) != 1:
        raise InputError(f"every seed of {name} must be scored on the same examples: n = {[r.numel() for r in rows]}")
    return torch.stack(rows)


def _seeds_bootstrap(groups: list[tuple[torch.Tensor, float]], seed: int, resamples: int, label: str) -> torch.Tensor:
    """(resamples,) of sum(sign * mean over resampled seeds and examples) for ``groups`` = [((S, n) scores, sign)]:
    the examples are resampled once for all groups (paired), the seeds of each group apart.  Each resample's
    examples enter as counts (R, n), so memory grows with R x n, not R x S x n."""
    n = groups[0][0].shape[1]
    g = seeded(seed, label)
    examples = torch.randint(0, n, (resamples, n), generator=g)
    counts = torch.zeros(resamples, n, dtype=torch.float64).scatter_add_(
        1, examples, torch.ones(resamples, n, dtype=torch.float64))
    total = torch.zeros(resamples, dtype=torch.float64)
    for scores, sign in groups:
        per_seed = counts @ scores.T / n                                   # (R, S): each seed on the resampled examples
        picked = torch.randint(0, scores.shape[0], (resamples, scores.shape[0]), generator=g)
        total += sign * torch.gather(per_seed, 1, picked).mean(1)
    return total


def seeds_estimate(per_seed, seed: int = 0, resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> dict:
    """Mean of per-example scores over training seeds and examples, with a two-level percentile bootstrap
    (seeds resampled, then examples): the interval holds the luck of training as well as the evaluation's.

    ``per_seed``: one list of per-example scores in [0, 1] per training seed, all on the same n examples.
    Returns :func:`estimate`'s keys plus ``seeds`` and ``per_seed`` (each seed's mean)."""
    t = _per_seed(per_seed, "per_seed")
    means = _seeds_bootstrap([(t, 1.0)], seed, resamples, "seeds-bootstrap")
    tail = (1 - confidence) / 2
    return {"value": t.mean().item(), "n": t.shape[1], "seeds": t.shape[0], "per_seed": t.mean(1).tolist(),
            "low": torch.quantile(means, tail).item(), "high": torch.quantile(means, 1 - tail).item(),
            "method": "seed x example bootstrap", "confidence": confidence}


def seeds_difference(a_per_seed, b_per_seed, seed: int = 0, resamples: int = RESAMPLES,
                     confidence: float = CONFIDENCE) -> dict:
    """Mean of a - b where each model was trained with several seeds and scored on the same examples: the
    examples are resampled together (paired), each model's seeds apart (independent trainings).  Keys of
    :func:`paired_difference` plus ``seeds`` (a's, b's)."""
    ta, tb = _per_seed(a_per_seed, "a_per_seed"), _per_seed(b_per_seed, "b_per_seed")
    if ta.shape[1] != tb.shape[1]:
        raise InputError(f"a paired comparison needs scores on the same examples: {ta.shape[1]} against {tb.shape[1]}")
    diffs = _seeds_bootstrap([(ta, 1.0), (tb, -1.0)], seed, resamples, "seeds-paired-bootstrap")
    tail = (1 - confidence) / 2
    low, high = torch.quantile(diffs, tail).item(), torch.quantile(diffs, 1 - tail).item()
    return {"difference": (ta.mean() - tb.mean()).item(), "n": ta.shape[1], "seeds": [ta.shape[0], tb.shape[0]],
            "low": low, "high": high, "method": "seed x example bootstrap", "confidence": confidence,
            "excludes_zero": low > 0 or high < 0}


def mcnemar_exact(a_correct, b_correct) -> dict:
    """McNemar's exact test for two one-draw outcomes (0/1) on the same examples: the two-sided
    binomial p-value of the discordant pairs (``only_a`` right for a only, ``only_b`` for b only)."""
    ta, tb = _scores(a_correct, "a_correct"), _scores(b_correct, "b_correct")
    if ta.shape != tb.shape or not bool((((ta == 0) | (ta == 1)) & ((tb == 0) | (tb == 1))).all()):
        raise InputError("McNemar's test needs 0/1 outcomes of both models on the same examples")
    only_a = int(((ta == 1) & (tb == 0)).sum())
    only_b = int(((ta == 0) & (tb == 1)).sum())
    m = only_a + only_b
    if m == 0:
        p = 1.0
    else:
        k = min(only_a, only_b)
        p = min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2**m)
    return {"only_a": only_a, "only_b": only_b, "p_value": p, "n": ta.numel(), "method": "McNemar exact"}


def format_percent(value: float | None) -> str:
    """'97.6 %' from a rate in [0, 1]; 'n/a' for None (a figure without an interval, e.g. an older run's)."""
    return "n/a" if value is None else f"{100 * value:.1f} %"


def format_estimate(e: dict | None, digits: int = 1, with_n: bool = True) -> str:
    """'97.6 % [96.1, 98.6] (n = 359)' from :func:`estimate`'s dict (without the n when ``with_n`` is
    False: tables that state it once); 'n/a' for None."""
    if not e:
        return "n/a"
    f = f"{{:.{digits}f}}"
    text = f"{f.format(100 * e['value'])} % [{f.format(100 * e['low'])}, {f.format(100 * e['high'])}]"
    seeds = f", {e['seeds']} training seed{'s' if e['seeds'] > 1 else ''}" if e.get("seeds") else ""
    return text + (f" (n = {e['n']}{seeds})" if with_n else "")


def format_difference(d: dict | None) -> str:
    """'+12.0 points [4.0, 20.0] (paired bootstrap, n = 100)' from :func:`paired_difference`."""
    if not d:
        return "n/a"
    seeds = f", training seeds {d['seeds'][0]} and {d['seeds'][1]}" if d.get("seeds") else ""
    return (f"{100 * d['difference']:+.1f} points [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] "
            f"({d['method']}, n = {d['n']}{seeds})")



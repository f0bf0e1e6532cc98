"""Intervals and paired comparisons (idc_lite.foundation.uncertainty) against values computed by hand."""
import pytest
import torch

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.uncertainty import (
    bootstrap_interval,
    estimate,
    format_difference,
    format_estimate,
    mcnemar_exact,
    paired_difference,
    rate_estimate,
    seeds_difference,
    seeds_estimate,
    wilson_interval,
)


def test_wilson_matches_the_textbook_values():
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(98, 100) == pytest.approx((0.9300, 0.9945), abs=1e-4)
    with pytest.raises(InputError):
        wilson_interval(11, 10)


def test_bootstrap_is_seeded_and_has_the_width_of_the_scores_spread():
    scores = torch.tensor([1.0, 0.0] * 50)
    a = bootstrap_interval(scores, seed=3)
    varied = torch.rand(100, generator=torch.Generator().manual_seed(0))
    assert bootstrap_interval(varied, seed=3) == bootstrap_interval(varied, seed=3)
    assert bootstrap_interval(varied, seed=3) != bootstrap_interval(varied, seed=4)
    assert a[0] == pytest.approx(0.40, abs=0.03) and a[1] == pytest.approx(0.60, abs=0.03)   # 0.5 +- 1.96 * 0.05
    assert bootstrap_interval(torch.full((30,), 0.6)) == pytest.approx((0.6, 0.6))


def test_estimate_states_its_method_and_refuses_wilson_for_averaged_scores():
    e = estimate([1, 1, 0, 1], "wilson")
    assert (e["value"], e["n"], e["method"]) == (0.75, 4, "wilson") and e["low"] < 0.75 < e["high"]
    with pytest.raises(InputError, match="one-draw outcomes"):
        estimate([1.0, 0.6, 0.0], "wilson")
    with pytest.raises(InputError, match="in \\[0, 1\\]"):
        estimate([1.5], "bootstrap")
    with pytest.raises(InputError, match="at least one"):
        estimate([], "bootstrap")
    assert rate_estimate(0.8, 10)["low"] == pytest.approx(0.4902, abs=1e-4)
    assert format_estimate(estimate([1, 1, 0, 1], "wilson")) == "75.0 % [30.1, 95.4] (n = 4)"


def test_paired_difference_uses_the_pairing():
    base = torch.tensor([1.0, 0.0] * 50)
    same = paired_difference(base, base)
    assert same["difference"] == 0 and same["low"] == same["high"] == 0 and not same["excludes_zero"]
    better = base.clone()
    better[1:20:2] = 1.0                                       # ten examples flip to right, nothing else moves
    d = paired_difference(better, base)
    assert d["difference"] == pytest.approx(0.10) and d["excludes_zero"] and d["low"] > 0.03
    # unpaired intervals of 60 % and 50 % on 100 examples overlap; the paired one does not
    assert estimate(better, "wilson")["low"] < estimate(base, "wilson")["high"]
    assert format_difference(d).startswith("+10.0 points [")
    with pytest.raises(InputError, match="same examples"):
        paired_difference(base, base[:10])


def test_mcnemar_exact_counts_discordant_pairs():
    a = torch.tensor([1] * 10 + [0] * 5 + [1] * 5)
    b = torch.tensor([0] * 10 + [0] * 5 + [1] * 5)
    r = mcnemar_exact(a, b)
    assert (r["only_a"], r["only_b"]) == (10, 0) and r["p_value"] == pytest.approx(2 / 2**10)
    assert mcnemar_exact([1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1])["p_value"] == 1.0
    assert mcnemar_exact([1, 1], [1, 1])["p_value"] == 1.0
    with pytest.raises(InputError):
        mcnemar_exact([0.5], [1])


def test_seeds_estimate_widens_with_the_spread_between_training_seeds():
    """Three seeds on the same 200 examples: when the seeds agree the interval is about a one-seed bootstrap's;
    when their means differ by 30 points the interval holds that spread."""
    g = torch.Generator().manual_seed(0)
    same = [(torch.rand(200, generator=g) < 0.6).float().tolist() for _ in range(3)]
    spread = [(torch.rand(200, generator=g) < p).float().tolist() for p in (0.45, 0.6, 0.75)]
    agree, disagree = seeds_estimate(same), seeds_estimate(spread)
    assert (agree["seeds"], agree["n"], agree["method"]) == (3, 200, "seed x example bootstrap")
    assert agree["per_seed"] == pytest.approx([sum(s) / 200 for s in same])
    assert agree["value"] == pytest.approx(sum(map(sum, same)) / 600)
    assert disagree["high"] - disagree["low"] > 2 * (agree["high"] - agree["low"])
    assert disagree["low"] < 0.5 and disagree["high"] > 0.7
    assert seeds_estimate(spread) == disagree                                   # seeded
    assert "(n = 200, 3 training seeds)" in format_estimate(disagree)
    with pytest.raises(InputError, match="same examples"):
        seeds_estimate([[1, 0, 1], [1, 0]])
    with pytest.raises(InputError, match="non-empty list"):
        seeds_estimate([])


def test_seeds_difference_pairs_the_examples_and_keeps_the_seeds_apart():
    """b is a copy of a's scores with 10 % of the examples flipped right -> wrong: the examples' pairing makes
    the difference sure at one seed per model; a model whose seeds scatter makes it unsure."""
    g = torch.Generator().manual_seed(1)
    a = (torch.rand(300, generator=g) < 0.7).float()
    b = a.clone()
    b[torch.nonzero(a)[:30, 0]] = 0.0
    d = seeds_difference([a.tolist()], [b.tolist()])
    assert d["difference"] == pytest.approx(0.1) and d["low"] > 0.05 and d["excludes_zero"]
    assert (d["seeds"], d["method"]) == ([1, 1], "seed x example bootstrap")
    scattered = [a.tolist(), torch.zeros(300).tolist(), torch.ones(300).tolist()]
    wide = seeds_difference(scattered, [b.tolist()])
    assert not wide["excludes_zero"] and wide["high"] - wide["low"] > 0.5
    assert "training seeds 3 and 1" in format_difference(wide)
    with pytest.raises(InputError, match="same examples"):
        seeds_difference([[1, 0]], [[1, 0, 1]])

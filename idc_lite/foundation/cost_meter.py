"""The kit's one FLOP counter and one timer: every cost figure (notebook 06, the claims table, the
CNN baselines, the benchmarks) is measured through these two functions.

FLOPs come from torch's ``FlopCounterMode`` (2 per multiply-add, every call ``fn`` makes counted);
seconds are wall-clock, with the GPU's queue drained before each reading.
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from idc_lite.foundation.validation import check_choice, check_int


def count_flops(fn: Callable[[], object], gradients: bool = False) -> int:
    """FLOPs of ``fn()`` run once (on any device, ``meta`` included), without gradients unless
    ``gradients`` (a training step's backward pass counts then)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.set_grad_enabled(gradients):
        fn()
    return int(counter.get_total_flops())


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def seconds_per_call(fn: Callable[[], object], repeats: int = 3, warmup: int = 1, reduce: str = "best") -> float:
    """Wall seconds of one ``fn()`` call: ``warmup`` untimed calls, then ``repeats`` timed ones,
    reduced by ``'best'`` (the least disturbed call: cost figures) or ``'mean'`` (throughput).
    ``fn`` runs as given: wrap it in ``torch.no_grad()`` when gradients are not wanted."""
    check_int(repeats, "repeats", 1)
    check_int(warmup, "warmup", 0)
    check_choice(reduce, "reduce", ("best", "mean"))
    for _ in range(warmup):
        fn()
    _sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - start)
    return min(times) if reduce == "best" else sum(times) / len(times)

"""Helpers the benchmark scripts share: a trainer on a synthetic batch, its training step, a timer.

Run as scripts (``python benchmarks/<name>.py``), the benchmarks import this file from their own folder.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from idc_lite import measure
from idc_lite.data.splits import DataSplit
from idc_lite.model.classifier import IDCClassifier
from idc_lite.training.presets import get_preset
from idc_lite.training.trainer import Trainer


def synthetic_trainer(preset_name: str, batch: int, device: str = "cpu",
                      **recipe_changes) -> tuple[Trainer, torch.Tensor, torch.Tensor]:
    """A preset's model and recipe (with ``recipe_changes``, e.g. ``precision="fp32"``) on ``device`` and
    one seeded random batch there: (trainer, x (B, C, H, W) in [0, 1], labels (B,))."""
    cfg = get_preset(preset_name)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, *cfg.model.image_shape, generator=g)
    labels = torch.arange(batch) % cfg.model.num_classes
    data = DataSplit(x, labels, x[:2], labels[:2], [str(i) for i in range(cfg.model.num_classes)], {"dataset": "random"})
    trainer = Trainer(IDCClassifier(cfg.model), dataclasses.replace(cfg.train, **recipe_changes), data)
    trainer.model.to(device).train()
    return trainer, x.to(device), labels.to(device)


def training_step(trainer: Trainer, x: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """One optimiser step as the training loop takes it (its ``_loss``: the data were checked once)."""
    def step():
        trainer._loss(x, labels).loss.backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)
    return step


def seconds_per_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Mean wall seconds of ``fn`` over ``repeats`` calls (the kit's timer, :mod:`idc_lite.measure`)."""
    return measure.seconds_per_call(fn, repeats, warmup=warmup, reduce="mean")

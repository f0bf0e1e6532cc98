"""Helpers the benchmark scripts share: a trainer on a synthetic batch, its training step, a timer, and a
recorded run's evaluated model and examples.

Run as scripts (``python benchmarks/<name>.py``), the benchmarks import this file from their own folder.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import torch

import idc_lite
from idc_lite.data.splits import DataSplit
from idc_lite.foundation import cost_meter as measure
from idc_lite.foundation.run_metrics import AttackMetrics, RunMetrics
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
    """Mean wall seconds of ``fn`` over ``repeats`` calls (the kit's timer, :mod:`idc_lite.foundation.cost_meter`)."""
    return measure.seconds_per_call(fn, repeats, warmup=warmup, reduce="mean")


def evaluated_run(run: Path, examples: int | None) -> tuple[dict, AttackMetrics, IDCClassifier, torch.Tensor, torch.Tensor]:
    """A ``make reproduce`` run as an outside evaluator sees it: its summary, notebook 04's record, the evaluated
    model (eval mode, weights frozen) and its first ``examples`` (None: all) evaluated images (N, C, H, W) and labels (N,)."""
    summary = json.loads((Path(run) / "summary.json").read_text())
    evaluation = RunMetrics.from_dict(summary["metrics"]).attack
    model = idc_lite.load_classifier(Path(run) / summary["evaluated_model"]).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x, labels = idc_lite.load_examples(Path(run) / summary["evaluated_examples"]["path"])
    return summary, evaluation, model, x[:examples], labels[:examples]

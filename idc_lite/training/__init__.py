"""Training an IDC classifier and keeping it: notebook 02 and ``idc-lite train`` run the same code.

- ``config`` (``TrainConfig``) and ``trainer`` (``Trainer``: epochs, EMA, bf16 where native, resumable);
- ``checkpoint``: the file format, ``load_classifier`` and the record beside each model;
- ``load_or_train``: what notebook 02 continues or reuses, and the ablations of notebook 05;
- ``presets``: digits, mnist, cifar10_cpu, cifar10 (the paper's), and a run's settings from them;
- ``report``: notebook 02's record; ``distributed``: torchrun.

It imports the model, data, authors, shipped and the foundation.
"""
from idc_lite.training.checkpoint import load_checkpoint_data, load_classifier
from idc_lite.training.config import TrainConfig
from idc_lite.training.load_or_train import load_or_train_variant, prepare_trainer
from idc_lite.training.presets import SMOKE_BATCHES, configure_training, get_preset
from idc_lite.training.report import training_metrics
from idc_lite.training.trainer import Trainer

__all__ = ["SMOKE_BATCHES", "TrainConfig", "Trainer", "configure_training", "get_preset", "load_checkpoint_data",
           "load_classifier", "load_or_train_variant", "prepare_trainer", "training_metrics"]

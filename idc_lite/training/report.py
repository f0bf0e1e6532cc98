"""What notebook 02 records about a trained model: its test accuracy under a stated scoring rule, its
size and cost, and how it was trained (:class:`idc_lite.foundation.run_metrics.TrainingMetrics`)."""
from __future__ import annotations

from idc_lite.data.datasets import dataset_label
from idc_lite.data.splits import DataSplit
from idc_lite.foundation.run_metrics import TrainingMetrics
from idc_lite.training.trainer import Trainer


def training_metrics(trainer: Trainer, draws: dict, data: DataSplit, *, preset: str, seed: int, n_params: int,
                     flops_per_call: int, network_calls: int, checkpoint: str,
                     trained_elsewhere: str | None = None) -> TrainingMetrics:
    """The record of a trained model.  ``draws``: :func:`idc_lite.model.accuracy.accuracy_over_draws` of
    its EMA weights on the first ``draws['examples']`` test images; ``flops_per_call``: FLOPs of one U-Net
    call, ``network_calls`` of them per prediction; ``checkpoint``: the
    model file's name in the run folder; ``trained_elsewhere``: the model file used instead of
    training, if any."""
    protocol = (f"EMA weights, one sampler draw per image, mean over {draws['draws']} independent draws "
                f"(seeds {draws['seeds']}), the first {draws['examples']} of {len(data.y_test)} test images")
    return TrainingMetrics(
        test_accuracy=draws["mean"], test_examples=draws["examples"], accuracy_over_draws=draws,
        accuracy_protocol=protocol, n_params=n_params, flops_per_network_call=flops_per_call,
        network_calls_per_prediction=network_calls, flops_per_prediction=network_calls * flops_per_call,
        epochs=trainer.epoch, train_seconds=round(trainer.train_seconds, 1), preset=preset,
        data=dataset_label(data.info), seed=seed, checkpoint=checkpoint,
        train_precision=sorted({h.get("precision", "fp32") for h in trainer.history}),
        trained_elsewhere=trained_elsewhere)

"""Clean accuracy of the random classifier, stated per scoring rule: per-draw predictions, the
majority vote over draws, and accuracy with its interval (Wilson for one draw, a bootstrap over images
for the mean over draws)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.shared_work import shareable
from idc_lite.foundation.streams import draw_copies
from idc_lite.foundation.uncertainty import estimate, format_estimate
from idc_lite.foundation.validation import check_batch, check_generator, check_images, check_int
from idc_lite.model.classifier import IDCClassifier


@torch.no_grad()
@shareable
def predictions_over_draws(model, x: torch.Tensor, generators: list[torch.Generator], batch_size: int = 256) -> torch.Tensor:
    """Predicted classes (draws, B): one pass over x per generator, each drawing fresh sampler noise; when every
    draw comes from the same generator and x is small, several draws share a call of at most ``batch_size`` rows."""
    x = check_images(x)
    if not isinstance(generators, (list, tuple)) or not generators:
        raise InputError(f"generators must be a non-empty list of torch.Generator, got {generators!r}")
    for g in generators:
        check_generator(g, "generators[i]")
    check_int(batch_size, "batch_size", 1)
    device = next(iter(model.parameters()), torch.empty(0)).device
    together = max(1, batch_size // max(x.shape[0], 1))      # draws per call when one generator makes them all
    if len(generators) > 1 and together > 1 and all(g is generators[0] for g in generators):
        # a few images, many draws: several draws a call (draw_copies), drawn in turn from the one generator
        on_device, b, rows = x.to(device), x.shape[0], []
        for first in range(0, len(generators), together):
            k = min(together, len(generators) - first)
            rows.append(model(draw_copies(on_device, k), generator=generators[0]).argmax(1).cpu().view(k, b))
        return torch.cat(rows)
    return torch.stack([torch.cat([model(x[i:i + batch_size].to(device), generator=g).argmax(1).cpu()
                                   for i in range(0, x.shape[0], batch_size)]) for g in generators])


def majority_vote(predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Most frequent class per column of (draws, B) predictions (ties go to the lowest index)."""
    check_int(num_classes, "num_classes", 1)
    if not isinstance(predictions, torch.Tensor) or predictions.dim() != 2 or predictions.is_floating_point():
        raise InputError(f"predictions must be integer classes (draws, B), got {getattr(predictions, 'shape', predictions)!r}")
    low, high = (int(predictions.min()), int(predictions.max())) if predictions.numel() else (0, 0)
    if low < 0 or high >= num_classes:
        raise InputError(f"predictions must lie in [0, {num_classes - 1}], got {low} to {high}")
    return F.one_hot(predictions, num_classes).sum(0).argmax(1)


def accuracy_over_draws(model: IDCClassifier, x: torch.Tensor, labels: torch.Tensor, seeds: list[int],
                        batch_size: int = 256) -> dict:
    """Accuracy of a random classifier, stated per scoring rule.

    One draw of sampler noise per image for each seed in ``seeds`` (fresh generators): returns the
    per-draw accuracies with their mean, min and max, and the accuracy of the majority vote over
    the draws (ties go to the lowest class index).
    """
    from idc_lite.model.accuracy import majority_vote, predictions_over_draws

    x, labels = check_batch(x, labels, model.config.num_classes)
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise InputError(f"seeds must be a non-empty list of whole numbers, got {seeds!r}")
    seeds = [check_int(s, "seeds[i]", 0) for s in seeds]
    stacked = predictions_over_draws(model, x, [torch.Generator().manual_seed(s) for s in seeds], batch_size)
    per_draw = [(p == labels).float().mean().item() for p in stacked]
    per_example = (stacked == labels).float().mean(0)        # the fraction of draws each image is right in
    majority_correct = (majority_vote(stacked, model.config.num_classes) == labels).float()
    return {"per_draw": per_draw, "mean": sum(per_draw) / len(per_draw), "min": min(per_draw), "max": max(per_draw),
            "majority_vote": majority_correct.mean().item(), "draws": len(seeds), "seeds": list(seeds),
            "examples": int(x.shape[0]), "per_example": [round(v, 4) for v in per_example.tolist()],
            # one draw: Wilson; the mean over draws: a bootstrap over images (idc_lite.foundation.uncertainty)
            "interval": estimate(per_example, "wilson" if len(seeds) == 1 else "bootstrap"),
            "majority_vote_interval": estimate(majority_correct, "wilson")}


def describe_draws(draws: dict) -> str:
    """Two lines for a result of :func:`accuracy_over_draws`: the headline with its interval, then the
    spread over draws and the majority vote."""
    return (f"test accuracy, one draw per image: {format_estimate(draws['interval'])} (95 % interval, bootstrap over images)\n"
            f"per draw: mean {draws['mean']:.2%} (min {draws['min']:.2%}, max {draws['max']:.2%}) over {draws['draws']} "
            f"draws; majority vote of the {draws['draws']} draws: {draws['majority_vote']:.2%}; {draws['examples']} images")


def evaluate_accuracy(model: IDCClassifier, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                      batch_size: int = 256) -> float:
    """Accuracy of one random draw per image (fresh noise from ``generator``)."""
    x, labels = check_batch(x, labels, model.config.num_classes)
    model.eval()
    predictions = model.predict(x.to(model.label_images.device), generator=generator, batch_size=batch_size).cpu()
    return (predictions == labels).float().mean().item()



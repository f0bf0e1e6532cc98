"""A dataset in memory (:class:`DataSplit`: images (N, C, H, W) float32 in [0, 1], labels (N,) long),
resizing, and the seeded stratified train/test split."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from idc_lite.foundation.errors import DataError, InputError
from idc_lite.foundation.validation import check_images, check_int, check_labels


@dataclass
class DataSplit:
    """Train and test tensors plus a record of where they came from (stored beside checkpoints)."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        """Refuse data the trainer would otherwise clamp or turn into NaN losses: images must be
        finite, floating, in [0, 1] (half precision becomes float32), labels in [0, K)."""
        if not isinstance(self.class_names, (list, tuple)) or len(self.class_names) < 2:
            raise DataError(f"class_names must list at least two classes, got {self.class_names!r}")
        for split in ("train", "test"):
            try:
                x = check_images(getattr(self, f"x_{split}"), name=f"x_{split}")
                y = check_labels(getattr(self, f"y_{split}"), x.shape[0], len(self.class_names), name=f"y_{split}")
            except InputError as err:
                raise DataError(f"unusable {split} data: {err}") from None
            setattr(self, f"x_{split}", x)
            setattr(self, f"y_{split}", y)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"train images {tuple(self.x_train.shape[1:])} and test images "
                            f"{tuple(self.x_test.shape[1:])} differ in shape")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def first_training_examples(self, n: int) -> "DataSplit":
        """The same data with only the first ``n`` training images (the test split unchanged), e.g. to
        train a baseline in less time; ``n`` = 0 or at least the training set gives this split itself.
        The record says so (``train_subset``), so a model trained on it is never taken for one trained on all."""
        check_int(n, "n", 0)
        if n == 0 or n >= len(self.y_train):
            return self
        return DataSplit(self.x_train[:n], self.y_train[:n], self.x_test, self.y_test, list(self.class_names),
                         {**self.info, "train_subset": f"first {n} of {len(self.y_train)} training images", "n_train": n})


def resize_images(x: torch.Tensor, image_size: int) -> torch.Tensor:
    """Bilinear resize (N, C, h, w) -> (N, C, image_size, image_size), kept in [0, 1]."""
    if x.shape[-1] == image_size and x.shape[-2] == image_size:
        return x
    return F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                         antialias=image_size < x.shape[-1]).clamp(0.0, 1.0)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test), each class split in the same proportion, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))



"""The shipped reference models as models: :func:`load_reference` builds one by name from its checked file
(:mod:`idc_lite.shipped`), and :func:`measured_clean_accuracy` scores it as its record was scored."""
from __future__ import annotations

import torch

from idc_lite.comparisons.baselines import load_cnn
from idc_lite.comparisons.diffusion_defences import clean_accuracy
from idc_lite.data.splits import DataSplit
from idc_lite.defences.store import load_denoiser
from idc_lite.shipped import reference_file, reference_record
from idc_lite.training.checkpoint import load_classifier

DRAWS = {"idc": 5, "cnn": 1}      # noise draws a clean accuracy averages: IDC is random, a CNN is not


def load_reference(name: str) -> torch.nn.Module:
    """Shipped model ``name`` in eval mode: an ``IDCClassifier`` (``"idc"``, ``"idc_no_interclass"``), a
    ``SmallCNN`` (``"cnn"``, ``"adv_cnn"``) or a denoiser U-Net (``"ddpm"``, ``"ddpm_class_conditional"``).
    Its file's SHA-256 is checked first.  Weights stored in float16 come back as float32."""
    kind = reference_record(name)["kind"]
    path = reference_file(name)
    if kind == "idc":
        return load_classifier(path)
    if kind == "cnn":
        return load_cnn(path)
    return load_denoiser(path)


def measured_clean_accuracy(model: torch.nn.Module, kind: str, data: DataSplit, seed: int = 0) -> dict:
    """A classifier's clean accuracy on the whole test split with its 95 % interval (one-draw scores averaged
    over 5 draws for IDC, one pass for a CNN), as a shipped record states it."""
    return clean_accuracy(model, data.x_test, data.y_test, seed=seed, draws=DRAWS[kind])

"""The evaluation examples a run attacked, saved so that anyone can attack the same images
(``idc_lite.load_examples``)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from idc_lite.foundation.validation import check_batch

EXAMPLES_FORMAT = "idc_lite-examples-1"


# ---- the evaluated examples, for outside evaluators ----------------------------------------------
def save_examples(path: str | Path, x: torch.Tensor, labels: torch.Tensor, **info) -> Path:
    """Write the evaluated inputs (N, C, H, W) float32 in [0, 1] and labels (N,) int64 atomically,
    as plain tensors that ``torch.load(path, weights_only=True)`` reads (no pickled code)."""
    from idc_lite.foundation.files import atomic_save

    x, labels = check_batch(x, labels)
    return atomic_save({"format": EXAMPLES_FORMAT, "x": x.detach().cpu().float().contiguous(),
                        "labels": labels.detach().cpu().long().contiguous(), "info": json.dumps(info)}, Path(path))


def load_examples(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, labels) written by :func:`save_examples`; loads without executing pickled code."""
    from idc_lite.foundation.errors import CheckpointError
    from idc_lite.foundation.files import read_torch_file

    data = read_torch_file(Path(path))
    if not isinstance(data, dict) or data.get("format") != EXAMPLES_FORMAT:
        raise CheckpointError(f"{path} is not an idc_lite examples file ({EXAMPLES_FORMAT})")
    return data["x"], data["labels"]



"""Baselines on the same data and attacks: a standard CNN and a PGD-adversarially-trained CNN
(Madry et al. 2018).  Their ``forward(x, generator=None)`` matches the attack API (the generator
is unused: they are deterministic)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from idc_lite.data.splits import DataSplit
from idc_lite.evaluation.attacks import PGDSettings, pgd
from idc_lite.foundation.cost_meter import count_flops, seconds_per_call
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.reuse import Artefact, artefact_for_settings
from idc_lite.foundation.runtime import progress_bar
from idc_lite.foundation.validation import check_images, check_int, check_number
from idc_lite.shipped import artefact_or_shipped


class SmallCNN(nn.Module):
    """Conv(32) - Conv(64) - pool - Conv(128) - pool - FC(256) - FC(K), for (B, C, H, W) images in [0, 1]."""

    def __init__(self, in_channels: int, image_size: int, num_classes: int):
        super().__init__()
        self.in_channels, self.image_size = in_channels, image_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * (image_size // 4) ** 2, 256), nn.ReLU(),
                                  nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = check_images(x, self.in_channels, self.image_size, dtype=self.head[-1].weight.dtype)
        return self.head(self.features(x))


def train_cnn(data: DataSplit, epochs: int = 20, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
              adversarial: PGDSettings | None = None, progress: bool = False) -> SmallCNN:
    """Train a :class:`SmallCNN`; with ``adversarial`` every batch is replaced by PGD examples
    made against the current model (Madry et al.).  Seeded; leaves the global RNG as it was."""
    if not isinstance(data, DataSplit):
        raise InputError(f"data must be a DataSplit, got {type(data).__name__}")
    check_int(epochs, "epochs", 0)
    check_int(batch_size, "batch_size", 1)
    check_number(lr, "lr", 0.0, strict_minimum=True)
    check_int(seed, "seed", 0)
    if adversarial is not None and not isinstance(adversarial, PGDSettings):
        raise InputError(f"adversarial must be PGDSettings or None, got {type(adversarial).__name__}")
    c, h, _ = data.image_shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallCNN(c, h, data.num_classes)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = data.x_train.shape[0]
    for _ in progress_bar(range(epochs), desc="CNN" + (" (adversarial)" if adversarial else ""), disable=not progress):
        order = torch.randperm(n, generator=generator)
        for b in range(n // batch_size):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            if adversarial is not None:
                model.eval()
                x = pgd(model, x, y, adversarial, generator)
            model.train()
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def prediction_cost(model, image_shape: tuple[int, int, int], batch_size: int = 100, repeats: int = 3) -> dict:
    """Parameters, FLOPs per prediction (torch's FlopCounterMode, 2 per multiply-add; every
    sampler step of a diffusion classifier included) and measured seconds per image on this
    machine (best of ``repeats`` timed batches, no gradients)."""
    params = sum(p.numel() for p in model.parameters())
    device = next(model.parameters()).device
    x = torch.rand(1, *image_shape, generator=torch.Generator().manual_seed(0)).to(device)
    generator = torch.Generator().manual_seed(0)
    flops = count_flops(lambda: model(x, generator=generator))
    batch = x.expand(batch_size, *image_shape).contiguous()
    with torch.no_grad():
        seconds = seconds_per_call(lambda: model(batch, generator=generator), repeats, warmup=0)
    return {"parameters": params, "flops_per_prediction": flops,
            "seconds_per_image": seconds / batch_size, "threads": torch.get_num_threads()}


def save_cnn(model: SmallCNN, path, **info):
    """Write a CNN's weights atomically (plain tensors plus a JSON description; no pickled code)."""
    import json

    from idc_lite.foundation.files import atomic_save

    return atomic_save({"format": "idc_lite-cnn-1", "in_channels": model.in_channels, "image_size": model.image_size,
                        "num_classes": model.head[-1].out_features, "state_dict": model.state_dict(),
                        "info": json.dumps(info)}, path)


def cnn_settings(path) -> dict:
    """The settings a CNN file was written with (what :func:`save_cnn` got as ``info``)."""
    import json

    from idc_lite.foundation.errors import CheckpointError
    from idc_lite.foundation.files import read_torch_file

    data = read_torch_file(path)
    if not isinstance(data, dict) or data.get("format") != "idc_lite-cnn-1":
        raise CheckpointError(f"{path} is not an idc_lite CNN file")
    return json.loads(data["info"])


def load_cnn(path) -> SmallCNN:
    """A CNN written by :func:`save_cnn` (read with ``weights_only=True``)."""
    from idc_lite.foundation.errors import CheckpointError
    from idc_lite.foundation.files import read_torch_file

    data = read_torch_file(path)
    if not isinstance(data, dict) or data.get("format") != "idc_lite-cnn-1":
        raise CheckpointError(f"{path} is not an idc_lite CNN file")
    model = SmallCNN(data["in_channels"], data["image_size"], data["num_classes"])
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the CNN: {err}") from err
    return model.eval()




def load_or_train_cnn(path, data: DataSplit, *, epochs: int, seed: int, adversarial: PGDSettings | None = None,
                      progress: bool = False) -> tuple[SmallCNN, Artefact]:
    """The CNN trained on ``data`` with these settings: loaded when ``path`` (or the file of its own beside
    it) holds one made with exactly them, else trained (:func:`train_cnn`) and saved; a file made with
    other settings is left as it is (:func:`idc_lite.foundation.reuse.artefact_for_settings`).  ``progress`` prints
    the reuse note and a progress bar.  Returns (the CNN in eval mode, the artefact: its path and note)."""
    wanted = {"epochs": epochs, "seed": seed, "adversarial": adversarial.to_dict() if adversarial else None,
              "data": data.info}
    file = artefact_for_settings(path, wanted, cnn_settings)
    file = artefact_or_shipped(file, "cnn", wanted)
    if progress:
        print(file.note)
    if file.exists:
        return load_cnn(file.path), file
    cnn = train_cnn(data, epochs=epochs, seed=seed, adversarial=adversarial, progress=progress)
    save_cnn(cnn, file.path, **wanted)
    return cnn, file

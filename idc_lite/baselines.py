"""Baselines on the same data and attacks: a standard CNN and a PGD-adversarially-trained CNN
(Madry et al. 2018).  Their ``forward(x, generator=None)`` matches the attack API (the generator
is unused: they are deterministic)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .attacks import PGDSettings, pgd
from .data import DataSplit
from .validation import check_images


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
        check_images(x, self.in_channels, self.image_size)
        return self.head(self.features(x))


def train_cnn(data: DataSplit, epochs: int = 20, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
              adversarial: PGDSettings | None = None, progress: bool = False) -> SmallCNN:
    """Train a :class:`SmallCNN`; with ``adversarial`` every batch is replaced by PGD examples
    made against the current model (Madry et al.).  Seeded; leaves the global RNG as it was."""
    c, h, _ = data.image_shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallCNN(c, h, data.num_classes)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = data.x_train.shape[0]
    for _ in tqdm(range(epochs), desc="CNN" + (" (adversarial)" if adversarial else ""), disable=not progress):
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

"""Shared test helpers: tiny models, the location of the read-only fixtures, one smoke run of the
main job and the browser."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from idc_lite.data.splits import DataSplit
from idc_lite.model.config import IDCConfig
from idc_lite.model.unet import UNetConfig

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    """The folder holding fixtures/ and datasets/: $IDC_LITE_SHARED, else shared/ beside or inside the repository."""
    candidates = [os.environ.get("IDC_LITE_SHARED"), REPO.parent / "shared", REPO / "shared"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def official_fixture_dir() -> Path | None:
    """The reference outputs of the authors' code (``fixtures/official-idc`` of the shared folder; docs/fidelity.md
    says what they are and how to point the tests at them), None when absent."""
    base = shared_dir()
    path = base / "fixtures" / "official-idc" if base else None
    return path if path and (path / "small_reference.npz").is_file() else None


@pytest.fixture(scope="session")
def official_fixture() -> Path:
    path = official_fixture_dir()
    if path is None:
        pytest.skip("the official-idc fixture is not here: see docs/fidelity.md, 'Checking the kit against their outputs'")
    return path


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    base = shared_dir()
    path = base / "datasets" if base else None
    if path is None or not (path / "MNIST" / "raw").is_dir():
        pytest.skip("offline MNIST copy not found (shared/datasets/MNIST); the kit never needs it")
    return path


@pytest.fixture(scope="session")
def cifar10_jpeg_archive() -> Path:
    base = shared_dir()
    path = base / "datasets" / "cifar10-jpeg" / "cifar10-jpeg.tar.gz" if base else None
    if path is None or not path.is_file():
        pytest.skip("offline CIFAR-10 JPEG copy not found (shared/datasets/cifar10-jpeg); the kit never needs it")
    return path


def tiny_config(**overrides) -> IDCConfig:
    """A 0.2 M-parameter model on 8x8 images: fast enough for unit tests."""
    unet = UNetConfig(image_size=8, in_channels=1, model_channels=32, out_channels=1, num_res_blocks=1,
                      attention_resolutions=(2,), channel_mult=(1, 2), dropout=0.0, num_heads=2)
    cfg = IDCConfig(num_classes=4, unet=unet)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture
def tiny_images() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(6, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 3, 0, 1])


class Linear(nn.Module):
    """A deterministic (or, with noise_std > 0, random) linear classifier on 1x8x8 images; ``record_noise``
    keeps each call's noise (B, 4) in ``self.noise``, in call order."""

    def __init__(self, noise_std: float = 0.0, record_noise: bool = False):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.weight = nn.Parameter(torch.randn(4, 64, generator=g))
        self.noise_std = noise_std
        self.noise = [] if record_noise else None

    def forward(self, x, generator=None):
        logits = x.flatten(1) @ self.weight.T
        if self.noise_std:
            noise = self.noise_std * torch.randn(logits.shape, generator=generator)
            if self.noise is not None:
                self.noise.append(noise)
            logits = logits + noise
        return logits


@pytest.fixture(scope="session")
def browser():
    """(chromium, chromedriver) for the browser checks; skips with the reason when they are not
    installed, unless ``IDC_LITE_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure."""
    from idc_lite.runs.html_report import find_browser

    found = find_browser()
    if found is None:
        reason = ("no Chromium and ChromeDriver on this machine (Debian: apt-get install chromium chromium-driver; "
                  ".ci/run installs them)")
        if os.environ.get("IDC_LITE_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(reason + ", and IDC_LITE_REQUIRE_BROWSER=1 says the browser test must run")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The main job in smoke mode, once per session: `idc-lite reproduce --smoke`."""
    env = {k: v for k, v in os.environ.items() if k not in ("IDC_LITE_RUN_DIR", "IDC_LITE_HEADLESS")}
    out = tmp_path_factory.mktemp("smoke") / "run"
    done = subprocess.run([sys.executable, "-m", "idc_lite", "reproduce", "--smoke", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def digits_model():
    """(EMA classifier, DataSplit): the digits default's IDC as the kit ships it (``load_reference("idc")``,
    trained for the preset's 40 epochs), for tests that need a model that classifies well."""
    from idc_lite.comparisons import load_reference
    from idc_lite.data.datasets import load_digits

    return load_reference("idc"), load_digits()


def tiny_data(n=48):
    """48 8x8 one-channel images of 4 classes with a little class structure: 40 to train, 8 to test."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 4
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    x[:, :, : 2 * 1, :] += (labels == 0).float().view(-1, 1, 1, 1) * 0.6   # a little class structure
    x[:, :, :, :2] += (labels == 1).float().view(-1, 1, 1, 1) * 0.6
    x = x.clamp(0, 1)
    return DataSplit(x[:40], labels[:40], x[40:], labels[40:], ["a", "b", "c", "d"], {"dataset": "tiny", "n": n})

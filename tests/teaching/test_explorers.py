"""The explorers' figure functions at several settings, and the widget wrapper in both modes."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from conftest import tiny_config
from idc_lite.foundation.runtime import is_headless
from idc_lite.model.classifier import IDCClassifier
from idc_lite.teaching import explorers
from idc_lite.teaching.explorers import Choice, Slider, Toggle, explore

NAMES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def model():
    m = IDCClassifier(tiny_config()).eval()
    m.unet.reset_parameters(0, official_init=True)
    return m


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(5, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 3, 0])


def images(fig: Figure) -> list[np.ndarray]:
    return [np.asarray(im.get_array()) for ax in fig.axes for im in ax.get_images()]


def bars(fig: Figure) -> list[float]:
    return [p.get_height() for ax in fig.axes for p in ax.patches]


def test_trajectory_figure_follows_seed_eta_and_step(model, batch):
    x, labels = batch
    random_0 = explorers.trajectory_figure(model, x, labels, NAMES, example=1, seed=0, eta=1.0)
    random_1 = explorers.trajectory_figure(model, x, labels, NAMES, example=1, seed=1, eta=1.0)
    still_0 = explorers.trajectory_figure(model, x, labels, NAMES, example=1, seed=0, eta=0.0)
    still_1 = explorers.trajectory_figure(model, x, labels, NAMES, example=1, seed=1, eta=0.0)
    assert any(not np.array_equal(a, b) for a, b in zip(images(random_0), images(random_1)))   # noise moves the path
    assert all(np.array_equal(a, b) for a, b in zip(images(still_0), images(still_1)))         # eta = 0: no noise
    steps = len(model.bridge.steps)
    first_only = explorers.trajectory_figure(model, x, labels, NAMES, example=1, step=0)
    assert len(images(first_only)) == 1 + 2 + 1             # input, the first step's prediction and state, nearest
    assert len(images(random_0)) == 1 + 2 * steps + 1
    assert len(bars(random_0)) == len(NAMES)
    with pytest.raises(ValueError, match="example must be in 0..4"):
        explorers.trajectory_figure(model, x, labels, NAMES, example=5)


def test_noise_figure_counts_draws(model, batch):
    x, labels = batch
    fixed = bars(explorers.noise_figure(model, x, labels, NAMES, example=2, draws=12, seed=3, fixed_noise=True))
    assert sum(fixed) == 12 and max(fixed) == 12               # the same noise every draw: one class
    fresh = explorers.noise_figure(model, x, labels, NAMES, example=2, draws=7, seed=3, fixed_noise=False)
    assert sum(bars(fresh)) == 7 and "fresh noise" in fresh.axes[1].get_title()
    with pytest.raises(ValueError, match="draws must be at least 1"):
        explorers.noise_figure(model, x, labels, NAMES, draws=0)


@pytest.mark.parametrize("attack", explorers.ATTACKS)
def test_attack_figure_perturbs_within_the_budget(model, batch, attack):
    x, labels = batch
    clean_panel, adversarial_panel, perturbation = images(explorers.attack_figure(model, x, labels, NAMES, example=0,
                                                                               eps_255=32.0, attack=attack))[:3]
    assert np.abs(perturbation).max() <= 1.0 + 1e-6 and np.abs(perturbation).max() > 0.5
    assert not np.array_equal(clean_panel, adversarial_panel)
    unattacked = images(explorers.attack_figure(model, x, labels, NAMES, example=0, eps_255=0.0, attack=attack))
    assert np.array_equal(unattacked[0], unattacked[1]) and np.abs(unattacked[2]).max() == 0
    with pytest.raises(ValueError, match="attack must be one of"):
        explorers.attack_figure(model, x, labels, NAMES, attack="cw")


def test_label_images_figure_per_image_and_global():
    per_image = explorers.label_images_figure(num_classes=6, image_size=12, seed=1, scaling="per_image")
    shown = images(per_image)
    assert len(shown) == 6 and all(im.min() == 0 and im.max() == 1 for im in shown)
    global_ = images(explorers.label_images_figure(num_classes=6, image_size=12, seed=1, scaling="global"))
    assert min(im.min() for im in global_) == 0 and max(im.max() for im in global_) == 1
    assert sum(im.max() - im.min() < 1 - 1e-6 for im in global_) >= 1      # one range for all: some images use less
    colour = explorers.label_images_figure(num_classes=20, image_size=10, channels=3)
    assert len(images(colour)) == 10 and "3x10x10" in colour.axes[-1].get_title()
    with pytest.raises(ValueError, match="scaling must be one of"):
        explorers.label_images_figure(scaling="none")


def test_explore_headless_returns_the_default_figure():
    calls = []

    def figure(a, b, c):
        calls.append((a, b, c))
        return Figure()

    fig = explore(figure, {"a": Slider(0, 10, 1, 3), "b": Choice(["x", "y"], "y"), "c": Toggle(True)}, headless=True)
    assert isinstance(fig, Figure) and calls == [(3, "y", True)]


def test_explore_interactive_builds_controls_that_redraw():
    import ipywidgets

    calls = []

    def figure(a, scale, kind, flag, unused_default=5):
        calls.append((a, scale, kind, flag))
        return Figure()

    widget = explore(figure, {"a": Slider(0, 10, 1, 3), "scale": Slider(0.0, 1.0, 0.25, 0.5),
                              "kind": Choice(["x", "y"], "x"), "flag": Toggle(False)}, headless=False)
    assert isinstance(widget, ipywidgets.interactive)
    controls = {c.description: c for c in widget.children if hasattr(c, "description") and c.description}
    assert set(controls) == {"a", "scale", "kind", "flag"}        # no widget for the function's other defaults
    assert isinstance(controls["a"], ipywidgets.IntSlider) and not controls["a"].continuous_update
    assert isinstance(controls["scale"], ipywidgets.FloatSlider) and not controls["scale"].continuous_update
    assert isinstance(controls["kind"], ipywidgets.Dropdown) and isinstance(controls["flag"], ipywidgets.Checkbox)
    assert calls[-1] == (3, 0.5, "x", False) and isinstance(widget.result, Figure)
    controls["a"].value = 7
    controls["kind"].value = "y"
    assert calls[-1] == (7, 0.5, "y", False) and isinstance(widget.result, Figure)


def test_headless_switch(monkeypatch):
    monkeypatch.delenv("IDC_LITE_HEADLESS", raising=False)
    monkeypatch.delenv("IDC_LITE_SMOKE", raising=False)
    assert not is_headless()
    monkeypatch.setenv("IDC_LITE_HEADLESS", "1")
    assert is_headless()
    monkeypatch.setenv("IDC_LITE_HEADLESS", "0")
    monkeypatch.setenv("IDC_LITE_SMOKE", "1")
    assert is_headless()

"""Interactive explorers: each one is a plain function of plain values that returns a Figure, and
:func:`explore` wraps it in ipywidgets controls when someone is looking (JupyterLab).

Under papermill, nbval and grading (:func:`idc_lite.foundation.runtime.is_headless`) :func:`explore` returns the figure at
the default settings instead, so the cell shows one static figure and never waits for input.

The four explorers:

* :func:`trajectory_figure`: the sampler's path for one example (step, seed, eta);
* :func:`noise_figure`: how the predicted class varies over noise draws (fixed-noise toggle);
* :func:`attack_figure`: an attack of a given strength on one example (the adversarial image,
  the image the sampler produced for it, and the logits);
* :func:`label_images_figure`: the label images for any K, size and seed, scaled per image or globally.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from matplotlib.figure import Figure

from idc_lite.evaluation.attacks import FirstStepSurrogate, PGDSettings, fgsm, pgd
from idc_lite.evaluation.suites import DEFAULTS
from idc_lite.figures.plots import draw_image
from idc_lite.foundation.runtime import is_headless
from idc_lite.foundation.shared_work import shareable
from idc_lite.foundation.streams import sampler_noise_generator, seeded
from idc_lite.model.bridge import BrownianBridge
from idc_lite.model.classifier import to_image_scale, to_model_scale
from idc_lite.model.label_images import SCALINGS, label_image_diagnostics, make_label_images

ATTACKS = ("fgsm", "pgd", "eot_pgd", "first_step_pgd")


# ---- controls and the widget wrapper ------------------------------------------------------------
@dataclass
class Slider:
    """A numeric control: integers give an IntSlider, anything else a FloatSlider."""
    min: float
    max: float
    step: float
    value: float

    def widget(self, name: str):
        import ipywidgets as w

        ints = all(isinstance(v, int) for v in (self.min, self.max, self.step, self.value))
        cls = w.IntSlider if ints else w.FloatSlider
        return cls(min=self.min, max=self.max, step=self.step, value=self.value, description=name,
                   continuous_update=False)   # redraw on release: every figure costs sampler calls


@dataclass
class Choice:
    options: Sequence
    value: object

    def widget(self, name: str):
        import ipywidgets as w

        return w.Dropdown(options=list(self.options), value=self.value, description=name)


@dataclass
class Toggle:
    value: bool

    def widget(self, name: str):
        import ipywidgets as w

        return w.Checkbox(value=self.value, description=name)


def explore(figure_fn: Callable[..., Figure], controls: dict, headless: bool | None = None):
    """Controls that redraw ``figure_fn(**values)`` in JupyterLab; the default figure when headless.

    ``controls``: {argument name: Slider | Choice | Toggle}; their ``value`` is the default.
    ``headless``: None asks :func:`idc_lite.foundation.runtime.is_headless` (papermill, nbval, grading, smoke).
    Returns the ``ipywidgets.interactive`` (its ``result`` is the last Figure) or the Figure.
    """
    defaults = {name: c.value for name, c in controls.items()}
    if headless if headless is not None else is_headless():
        return figure_fn(**defaults)
    import ipywidgets as w

    def redraw(**values):   # exactly the controls: interactive would turn other defaults into widgets
        return figure_fn(**values)

    widgets = {name: c.widget(name) for name, c in controls.items()}
    return w.interactive(redraw, {"manual": False, "auto_display": True}, **widgets)


# ---- the explorers ------------------------------------------------------------------------------
@torch.no_grad()
@shareable
def first_reliable_example(model, x: torch.Tensor, labels: torch.Tensor, draws: int = 5, seed: int = 0) -> int:
    """Index of the first image (N, C, H, W) in [0, 1] that ``model`` classifies right in each of ``draws``
    draws of its noise: where an explorer should open, so that its default view shows the method working
    (and an attack's effect) rather than an example the model gets wrong anyway.  0 when there is none."""
    g = torch.Generator().manual_seed(seed)
    right = torch.stack([model(x, generator=g).argmax(1) == labels for _ in range(draws)]).all(0)
    return int(right.nonzero()[0]) if bool(right.any()) else 0


def _one(x: torch.Tensor, labels: torch.Tensor, example: int) -> tuple[torch.Tensor, int]:
    if not 0 <= example < x.shape[0]:
        raise ValueError(f"example must be in 0..{x.shape[0] - 1}, got {example}")
    return x[example:example + 1], int(labels[example])


def _class_bars(ax, values: Sequence[float], class_names: Sequence[str], true: int, title: str, ylabel: str,
                highlight: int | None = None) -> None:
    colors = ["tab:green" if k == true else ("tab:red" if k == highlight else "tab:gray") for k in range(len(values))]
    ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)), class_names, fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)


@torch.no_grad()
def trajectory_figure(model, x: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], example: int = 0,
                      step: int = -1, seed: int = 0, eta: float = 1.0) -> Figure:
    """The sampler's path for one example: input, and per step the x0 prediction and the next state,
    up to sampler step ``step`` (-1: all); below, the distance of that step's x0 prediction to every
    label image.  ``eta`` scales the sampler's noise (1 official, 0 deterministic); ``seed`` its draws.
    x (N, C, H, W) in [0, 1], labels (N,)."""
    image, true = _one(x, labels, example)
    bridge = BrownianBridge.from_config(model.config, eta=eta)
    steps = bridge.steps
    last = len(steps) - 1 if step < 0 else min(step, len(steps) - 1)
    # the classifier's own noise stream for this seed (idc_lite.foundation.streams), so eta = 1 shows what model.sample shows
    result = bridge.sample(model.denoise, to_model_scale(image),
                           generator=sampler_noise_generator(torch.Generator().manual_seed(seed)),
                           clip_denoised=model.config.clip_denoised, return_trajectory=True)
    x0_pred = to_image_scale(result.x0_predictions[last])
    distances = model.distances_to_label_images(x0_pred)[0]
    predicted = int(distances.argmin())
    cols = 2 + 2 * len(steps)
    fig = Figure(figsize=(1.05 * cols, 4.2), layout="constrained")
    grid = fig.add_gridspec(2, cols, height_ratios=[1, 1.6])
    draw_image(fig.add_subplot(grid[0, 0]), result.trajectory[0][0], f"input ({class_names[true]})", -1, 1)
    for i, t in enumerate(steps):
        shown = i <= last
        ax_pred, ax_state = fig.add_subplot(grid[0, 1 + 2 * i]), fig.add_subplot(grid[0, 2 + 2 * i])
        for ax in (ax_pred, ax_state):
            ax.set_xticks([])
            ax.set_yticks([])
        if shown:
            draw_image(ax_pred, result.x0_predictions[i][0], f"x0 pred t={t}", -1, 1)
            nxt = steps[i + 1] if i + 1 < len(steps) else 0
            draw_image(ax_state, result.trajectory[i + 1][0], f"x_t -> t={nxt}", -1, 1)
    draw_image(fig.add_subplot(grid[0, -1]), model.label_images[predicted], f"nearest: {class_names[predicted]}")
    _class_bars(fig.add_subplot(grid[1, :]), distances.tolist(), class_names, true,
                f"step {last} (t={steps[last]}): distance of the x0 prediction to each label image "
                f"(green: true class, red: nearest if wrong); eta={eta}, seed={seed}", "mean |difference|",
                highlight=predicted if predicted != true else None)
    return fig


@torch.no_grad()
def noise_figure(model, x: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], example: int = 0,
                 draws: int = 20, seed: int = 0, fixed_noise: bool = False) -> Figure:
    """How often each class is predicted for one example over ``draws`` sampler draws (fresh noise
    from one generator seeded with ``seed``, or the same noise every time with ``fixed_noise``),
    beside the sampler outputs of the first draws."""
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    image, true = _one(x, labels, example)
    generator = torch.Generator().manual_seed(seed)
    outputs = []
    for _ in range(draws):
        g = torch.Generator().manual_seed(seed) if fixed_noise else generator
        outputs.append(to_image_scale(model.sample(image, generator=g).x0))
    outputs = torch.cat(outputs)
    predicted = model.distances_to_label_images(outputs).argmin(1)
    counts = torch.bincount(predicted, minlength=len(class_names)).tolist()
    shown = min(6, draws)
    fig = Figure(figsize=(9.5, 3.6), layout="constrained")
    grid = fig.add_gridspec(2, 2 + shown, width_ratios=[1.2, 4] + [1] * shown)
    draw_image(fig.add_subplot(grid[:, 0]), image[0], f"input ({class_names[true]})")
    right = sum(c for k, c in enumerate(counts) if k == true)
    _class_bars(fig.add_subplot(grid[:, 1]), counts, class_names, true,
                f"{right} of {draws} draws right ({'fixed noise' if fixed_noise else 'fresh noise'}, seed {seed})",
                "draws")
    for i in range(shown):
        draw_image(fig.add_subplot(grid[0, 2 + i]), outputs[i], f"draw {i}: {class_names[int(predicted[i])]}")
    for i in range(shown):
        fig.add_subplot(grid[1, 2 + i]).axis("off")
    return fig


def _attack_one(model, image: torch.Tensor, label: torch.Tensor, eps: float, attack: str,
                generator: torch.Generator) -> torch.Tensor:
    if attack == "fgsm":
        return fgsm(model, image, label, eps, generator)
    if attack == "pgd":
        return pgd(model, image, label, PGDSettings(eps=eps, alpha=eps / 4, steps=DEFAULTS.steps), generator)
    if attack == "eot_pgd":
        return pgd(model, image, label, PGDSettings(eps=eps, alpha=eps / 4, steps=DEFAULTS.steps, loss="margin", eot_samples=4),
                   generator)
    if attack == "first_step_pgd":
        return pgd(FirstStepSurrogate(model), image, label, PGDSettings(eps=eps, alpha=eps / 10, steps=20, loss="margin"),
                   generator)
    raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")


def attack_figure(model, x: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], example: int = 0,
                  eps_255: float = 16.0, attack: str = "first_step_pgd", seed: int = 0) -> Figure:
    """One example under an L-inf attack of budget ``eps_255``/255: clean and adversarial image, the
    perturbation, the image the sampler produced for the adversarial input (one draw, ``seed``) and
    its nearest label image, and the logits -distance / tau for the clean and the adversarial input.
    ``attack``: 'fgsm', 'pgd' (10 steps, one draw per step), 'eot_pgd' (10 steps, 4 draws per step,
    margin) or 'first_step_pgd' (20 steps on the deterministic first-step surrogate)."""
    if eps_255 < 0:
        raise ValueError(f"eps_255 must be >= 0, got {eps_255}")
    image, true = _one(x, labels, example)
    label = labels[example:example + 1]
    eps = eps_255 / 255
    adversarial = _attack_one(model, image, label, eps, attack, torch.Generator().manual_seed(seed)) if eps > 0 else image
    with torch.no_grad():
        g = seeded(seed, "explorer/attack-prediction")
        clean_logits = model(image, generator=g)[0]
        output = to_image_scale(model.sample(adversarial, generator=g).x0)
        adv_logits = -model.distances_to_label_images(output)[0] / model.config.tau
    predicted = int(adv_logits.argmax())
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    grid = fig.add_gridspec(2, 5, height_ratios=[1, 1.4])
    draw_image(fig.add_subplot(grid[0, 0]), image[0], f"clean ({class_names[true]})")
    draw_image(fig.add_subplot(grid[0, 1]), adversarial[0], f"{attack}, eps {eps_255:g}/255")
    delta = adversarial[0] - image[0]
    draw_image(fig.add_subplot(grid[0, 2]), delta / max(eps, 1e-12), "perturbation / eps", -1, 1)
    draw_image(fig.add_subplot(grid[0, 3]), output[0], "sampler output")
    draw_image(fig.add_subplot(grid[0, 4]), model.label_images[predicted], f"nearest: {class_names[predicted]}")
    ax = fig.add_subplot(grid[1, :])
    k = torch.arange(len(class_names))
    ax.bar(k - 0.2, clean_logits.tolist(), width=0.4, label="clean", color="tab:blue")
    ax.bar(k + 0.2, adv_logits.tolist(), width=0.4, label="adversarial", color="tab:orange")
    ax.set_xticks(k.tolist(), [f"{n}{' (true)' if i == true else ''}" for i, n in enumerate(class_names)], fontsize=7)
    ax.set_ylabel("logit = -distance / tau", fontsize=8)
    ax.set_title(f"prediction on the adversarial image (one draw, seed {seed}): {class_names[predicted]}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def label_images_figure(num_classes: int = 10, image_size: int = 16, seed: int = 0, scaling: str = "per_image",
                        channels: int = 1) -> Figure:
    """The first label images for ``num_classes`` classes of ``channels x image_size x image_size``
    (``scaling``: 'per_image', the official min-max, or 'global'), and the distribution of the mean
    absolute distance between two different label images, with the diagnostics."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    images = make_label_images(num_classes, (channels, image_size, image_size), seed=seed, scaling=scaling)
    diag = label_image_diagnostics(images)
    shown = min(10, num_classes)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    grid = fig.add_gridspec(2, shown, height_ratios=[1, 1.5])
    for i in range(shown):
        draw_image(fig.add_subplot(grid[0, i]), images[i], f"class {i}")
    off = ~torch.eye(num_classes, dtype=torch.bool)
    ax = fig.add_subplot(grid[1, :])
    ax.hist(diag["mean_abs_distance"][off].tolist(), bins=30, color="tab:purple")
    ax.axvline(diag["min_off_diagonal_distance"], color="k", linestyle=":")
    ax.set_xlabel("mean absolute distance between two different label images", fontsize=8)
    ax.set_ylabel("pairs", fontsize=8)
    ax.set_title(f"K={num_classes}, {channels}x{image_size}x{image_size}, seed {seed}, {scaling} scaling: smallest "
                 f"distance {diag['min_off_diagonal_distance']:.3f}, largest cosine {diag['max_off_diagonal_cosine']:.3f}",
                 fontsize=9)
    return fig



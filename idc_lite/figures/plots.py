"""Plot helpers: each returns a ``matplotlib.figure.Figure`` (not registered with pyplot, so a
notebook shows it exactly once by ending a cell with it)."""
from __future__ import annotations

from typing import Sequence

import torch
from matplotlib.figure import Figure

_NOTE = {"text": ""}     # the line every shown figure and table carries (lab or smoke sizes); "" for none


def set_figure_note(text: str) -> None:
    """From now on, every figure a notebook shows (and every table :func:`show_table` shows) carries ``text``,
    e.g. "lab settings: 16 examples, a shorter attack suite"; ``""`` stops it.  A notebook sets it once, from
    its size switches (:func:`idc_lite.runs.run_sizes`), so no figure of a lab or smoke run passes for a full one.
    It registers the display hook again, in case ``%matplotlib inline`` replaced it since the import."""
    _NOTE["text"] = str(text)
    _show_figures_in_ipython()


def figure_note() -> str:
    """The line figures carry now (``""``: none)."""
    return _NOTE["text"]


def stamp_note(fig: Figure) -> Figure:
    """Write the current note under ``fig`` (replacing a note written there before); returns ``fig``."""
    old = getattr(fig, "_idc_lite_note", None)
    if old is not None and old.get_text() != _NOTE["text"]:
        old.remove()
        fig._idc_lite_note = old = None
    if _NOTE["text"] and old is None:
        fig._idc_lite_note = fig.text(0.5, 0.0, _NOTE["text"], ha="center", va="top", fontsize=7, color="#a00000")
    return fig


def _figure_png(fig: Figure):
    from IPython.core.pylabtools import print_figure

    return print_figure(stamp_note(fig), "png", bbox_inches="tight", base64=True)


def _show_figures_in_ipython() -> None:
    """Figures made without pyplot have no display hook of their own: in a running IPython kernel, show a
    ``Figure`` that ends a cell as a PNG with the note under it, and as nothing else (an SVG or JPEG formatter
    left by ``%matplotlib inline`` would show it without the note)."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to register
        return
    shell = get_ipython()
    if shell is not None:
        formatters = shell.display_formatter.formatters
        for mime in ("image/svg+xml", "image/jpeg", "application/pdf"):
            if mime in formatters:
                formatters[mime].pop(Figure, None)
        formatters["image/png"].for_type(Figure, _figure_png)


_show_figures_in_ipython()


def draw_image(ax, img: torch.Tensor, title: str | None = None, vmin: float = 0.0, vmax: float = 1.0):
    """Draw one image (C, H, W) with values in [vmin, vmax] on ``ax``, without ticks."""
    img = img.detach().cpu().float()
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=vmin, vmax=vmax)
    else:
        ax.imshow(((img - vmin) / (vmax - vmin)).clamp(0, 1).permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=8)


def image_row(images: torch.Tensor, titles: Sequence[str] | None = None, suptitle: str = "") -> Figure:
    """One row of images (N, C, H, W) in [0, 1]."""
    n = images.shape[0]
    fig = Figure(figsize=(1.3 * n, 1.7), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for i, ax in enumerate(axes):
        draw_image(ax, images[i], titles[i] if titles else None)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def matrix_heatmap(matrix: torch.Tensor, labels: Sequence[str], title: str, cmap: str = "viridis") -> Figure:
    """A labelled K x K heatmap with values written in the cells."""
    m = matrix.detach().cpu().numpy()
    k = m.shape[0]
    fig = Figure(figsize=(0.45 * k + 1.5, 0.45 * k + 1.0), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(m, cmap=cmap)
    ax.set_xticks(range(k), labels, fontsize=7)
    ax.set_yticks(range(k), labels, fontsize=7)
    if k <= 12:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def loss_curves(history: list[dict]) -> Figure:
    """Training loss per epoch: total, reconstruction (L1) and inter-class term."""
    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = fig.subplots()
    epochs = [h["epoch"] for h in history]
    for key, label in (("loss", "total"), ("recloss", "L1 reconstruction"), ("simloss", "inter-class term (x1)")):
        ax.plot(epochs, [h[key] for h in history], label=label)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (mean over batches)")
    ax.legend(fontsize=8)
    ax.set_title("training loss")
    return fig


def trajectory_grid(trajectory: Sequence[torch.Tensor], x0_predictions: Sequence[torch.Tensor], steps: Sequence[int],
                    label_images: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor,
                    class_names: Sequence[str]) -> Figure:
    """Denoising rows, one per example: input, the states x_t after each step, the predicted
    label image at each step, and the label image of the predicted class.

    ``trajectory`` (S+1 tensors) and ``x0_predictions`` (S tensors) of shape (N, C, H, W) on the
    [-1, 1] scale; ``predicted`` and ``labels`` (N,).
    """
    n = trajectory[0].shape[0]
    s = len(x0_predictions)
    cols = 1 + 2 * s + 1
    fig = Figure(figsize=(1.05 * cols, 1.15 * n + 0.6), layout="constrained")
    axes = fig.subplots(n, cols, squeeze=False)
    for r in range(n):
        draw_image(axes[r, 0], trajectory[0][r], "input t=T" if r == 0 else None, -1, 1)
        axes[r, 0].set_ylabel(f"true {class_names[int(labels[r])]}", fontsize=8)
        for i in range(s):
            nxt = steps[i + 1] if i + 1 < s else "0"
            draw_image(axes[r, 1 + 2 * i], x0_predictions[i][r], f"x0 pred @t={steps[i]}" if r == 0 else None, -1, 1)
            draw_image(axes[r, 2 + 2 * i], trajectory[i + 1][r], f"x_t -> t={nxt}" if r == 0 else None, -1, 1)
        ok = int(predicted[r]) == int(labels[r])
        draw_image(axes[r, -1], label_images[int(predicted[r])], "nearest label img" if r == 0 else None)
        axes[r, -1].set_xlabel(f"pred {class_names[int(predicted[r])]} {'ok' if ok else 'WRONG'}", fontsize=8,
                               color="g" if ok else "r")
    fig.suptitle("bridge sampling: input image (t = T) to label image (t = 0)", fontsize=10)
    return fig


def adversarial_examples(x: torch.Tensor, x_adv: torch.Tensor, labels: torch.Tensor, clean_pred: torch.Tensor,
                         adv_pred: torch.Tensor, class_names: Sequence[str], n: int = 8,
                         sampler_outputs: torch.Tensor | None = None) -> Figure:
    """Clean images, adversarial images, the perturbation (rescaled) and, when given, the image the
    sampler produced for each adversarial input (B, C, H, W) in [0, 1], i.e. the label image it drifted to."""
    n = min(n, x.shape[0])
    rows = 3 if sampler_outputs is None else 4
    fig = Figure(figsize=(1.3 * n, 1.5 * rows), layout="constrained")
    axes = fig.subplots(rows, n, squeeze=False)
    eps = float((x_adv - x).abs().max()) or 1.0
    for i in range(n):
        draw_image(axes[0, i], x[i], f"true {class_names[int(labels[i])]} / pred {class_names[int(clean_pred[i])]}")
        draw_image(axes[1, i], x_adv[i], f"adv pred {class_names[int(adv_pred[i])]}")
        draw_image(axes[2, i], (x_adv[i] - x[i]) / eps, None, -1, 1)
        if sampler_outputs is not None:
            draw_image(axes[3, i], sampler_outputs[i])
    axes[0, 0].set_ylabel("clean", fontsize=8)
    axes[1, 0].set_ylabel("adversarial", fontsize=8)
    axes[2, 0].set_ylabel(f"delta / {eps:.3f}", fontsize=8)
    if sampler_outputs is not None:
        axes[3, 0].set_ylabel("sampler output", fontsize=8)
    return fig


def plot_accuracy_against_eps(curves: dict[str, Sequence[tuple[float, float]]], chance: float | None = None,
                         title: str = "accuracy against the attack budget") -> Figure:
    """One line per (model, protocol): points (eps in [0, 1], accuracy in [0, 1]); eps shown in 1/255."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    for name, points in curves.items():
        eps, acc = zip(*points)
        ax.plot([255 * e for e in eps], [100 * a for a in acc], marker="o", label=name)
    if chance is not None:
        ax.axhline(100 * chance, color="grey", linestyle=":", label="chance")
    ax.set_xlabel("L-inf eps (x 1/255)")
    ax.set_ylabel("accuracy under attack (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return fig


def robustness_against_cost(points: Sequence[dict], title: str = "robust accuracy against cost per prediction") -> Figure:
    """One marker per point ``{"label", "flops", "robust_accuracy" (0..1), "source"}``: filled circles for
    the kit's own measurements (``source`` "measured here"), hollow squares for quoted figures; FLOPs on a
    log axis."""
    fig = Figure(figsize=(6.8, 4.2), layout="constrained")
    ax = fig.subplots()
    for point in points:
        measured = point["source"] == "measured here"
        ax.scatter(point["flops"], 100 * point["robust_accuracy"], s=46, marker="o" if measured else "s",
                   facecolors=None if measured else "none", edgecolors=None if measured else "C1",
                   color="C0" if measured else None, zorder=3)
        ax.annotate(point["label"], (point["flops"], 100 * point["robust_accuracy"]), fontsize=6.5,
                    xytext=(4, 3), textcoords="offset points")
    ax.scatter([], [], marker="o", color="C0", label="measured here (this kit's data and budget)")
    ax.scatter([], [], marker="s", facecolors="none", edgecolors="C1", label="quoted (CIFAR-10, L-inf 8/255)")
    ax.set_xscale("log")
    ax.margins(x=0.25)     # room for the labels of the right-most points
    ax.set_xlabel("FLOPs per prediction (computed from the architecture)")
    ax.set_ylabel("robust accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def plot_eot_convergence(curve: Sequence[dict], title: str = "EOT: accuracy against noise draws per step") -> Figure:
    """Accuracy (%) against the number of EOT samples (log scale), from ``sanity.eot_convergence``."""
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.plot([c["eot_samples"] for c in curve], [100 * c["accuracy"] for c in curve], marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("EOT samples per step")
    ax.set_ylabel("accuracy under attack (%)")
    ax.set_title(title, fontsize=10)
    return fig


_PERCENT_WORDS = ("accuracy", "robust", "clean", "adversarial", "paper", "adaptive")


def _cell(key: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if any(w in key for w in _PERCENT_WORDS) and 0.0 <= value <= 1.0:
            return f"{100 * value:.1f} %"
        return f"{value:.4g}"
    return str(value)


def table_markdown(rows: Sequence[dict], title: str = "") -> str:
    """A Markdown table of dict rows (columns: union of keys in order); accuracies shown in %."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    heading = " ".join(([f"**{title}**"] if title else []) + ([f"*{_NOTE['text']}*"] if _NOTE["text"] else []))
    lines = ([heading, ""] if heading else []) + ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(c, r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def show_table(rows: Sequence[dict], title: str = "") -> None:
    """Display a table in a notebook (Markdown), or print it elsewhere.  Returns None, so that a cell
    ending with it shows the table once (:func:`table_markdown` gives the text)."""
    text = table_markdown(rows, title)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display

        if get_ipython() is not None:
            display(Markdown(text))
            return
    except ImportError:
        pass
    print(text)



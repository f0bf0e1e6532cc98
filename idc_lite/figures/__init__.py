"""The notebooks' figures and tables: matplotlib figures made from tensors and results, and Markdown tables.

One module, ``plots``; it imports nothing of the kit, so any layer above may draw with it (the explorers of
``teaching``, the evaluation report of ``runs``).  The results pages' own figures are ``results.record_figures``.
"""
from idc_lite.figures.plots import (
    adversarial_examples,
    draw_image,
    image_row,
    loss_curves,
    matrix_heatmap,
    plot_accuracy_against_eps,
    plot_eot_convergence,
    robustness_against_cost,
    set_figure_note,
    show_table,
    table_markdown,
    trajectory_grid,
)

__all__ = ["adversarial_examples", "draw_image", "image_row", "loss_curves", "matrix_heatmap",
           "plot_accuracy_against_eps", "plot_eot_convergence", "robustness_against_cost", "set_figure_note", "show_table",
           "table_markdown", "trajectory_grid"]

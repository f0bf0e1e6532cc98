"""IDC beside other models, and the paper's claims judged: notebooks 05 to 07.

- ``baselines``: the CNNs (trained or reused), their cost per prediction; ``alternatives``: the compared
  defences' networks; ``robustness``: every model of notebook 05 under both protocols;
- ``costs``: FLOPs and seconds per prediction (notebook 06); ``diffusion_defences``: notebook 07's DiffPure-
  and RDC-style defences, built on the run's data and attacked on IDC's examples;
- ``claims``: the paper's claims with their rules and verdicts; ``replicate_claims``: those judged over seeds;
- ``reference_models``: the models shipped in the package, by name (``load_reference("idc")``).

It imports evaluation, defences, training, data, shipped, the model and the foundation; ``figures`` is beside it.
"""
from idc_lite.comparisons.baselines import load_cnn, load_or_train_cnn, prediction_cost, save_cnn, train_cnn
from idc_lite.comparisons.claims import assess_claims, claims_markdown, cost_rows_from_architectures
from idc_lite.comparisons.costs import MEASURED, alternative_rows, idc_row, robustness_points
from idc_lite.comparisons.diffusion_defences import (
    CLASSIFIER,
    KINDS,
    PURIFICATION,
    DefenceSettings,
    build_defences,
    clean_accuracy,
    defence_comparisons,
    evaluate_defence,
    measured_costs,
)
from idc_lite.comparisons.reference_models import load_reference
from idc_lite.comparisons.robustness import evaluate_models, sweep_models

__all__ = ["CLASSIFIER", "KINDS", "MEASURED", "PURIFICATION", "DefenceSettings", "alternative_rows", "assess_claims",
           "build_defences", "claims_markdown", "clean_accuracy", "cost_rows_from_architectures",
           "defence_comparisons", "evaluate_defence", "evaluate_models", "idc_row", "load_cnn", "load_or_train_cnn",
           "load_reference",
           "measured_costs", "prediction_cost", "robustness_points", "save_cnn", "sweep_models", "train_cnn"]

"""The authors' implementation, as far as the kit needs it: their checkpoint format and a check of the kit
against reference outputs of their code.

- ``checkpoint``: reads a checkpoint in the authors' format into the kit's U-Net and classifier;
- ``verify``: recomputes a fixture's arrays with the kit and compares them (``idc-lite verify``).

It imports the model and the foundation (beside ``data``, which it never imports).
"""
from idc_lite.authors.checkpoint import load_official_classifier
from idc_lite.authors.verify import verify

__all__ = ["load_official_classifier", "verify"]

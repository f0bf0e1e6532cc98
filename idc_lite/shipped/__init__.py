"""Reference models shipped inside the package, for labs that should not wait for training: the digits
default's IDC, its ablation without the inter-class loss, the standard and the adversarially trained CNN,
and the two denoisers of the diffusion defences, each with its record (the run that made it, its settings
and seed, its SHA-256, clean and robust accuracy with intervals).

- ``catalogue``: the catalogue, the checked files, and the one a notebook may take in place of training
  (``shipped_with_settings``: exactly the settings asked for; ``artefact_or_shipped`` copies it in where the reuse
  rule found no file); the models themselves are built one layer up
  (``idc_lite.comparisons.load_reference("idc")``).

It imports the foundation only.
"""
from idc_lite.shipped.catalogue import (
    MAX_TOTAL_BYTES,
    artefact_or_shipped,
    catalogue,
    copy_shipped,
    reference_file,
    reference_names,
    reference_record,
    shipped_with_settings,
)

__all__ = ["MAX_TOTAL_BYTES", "artefact_or_shipped", "catalogue", "copy_shipped", "reference_file", "reference_names",
           "reference_record", "shipped_with_settings"]

"""Kept beside ``python -m idc_lite.train``: ``python -m idc_lite.evaluate`` (and torchrun ``-m idc_lite.evaluate``)
run :mod:`idc_lite.runs.evaluate`, the command ``idc-lite evaluate``."""
import sys

from idc_lite.runs.evaluate import main

if __name__ == "__main__":
    sys.exit(main())

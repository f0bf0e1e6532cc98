"""Kept so that ``python -m idc_lite.sweep`` goes on working: the command lives in :mod:`idc_lite.runs.sweep_cli`
(the documented way in is ``idc-lite``, see :mod:`idc_lite.cli`)."""
import sys

from idc_lite.runs.sweep_cli import main

if __name__ == "__main__":
    sys.exit(main())

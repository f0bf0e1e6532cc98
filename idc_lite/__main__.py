"""``python -m idc_lite`` is the ``idc-lite`` command (:mod:`idc_lite.cli`)."""
import sys

from idc_lite.cli import main

sys.exit(main())

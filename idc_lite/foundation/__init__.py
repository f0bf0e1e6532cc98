"""The foundation every other layer stands on; it imports nothing of the kit above it.

- ``errors``: every error type the kit raises;
- ``streams``: named random streams that never meet; ``validation``: input checks; ``files``: atomic writes, hashes;
- ``cost_meter``: the one FLOP counter and the one timer;
- ``machine`` (what a time was measured on, the device), ``runtime`` (smoke and headless switches, paths, the
  checkout's commit), ``reuse`` (no silent reuse), ``cluster`` (independent tasks, here or on Dask),
  ``shared_work`` (a class grading runs each heavy call with the same inputs once),
  ``uncertainty`` (every figure's interval) and ``run_metrics`` (what each notebook records, one typed schema).

Inside, too, it is layered (``pyproject.toml``): errors < streams | validation | files < cost_meter < the rest.
"""
from idc_lite.foundation.errors import ExerciseCheckFailed, InputError, KitError
from idc_lite.foundation.machine import describe_machine, machine_info, resolve_device
from idc_lite.foundation.run_metrics import (
    AttackMetrics,
    AttackSettings,
    BaselinesMetrics,
    DefencesMetrics,
    EfficiencyMetrics,
    LabelImagesMetrics,
    TrainingMetrics,
    TrajectoryMetrics,
    read_metrics,
    write_metrics,
)
from idc_lite.foundation.runtime import MODEL_ENV, is_smoke, resolve_path
from idc_lite.foundation.streams import seeded, spawn
from idc_lite.foundation.uncertainty import estimate, format_difference, format_estimate, rate_estimate

__all__ = ["AttackMetrics", "AttackSettings", "BaselinesMetrics", "DefencesMetrics", "EfficiencyMetrics",
           "ExerciseCheckFailed", "InputError", "KitError", "LabelImagesMetrics", "MODEL_ENV", "TrainingMetrics",
           "TrajectoryMetrics", "describe_machine", "estimate", "format_difference", "format_estimate", "is_smoke",
           "machine_info", "rate_estimate", "read_metrics", "resolve_device", "resolve_path", "seeded", "spawn",
           "write_metrics"]

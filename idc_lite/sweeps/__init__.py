"""Sweeps: notebooks 02 and 04 run over a grid of parameters and training seeds (``idc-lite sweep``).

- ``grid``: the grid file, one run folder per point and seed (here or on a Dask cluster), the sweep's table,
  figure and claims;
- ``rebuild``: a finished sweep tabulated again, and its stopped runs run again.

It imports runs, comparisons, evaluation and the foundation: each point is one run of the notebooks.
"""
from idc_lite.sweeps.grid import load_grid, run_sweep, tabulate
from idc_lite.sweeps.rebuild import rerun_unfinished, retabulate

__all__ = ["load_grid", "rerun_unfinished", "retabulate", "run_sweep", "tabulate"]

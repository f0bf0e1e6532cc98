"""The results pages, generated from the records of reference runs and sweeps, never typed by hand.

- ``records``: a run's ``summary.json`` reduced to its figures (``docs/records/<name>.json``), and the
  generated blocks of README.md and docs/ rendered from them (``idc-lite results add | render | check``);
- ``benchmark_blocks``: the blocks rendered from the benchmarks' records (``docs/records/benchmarks/``);
- ``record_figures``: the pages' figures; ``sweep_records``: a sweep's record and its seed claims;
- ``chapters``: the book's chapters with the reference run's outputs (a record keeps its executed notebooks);
- ``shipping``: a run's models made the reference models shipped in the package (``idc-lite results ship RUN``).

It imports comparisons, evaluation, defences, training, shipped and the foundation (the claims, a check's
record, the models to ship, the files); ``runs`` reads it to put the same figures in a run's summary.
"""
from idc_lite.results.records import add_run, compact_record, render, stale_files

__all__ = ["add_run", "compact_record", "render", "stale_files"]

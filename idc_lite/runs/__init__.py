"""One run of the kit: its folder, its notebooks run with papermill, its summary and its HTML pages.

- ``folders``: where notebooks read and write (``run_dir``), a folder per exercise, missing-file errors;
- ``parameters``: a notebook's papermill parameters checked; ``reproduce``: every notebook in order;
- ``summary``: ``summary.json`` and ``summary.md``; ``html_report``: the executed notebooks as pages, checked
  in a browser; ``replicates``: a sweep point's runs over their training seeds;
- ``sharded_evaluation`` and ``shards``: notebook 04's protocols on any number of examples, in seeded blocks
  spread over processes (``idc-lite evaluate``).

It imports results, comparisons, evaluation, figures, training and the foundation; ``teaching`` is beside it.
"""
from idc_lite.runs.folders import MODEL_FILE, exercise_dir, require, resolve_run_dir
from idc_lite.runs.parameters import check_parameters
from idc_lite.runs.sharded_evaluation import begin_evaluation, read_evaluation

__all__ = ["MODEL_FILE", "begin_evaluation", "check_parameters", "exercise_dir", "read_evaluation", "require",
           "resolve_run_dir"]

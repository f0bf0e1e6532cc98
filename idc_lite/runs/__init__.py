"""One run of the kit: its folder, its notebooks run with papermill, its summary and its HTML pages.

- ``folders``: where notebooks read and write (``run_dir``), a folder per exercise, missing-file errors;
- ``sizes``: full, lab or smoke sizes (the note on every figure), and the model a lab run starts from;
- ``parameters``: a notebook's papermill parameters checked; ``reproduce``: every notebook in order;
- ``summary``: ``summary.json`` and ``summary.md``; ``html_report``: the executed notebooks as pages, checked
  in a browser; ``replicates``: a sweep point's runs over their training seeds;
- ``sharded_evaluation`` and ``shards``: notebook 04's protocols on any number of examples, in seeded blocks
  spread over processes (``idc-lite evaluate``).

It imports results, comparisons, evaluation, figures, training, data, shipped and the foundation; ``teaching`` is beside it.
"""
from idc_lite.runs.folders import MODEL_FILE, exercise_dir, require, resolve_run_dir
from idc_lite.runs.parameters import check_parameters
from idc_lite.runs.sharded_evaluation import begin_evaluation, read_evaluation
from idc_lite.runs.sizes import model_for, run_sizes, size_name

__all__ = ["MODEL_FILE", "begin_evaluation", "check_parameters", "exercise_dir", "model_for", "read_evaluation",
           "require", "resolve_run_dir", "run_sizes", "size_name"]

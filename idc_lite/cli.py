"""``idc-lite``: the kit's one command, with a subcommand per job.

    idc-lite train --preset digits --out runs/my_digits          # notebook 02's training, for long runs
    idc-lite reproduce [--preset NAME] [--smoke]                 # every notebook with papermill (make reproduce)
    idc-lite verify CHECKPOINT REFERENCE_JSON REFERENCE_NPZ       # the kit against the authors' outputs
    idc-lite evaluate --model runs/<run>/model.pt --examples 0 --out DIR   # notebook 04's protocols, sharded
    idc-lite sweep GRID.json                                      # ablations over a grid (make sweep)
    idc-lite assignments [--course assignments]                   # student copies with nbgrader
    idc-lite grade SUBMISSIONS [--model runs/<run>/model.pt]      # autograde a folder of submissions
    idc-lite check-report RUN                                     # open a run's HTML pages in headless Chromium
    idc-lite results {add RUN --name NAME | render | check}       # the results pages from reference runs

``idc-lite SUBCOMMAND --help`` lists each one's options.  The older module commands
(``python -m idc_lite.train`` and the like) run the same code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, arguments put before the user's, one line of help)
SUBCOMMANDS = {
    "train": ("idc_lite.training.cli", [], "train an IDC classifier (notebook 02's recipe; torchrun works too)"),
    "reproduce": ("idc_lite.runs.reproduce", [], "run every notebook with papermill into a new run folder"),
    "verify": ("idc_lite.authors.verify", ["verify"], "check the kit against reference outputs of the authors' code"),
    "evaluate": ("idc_lite.runs.evaluate", [], "robustness evaluation of a model on many examples (torchrun works too)"),
    "sweep": ("idc_lite.runs.sweep_cli", [], "run notebooks 02 and 04 over a grid of parameters"),
    "assignments": ("idc_lite.teaching.assignments", ["generate"], "write the student copies of the notebooks (nbgrader)"),
    "grade": ("idc_lite.teaching.assignments", ["grade"], "autograde a folder of submitted notebooks"),
    "check-report": ("idc_lite.runs.html_report", ["check"], "open a run's HTML pages in headless Chromium"),
    "results": ("idc_lite.runs.records", [], "record a reference run; rewrite or check the generated results pages"),
}


def main(argv: list[str] | None = None) -> int:
    """Exit status: the subcommand's (see each one's --help); 2 for an unknown subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="idc-lite", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="subcommands:\n" + "\n".join(f"  {name:<13} {line}"
                                                                          for name, (_, _, line) in SUBCOMMANDS.items()))
    parser.add_argument("subcommand", choices=sorted(SUBCOMMANDS), metavar="SUBCOMMAND")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    module, before, _ = SUBCOMMANDS[args.subcommand]
    run = importlib.import_module(module).main    # imported on demand: `idc-lite --help` stays quick
    return int(run(before + argv[1:], prog=f"idc-lite {args.subcommand}") or 0)


if __name__ == "__main__":
    sys.exit(main())

"""The command-line layer: ``idc-lite``, one module per subcommand, nothing else.

    idc-lite train --preset digits --out runs/my_digits          # notebook 02's training, for long runs
    idc-lite reproduce [--preset NAME] [--smoke]                 # every notebook with papermill (make reproduce)
    idc-lite verify CHECKPOINT REFERENCE_JSON REFERENCE_NPZ       # the kit against the authors' outputs
    idc-lite evaluate --model runs/<run>/model.pt --examples 0 --out DIR   # notebook 04's protocols, sharded
    idc-lite sweep GRID.json                                      # ablations over a grid (make sweep)
    idc-lite assignments [--course assignments]                   # student copies with nbgrader
    idc-lite lab [--source]                                       # JupyterLab on your own student copies (make lab)
    idc-lite challenge SUBMISSIONS                                # the class's attacks on the shipped IDC, a leaderboard
    idc-lite grade SUBMISSIONS [--full] [--model runs/<run>/model.pt]   # autograde submissions (lab sizes)
    idc-lite check-report RUN                                     # open a run's HTML pages in headless Chromium
    idc-lite results {add RUN --name NAME | render | check}       # the results pages from reference runs

``idc-lite SUBCOMMAND --help`` lists each one's options; ``python -m idc_lite SUBCOMMAND`` and
``torchrun ... -m idc_lite SUBCOMMAND`` run the same code.  Each module here parses options, calls the
layers below and turns the kit's errors into exit statuses; it may import any layer, and no layer imports it.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

# subcommand -> one line of help
SUBCOMMANDS = {
    "train": "train an IDC classifier (notebook 02's recipe; torchrun works too)",
    "reproduce": "run every notebook with papermill into a new run folder",
    "verify": "check the kit against reference outputs of the authors' code",
    "evaluate": "robustness evaluation of a model on many examples (torchrun works too)",
    "sweep": "run notebooks 02 and 04 over a grid of parameters",
    "assignments": "write the student copies of the notebooks (nbgrader)",
    "lab": "JupyterLab on your own copies of the notebooks (--source: the instructor's)",
    "grade": "autograde a folder of submitted notebooks",
    "challenge": "score the class's attack functions against the shipped IDC model; a leaderboard",
    "check-report": "open a run's HTML pages in headless Chromium",
    "results": "record a reference run; rewrite or check the generated results pages",
}


def command(name: str) -> Callable[..., int]:
    """The ``main(argv, prog)`` of subcommand ``name``, imported on demand so that ``idc-lite --help`` stays
    quick (plain import statements, so the layer contract sees every one)."""
    if name == "train":
        from idc_lite.cli.train import main
    elif name == "reproduce":
        from idc_lite.cli.reproduce import main
    elif name == "verify":
        from idc_lite.cli.verify import main
    elif name == "evaluate":
        from idc_lite.cli.evaluate import main
    elif name == "sweep":
        from idc_lite.cli.sweep import main
    elif name == "assignments":
        from idc_lite.cli.assignments import main
    elif name == "lab":
        from idc_lite.cli.lab import main
    elif name == "challenge":
        from idc_lite.cli.challenge import main
    elif name == "grade":
        from idc_lite.cli.grade import main
    elif name == "check-report":
        from idc_lite.cli.check_report import main
    elif name == "results":
        from idc_lite.cli.results import main
    else:
        raise KeyError(name)
    return main


def main(argv: list[str] | None = None) -> int:
    """Exit status: the subcommand's (see each one's --help); 2 for an unknown subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="idc-lite", description="idc-lite: the kit's one command, with a subcommand per job.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="subcommands:\n" + "\n".join(f"  {name:<13} {line}"
                                                                          for name, line in SUBCOMMANDS.items()))
    parser.add_argument("subcommand", choices=sorted(SUBCOMMANDS), metavar="SUBCOMMAND")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    return int(command(args.subcommand)(argv[1:], prog=f"idc-lite {args.subcommand}") or 0)


if __name__ == "__main__":
    sys.exit(main())

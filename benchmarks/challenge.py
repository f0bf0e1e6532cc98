"""The class's attack challenge on made-up submissions, measured (printed as Markdown, never asserted).

    python benchmarks/challenge.py [--out runs/challenge-bench] [--time-limit 300] \
        [--record docs/records/benchmarks/challenge.json]

Writes a made-up class of attack submissions, then runs ``idc-lite challenge`` on them at its defaults (the shipped
IDC model, the main budget, 64 held-back test images, the kit's full adaptive suite as the reference line), with
the time limit given here (a "too slow" submission costs exactly that limit).  The class:

- ``model_answer``: exercise 04.4's model answer (PGD with a margin loss, 40 steps, EOT over 4 draws);
- ``pgd_one_draw``: the same PGD with 10 steps and one draw of the noise per step (a weaker attack);
- ``unchanged``: returns the images as they are (its accuracy is the clean images');
- ``syntax_error``, ``wrong_shape``, ``out_of_budget``, ``raises`` and ``too_slow``: each a row that says why it
  has no score, while the others go on.

With ``--record`` the leaderboard and the times go to a benchmark record (``make results`` renders them into the
instructors' page).  Run it alone: a second CPU-heavy job beside it changes every time it prints.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from idc_lite.foundation.machine import describe_machine, machine_info
from idc_lite.foundation.runtime import REPO, repository_commit
from idc_lite.teaching import solution

SIGNATURE = "def attack(model, images, labels, generator, params, start=None):\n"
MADE_UP = {
    "pgd_one_draw": "from idc_lite.evaluation.attacks import PGDSettings, pgd\n\n\n" + SIGNATURE +
                    "    eps = params['eps']\n"
                    "    settings = PGDSettings(eps=eps, alpha=eps / 4, steps=10, loss='margin')\n"
                    "    return pgd(model, images, labels, settings, generator)\n",
    "unchanged": SIGNATURE + "    return images\n",
    "syntax_error": SIGNATURE.replace("images,", "images") + "    return images\n",
    "wrong_shape": SIGNATURE + "    return images[:, :, :8]\n",
    "out_of_budget": SIGNATURE + "    return (images + 2 * params['eps']).clamp(0, 1)\n",
    "raises": SIGNATURE + "    raise RuntimeError('not finished')\n",
    "too_slow": "import time\n\n\n" + SIGNATURE + "    time.sleep(10 ** 6)\n",
}


def write_class(folder: Path) -> None:
    """The made-up submissions as ``folder/<student>.py`` (an earlier leaderboard and its logs removed)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "model_answer.py").write_text(str(solution("04.4")) + "\n")
    for student, code in MADE_UP.items():
        (folder / f"{student}.py").write_text(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "challenge-bench")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds each submission may run")
    parser.add_argument("--record", type=Path, default=None, help="also write the figures, with commit and machine, here")
    args = parser.parse_args()
    machine = machine_info()
    print(f"measured {describe_machine(machine)}\n")
    write_class(args.out)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "idc_lite", "challenge", str(args.out), "--time-limit", str(args.time_limit)],
                          cwd=REPO, capture_output=True, text=True)
    wall = round(time.perf_counter() - t0, 1)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    board = json.loads((args.out / "leaderboard.json").read_text())
    print((args.out / "leaderboard.md").read_text())
    print(f"idc-lite challenge: {wall:.0f} s in all")
    if args.record:
        report = {"commit": repository_commit(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "machine": machine, "note": "", "time_limit": args.time_limit, "wall_seconds": wall,
                  "eps": board["eps"], "examples": board["examples"], "scoring_draws": board["scoring_draws"],
                  "scoring_secret": board["scoring_secret"], "rows": board["rows"]}
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(report, indent=1) + "\n")
        print(f"recorded in {args.record}")


if __name__ == "__main__":
    main()

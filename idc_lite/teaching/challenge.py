"""The class's attack challenge: each student's attack against the shipped IDC model on held-back test images,
scored by the kit with noise the attack never sees, and a leaderboard (``idc-lite challenge SUBMISSIONS``).

A submission is a Python file holding an attack with the kit's signature (the docs' contributing page)::

    def attack(model, images, labels, generator, params, start=None):   # -> adversarial images, same shape

``SUBMISSIONS/<student>.py`` or ``SUBMISSIONS/<student>/attack.py``; the function named ``attack``, else the
file's one public function.  Each runs in a process of its own with a time limit, given the shipped IDC model,
the images (B, C, H, W) in [0, 1], their labels, a generator for its own randomness and
``params = {"eps": ..., "norm": "Linf"}``.  The scorer checks the shape and the budget itself, then scores the
returned images under the kit's rule (one-draw accuracy averaged over draws) with a stream seeded from a secret
drawn for this run.  A submission that does not parse, raises, returns the wrong shape, leaves the budget or
runs too long gets a row that says so; the others go on.
"""
from __future__ import annotations

import html
import inspect
import multiprocessing
import os
import runpy
import secrets
import signal
import sys
import textwrap
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from idc_lite.comparisons import load_reference
from idc_lite.data.datasets import load_digits
from idc_lite.evaluation.scoring import score_under_rule
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.files import atomic_write_bytes, atomic_write_json
from idc_lite.foundation.streams import seeded
from idc_lite.foundation.uncertainty import estimate, format_estimate

EXAMPLES = 64              # the last images of the digits test split: no notebook's evaluation attacks them
ATTACKED_BY_NOTEBOOKS = 100   # notebook 04 attacks the first 100 test images (its num_examples): never these
SCORING_DRAWS = 5
LEADERBOARD = "leaderboard"  # .md, .html and .json in the submissions folder


@dataclass
class ChallengeRow:
    """One line of the leaderboard: ``accuracy`` (lower: a stronger attack) with its 95 % interval, or the
    reason the submission got no score in ``status``."""
    student: str
    status: str
    accuracy: dict | None = None
    seconds: float = 0.0
    largest_change: float | None = None


def held_back_examples(n: int = EXAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    """The challenge's images (n, C, H, W) in [0, 1] and labels (n,): the last ``n`` of the digits test split."""
    data = load_digits()
    most = len(data.y_test) - ATTACKED_BY_NOTEBOOKS
    if not 1 <= n <= most:
        raise InputError(f"examples must be between 1 and {most} (the test images notebook 04 does not attack), got {n}")
    return data.x_test[-n:], data.y_test[-n:]


def find_submissions(folder: Path) -> dict[str, Path]:
    """{student: file}: ``folder/<student>.py`` and ``folder/<student>/attack.py``, sorted by student."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of submissions (<student>.py or <student>/attack.py)")
    found = {p.stem: p for p in folder.glob("*.py")}
    in_folders = {p.parent.name: p for p in folder.glob("*/attack.py")}
    twice = sorted(set(found) & set(in_folders))
    if twice:
        raise InputError(f"{', '.join(twice)}: both <student>.py and <student>/attack.py; keep one of them")
    found.update(in_folders)
    if not found:
        raise InputError(f"no submission in {folder}: put each student's attack in <student>.py or <student>/attack.py")
    return dict(sorted(found.items()))


def _attack_function(path: Path):
    names = runpy.run_path(str(path), run_name="submission")
    functions = {k: v for k, v in names.items() if inspect.isfunction(v) and v.__module__ == "submission"
                 and not k.startswith("_")}
    if "attack" in functions:
        return functions["attack"]
    if len(functions) == 1:
        return next(iter(functions.values()))
    raise InputError(f"define one function named attack (found {sorted(functions) or 'no function'})")


def _run_in_child(path: str, eps: float, n: int, out: str, log: str) -> None:
    """In the submission's own process (and session): load the model and images, run the attack, save what it
    returned as a plain tensor, then exit at once (threads or pools the attack left behind do not keep it alive)."""
    if hasattr(os, "setsid"):
        os.setsid()                              # its own process group: a timeout stops whatever it started
    with open(log, "w") as handle:               # what the attack prints goes to its log, not the instructor's console
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
    torch.set_num_threads(1)
    try:
        attack = _attack_function(Path(path))
        x, labels = held_back_examples(n)
        model = load_reference("idc")
        adversarial = attack(model, x.clone(), labels.clone(), seeded(0, "challenge/attack"), {"eps": eps, "norm": "Linf"})
        if not isinstance(adversarial, torch.Tensor):
            raise TypeError(f"the attack returned {type(adversarial).__name__}, not a tensor of images")
        result = {"images": adversarial.detach().cpu().as_subclass(torch.Tensor).float().contiguous()}
    except BaseException as err:  # noqa: BLE001 - every failure of a student's code becomes its row
        last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
        where = f" (line {last[0].lineno})" if last and last[0].filename == path else ""
        result = {"error": f"{type(err).__name__}: {str(err)[:300]}{where}"}
    atomic_write_bytes(out, lambda handle: torch.save(result, handle))
    sys.stdout.flush()
    os._exit(0)


def _stop(process) -> None:
    """Stop a submission's process and everything it started (its process group, where there is one)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.join()


def run_submission(student: str, path: Path, eps: float, n: int, time_limit: float,
                   work: Path) -> tuple[torch.Tensor | None, str, float]:
    """(the returned images or None, what went wrong or "", seconds) for one submission, in a spawned process;
    what it printed is in ``work/<student>.log``."""
    out, log = work / f"{student}.result.pt", work / f"{student}.log"
    out.unlink(missing_ok=True)
    process = multiprocessing.get_context("spawn").Process(target=_run_in_child, args=(str(path), eps, n, str(out), str(log)))
    started = time.perf_counter()
    process.start()
    process.join(time_limit)
    seconds = time.perf_counter() - started
    if process.is_alive():
        _stop(process)
        process.close()
        return None, f"ran past the time limit of {time_limit:g} s and was stopped", seconds
    status = process.exitcode
    process.close()
    if not out.is_file():
        return None, f"its process died (exit status {status}) before returning images", seconds
    try:
        result = torch.load(out, weights_only=True)
        if "error" in result:
            return None, f"raised {result['error']}", seconds
        return result["images"], "", seconds
    except Exception as err:  # noqa: BLE001 - a result file the submission damaged is its own row
        return None, f"returned something the scorer cannot read ({type(err).__name__})", seconds


def write_submission(attack, path: str | Path) -> Path:
    """Write the function ``attack`` (its source, as the notebook shows it) to ``path`` as a submission file
    and load it back the way the scorer will; returns the path.  The function must import what it uses inside
    itself: the scorer runs it in a process that has none of the notebook's names."""
    if not inspect.isfunction(attack) or attack.__name__ == "<lambda>":
        raise InputError("write_submission takes the attack function itself, defined with def (not a lambda), got "
                         f"{getattr(attack, '__name__', type(attack).__name__)}")
    path = Path(path)
    header = "# An attack for idc-lite challenge: attack(model, images, labels, generator, params, start=None)\n\n"
    atomic_write_bytes(path, lambda handle: handle.write((header + textwrap.dedent(inspect.getsource(attack))).encode()))
    _attack_function(path)
    return path


def check_images(adversarial: torch.Tensor, x: torch.Tensor, eps: float) -> tuple[str, float | None]:
    """("" or why the images are refused, the largest change of a pixel)."""
    if adversarial.shape != x.shape:
        return f"wrong shape: returned {tuple(adversarial.shape)}, the images are {tuple(x.shape)}", None
    adversarial = adversarial.float()
    if not torch.isfinite(adversarial).all():
        return "returned NaN or infinite pixels", None
    change = float((adversarial - x).abs().max())
    if adversarial.min() < -1e-6 or adversarial.max() > 1 + 1e-6:
        return f"out of range: pixels from {adversarial.min():.3f} to {adversarial.max():.3f}, not in [0, 1]", change
    if change > eps + 1e-5:
        return f"out of budget: a pixel moved {255 * change:.1f}/255, the budget is {255 * eps:.1f}/255", change
    return "", change


def score(model, images: torch.Tensor, labels: torch.Tensor, secret: int) -> dict:
    """One-draw accuracy averaged over ``SCORING_DRAWS`` draws from a stream of ``secret``, with its interval."""
    scores = score_under_rule(model, images, labels, "one", seeded(secret, "challenge/scoring"), draws=SCORING_DRAWS)
    return estimate(scores, "bootstrap")


def kit_reference(eps: float, n: int = EXAMPLES, smoke: bool = False) -> ChallengeRow:
    """The reference line: the kit's own adaptive suite (notebook 04's cascade, gradients through the model
    itself, the transfer from the shipped CNN) on the same images, its worst case as its protocol scores it."""
    from idc_lite.evaluation import EvaluationSettings, adaptive_protocol

    settings = EvaluationSettings().smoke_sized() if smoke else EvaluationSettings()
    x, labels = held_back_examples(n)
    started = time.perf_counter()
    result = adaptive_protocol(load_reference("idc").eval(), x, labels, eps, settings.attack_settings("fp32", None),
                               seed=0, sources={"cnn": load_reference("cnn")})
    name = "the kit's adaptive suite, scored with its own draws" + (" (smoke sizes)" if smoke else "")
    return ChallengeRow(name, "reference", result["intervals"]["worst_case"], round(time.perf_counter() - started, 1))


def run_challenge(folder: Path, eps: float, n: int = EXAMPLES, time_limit: float = 600.0,
                  reference: list[ChallengeRow] | None = None, secret: int | None = None) -> list[ChallengeRow]:
    """Score every submission in ``folder`` and write the leaderboard there (``leaderboard.md``, ``.html``,
    ``.json``), again after each submission; ``reference``: rows of the kit's own attacks (:func:`kit_reference`);
    ``secret``: the scoring seed (default: a new secret; give a leaderboard's ``scoring_secret`` to score late
    submissions with the same draws)."""
    submissions = find_submissions(folder)
    x, labels = held_back_examples(n)
    model = load_reference("idc").eval()
    secret = secrets.randbits(62) if secret is None else secret
    work = Path(folder) / ".challenge"
    work.mkdir(exist_ok=True)
    rows = [ChallengeRow("(no attack: clean images)", "reference", score(model, x, labels, secret)), *(reference or [])]
    for student, path in submissions.items():
        print(f"=== {student}: {path.name}", flush=True)
        adversarial, error, seconds = run_submission(student, path, eps, n, time_limit, work)
        change, accuracy = None, None
        if adversarial is not None:
            error, change = check_images(adversarial, x, eps)
        if not error:
            try:
                accuracy = score(model, adversarial.float(), labels, secret)
            except Exception as err:  # noqa: BLE001 - whatever the images do to the scorer is the row's status
                error = f"could not be scored ({type(err).__name__}: {str(err)[:200]})"
        row = ChallengeRow(student, error or "scored", accuracy, round(seconds, 1), change)
        print(f"=== {student}: {row.status}" + (f", {format_estimate(row.accuracy)}" if row.accuracy else ""), flush=True)
        rows.append(row)
        write_leaderboard(Path(folder), rows, eps, n, secret)
    return rows


def _ranked(rows: list[ChallengeRow]) -> list[ChallengeRow]:
    scored = sorted((r for r in rows if r.accuracy), key=lambda r: r.accuracy["value"])
    return scored + [r for r in rows if not r.accuracy]


def leaderboard_markdown(rows: list[ChallengeRow], eps: float, n: int) -> str:
    lines = [f"# Attack challenge: IDC (the shipped digits model), L-inf {255 * eps:g}/255, {n} held-back test images", "",
             f"Accuracy under attack: one-draw accuracy averaged over {SCORING_DRAWS} noise draws the attacks never saw, "
             "% [95 % interval]; lower is a stronger attack.", "",
             "| rank | who | accuracy under attack | largest change (/255) | seconds | status |", "|---|---|---|---|---|---|"]
    rank = 0
    for row in _ranked(rows):
        rank += row.status == "scored"
        shown = str(rank) if row.status == "scored" else "–"
        change = f"{255 * row.largest_change:.1f}" if row.largest_change is not None else "–"
        accuracy = format_estimate(row.accuracy) if row.accuracy else "–"
        lines.append(f"| {shown} | {row.student} | {accuracy} | {change} | {row.seconds:g} | {row.status} |")
    return "\n".join(lines) + "\n"


def write_leaderboard(folder: Path, rows: list[ChallengeRow], eps: float, n: int, secret: int) -> None:
    markdown = leaderboard_markdown(rows, eps, n)
    atomic_write_bytes(folder / f"{LEADERBOARD}.md", lambda handle: handle.write(markdown.encode()))
    table = [line for line in markdown.splitlines() if line.startswith("|") and not line.startswith("|---")]
    cells = [[html.escape(c.strip()) for c in line.strip("|").split("|")] for line in table]
    body = "".join("<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{c}</{'th' if i == 0 else 'td'}>" for c in row) + "</tr>"
                   for i, row in enumerate(cells))
    title = html.escape(markdown.splitlines()[0].lstrip("# "))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
            f"<p>{html.escape(markdown.splitlines()[2])}</p><table border='1'>{body}</table></body></html>\n")
    atomic_write_bytes(folder / f"{LEADERBOARD}.html", lambda handle: handle.write(page.encode()))
    atomic_write_json({"eps": eps, "examples": n, "scoring_draws": SCORING_DRAWS, "scoring_secret": secret,
                       "rows": [asdict(r) for r in _ranked(rows)]}, folder / f"{LEADERBOARD}.json")

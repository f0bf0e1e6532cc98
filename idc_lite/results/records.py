"""The results pages, generated from the records of reference runs: never typed by hand.

A record is a run's ``summary.json`` reduced to its figures (``docs/records/<name>.json``, a few kB), with
the commit, machine and date it was measured at; the run's report (``summary.md``, the executed notebooks
and their HTML pages) is kept beside it (``docs/records/reports/<name>/``) and published with the docs.  A benchmark that
studies a recorded run writes its own record under ``docs/records/benchmarks/`` (``benchmarks/gradient_budget.py
--record ...``), rendered the same way.

    idc-lite results add runs/<run> --name digits [--commit SHA]    # store or replace a run's record
    idc-lite results render                                          # rewrite every generated block and figure
    idc-lite results check                                           # exit 1 when a block is stale

A generated block sits between ``<!-- generated: NAME -->`` and ``<!-- end generated -->`` in README.md and
the docs pages (:data:`TARGETS`); ``render`` rewrites what lies between, ``check`` compares.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from idc_lite.foundation.errors import InputError, RunFolderError
from idc_lite.foundation.files import atomic_write_json
from idc_lite.foundation.run_metrics import RunMetrics
from idc_lite.foundation.runtime import REPO, git
from idc_lite.foundation.uncertainty import format_difference, format_estimate, format_percent
from idc_lite.results.benchmark_blocks import BENCHMARK_BLOCKS, provenance
from idc_lite.results.chapters import portable_notebook
from idc_lite.results.sweep_records import add_sweep, load_sweeps, seeds_block, with_seed_claims

RECORDS_DIR = REPO / "docs" / "records"
REFERENCE = "digits"               # the record behind the README's headline table
TARGETS = {"README.md": ("headline",), "docs/results.md": ("results", "seeds"),
           "docs/instructors.md": ("timings", "lab-course", "challenge"),
           "docs/costs_and_sweeps.md": ("costs",), "docs/performance.md": ("wall-times",),
           "docs/evaluation.md": ("gradient-budget",)}
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
_PROTOCOL_KEYS = ("clean_accuracy", "clean_interval", "worst_case_accuracy", "worst_case_interval",
                  "worst_case_rescored", "worst_case_rescored_interval", "examples", "draws", "scoring_rule")


def compact_record(summary: dict, name: str, commit: str | None = None, note: str = "") -> dict:
    """The figures of a run's summary (dict of ``summary.json``) that the pages show; ``commit`` when
    the summary does not carry one (runs made before the summary recorded it); ``note``: what a reader
    must know about how it was measured (shown beside its provenance)."""
    commit = summary.get("commit") or commit
    if not commit:
        raise InputError(f"the run of record {name!r} does not say its commit: pass --commit")
    robustness = {model: {"cost": entry.get("cost"),
                          "protocols": {key: {k: p.get(k) for k in _PROTOCOL_KEYS} for key, p in entry["protocols"].items()}}
                  for model, entry in (summary.get("robustness") or {}).items()}
    efficiency = RunMetrics.from_dict(summary.get("metrics") or {}).efficiency
    return {"name": name, "commit": commit, "note": note, "created": summary.get("created"), "machine": summary.get("machine"),
            "preset": summary.get("preset"), "data": summary.get("data"), "seed": summary.get("seed"),
            "smoke": summary.get("smoke"), "complete": summary.get("complete"),
            "wall_seconds_total": summary.get("wall_seconds_total"),
            "wall_seconds_per_notebook": summary.get("wall_seconds_per_notebook"),
            "exercise_seconds": summary.get("exercise_seconds"),
            "clean_accuracy": summary.get("clean_accuracy"), "clean_accuracy_interval": summary.get("clean_accuracy_interval"),
            "clean_accuracy_protocol": summary.get("clean_accuracy_protocol"),
            "n_params": summary.get("n_params"), "flops_per_prediction": summary.get("flops_per_prediction"),
            "main_budget": {k: v for k, v in (summary.get("main_budget") or {}).items() if k != "choice"},
            "robustness": robustness, "comparisons": summary.get("comparisons") or [],
            "sanity_checks": summary.get("sanity_checks") or [],
            "claims": [{k: c.get(k) for k in ("claim", "text", "verdict", "evidence", "rule", "quoted", "values")}
                       for c in summary.get("claims") or []],
            "costs": efficiency.rows if efficiency else [],
            "report": [f"reports/{name}/summary.md", *(f"reports/{name}/{p}" for p in summary.get("html_pages") or [])]}


def add_run(run_dir: str | Path, name: str, commit: str | None = None, records_dir: Path = RECORDS_DIR,
            note: str = "", allow_failed: bool = False) -> Path:
    """Store ``run_dir``'s record as ``records_dir/<name>.json`` and its report beside it; returns the record's path."""
    run_dir = Path(run_dir)
    if not re.fullmatch(r"[a-z0-9_-]+", name or ""):
        raise InputError(f"a record name is lower-case letters, digits, '_' or '-', got {name!r}")
    if (run_dir / "sweep.json").is_file():
        return add_sweep(run_dir, name, records_dir, note, allow_failed)
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise RunFolderError(f"{run_dir} has no summary.json: give a run folder that `make reproduce` wrote")
    summary = json.loads(summary_path.read_text())
    if summary.get("smoke") or not summary.get("complete"):
        raise RunFolderError(f"{run_dir} is a smoke or incomplete run: its figures mean nothing")
    if summary.get("lab") or (summary.get("parameters") or {}).get("lab"):
        raise RunFolderError(f"{run_dir} ran at lab sizes: its figures are for a lab hour, not results")
    record = compact_record(summary, name, commit, note)
    known = commit_exists(record["commit"].removesuffix("+changes"))
    if known is False:
        raise InputError(f"commit {record['commit']!r} is not a commit of this repository")
    report = records_dir / "reports" / name
    shutil.rmtree(report, ignore_errors=True)
    (report / "html").mkdir(parents=True)
    (report / "notebooks").mkdir()
    data_root = _data_root(run_dir)
    for page in ["summary.md", *(summary.get("html_pages") or [])]:
        text = (run_dir / page).read_text(encoding="utf-8")
        (report / page).write_text(portable_paths(text, run_dir, data_root), encoding="utf-8")
    for image in re.findall(r"!\[[^\]]*\]\((figures/[^)\s]+)\)", (run_dir / "summary.md").read_text(encoding="utf-8")):
        (report / image).parent.mkdir(exist_ok=True)        # the summary's own figures, drawn from its run
        shutil.copy2(run_dir / image, report / image)
    for notebook in summary.get("executed_notebooks") or []:   # the book's chapters show their outputs
        text = portable_notebook(run_dir / notebook, lambda t: portable_paths(t, run_dir, data_root))
        (report / notebook).write_text(text, encoding="utf-8")
    return atomic_write_json(record, records_dir / f"{name}.json")


def _data_root(run_dir: Path) -> str | None:
    """Where the run read its data (the model record's ``data.root``), None for the bundled digits."""
    try:
        root = json.loads((run_dir / "model.json").read_text()).get("data", {}).get("root")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return root if isinstance(root, str) and root.startswith("/") else None


def portable_paths(text: str, run_dir: Path, data_root: str | None = None) -> str:
    """``text`` with the run folder's absolute path written as ``runs/<folder>`` and the data's location as
    ``$IDC_LITE_DATA`` (where ``make reproduce`` reads it): a published report names no path of the machine it
    ran on (the executed notebooks print their run folder and their data's record)."""
    replacements = {str(run_dir.absolute()): f"runs/{run_dir.name}", str(run_dir.resolve()): f"runs/{run_dir.name}"}
    if data_root:
        replacements[data_root] = "$IDC_LITE_DATA"
    for absolute in sorted(replacements, key=len, reverse=True):
        text = text.replace(absolute, replacements[absolute])
    return text


def commit_exists(commit: str, repo: Path = REPO) -> bool | None:
    """Whether ``commit`` is a commit of the checkout (None: not a git checkout, so it cannot be checked)."""
    if not (repo / ".git").exists():
        return None
    try:
        git("cat-file", "-e", f"{commit}^{{commit}}", repo=repo)
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(re.fullmatch(r"[0-9a-f]{40}", commit))


def load_records(records_dir: Path = RECORDS_DIR) -> dict[str, dict]:
    """{name: record}, the reference run first, then the others by name."""
    paths = sorted(Path(records_dir).glob("*.json"), key=lambda p: (p.stem != REFERENCE, p.stem))
    return {p.stem: json.loads(p.read_text()) for p in paths}


def load_benchmarks(records_dir: Path = RECORDS_DIR) -> dict[str, dict]:
    """The benchmarks' records (``records_dir/benchmarks/<name>.json``), by name."""
    return load_records(Path(records_dir) / "benchmarks")


# ---- the blocks ------------------------------------------------------------------------------------
def _est(interval: dict | None, value: float | None = None) -> str:
    """'98.1 % [96.9, 99.2]' (the pages' form: the n is given once per table)."""
    return format_estimate(interval, with_n=False) if interval else format_percent(value)


def _protocol_keys(r: dict) -> list[str]:
    """The protocols' columns: the adaptive one at the main budget first, then by protocol and budget."""
    keys = {k for entry in r["robustness"].values() for k in entry["protocols"]}
    main = (r.get("main_budget") or {}).get("eps_255")
    return sorted(keys, key=lambda k: (not k.startswith("adaptive"), k != f"adaptive@{main:g}" if main else True,
                                       float(k.split("@")[1]) if "@" in k else 0.0))


def _column(key: str) -> str:
    kind, _, eps = key.partition("@")
    return f"{'adaptive' if kind == 'adaptive' else 'paper protocol'}, {eps}/255"


def robustness_table(r: dict) -> list[str]:
    """Clean accuracy and the worst case of every protocol, per model (n in the caption)."""
    keys = _protocol_keys(r)
    lines = ["| model | clean | " + " | ".join(_column(k) for k in keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for model, entry in r["robustness"].items():
        protocols = entry["protocols"]
        first = protocols.get(keys[0]) or next(iter(protocols.values()))
        cells = [_est(first.get("clean_interval"), first.get("clean_accuracy"))]
        cells += [_est(protocols[k].get("worst_case_interval"), protocols[k].get("worst_case_accuracy")) if k in protocols
                  else "–" for k in keys]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def headline(records: dict[str, dict]) -> str:
    r = records.get(REFERENCE)
    if r is None:
        return "No reference run is recorded yet.\n"
    n = next(iter(next(iter(r["robustness"].values()))["protocols"].values()))["examples"]
    return "\n".join([f"The digits default, measured by `make reproduce` ({provenance(r)}; the whole chain in "
                      f"{r['wall_seconds_total'] / 60:.1f} minutes). Value [95 % interval]; robust accuracy is the worst "
                      f"case over each protocol's attacks on the first {n} test images, L∞:", "",
                      *robustness_table(r), ""])


def results(records: dict[str, dict], sweeps: dict[str, dict] | None = None) -> str:
    out = []
    for name, r in records.items():
        if name == REFERENCE:
            r = with_seed_claims(r, sweeps or {})
        budget = r.get("main_budget") or {}
        out += [f"## {name}: {r.get('data')}", "", f"Measured at {provenance(r)}. The whole chain took "
                f"{r['wall_seconds_total'] / 60:.1f} minutes; seed {r.get('seed')}.", "",
                f"<!-- record-age: {r['commit'].removesuffix('+changes')} -->", "",
                f"**Clean accuracy**: {_est(r.get('clean_accuracy_interval'), r.get('clean_accuracy'))} "
                f"({r.get('clean_accuracy_protocol')}).", ""]
        if budget:
            out += [f"**Main budget**: {budget.get('eps_255'):g}/255: {budget.get('reason')}.", ""]
        out += ["**Robust accuracy** (worst case over each protocol's attacks; {doc}`evaluation`):", "",
                *robustness_table(r), "", f"![accuracy against eps, {name}](records/figures/{name}-accuracy.png)", ""]
        if r.get("comparisons"):
            out += ["**Paired differences** on the same examples:", "", "| protocol | models | difference |", "|---|---|---|"]
            out += [f"| {c['protocol']} | {c['reference']} minus {c['other']} | {format_difference(c['difference'])} |"
                    for c in r["comparisons"]] + [""]
        if r.get("sanity_checks"):
            out += ["**Sanity checks**:", "", "| check | status | criterion |", "|---|---|---|"]
            out += [f"| {c['check']} | {c['status']} | {c['criterion']} |" for c in r["sanity_checks"]] + [""]
        if r.get("claims"):
            out += claims_section(r)
        # relative to docs/: the same link works in the repository and in the book, which copies records/ as is
        links = " · ".join(f'<a href="records/{p}">{Path(p).name}</a>' for p in r.get("report") or [])
        out += [f"The run's report and executed notebooks: {links}", ""]
    return "\n".join(out) if out else "No reference run is recorded yet.\n"


RECORD_AGE = re.compile(r"<!-- record-age: ([0-9a-f]{7,40}) -->")


def record_age(commit: str, repo: Path = REPO) -> str:
    """How far the checkout has moved since a record's commit, as a sentence: the book replaces each
    ``<!-- record-age: COMMIT -->`` of the results page with it when it is built (the page itself, checked
    against the records, stays the same at every commit)."""
    try:
        head = git("rev-parse", "--short=10", "HEAD", repo=repo)
        moved = int(git("rev-list", "--count", f"{commit}..HEAD", repo=repo))
        touching = int(git("rev-list", "--count", f"{commit}..HEAD", "--", "idc_lite", "notebooks", repo=repo))
    except (OSError, ValueError, subprocess.SubprocessError):
        return "*How far the code has moved since this record could not be measured (no git history here).*"
    if moved == 0:
        return f"*This book was built at the record's own commit (`{head}`).*"
    return (f"*This book was built at commit `{head}`, {moved} commit{'s' * (moved != 1)} after the record's; "
            f"{touching} of them change the package or the notebooks, so a run of this code may differ from the "
            "figures below until the record is made again.*")


def claims_section(r: dict) -> list[str]:
    """A record's claims: the verdict table, then per claim its rule, scope (data, budget, n, training seeds,
    measured or quoted), the failed sanity checks its evidence rests on, and what it means at CIFAR-10 scale."""
    from idc_lite.comparisons.claims import CIFAR_SCALE, ROBUSTNESS_CLAIMS
    from idc_lite.evaluation.check_record import failed_checks

    failed = failed_checks(r.get("sanity_checks"))
    budget = (r.get("main_budget") or {}).get("eps_255")
    out = ["**The paper's claims** against this run:", "", "| claim | verdict | evidence |", "|---|---|---|"]
    out += [f"| {c['claim']}: {c['text']} | {c['verdict']} | {c['evidence']} |" for c in r["claims"]] + [""]
    if any(c.get("values") for c in r["claims"]):
        out += [f"![the evidence behind each claim, {r['name']}](records/figures/{r['name']}-claims.png)", ""]
    for c in r["claims"]:
        if not c.get("rule"):       # a record made before the claims kept their rules
            continue
        scope = (f"{r.get('data')}; main budget {budget:g}/255 (L-inf); the n of each figure is in the evidence; each model "
                 f"trained once (seed {r.get('seed')}), so an interval holds evaluation noise only")
        if c.get("seeds_record"):
            scope = (f"{r.get('data')}; the budgets, n and training seeds are in the evidence (sweep record "
                     f"{c['seeds_record']}, below): a model trained with several seeds brings the spread of its trainings "
                     "into the interval, one trained once its evaluation noise only")
        out += [f"*{c['claim']}, {c['verdict']}.* Rule: {c['rule']}. Scope: {scope}."]
        if c.get("quoted"):
            out[-1] += f" Quoted, not measured here (no part of the verdict): {c['quoted']}."
        if c["claim"] in ROBUSTNESS_CLAIMS and failed and not c.get("seeds_record"):   # a sweep's evidence says its own
            out[-1] += (" Caveat: the evidence rests on an evaluation whose sanity checks "
                        f"{'; '.join(failed)} FAILED at the main budget, so the robust accuracies are upper bounds.")
        out += ["", f"At CIFAR-10 scale: {CIFAR_SCALE[c['claim']]}", ""]
    return out


def timings(records: dict[str, dict]) -> str:
    r = records.get(REFERENCE)
    if r is None:
        return "No reference run is recorded yet.\n"
    lines = [f"Measured at {provenance(r)}.", "", "| notebook | whole notebook | each exercise's solution and checks |",
             "|---|---|---|"]
    for notebook, seconds in (r.get("wall_seconds_per_notebook") or {}).items():
        ex = (r.get("exercise_seconds") or {}).get(notebook) or {}
        lines.append(f"| {notebook} | {seconds:.0f} s | " + ", ".join(f"{k}: {v:.2f} s" for k, v in ex.items()) + " |")
    return "\n".join(lines + [""])


def wall_times(records: dict[str, dict]) -> str:
    count = max([len(r.get("wall_seconds_per_notebook") or {}) for r in records.values()] + [1])
    lines = ["| record | machine | whole chain | " + " | ".join(f"{i:02d}" for i in range(1, count + 1)) + " |",
             "|---" * (count + 3) + "|"]
    for name, r in records.items():
        per = [f"{s:.0f} s" for s in (r.get("wall_seconds_per_notebook") or {}).values()]
        lines.append(f"| {name} | {provenance(r)} | {r['wall_seconds_total'] / 60:.1f} min | "
                     + " | ".join(per + ["–"] * (count - len(per))) + " |")
    return "\n".join(lines + [""])


def costs(records: dict[str, dict]) -> str:
    r = records.get(REFERENCE)
    if r is None or not r.get("costs"):
        return "No reference run with notebook 06 is recorded yet.\n"
    lines = [f"Seconds measured at {provenance(r)}.", "",
             "| method | parameters | network calls | GFLOP / prediction | seconds / prediction | seconds from |",
             "|---|---|---|---|---|---|"]
    for row in r["costs"]:
        seconds = "–" if row.get("seconds_per_prediction") is None else f"{row['seconds_per_prediction']:.3g}"
        lines.append(f"| {row['method']} | {row['parameters'] / 1e6:.2f} M | {row['network_calls']:,} | "
                     f"{row['flops_per_prediction'] / 1e9:,.2f} | {seconds} | {row.get('time_source') or '–'} |")
    return "\n".join(lines + [""])


BLOCKS = {"headline": headline, "timings": timings, "wall-times": wall_times, "costs": costs}
SWEEP_BLOCKS = {"seeds": seeds_block}                      # rendered from the sweeps' records


def render_text(text: str, records: dict[str, dict], benchmarks: dict[str, dict] | None = None,
                sweeps: dict[str, dict] | None = None) -> str:
    """``text`` with every generated block rewritten from ``records`` (and ``benchmarks``, ``sweeps``)."""
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name in BENCHMARK_BLOCKS:
            return match.group(1) + BENCHMARK_BLOCKS[name](benchmarks or {}) + match.group(4)
        if name in SWEEP_BLOCKS:
            return match.group(1) + SWEEP_BLOCKS[name](sweeps or {}) + match.group(4)
        if name == "results":
            return match.group(1) + results(records, sweeps) + match.group(4)
        if name not in BLOCKS:
            known = sorted([*BLOCKS, "results", *BENCHMARK_BLOCKS, *SWEEP_BLOCKS])
            raise InputError(f"unknown generated block {name!r}; known: {known}")
        return match.group(1) + BLOCKS[name](records) + match.group(4)
    return _BLOCK.sub(replace, text)


def stale_files(repo: Path = REPO, records: dict[str, dict] | None = None,
                benchmarks: dict[str, dict] | None = None, sweeps: dict[str, dict] | None = None) -> list[str]:
    """The files of :data:`TARGETS` whose generated blocks differ from what the records give."""
    records = load_records(repo / "docs" / "records") if records is None else records
    benchmarks = load_benchmarks(repo / "docs" / "records") if benchmarks is None else benchmarks
    sweeps = load_sweeps(repo / "docs" / "records") if sweeps is None else sweeps
    stale = []
    for rel, names in TARGETS.items():
        text = (repo / rel).read_text()
        found = [m.group("name") for m in _BLOCK.finditer(text)]
        if sorted(found) != sorted(names) or render_text(text, records, benchmarks, sweeps) != text:
            stale.append(rel)
    figures = repo / "docs" / "records" / "figures"
    shown = re.findall(r"records/figures/([\w.-]+\.png)", (repo / "docs" / "results.md").read_text())
    stale += [f"docs/records/figures/{m}" for m in shown if not (figures / m).is_file()]
    return stale


def render(repo: Path = REPO) -> list[str]:
    from idc_lite.results.record_figures import write_figures

    records, benchmarks = load_records(repo / "docs" / "records"), load_benchmarks(repo / "docs" / "records")
    sweeps = load_sweeps(repo / "docs" / "records")
    write_figures({name: with_seed_claims(r, sweeps) if name == REFERENCE else r for name, r in records.items()},
                  repo / "docs" / "records" / "figures")
    changed = []
    for rel in TARGETS:
        path = repo / rel
        text = path.read_text()
        new = render_text(text, records, benchmarks, sweeps)
        if new != text:
            path.write_text(new)
            changed.append(rel)
    return changed

"""Ablation sweeps as reproduction runs: the training and evaluation notebooks over a grid of parameters.

    idc-lite sweep GRID.json [--out runs/NAME] [--smoke] [--seed 0]     (make sweep GRID=file)

A grid file (JSON) names the notebooks, the parameters every point shares (``base``) and what varies::

    {"name": "digits-ablations", "notebooks": ["02_train_classifier", "04_attack"],
     "base": {"preset": "digits", "epochs": 20, "num_examples": 64},
     "vary": {"num_timesteps": [2, 8], "cls_loss_weight": [0.0]},
     "mode": "one_at_a_time"}

``one_at_a_time`` (default) runs the base point and then changes one parameter at a time (the paper's
ablations); ``product`` runs every combination.  Each point is a run folder of its own under
``OUT/points/``, run by :func:`idc_lite.runs.reproduce.run` (so each has its own summary.md); a point that fails
is reported as failed and the others still run.  Every point's parameters are checked against the notebooks
before anything runs.  The sweep then writes ``OUT/sweep.json``, ``OUT/sweep.md`` (one table, with the
protocol columns of the main report and each figure's noise) and ``OUT/sweep.png``.

Optional keys, for claims that need several training seeds (``sweeps/digits_seeds.json``):

* ``points``: named points beside the varied ones, ``{"unpruned, T = 10": {"model_channels": 64, ...}}``; a
  point may list its own ``notebooks`` (then only the base parameters those notebooks take reach it);
* ``seeds``: training seeds, and ``replicate``: the points run once per seed (default: all of them), each
  run named ``'<point>, seed=<s>'``; the others run once with the sweep's ``seed``;
* ``claims``: ``{"C4": {"reference": point, "other": point}, "C5": ...}``, judged from the seeds by
  :mod:`idc_lite.comparisons.replicate_claims` (a bootstrap over seeds and examples).

``--tabulate`` rebuilds a finished sweep's table with the checkout's code; ``--rerun-unfinished`` first runs
again the runs that did not finish (each rerun's row names the commit it ran at).
"""
from __future__ import annotations

import itertools
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from idc_lite.comparisons.claims import UNDEFENDED_CHECK
from idc_lite.evaluation.check_record import failed_checks
from idc_lite.foundation.cluster import TaskOutcome, check_cluster_options, run_tasks
from idc_lite.foundation.errors import GridError, KitError
from idc_lite.foundation.files import atomic_write_bytes, atomic_write_json
from idc_lite.foundation.run_metrics import read_metrics
from idc_lite.foundation.runtime import repository_commit
from idc_lite.foundation.uncertainty import estimate, format_difference, format_estimate, paired_difference, rate_estimate
from idc_lite.runs.folders import NOTEBOOKS
from idc_lite.runs.replicates import replicates_markdown
from idc_lite.runs.reproduce import check_run_parameters, declared_parameters

GRID_KEYS = {"name", "description", "notebooks", "base", "vary", "mode", "seed", "seeds", "replicate", "points", "claims"}


def load_grid(path: str | Path) -> dict:
    """Read and check a grid file (see the module docstring); returns it with defaults filled in."""
    path = Path(path)
    try:
        grid = json.loads(path.read_text())
    except FileNotFoundError:
        raise GridError(f"no grid file at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GridError(f"{path} is not a readable JSON grid: {err}") from None
    if not isinstance(grid, dict):
        raise GridError(f"{path}: a grid is a JSON object, got {type(grid).__name__}")
    unknown = set(grid) - GRID_KEYS
    if unknown:
        raise GridError(f"{path}: unknown key(s) {sorted(unknown)}; a grid has {sorted(GRID_KEYS)}")
    grid = {"name": path.stem, "description": "", "notebooks": ["02_train_classifier", "04_attack"], "base": {},
            "vary": {}, "mode": "one_at_a_time", **grid}
    if grid["mode"] not in ("one_at_a_time", "product"):
        raise GridError(f"{path}: mode must be 'one_at_a_time' or 'product', got {grid['mode']!r}")
    if not isinstance(grid["base"], dict) or not isinstance(grid["vary"], dict):
        raise GridError(f"{path}: 'base' must be an object of parameters and 'vary' an object of lists")
    for name, values in grid["vary"].items():
        if not isinstance(values, list) or not values:
            raise GridError(f"{path}: vary[{name!r}] must be a non-empty list of values, got {values!r}")
    for name in ("run_dir", "smoke", "seed"):
        if name in grid["base"] or name in grid["vary"]:
            raise GridError(f"{path}: {name!r} is set by the sweep itself (--seed, --smoke; each point's own run folder)")
    grid["notebooks"] = [str(nb) for nb in grid["notebooks"]]
    check_replicates(grid, path)
    return grid


def _names(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def check_replicates(grid: dict, path: Path) -> None:
    """The optional keys of a grid with training seeds and named points (see the module docstring)."""
    points = grid.setdefault("points", {})
    if not isinstance(points, dict) or not all(isinstance(p, dict) for p in points.values()):
        raise GridError(f"{path}: 'points' must be an object of named points, each an object of parameters")
    if "notebooks" in grid["base"] or "notebooks" in grid["vary"]:
        raise GridError(f"{path}: 'notebooks' is the grid's own key, or a named point's; not a parameter of base or vary")
    for name, point in points.items():
        if "notebooks" in point and (not _names(point["notebooks"]) or not point["notebooks"]):
            raise GridError(f"{path}: points[{name!r}]['notebooks'] must be a non-empty list of notebook names")
        if {"run_dir", "smoke", "seed"} & set(point):
            raise GridError(f"{path}: points[{name!r}] sets what the sweep sets itself (run_dir, smoke, seed)")
    seeds = grid.setdefault("seeds", [])
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise GridError(f"{path}: 'seeds' must be a list of distinct whole numbers >= 0 (training seeds), got {seeds!r}")
    names = [name for name, _ in grid_points(grid)]
    if len(set(names)) != len(names):
        raise GridError(f"{path}: two points share a name: {sorted({n for n in names if names.count(n) > 1})}")
    replicate = grid.setdefault("replicate", names if seeds else [])
    if not _names(replicate):
        raise GridError(f"{path}: 'replicate' must be a list of point names, got {replicate!r}")
    if replicate and not seeds:
        raise GridError(f"{path}: 'replicate' names points to train with several seeds, but the grid has no 'seeds'")
    unknown = [r for r in replicate if r not in names]
    if unknown:
        raise GridError(f"{path}: 'replicate' must list points of the grid; unknown: {unknown!r} (points: {names})")
    runs = [f"{n}, seed={s}" for n in replicate for s in seeds] + [n for n in names if n not in replicate]
    if len(set(runs)) != len(runs):
        raise GridError(f"{path}: a point's name is the name of another point's seed run: {sorted(set(names) & set(runs))}")
    _check_claims(grid.setdefault("claims", {}), names, path)


def _check_claims(claims, names: list[str], path: Path) -> None:
    from idc_lite.comparisons.replicate_claims import REPLICATE_CLAIMS

    for cid, pair in claims.items() if isinstance(claims, dict) else [(None, claims)]:
        if cid not in REPLICATE_CLAIMS or not isinstance(pair, dict) or set(pair) != {"reference", "other"} \
                or not _names([pair["reference"], pair["other"]]) or not {pair["reference"], pair["other"]} <= set(names):
            raise GridError(f"{path}: 'claims' maps {sorted(REPLICATE_CLAIMS)} to {{'reference': point, 'other': point}} "
                            f"with points of the grid {names}; got {cid!r}: {pair!r}")


def notebook_files(names: list[str], folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks a grid names (stems such as '04_attack'), in the order of the chain."""
    paths = []
    for name in names:
        path = folder / (name if name.endswith(".ipynb") else f"{name}.ipynb")
        if not path.is_file():
            known = sorted(p.stem for p in folder.glob("[0-9][0-9]_*.ipynb"))
            raise GridError(f"unknown notebook {name!r}; the kit's notebooks are {known}")
        paths.append(path)
    return sorted(paths, key=lambda p: p.name)


def grid_points(grid: dict) -> list[tuple[str, dict]]:
    """[(point name, its parameters)]: ``base`` first, then one change at a time (or every combination)."""
    base, vary = grid["base"], grid["vary"]
    named = [(name, {**base, **point}) for name, point in grid.get("points", {}).items()]
    if grid["mode"] == "product" and vary:
        names = list(vary)
        return [(", ".join(f"{n}={v}" for n, v in zip(names, combo)), {**base, **dict(zip(names, combo))})
                for combo in itertools.product(*(vary[n] for n in names))] + named
    points = [("base", dict(base))]
    for name, values in vary.items():
        points += [(f"{name}={value}", {**base, name: value}) for value in values if base.get(name) != value]
    return points + named


def sweep_runs(grid: dict) -> list[dict]:
    """Every run of the grid: ``{"run", "point", "seed", "parameters", "notebooks"}``, a replicated point once per
    training seed (``'base, seed=1'``), any other once with the sweep's seed.  A named point that lists its own
    notebooks keeps only the base parameters those notebooks declare."""
    sweep_seed = int(grid.get("seed", 0))
    runs = []
    for name, parameters in grid_points(grid):
        parameters = dict(parameters)
        names = parameters.pop("notebooks", None)
        notebooks = notebook_files(names or grid["notebooks"])
        if names:
            declared = set().union(*declared_parameters(notebooks).values())
            own = grid["points"][name]
            parameters = {k: v for k, v in parameters.items() if k in declared or k in own}
        seeds = grid["seeds"] if name in grid["replicate"] else [sweep_seed]
        runs += [{"run": f"{name}, seed={s}" if name in grid["replicate"] else name, "point": name, "seed": s,
                  "parameters": parameters, "notebooks": notebooks} for s in seeds]
    return runs


def folder_name(point: str) -> str:
    """A point's run folder: its name with anything but letters, digits, '.', '-' and '=' replaced by '_'."""
    return "".join(c if c.isalnum() or c in ".-=" else "_" for c in point) or "point"


# ---- the table ------------------------------------------------------------------------------------
def point_row(name: str, parameters: dict, run: Path, status: dict) -> dict:
    """One row of the sweep's table from a point's run folder: clean accuracy, the paper and adaptive
    protocols' worst cases, each with its 95 % interval (idc_lite.foundation.uncertainty), cost, wall time."""
    row = {"point": name, "parameters": parameters, "status": status["status"], "error": status.get("error"),
           "seconds": status.get("seconds"), "run": str(run), **({"rerun": status["rerun"]} if status.get("rerun") else {})}
    metrics = read_metrics(run)
    trained, attacked = metrics.training, metrics.attack
    if trained:
        n = trained.test_examples or 0
        clean = trained.test_accuracy
        interval = trained.accuracy_over_draws.get("interval")
        row.update(clean_accuracy=clean, clean_examples=n, n_params=trained.n_params,
                   flops_per_prediction=trained.flops_per_prediction,
                   clean_per_example=trained.accuracy_over_draws.get("per_example"),
                   clean_interval=interval or (rate_estimate(clean, n) if clean is not None and n else None))
    if attacked:
        adaptive = attacked.adaptive_protocol
        eps_255, paper_255 = round(255 * attacked.eps, 1), round(255 * attacked.paper_eps, 1)
        per_example = adaptive["worst_case_per_example"]
        row.update(eps_255=eps_255, examples=adaptive["examples"], draws=adaptive["draws"],
                   adaptive_worst_case=adaptive["worst_case_accuracy"], adaptive_per_example=per_example,
                   adaptive_interval=estimate(per_example, "bootstrap") if per_example else None,
                   adaptive_rescored=adaptive.get("worst_case_rescored"),
                   paper_worst_case={key: p["worst_case_and_clean"] for key, p in attacked.paper_protocol.items()},
                   paper_intervals={key: (p.get("intervals") or {}).get("worst_case_and_clean")
                                    for key, p in attacked.paper_protocol.items()},
                   paper_eps_255=paper_255)
        secondary = attacked.adaptive_protocol_secondary
        if secondary and attacked.secondary_eps:
            row.update(secondary_eps_255=round(255 * attacked.secondary_eps, 1),
                       secondary_per_example=secondary["worst_case_per_example"])
        check = attacked.sanity_check(UNDEFENDED_CHECK)
        row["undefended_check"] = None if check is None else check["status"]
        row["failed_checks"] = failed_checks(attacked.sanity_checks)
    return row


def _difference(row: dict, base: dict) -> dict | None:
    """The adaptive worst case's change from the base point on the same examples, with a paired
    bootstrap interval; beyond the noise when that interval leaves out 0."""
    a, b = row.get("adaptive_per_example"), base.get("adaptive_per_example")
    if row is base or not a or not b or len(a) != len(b):
        return None
    d = paired_difference(a, b)
    return {"change": d["difference"], "interval": d, "beyond_noise": d["excludes_zero"]}


def _pct(v) -> str:
    return "" if v is None else f"{100 * v:.1f} %"


def sweep_markdown(sweep: dict) -> str:
    rows = sweep["points"]
    paper_keys = sorted({k for r in rows for k in (r.get("paper_worst_case") or {})}, key=lambda k: float(k.split("@")[1]))
    lines = [f"# Sweep {sweep['name']}", "", *([sweep["description"], ""] if sweep.get("description") else []),
             f"- grid: `{sweep['grid_file']}` ({sweep['mode']}); notebooks: {', '.join(sweep['notebooks'])}; seed {sweep['seed']}"
             + (f"; training seeds {', '.join(map(str, sweep['seeds']))} for {', '.join(sweep['replicate'])}"
                if sweep.get("seeds") else "")
             + ("  **SMOKE RUN: numbers are not meaningful**" if sweep["smoke"] else ""),
             f"- base parameters: `{json.dumps(sweep['base'])}`",
             f"- {sum(r['status'] == 'finished' for r in rows)} of {len(rows)} points finished; wall time "
             f"{sweep['wall_seconds']:.0f} s" + (f", measured {sweep['machine_line']}" if sweep.get("machine_line") else ""), "",
             "Every accuracy with its 95 % interval [low, high] and n (idc_lite.foundation.uncertainty). Clean: mean of the "
             "sampler draws on the test images of notebook 02 (bootstrap over images). Paper protocol: the authors' "
             "wrapper and attacks, clean and adversarial both right, worst case over their attacks (bootstrap). "
             "Adaptive protocol: the per-example worst case over notebook 04's adaptive attacks, one-draw accuracy "
             "averaged over the scoring draws (bootstrap). Change from base: on the same examples, with a paired "
             "bootstrap interval; 'beyond noise' when that interval leaves out 0.", "",
             "| point | status | clean | " + " | ".join(f"{k} worst case" for k in paper_keys)
             + " | adaptive worst case | change from base | beyond noise | MFLOPs / prediction | seconds |",
             "|---|---|---|" + "---|" * len(paper_keys) + "---|---|---|---|---|"]
    for r in rows:
        clean = format_estimate(r.get("clean_interval")) if r.get("clean_interval") else _pct(r.get("clean_accuracy"))
        adaptive = ((format_estimate(r["adaptive_interval"]) if r.get("adaptive_interval")
                     else _pct(r.get("adaptive_worst_case")))
                    + (f" (@{r['eps_255']:g}/255)" if r.get("eps_255") is not None else ""))
        diff = r.get("difference")
        status = r["status"] if r["status"] == "finished" else f"**{r['status']}**: {(r.get('error') or '')[:160]}"
        change = "" if diff is None else format_difference(diff["interval"])
        beyond = "" if diff is None else ("yes" if diff["beyond_noise"] else "no")
        flops = "" if r.get("flops_per_prediction") is None else f"{r['flops_per_prediction'] / 1e6:.1f}"
        seconds = "" if r.get("seconds") is None else f"{r['seconds']:.0f}"
        paper = " | ".join(format_estimate(iv) if (iv := (r.get("paper_intervals") or {}).get(k))
                           else _pct((r.get("paper_worst_case") or {}).get(k)) for k in paper_keys)
        lines.append(f"| {r['point']} | {status} | {clean} | " + (paper + " | " if paper_keys else "")
                     + f"{adaptive} | {change} | {beyond} | {flops} | {seconds} |")
    beyond = [r["point"] for r in rows if (r.get("difference") or {}).get("beyond_noise")]
    lines += ["", *replicates_markdown(sweep)] if sweep.get("replicates") else []
    lines += ["", "Changes the adaptive robust accuracy beyond the noise of the evaluation: "
              + (", ".join(beyond) if beyond else "none of the points") + ".", "",
              "Each point's own report: `points/<point>/summary.md`.", ""]
    return "\n".join(lines)


def sweep_figure(sweep: dict):
    """Clean and adaptive robust accuracy per finished point, with their 95 % intervals as bars."""
    from matplotlib.figure import Figure

    rows = [r for r in sweep["points"] if r.get("clean_accuracy") is not None]
    fig = Figure(figsize=(max(5.0, 0.9 * len(rows) + 2), 3.8), layout="constrained")
    ax = fig.subplots()
    xs = range(len(rows))
    for offset, key, label in ((-0.15, "clean", "clean"), (0.15, "adaptive", "adaptive worst case")):
        pts = [(x + offset, r[f"{key}_interval"]) for x, r in zip(xs, rows) if r.get(f"{key}_interval")]
        if pts:
            values = [100 * e["value"] for _, e in pts]
            ax.errorbar([p for p, _ in pts], values, fmt="o", capsize=3, label=label,
                        yerr=[[v - 100 * e["low"] for v, (_, e) in zip(values, pts)],
                              [100 * e["high"] - v for v, (_, e) in zip(values, pts)]])
    ax.set_xticks(list(xs), [r["point"] for r in rows], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(f"sweep {sweep['name']} (95 % intervals)", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def write_sweep(out: Path, sweep: dict) -> None:
    atomic_write_json(sweep, out / "sweep.json")
    text = sweep_markdown(sweep)
    atomic_write_bytes(out / "sweep.md", lambda h: h.write(text.encode()))
    figure = sweep_figure(sweep)
    atomic_write_bytes(out / "sweep.png", lambda h: figure.savefig(h, format="png", dpi=120))


# ---- running ----------------------------------------------------------------------------------------
def check_runs(grid: dict, runs: list[dict], smoke: bool) -> None:
    """Every run's parameters against its notebooks, and a fixed main budget for a point attacked with
    several seeds; raises GridError before anything runs."""
    for run in runs:
        try:
            check_run_parameters(run["notebooks"], {"smoke": smoke, "seed": run["seed"], **run["parameters"]})
        except KitError as err:
            raise GridError(f"point {run['run']!r}: {err} (nothing was run)") from None
        attacked = any(nb.stem == "04_attack" for nb in run["notebooks"])
        if run["point"] in grid["replicate"] and attacked and not float(run["parameters"].get("eps_255", 0)) > 0:
            raise GridError(f"point {run['run']!r}: a point attacked with several seeds needs the main budget fixed "
                            "(eps_255 > 0 in base or the point): notebook 04 would choose one per seed (nothing was run)")


def run_sweep(grid_file: str | Path, out: Path, smoke: bool = False, seed: int | None = None,
              run_point=None, workers: int = 1, scheduler: str | None = None) -> dict:
    """Run every point of the grid into ``out/points/<point>/``, then write the sweep's table and plot.
    ``run_point(run_dir, smoke, seed, parameters, notebooks)`` defaults to :func:`idc_lite.runs.reproduce.run`
    (tests pass a stand-in).  ``workers`` / ``scheduler``: the points as tasks on a Dask cluster
    (:func:`idc_lite.foundation.cluster.run_tasks`; 1 and None run them here, one after the other); the table is the same.
    Raises GridError before running anything when a point's parameters are wrong."""
    from idc_lite.foundation.machine import describe_machine, machine_info
    from idc_lite.runs.reproduce import run as run_notebooks

    check_cluster_options(workers, scheduler)
    grid = load_grid(grid_file)
    notebook_files(grid["notebooks"])          # an unknown notebook stops the sweep here
    if seed is not None:
        grid["seed"] = seed
    seed = int(grid.get("seed", 0))
    runs = sweep_runs(grid)
    check_runs(grid, runs, smoke)
    run_point = run_point or run_notebooks
    machine, commit = machine_info(), repository_commit()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    names = [run["run"] for run in runs]
    folders = [out / "points" / folder_name(name) for name in names]

    def announce(i: int, name: str) -> None:
        print(f"=== point {i + 1}/{len(runs)}: {name}", flush=True)

    def report(outcome: TaskOutcome) -> None:
        if outcome.status != "finished":
            print(f"=== point {outcome.name} failed: {(outcome.error or '')[:300]}", flush=True)

    outcomes = run_tasks(run_point, [(folder, smoke, run["seed"], run["parameters"], run["notebooks"])
                                     for folder, run in zip(folders, runs)],
                         names, workers=workers, scheduler=scheduler, on_start=announce, on_outcome=report)
    statuses = [{"status": o.status, **({"error": o.error} if o.error else {}), "seconds": o.seconds} for o in outcomes]
    header = {"smoke": smoke, "seed": seed, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "commit": commit, "wall_seconds": round(time.perf_counter() - started, 1), "machine": machine,
              "machine_line": describe_machine(machine)}
    return tabulate(grid, grid_file, out, runs, folders, statuses, header)


def tabulate(grid: dict, grid_file, out: Path, runs: list[dict], folders: list[Path], statuses: list[dict],
             header: dict) -> dict:
    """The sweep's table from its runs' folders (each run's ``status``, ``error``, ``seconds`` in ``statuses``;
    ``header``: smoke, seed, created, commit, wall_seconds, machine, machine_line), written to ``out``."""
    rows = [point_row(run["run"], run["parameters"], folder, status)
            | {"group": run["point"], "seed": run["seed"], "notebooks": [nb.stem for nb in run["notebooks"]]}
            for run, folder, status in zip(runs, folders, statuses)]
    for row in rows:
        base = _base_row(rows, row) if grid["mode"] == "one_at_a_time" else None
        row["difference"] = _difference(row, base) if base is not None and base["status"] == "finished" else None
    sweep = {"name": grid["name"], "description": grid["description"], "grid_file": str(grid_file), "mode": grid["mode"],
             "notebooks": [nb.stem for nb in notebook_files(grid["notebooks"])], "base": grid["base"], "vary": grid["vary"],
             "points_named": grid["points"],
             "seeds": grid["seeds"], "replicate": grid["replicate"], **header, "points": rows}
    write_sweep(out, sweep)             # written first: the runs' table survives whatever follows
    if grid["seeds"] or grid["claims"]:
        from idc_lite.runs.replicates import add_replicates

        add_replicates(sweep, grid["claims"], folders)
        write_sweep(out, sweep)
    return sweep


def _base_row(rows: list[dict], row: dict) -> dict | None:
    """The base point's run a row is compared with: the one with the same training seed, else the first."""
    bases = [r for r in rows if r["group"] == "base"]
    return next((r for r in bases if r["seed"] == row["seed"]), bases[0] if bases else None)

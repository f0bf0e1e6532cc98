"""``summary.md`` and ``summary.json`` of a run folder: what the notebooks measured, with the
protocol, n and interval of every figure, the claims table and the costs."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from idc_lite.comparisons.claims import assess_claims, claims_markdown
from idc_lite.evaluation.protocol import idc_protocols
from idc_lite.foundation.errors import RunFolderError
from idc_lite.foundation.files import atomic_write_bytes, atomic_write_json, library_versions, read_notebook
from idc_lite.foundation.machine import describe_machine
from idc_lite.foundation.run_metrics import AttackMetrics, EfficiencyMetrics, RunMetrics, TrainingMetrics, read_metrics
from idc_lite.foundation.runtime import repository_commit
from idc_lite.foundation.uncertainty import estimate, format_difference, format_estimate, format_percent
from idc_lite.runs.folders import notebook_paths


def exercise_seconds(executed: list[Path]) -> dict[str, dict[str, float]]:
    """Seconds per exercise of each executed notebook: the papermill durations of the cells whose
    nbgrader ``grade_id`` starts with ``exNN_M`` (answer, grading and question cells together)."""
    out: dict[str, dict[str, float]] = {}
    for path in executed:
        if not path.is_file():
            continue
        per = out.setdefault(path.stem, {})
        for cell in read_notebook(path).cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            match = re.match(r"ex(\d\d)_(\d+)_", grade_id)
            if match:
                key = f"{match[1]}.{match[2]}"
                duration = cell.metadata.get("papermill", {}).get("duration") or 0.0
                per[key] = round(per.get(key, 0.0) + duration, 2)
    return out


EXAMPLES_NOTE = ("torch.load(path, weights_only=True) gives {'x': (N, C, H, W) float32 in [0, 1], 'labels': (N,) int64}; "
                 "or idc_lite.evaluation.examples.load_examples(path)")


def protocol_summary(result: dict, eps: float) -> dict:
    """One model under one protocol, for summary.json: accuracies and every setting that made them."""
    paper = result.get("protocol") == "paper"
    return {
        "protocol": result.get("protocol"), "eps": eps, "norm": "Linf",
        "clean_accuracy": result["clean_accuracy"],
        "robust_accuracy": {a["name"]: (a["clean_and_adversarial_correct"] if paper else a["robust_accuracy"])
                            for a in result["attacks"]},
        "worst_case_accuracy": result["worst_case_and_clean"] if paper else result["worst_case_accuracy"],
        "worst_case_rescored": None if paper else result.get("worst_case_rescored"),
        "counting": ("robust = clean and adversarial prediction both right (the authors' count)" if paper
                     else "accuracy on adversarial examples; per-example minimum over attacks for the worst case"),
        **_protocol_intervals(result, paper),
        "scoring_rule": result["scoring_rule"], "draws": result["draws"], "examples": result["examples"],
        "seed": result["seed"],
        "attacks": {a["name"]: {**{k: a["settings"].get(k) for k in ("eps", "norm", "steps", "alpha", "restarts",
                                                                     "eot_samples", "loss")},
                                "kind": a["kind"], "target": a["target"], "source": a.get("source"),
                                "start_from": a.get("start_from"), "attack_seed": a["attack_seed"],
                                "scoring_seed": a["scoring_seed"], "seconds": a["seconds"]}
                    for a in result["attacks"]},
    }


def _protocol_intervals(result: dict, paper: bool) -> dict:
    """The 95 % intervals of one protocol's figures, as idc_lite.evaluation.protocol computed them; metrics
    written before it did get them here from the per-example scores, by the same rule."""
    method = "wilson" if result["draws"] == 1 or result["scoring_rule"] != "one" else "bootstrap"
    clean, worst = result["clean_per_example"], result["worst_case_per_example"]
    intervals = result.get("intervals") or {
        "clean": estimate(clean, method), "worst_case": estimate(worst, "bootstrap"),
        "worst_case_and_clean": estimate([w * c for w, c in zip(worst, clean)], "bootstrap")}

    def attack_interval(a: dict) -> dict:
        if paper:
            return a.get("clean_and_adversarial_interval") or estimate(
                [s * c for s, c in zip(a["per_example"], clean)], method)
        return a.get("interval") or estimate(a["per_example"], method)

    return {"clean_interval": intervals["clean"],
            "worst_case_interval": intervals["worst_case_and_clean" if paper else "worst_case"],
            "worst_case_rescored_interval": None if paper else intervals.get("worst_case_rescored"),
            "robust_accuracy_intervals": {a["name"]: attack_interval(a) for a in result["attacks"]}}


def robustness_summary(metrics: RunMetrics) -> dict:
    """{model: {protocol@eps: protocol_summary}} from notebooks 04, 05 and 07 (empty if they did not run)."""
    evaluation, baselines = metrics.attack, metrics.baselines
    out = {}
    models = dict(baselines.models) if baselines else {}
    if evaluation and "IDC" not in models:
        models["IDC"] = {"protocols": idc_protocols(evaluation)}
    files = dict(baselines.files) if baselines else {}
    if metrics.defences:   # notebook 07's diffusion defences, on the first of the same examples
        costs = {r["method"]: r for r in metrics.defences.costs}
        for name, d in metrics.defences.defences.items():
            row = costs.get(name)
            models[name] = {"protocols": d["protocols"], "cost": row and {
                "parameters": row["parameters"], "flops_per_prediction": row["flops_per_prediction"],
                "seconds_per_image": row["seconds_per_prediction"]}}
            files[name] = d["build"]["file"]
    for name, entry in models.items():
        per = {}
        for key, result in entry["protocols"].items():
            eps = result["attacks"][0]["settings"]["eps"] if result["attacks"] else evaluation.eps
            label = key if key.startswith("paper") else f"adaptive@{round(255 * eps)}"
            per[label] = protocol_summary(result, eps)
        out[name] = {"protocols": per, "cost": entry.get("cost"), "file": files.get(name)}
    return out


def main_budget_summary(evaluation: AttackMetrics | None) -> dict | None:
    """The main attack budget and why: chosen by notebook 04 from its grid, or set by a parameter."""
    if not evaluation:
        return None
    choice = evaluation.budget_choice
    return {"eps_255": round(255 * evaluation.eps, 1),
            "secondary_eps_255": round(255 * evaluation.secondary_eps, 1) if evaluation.secondary_eps else None,
            "chosen": choice is not None,
            "reason": choice["reason"] if choice else "set by notebook 04's eps_255 parameter", "choice": choice}


def build_summary(out: Path, smoke: bool, seed: int, extra: dict, timings: dict, total: float,
                  executed: list[Path], expected: list[str] | None = None, stopped: dict | None = None,
                  machine: dict | None = None) -> dict:
    """summary.json's content.  ``expected``: the notebooks the run meant to execute (default: those
    in ``timings``); the run is complete when every one of them finished (has a time).  ``machine``:
    :func:`~idc_lite.foundation.machine.machine_info` of the machine the timings come from (None: unknown)."""
    metrics = read_metrics(out)
    training, evaluation = metrics.training or TrainingMetrics(), metrics.attack
    expected = list(timings) if expected is None else expected
    missing = [nb for nb in expected if nb not in timings]
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "complete": not missing and stopped is None,
        "finished_notebooks": [nb for nb in expected if nb in timings],
        "unfinished_notebooks": missing,
        "stopped": stopped,
        "smoke": smoke,
        "lab": bool(extra.get("lab")) or bool(evaluation and evaluation.settings.lab),   # a lab hour, not results
        "seed": seed,
        "parameters": extra,
        "preset": training.preset or None,
        "data": training.data or None,
        "clean_accuracy": training.test_accuracy,
        "clean_accuracy_protocol": training.accuracy_protocol or None,
        "clean_accuracy_over_draws": training.accuracy_over_draws or None,
        "clean_accuracy_interval": training.accuracy_over_draws.get("interval"),
        "n_params": training.n_params,
        "flops_per_prediction": training.flops_per_prediction,
        "flops_per_network_call": training.flops_per_network_call,
        "network_calls_per_prediction": training.network_calls_per_prediction,
        "paths_are_relative_to": "the folder of this summary",
        "model": training.checkpoint if metrics.training else None,
        "evaluated_model": evaluation.model if evaluation else None,
        "evaluated_examples": ({"path": evaluation.examples_file, "count": evaluation.num_examples,
                                "how_to_read": EXAMPLES_NOTE} if evaluation else None),
        "robustness": robustness_summary(metrics),
        "main_budget": main_budget_summary(evaluation),
        "comparisons": metrics.baselines.comparisons if metrics.baselines else None,
        "claims": assess_claims(metrics) if evaluation else [],
        "sanity_checks": [{k: c[k] for k in ("check", "status", "criterion")}
                          for c in (evaluation.sanity_checks if evaluation else [])],
        "autoattack_rand": evaluation.autoattack_rand if evaluation else None,
        "wall_seconds_per_notebook": timings,
        "wall_seconds_total": total,
        "machine": machine,
        "exercise_seconds": exercise_seconds(executed),
        "html_pages": sorted(str(p.relative_to(out)) for p in (out / "html").glob("*.html")),
        "versions": library_versions(),
        "executed_notebooks": [str(p.relative_to(out)) for p in executed],
        "metrics": metrics.to_dict(),
        "commit": repository_commit(),
    }


def _est(interval: dict | None, value=None) -> str:
    """A figure with its 95 % interval and n where it has one, else the bare value (older runs)."""
    return format_estimate(interval) if interval else format_percent(value)


def _budget_lines(budget: dict | None) -> list[str]:
    if not budget:
        return []
    secondary = budget.get("secondary_eps_255")
    return [f"Main budget {budget['eps_255']:g}/255: {budget['reason']}."
            + (f" Secondary budget: {secondary:g}/255." if secondary else ""), ""]


def comparisons_markdown(comparisons: list[dict]) -> list[str]:
    """IDC minus each other model on the same examples, with paired intervals (notebook 05)."""
    if not comparisons:
        return []
    lines = ["", "### IDC against each other model, on the same examples", "",
             "| other model | protocol | IDC minus other, worst case (paired 95 % interval) | McNemar p |",
             "|---|---|---|---|"]
    for c in comparisons:
        protocol = c["protocol"] if c["protocol"].startswith("paper") else f"adaptive@{c['eps_255']}"
        p_value = f"{c['mcnemar']['p_value']:.3g}" if "mcnemar" in c else ""
        lines.append(f"| {c['other']} | {protocol} | {format_difference(c['difference'])} | {p_value} |")
    return lines


def robustness_markdown(s: dict) -> list[str]:
    robustness = s.get("robustness") or {}
    if not robustness:
        return []
    keys = list(dict.fromkeys(k for m in robustness.values() for k in m["protocols"]))
    lines = ["## Robustness (L-inf)", "",
             "Paper protocol: the authors' wrapper (softmax(-d/0.1), same noise at every query), their attacks, "
             "robust = clean and adversarial both right, one draw each. Adaptive protocol: logits, full gradients, "
             "EOT with fresh noise, first-step surrogate, fixed-noise, BPDA, Square and transfer attacks; the "
             "per-example minimum over attacks; one-draw accuracy averaged over several scoring draws. Every "
             "accuracy: value [95 % interval] (n examples); Wilson for one-draw rates, a bootstrap over examples "
             "for scores averaged over draws or minimised over attacks.", "",
             *_budget_lines(s.get("main_budget")),
             "| model | clean | " + " | ".join(f"{k} worst case" for k in keys) + " | MFLOPs / prediction | ms / prediction |",
             "|---|---|" + "---|" * (len(keys) + 2)]
    for name, m in robustness.items():
        # the adaptive protocol's clean accuracy (averaged over draws) where there is one
        protocols = sorted(m["protocols"].items(), key=lambda kv: not kv[0].startswith("adaptive"))
        clean = _est(protocols[0][1].get("clean_interval"), protocols[0][1]["clean_accuracy"]) if protocols else "n/a"
        cost = m.get("cost") or {}
        lines.append(f"| {name} | {clean} | " + " | ".join(
            _est((p := m["protocols"].get(k, {})).get("worst_case_interval"), p.get("worst_case_accuracy")) for k in keys)
                     + f" | {cost.get('flops_per_prediction', 0) / 1e6:.1f} | {1e3 * cost.get('seconds_per_image', 0):.2f} |")
    baselines = RunMetrics.from_dict(s.get("metrics") or {}).baselines
    if baselines and not baselines.files.get("IDC without inter-class loss"):
        lines.append("\nIDC without the inter-class loss (the paper's ablation) was not trained in this run "
                     "(notebook 05, `ablation=False`).")
    lines.append("")
    for name, m in robustness.items():
        for key, p in m["protocols"].items():
            intervals = p.get("robust_accuracy_intervals") or {}
            attacks = ", ".join(f"{a} {_est(intervals.get(a), v)}" for a, v in p["robust_accuracy"].items())
            rescored = (f"; worst case rescored on fresh draws "
                        f"{_est(p.get('worst_case_rescored_interval'), p['worst_case_rescored'])}"
                        if p.get("worst_case_rescored") is not None else "")
            lines.append(f"- {name}, {key} ({p['examples']} examples, scoring {p['scoring_rule']} x{p['draws']}): "
                         f"{attacks}{rescored}")
    lines += comparisons_markdown(s.get("comparisons") or [])
    checks = s.get("sanity_checks") or []
    if checks:
        lines += ["", "## Sanity checks", "", "| status | check | criterion |", "|---|---|---|",
                  *[f"| {c['status']} | {c['check']} | {c['criterion']} |" for c in checks]]
    if s.get("evaluated_examples"):
        lines += ["", f"Evaluated examples: `{s['evaluated_examples']['path']}` ({s['evaluated_examples']['count']}); "
                      f"model: `{s.get('evaluated_model')}`. {s['evaluated_examples']['how_to_read']}."]
    return lines + [""]


def cost_markdown(s: dict) -> list[str]:
    """Notebook 06's table: cost per prediction of IDC and the alternatives, each figure with its source."""
    efficiency = RunMetrics.from_dict(s.get("metrics") or {}).efficiency or EfficiencyMetrics()
    rows = efficiency.rows
    if not rows:
        return []
    lines = ["## Cost per prediction (notebook 06)", "",
             "| method | parameters | network calls | GFLOP / prediction | s / prediction | FLOPs | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        seconds = "" if r.get("seconds_per_prediction") is None else f"{r['seconds_per_prediction']:.4g}"
        lines.append(f"| {r['method']} | {r['parameters'] / 1e6:.2f} M | {r['network_calls']:g} | "
                     f"{r['flops_per_prediction'] / 1e9:.2f} | {seconds} | {r['flops_source']} | {r['time_source']} |")
    quoted = [p for p in efficiency.points if p.get("source") == "quoted"]
    if quoted:
        lines += ["", "Quoted robust accuracies (CIFAR-10, L-inf 8/255, their authors' attacks): "
                  + "; ".join(f"{p['label']} {format_percent(p['robust_accuracy'])} ({p['reference']})" for p in quoted) + "."]
    return lines + [""]


def summary_markdown(s: dict) -> str:
    incomplete = [] if s.get("complete", True) else [
        f"**INCOMPLETE RUN**: finished {', '.join(s.get('finished_notebooks') or []) or 'none'}; not finished: "
        f"{', '.join(s.get('unfinished_notebooks') or [])}"
        + (f" (stopped in {s['stopped']['notebook']}: {s['stopped']['error'].splitlines()[0][:300]})"
           if s.get("stopped") else "") + ". Figures below come from the finished notebooks only.", ""]
    lines = [
        "# idc_lite reproduction report", "", *incomplete,
        f"- created: {s['created']}" + ("  **SMOKE RUN: numbers are not meaningful**" if s["smoke"] else ""),
        *([f"- preset: {s['preset']}; data: {s['data']}"] if s.get("data") else []),
        f"- seed: {s['seed']}; parameters: {json.dumps(s['parameters']) or '{}'}", "",
        "## Results", "",
        "| figure | value | protocol |", "|---|---|---|",
        f"| clean accuracy (test split) | {_est(s.get('clean_accuracy_interval'), s['clean_accuracy'])} | "
        f"{s.get('clean_accuracy_protocol') or ''}; 95 % interval: bootstrap over images |",
        *([f"| clean accuracy: spread over draws | {format_percent(d['min'])} to {format_percent(d['max'])} | "
           "one draw per image, each draw |",
           f"| clean accuracy: majority vote | {_est(d.get('majority_vote_interval'), d['majority_vote'])} | "
           f"majority of the {d['draws']} draws per image; Wilson interval |"]
          if (d := s.get("clean_accuracy_over_draws")) else []),
        f"| parameters | {s['n_params']:,} | U-Net |" if s.get("n_params") else "| parameters | n/a | |",
        (f"| FLOPs per prediction | {s['flops_per_prediction'] / 1e6:.1f} M | {s.get('network_calls_per_prediction')} "
         f"U-Net calls x {s['flops_per_network_call'] / 1e6:.1f} M |") if s.get("flops_per_prediction") else "| FLOPs | n/a | |",
        "", *robustness_markdown(s), *claims_markdown(s.get("claims") or []), *cost_markdown(s),
        "## Wall time", "", *([f"Measured {describe_machine(s['machine'])}.", ""] if s.get("machine") else []),
        "| notebook | seconds |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in s["wall_seconds_per_notebook"].items()],
        f"| **total** | {s['wall_seconds_total']} |", "",
        *exercise_markdown(s),
        "## Executed notebooks", "",
        *[f"- {Path(p).stem}: [HTML page]({page}), [notebook]({p})" if (page := _page_for(s, p)) else f"- [{p}]({p})"
          for p in s["executed_notebooks"]], "",
        "## Versions", "", ", ".join(f"{k} {v}" for k, v in s["versions"].items()), "",
    ]
    return "\n".join(lines)


def _page_for(s: dict, notebook: str) -> str | None:
    page = f"html/{Path(notebook).stem}.html"
    return page if page in s.get("html_pages", []) else None


def exercise_markdown(s: dict) -> list[str]:
    per = {nb: ex for nb, ex in (s.get("exercise_seconds") or {}).items() if ex}
    if not per:
        return []
    return ["## Exercises (time of the instructor's solution and its checks, this run)", "",
            "| notebook | exercise | seconds |", "|---|---|---|",
            *[f"| {nb} | {ex} | {sec} |" for nb, exercises in per.items() for ex, sec in exercises.items()], ""]


def notebook_record(path: Path) -> dict:
    """What papermill stored in an executed notebook: its parameters, its duration (None when the
    run stopped inside it) and whether it raised."""
    try:
        meta = read_notebook(path).metadata.get("papermill", {})
    except Exception as err:
        raise RunFolderError(f"{path} is not a readable notebook ({type(err).__name__}: {err})") from None
    return {"parameters": dict(meta.get("parameters") or {}), "duration": meta.get("duration"),
            "failed": bool(meta.get("exception"))}


def resummarize(out: Path) -> dict:
    """Rebuild summary.json / summary.md of a run from its executed notebooks and metrics.

    Works for an interrupted run too (no summary.json, or one marked incomplete): the notebooks that
    finished are reported, the others listed as not finished.  A corrupt summary.json is not
    guessed around: the error names it."""
    out = Path(out)
    executed_dir = out / "notebooks"
    if not out.is_dir() or not executed_dir.is_dir():
        raise RunFolderError(f"{out} is not a run folder of idc-lite reproduce (no notebooks/ inside)")
    old = {}
    summary_path = out / "summary.json"
    if summary_path.exists():
        try:
            old = json.loads(summary_path.read_text())
            if not isinstance(old, dict):
                raise ValueError(f"expected a JSON object, got {type(old).__name__}")
        except (ValueError, UnicodeDecodeError) as err:
            raise RunFolderError(f"{summary_path} is corrupt ({err}); move it away and run --summarize again to "
                                 "rebuild it from the executed notebooks") from None
    expected = [nb.stem for nb in notebook_paths()]
    executed = [executed_dir / f"{name}.ipynb" for name in expected if (executed_dir / f"{name}.ipynb").is_file()]
    records = {p.stem: notebook_record(p) for p in executed}
    timings = {name: round(r["duration"], 1) for name, r in records.items() if r["duration"] is not None and not r["failed"]}
    first = next(iter(records.values()), {"parameters": {}})["parameters"]
    extra = old.get("parameters", {k: v for k, v in first.items() if k not in ("run_dir", "smoke", "seed")})
    stopped = old.get("stopped") or next(({"notebook": n, "error": "stopped before the end (see the executed notebook)"}
                                          for n, r in records.items() if n not in timings), None)
    summary = build_summary(out, bool(old.get("smoke", first.get("smoke", False))), int(old.get("seed", first.get("seed", 0))),
                            extra, timings, old.get("wall_seconds_total", round(sum(timings.values()), 1)), executed,
                            expected=expected, stopped=stopped if set(timings) != set(expected) else None,
                            machine=old.get("machine"))      # where the run was timed, not where it is summarised
    if "created" in old:
        summary["created"] = old["created"]
    write_summary(out, summary)
    return summary


def write_summary(out: Path, summary: dict) -> None:
    """``summary.json``, the figures drawn from it (``figures/``, as the results pages draw a record's) and
    ``summary.md``, which shows them."""
    from idc_lite.results.record_figures import write_figures
    from idc_lite.results.records import compact_record

    atomic_write_json(summary, out / "summary.json")
    figures = []
    if summary.get("robustness"):
        record = compact_record(summary, "run", commit=summary.get("commit") or "uncommitted")
        figures = [p.relative_to(out) for p in write_figures({"run": record}, out / "figures")]
    text = summary_markdown(summary)
    if figures:
        text += "\n## Figures\n\n" + "".join(f"![{p.stem}]({p.as_posix()})\n\n" for p in figures)
    atomic_write_bytes(out / "summary.md", lambda h: h.write(text.encode()))



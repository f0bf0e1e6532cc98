"""The page blocks rendered from the benchmarks' records (``docs/records/benchmarks/<name>.json``), one function per
benchmark: ``block(benchmarks) -> Markdown``, where ``benchmarks`` maps a record's name to its content (a block
without its record says so).  :mod:`idc_lite.results.records` places them in the pages."""
from __future__ import annotations

from idc_lite.foundation.uncertainty import format_estimate, format_percent


def provenance(r: dict) -> str:
    m = r.get("machine") or {}
    bf16 = "native bfloat16" if m.get("native_bf16") else "no native bfloat16"
    return (f"commit `{r['commit'][:10]}`, {r['created'][:10]}, {m.get('cpu_model', '?')} with {m.get('usable_cores', '?')} "
            f"cores measuring {m.get('matmul_gflops_float32_2048', '?')} GFLOP/s (float32 matmul), {bf16}"
            + (f"; {r['note']}" if r.get("note") else ""))


def _interval(e: dict) -> str:
    return f"{format_percent(e['value'])} [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"


def _gap(d: dict) -> str:
    return f"{100 * d['difference']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"


def gradient_budget(benchmarks: dict[str, dict]) -> str:
    """How far pure white-box attacks get, and what limits their gradient (benchmarks/gradient_budget.py)."""
    b = benchmarks.get("gradient_budget")
    if b is None:
        return "No run of `benchmarks/gradient_budget.py` is recorded yet.\n"
    head = "| accuracy left | minus the kit's worst case, paired |"
    made = f" made at commit `{b['run_commit'][:10]}`" if b.get("run_commit") else ""
    lines = [f"`benchmarks/gradient_budget.py` on the first {b['examples']} evaluated examples of the run{made}, at "
             f"{255 * b['eps']:.0f}/255, measured at {provenance(b)}. Accuracy: {b['scoring']} per example, with a 95 % "
             f"bootstrap interval. On the same examples the clean accuracy is {_interval(b['clean'])} and the kit's "
             f"worst case (the whole cascade, {b['kit_scoring']}) is {_interval(b['kit_worst_case_same_examples'])}.", "",
             "| APGD-DLR from a random start | gradient draws per example " + head, "|---|---|---|---|"]
    for row in b["apgd_dlr_from_random_start"]:
        spent = f"{row['steps']} steps x EOT {row['eot']}" + (f", up to {row['restarts']} runs" if row["restarts"] > 1 else "")
        lines.append(f"| {spent} | {row['draws_per_example']:,.0f} | {_interval(row['accuracy'])} | "
                     f"{_gap(row['minus_kit_worst_case'])} |")
    cosines = ", ".join(f"k = {k}: {v:.2f}" for k, v in b["gradient_cosine_between_two_eot_k_estimates"].items())
    clamps = ", ".join(f"{100 * v:.1f} %" for v in b["clamped_share_per_step"])
    lines += ["", f"Gradient noise: the cosine between two independent EOT-k estimates of the DLR gradient at the "
              f"clean images is {cosines}. Clamps: the share of x0-prediction pixels the sampler clips to [-1, 1] "
              f"(zero gradient), per step on the clean images: {clamps}.", "",
              f"| APGD-DLR at about {b['surrogate_draws']} gradient draws per example, through " + head, "|---|---|---|"]
    lines += [f"| {name} | {_interval(row['accuracy'])} | {_gap(row['minus_kit_worst_case'])} |"
              for name, row in b["surrogates"].items()]
    return "\n".join(lines + [""])


def lab_course(benchmarks: dict[str, dict]) -> str:
    """Lab-size notebook times beside the reference run's full ones, then grading times and points."""
    b = benchmarks.get("lab_course")
    if b is None:
        return "No run of `benchmarks/lab_course.py` is recorded yet.\n"
    classes = b.get("classes") or ([b["class"]] if b.get("class") else [])    # older records hold one class run
    again = any(k.endswith("_measured") for k in b) or any(c.get("measured") for c in classes)
    lines = [f"`benchmarks/lab_course.py`, measured at {provenance(b)}, run alone"
             + (" (the parts measured again say so)." if again else "."), ""]
    if b.get("notebooks"):
        full = b.get("full_reference") or {}
        lines += [f"Each notebook run in order in one fresh run folder{_where(b, 'notebooks')}:", "",
                  "| notebook | lab sizes, shipped models | full settings (the reference run) |", "|---|---|---|"]
        lines += [f"| {name} | {seconds:.0f} s | " + (f"{full[name]:.0f} s |" if full.get(name) else "– |")
                  for name, seconds in b["notebooks"].items()]
        lines += ["", f"All seven in {sum(b['notebooks'].values()) / 60:.1f} min at lab sizes."]
        if (b.get("full_reference_measured") or {}).get("commit"):       # another run, on its own machine
            lines[-1] += f" The full settings' times are the reference run's, at {provenance(b['full_reference_measured'])}."
        lines.append("")
    if "one_student_seconds" in b:              # a record saved before the grading finished has none
        lines.append(f"Grading one student's answered notebooks at the defaults (lab sizes, one worker): "
                     f"{b['one_student_seconds'] / 60:.1f} min, {b['one_student_points']:g} of "
                     f"{b['one_student_max_points']:g} autograded points{_where(b, 'one_student')}.")
    for c in classes:
        again = f" (measured again at {provenance(c['measured'])}, run alone)" if c.get("measured") else ""
        lines += ["", _class_sentence(c)[:-1] + again + ".", ""] + _class_table(c)
    if b.get("full_points"):
        full = b["full_points"]       # beside the lab points of the class run made with it (older records: the first)
        lab = full.get("lab_per_student") or (classes[0]["per_student"] if classes else {})
        lines += [""] + _full_points(full, lab, _where(b, "full_points"))
    return "\n".join(lines + [""])


def _where(b: dict, part: str) -> str:
    """Where ``part`` of a lab-course record was measured, when an update measured it apart from the rest."""
    again = b.get(f"{part}_measured")
    return f" (measured again at {provenance(again)}, run alone)" if again else ""


def _class_table(c: dict) -> list[str]:
    """The class run's students grouped by kind (solved, untouched, hangs, broken): points, times, statuses."""
    lines = ["| students | autograded points | grading time of each (a worker's) | status |", "|---|---|---|---|"]
    kinds: dict[str, list[dict]] = {}
    for name, student in c["per_student"].items():
        kinds.setdefault(name.split("-")[0], []).append(student)
    for kind, group in kinds.items():
        points = sorted({f"{s['points']:g}" for s in group})
        seconds = sorted(s["seconds"] for s in group)
        spread = f"{seconds[0]:.0f} s" if len(group) == 1 else f"{seconds[0]:.0f} to {seconds[-1]:.0f} s"
        statuses = sorted({status for s in group for status in s["statuses"]})
        lines.append(f"| {len(group)} {kind} | {', '.join(points)} | {spread} | {'; '.join(statuses) or 'graded'} |")
    return lines


def _full_points(full: dict, lab: dict[str, dict], where: str = "") -> list[str]:
    """Each student graded with ``--full`` beside the same student's lab-size grading (``lab``: the class run's
    per-student rows): points over the notebooks graded at full settings and the notebooks whose points differ.
    A run stopped before its end (``stopped``) gives the notebooks it reached; ``earlier_calls``: heavy calls it
    loaded from an earlier stopped run, so its times are not a grading's from scratch."""
    took = (f"{full['stopped']}{where}; each student has the points of the notebooks it reached" if full.get("stopped")
            else f"{full['wall_seconds'] / 60:.0f} min in all{where}")
    if full.get("earlier_calls"):
        took += (f"; it loaded {full['earlier_calls']} heavy calls made by an earlier stopped run of the same kit "
                 "version, so its times are not those of a grading from scratch")
    lines = [f"The same students graded with `--full` (full settings, one worker, heavy calls shared): {took}.", "",
             "| student | notebooks graded at full | points at lab sizes (the same notebooks) | points at full settings "
             "| notebooks whose points differ | time at full |", "|---|---|---|---|---|---|"]
    for name, s in full["per_student"].items():
        graded = s.get("by_notebook", {})
        reached = (f"{len(graded)} of {len(graded) + len(s['not_graded'])} (not reached: {', '.join(s['not_graded'])})"
                   if s.get("not_graded") else "all")
        at_lab = lab.get(name)
        if at_lab is None:
            lines.append(f"| {name} | {reached} | not graded | {s['points']:g} | – | {s['seconds'] / 60:.0f} min |")
            continue
        same = sum(at_lab.get("by_notebook", {}).get(nb, 0.0) for nb in graded) if s.get("not_graded") else at_lab["points"]
        compared = set(graded) | (set() if s.get("not_graded") else set(at_lab.get("by_notebook", {})))
        differ = [nb for nb in sorted(compared) if graded.get(nb) != at_lab.get("by_notebook", {}).get(nb)]
        lines.append(f"| {name} | {reached} | {same:g} | {s['points']:g} | {', '.join(differ) or 'none'} | "
                     f"{s['seconds'] / 60:.0f} min |")
    if full.get("stopped"):
        lines += [f"| {name} | none | {at_lab['points']:g} | not reached | – | – |"
                  for name, at_lab in lab.items() if name not in full["per_student"]]
    return lines


def _class_sentence(c: dict) -> str:
    """The class run's time: measured for a class of 30 or more, else 30 students at the mean worker time of the
    graded ones (with shared work the first students make the shared calls, so a larger class has a lower mean)."""
    head = (f"A class of {c['students']} made-up students with `--workers {c['workers']}` (per-cell timeout {c['timeout']} s"
            f"{', heavy calls shared' if c.get('shared_work', False) else ', nothing shared'}): "
            f"{c['wall_seconds'] / 60:.1f} min in all")
    if c["students"] >= 30:
        return head + " (measured)."
    graded = [s["seconds"] for s in c["per_student"].values() if not s["statuses"]]
    per = sum(graded) / max(len(graded), 1)
    return head + (f"; a graded student took {per / 60:.1f} min of a worker on average, so a class of 30 would take "
                   f"about {30 * per / c['workers'] / 60:.0f} min (projected, not measured).")


def challenge(benchmarks: dict[str, dict]) -> str:
    """``idc-lite challenge`` on the made-up class of ``benchmarks/challenge.py``: its time and its leaderboard."""
    b = benchmarks.get("challenge")
    if b is None:
        return "No run of `benchmarks/challenge.py` is recorded yet.\n"
    submitted = [r for r in b["rows"] if r["status"] != "reference"]
    lines = [f"`benchmarks/challenge.py`, measured at {provenance(b)}, run alone: `idc-lite challenge` at its defaults "
             f"(L-inf {255 * b['eps']:g}/255, {b['examples']} held-back test images, the kit's full adaptive suite as the "
             f"reference line) with `--time-limit {b['time_limit']:g}`, on {len(submitted)} made-up submissions: "
             f"{b['wall_seconds'] / 60:.1f} min in all. Accuracy under attack: one-draw accuracy averaged over "
             f"{b['scoring_draws']} noise draws the attacks never saw, with its 95 % interval.", "",
             "| rank | who | accuracy under attack | largest change (/255) | seconds | status |", "|---|---|---|---|---|---|"]
    rank = 0
    for row in b["rows"]:                         # ranked by the scorer: the scored ones first, lowest accuracy first
        rank += row["status"] == "scored"
        change = f"{255 * row['largest_change']:.1f}" if row.get("largest_change") is not None else "–"
        accuracy = format_estimate(row["accuracy"]) if row.get("accuracy") else "–"
        lines.append(f"| {rank if row['status'] == 'scored' else '–'} | {row['student']} | {accuracy} | {change} | "
                     f"{row['seconds']:.0f} | {row['status']} |")
    return "\n".join(lines + [""])


BENCHMARK_BLOCKS = {"gradient-budget": gradient_budget, "lab-course": lab_course, "challenge": challenge}

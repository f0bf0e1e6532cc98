"""benchmarks/gradient_budget.py (how far pure white-box attacks get) and the page block rendered from its record."""
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from idc_lite.results import benchmark_blocks, records

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))   # as when run as a script: the benchmarks import their shared helpers (timing.py)
_spec = importlib.util.spec_from_file_location("gradient_budget", BENCHMARKS / "gradient_budget.py")
gradient_budget = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gradient_budget)


def test_a_budget_of_draws_is_split_into_steps_eot_and_restarts():
    assert gradient_budget._split(50) == (25, 2, 1)
    assert gradient_budget._split(200) == (100, 2, 1)
    assert gradient_budget._split(4000) == (100, 40, 1)
    assert gradient_budget._split(4000, restarts=True) == (100, 2, 20)


@pytest.mark.slow
def test_the_benchmark_records_what_the_page_renders(smoke_run, tmp_path):
    out = tmp_path / "gradient_budget.json"
    gradient_budget.main([str(smoke_run), "--examples", "3", "--draws", "4", "--surrogate-draws", "4",
                          "--record", str(out)])
    b = json.loads(out.read_text())
    assert b["examples"] == 3 and b["commit"] and b["machine"]["matmul_gflops_float32_2048"] > 0
    row = b["apgd_dlr_from_random_start"][0]
    assert (row["steps"], row["eot"], row["restarts"]) == (2, 2, 1)
    assert row["draws_per_example"] == 6          # counted: a first draw, then one per step, each of EOT 2
    assert 0.0 <= row["accuracy"]["low"] <= row["accuracy"]["value"] <= row["accuracy"]["high"] <= 1.0
    assert len(row["per_example"]) == 3
    assert set(b["gradient_cosine_between_two_eot_k_estimates"]) == {"1", "4", "16", "64"}
    assert all(-1.0 <= c <= 1.0 for c in b["gradient_cosine_between_two_eot_k_estimates"].values())
    assert len(b["clamped_share_per_step"]) == 4 and all(0.0 <= s <= 1.0 for s in b["clamped_share_per_step"])
    assert list(b["surrogates"]) == ["true gradient (EOT)", "without clamps", "without noise (eta = 0)",
                                     "first step only", "true gradient from the other-class start"]
    text = benchmark_blocks.gradient_budget({"gradient_budget": b})
    assert text.count("\n| ") == 2 + 1 + 5              # two table headers, one curve row, five surrogate rows
    assert f"{100 * row['accuracy']['value']:.1f} %" in text
    assert f"run made at commit `{b['run_commit'][:10]}`" in text and f"measured at commit `{b['commit'][:10]}" in text
    block = "<!-- generated: gradient-budget -->\nold\n<!-- end generated -->\n"
    assert records.render_text(block, {}, {"gradient_budget": b}) == block.replace("old\n", text)


def test_without_a_record_the_block_says_so():
    assert "No run of `benchmarks/gradient_budget.py`" in benchmark_blocks.gradient_budget({})


def test_the_recorded_benchmark_feeds_the_evaluation_page():
    recorded = records.load_benchmarks()
    assert "gradient_budget" in recorded, "no gradient-budget benchmark is recorded in docs/records/benchmarks/"
    changed = json.loads(json.dumps(recorded))
    changed["gradient_budget"]["clean"]["value"] = 0.5
    assert records.stale_files(benchmarks=changed) == ["docs/evaluation.md"]


_tail_spec = importlib.util.spec_from_file_location("tail_at_secondary", BENCHMARKS / "tail_at_secondary.py")
tail_at_secondary = importlib.util.module_from_spec(_tail_spec)
_tail_spec.loader.exec_module(tail_at_secondary)


@pytest.mark.slow
def test_the_tail_is_checked_on_the_examples_the_secondary_cascade_left_standing(smoke_run, tmp_path):
    """benchmarks/tail_at_secondary.py attacks only the standing examples, counts its draws and scores them."""
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    summary = json.loads((run / "summary.json").read_text())
    secondary = summary["metrics"]["04_attack"]["adaptive_protocol_secondary"]
    n = len(secondary["worst_case_per_example"])
    secondary["worst_case_per_example"] = [1.0, 0.0] * (n // 2) + [1.0] * (n % 2)   # every other one stands
    (run / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "tail.json"
    tail_at_secondary.main([str(run), "--examples", "2", "--eot", "2", "--steps", "2", "--record", str(out)])
    b = json.loads(out.read_text())
    assert (b["standing"], b["examples"], b["steps"], b["eot"]) == ((n + 1) // 2, 2, 2, 2)
    assert b["draws_per_example"] == 6          # a first draw, then one per step, each of EOT 2
    assert b["kit_worst_case_on_them"]["value"] == 1.0 and len(b["per_example"]) == 2
    assert b["broken_by_tail"] == sum(s < 0.5 for s in b["per_example"])
    secondary["worst_case_per_example"] = [0.0] * n
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(SystemExit, match="no example stands"):
        tail_at_secondary.main([str(run)])

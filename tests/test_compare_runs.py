"""benchmarks/compare_runs.py: the side-by-side table of two `make reproduce` runs."""
import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("compare_runs", Path(__file__).parents[1] / "benchmarks" / "compare_runs.py")
compare_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_runs)


def _summary(total, per_notebook, clean, worst, rescored, statuses, machine=None):
    summary = {"wall_seconds_total": total, "wall_seconds_per_notebook": per_notebook,
               "clean_accuracy_over_draws": {"mean": clean, "min": clean - 0.01, "max": clean + 0.01, "majority_vote": 0.99},
               "robustness": {"IDC": {"protocols": {"adaptive@16": {"worst_case_accuracy": worst,
                                                                      "worst_case_rescored": rescored}}}},
               "sanity_checks": [{"check": name, "status": status} for name, status in statuses.items()]}
    if machine:
        summary["machine"] = machine
    return summary


def test_side_by_side_table_gives_speed_up_accuracies_and_changed_checks(tmp_path):
    machine = {"cpu_model": "Test CPU", "usable_cores": 2, "torch_threads": 2, "matmul_gflops_float32_2048": 150.0}
    old = _summary(3000.0, {"01": 1000.0, "02": 2000.0}, 0.971, 0.802, 0.866, {"eps sweep": "passed", "cnn": "FAILED"})
    new = _summary(1000.0, {"01": 500.0, "02": 500.0}, 0.976, 0.79, 0.85, {"eps sweep": "passed", "cnn": "passed"}, machine)
    for name, s in (("old", old), ("new", new)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(s))
    text = "\n".join(compare_runs.compare(compare_runs._load(tmp_path / "old"), compare_runs._load(tmp_path / "new"),
                                          ("old", "new")))
    assert "machine not recorded" in text and "Test CPU" in text and "150 GFLOP/s" in text
    assert "| 01 (s) | 1000.0 | 500.0 | 2.00 |" in text and "| 02 (s) | 2000.0 | 500.0 | 4.00 |" in text
    assert "**3.00**" in text
    assert "97.1 %" in text and "97.6 %" in text
    assert "80.2 % / rescored 86.6 %" in text and "79.0 % / rescored 85.0 %" in text
    assert "| sanity: eps sweep | passed | passed | same |" in text
    assert "| sanity: cnn | FAILED | passed | **changed** |" in text


def test_a_folder_without_a_summary_is_explained(tmp_path):
    with pytest.raises(SystemExit, match="summary.json not found"):
        compare_runs._load(tmp_path)


def test_values_mode_lists_every_recorded_value_that_differs_and_ignores_times(tmp_path):
    def run(name, accuracy, seconds, checks):
        (tmp_path / name / "metrics").mkdir(parents=True)
        record = {"clean_accuracy": accuracy, "wall_seconds": seconds, "machine": {"cpu_model": name},
                  "protocols": {"adaptive": {"worst_case": [0.5, accuracy / 2]}}, "sanity_checks": checks}
        (tmp_path / name / "metrics" / "04_attack.json").write_text(json.dumps(record))
        return tmp_path / name

    same = run("a", 0.9, 10.0, [{"check": "x", "status": "passed", "seconds": 1.0}])
    faster = run("b", 0.9, 3.0, [{"check": "x", "status": "passed", "seconds": 0.5}])
    moved = run("c", 0.8, 10.0, [{"check": "x", "status": "FAILED", "seconds": 1.0}])
    compared, lines = compare_runs.value_differences(same, faster)
    assert compared == 5 and lines == []
    compared, lines = compare_runs.value_differences(same, moved)
    assert lines == ["04_attack: clean_accuracy: 0.9 -> 0.8", "04_attack: protocols.adaptive.worst_case[1]: 0.45 -> 0.4",
                     "04_attack: sanity_checks[0].status: 'passed' -> 'FAILED'"]
    (tmp_path / "c" / "metrics" / "05_baselines.json").write_text("{}")
    assert compare_runs.value_differences(same, moved)[1][-1] == "05_baselines.json: missing in " + str(same)

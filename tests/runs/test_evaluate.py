"""The sharded evaluation: blocks seeded by index, merged into evaluate_attacks()'s shape; ``idc-lite evaluate`` under
torchrun (2 gloo processes give the per-example outcomes of 1), resumed after a lost block, and equal to
notebook 04's own evaluation when the examples fit in one block."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, tiny_config
from idc_lite.evaluation.protocol import AttackSpec, evaluate_attacks
from idc_lite.evaluation.sharding import block_bounds, block_seed, blocks_of_rank, merge_results, merge_scoring_rules
from idc_lite.foundation.errors import InputError
from idc_lite.model.classifier import IDCClassifier

ATTACKS = [AttackSpec("fgsm", "fgsm", {"eps": 0.1}), AttackSpec("pgd1", "pgd", {"eps": 0.1, "alpha": 0.05, "steps": 1})]


def test_blocks_cover_every_example_once_whatever_the_number_of_processes():
    assert block_bounds(359, 100) == [(0, 100), (100, 200), (200, 300), (300, 359)]
    for world in (1, 2, 3, 7):
        taken = sorted(b for rank in range(world) for b in blocks_of_rank(4, rank, world))
        assert taken == [0, 1, 2, 3]
    assert blocks_of_rank(4, 1, 2) == [1, 3]
    with pytest.raises(InputError, match="rank must be in"):
        blocks_of_rank(4, 2, 2)


def test_block_zero_keeps_the_seed_and_the_others_get_streams_of_their_own():
    assert block_seed(5, 0) == 5
    seeds = {block_seed(5, b) for b in range(1, 50)} | {block_seed(6, b) for b in range(1, 50)}
    assert len(seeds) == 98 and not seeds & set(range(1000))   # distinct, and never a small integer seed


@pytest.fixture(scope="module")
def blocks_of_a_random_model(tiny_images_module):
    x, labels = tiny_images_module
    model = IDCClassifier(tiny_config()).eval()
    bounds = block_bounds(len(x), 3)
    results = [evaluate_attacks(model, x[a:b], labels[a:b], ATTACKS, seed=block_seed(4, i), draws=3)
               for i, (a, b) in enumerate(bounds)]
    return model, x, labels, results


@pytest.fixture(scope="module")
def tiny_images_module():
    g = torch.Generator().manual_seed(0)
    return torch.rand(6, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 3, 0, 1])


def test_merged_blocks_have_the_shape_and_the_figures_of_one_evaluation(blocks_of_a_random_model):
    _, _, _, results = blocks_of_a_random_model
    merged = merge_results(results, seed=4, block_size=3)
    assert merged["examples"] == 6 and merged["blocks"] == {"size": 3, "count": 2, "seeds": [4, block_seed(4, 1)]}
    assert merged["clean_per_example"] == results[0]["clean_per_example"] + results[1]["clean_per_example"]
    for i, row in enumerate(merged["attacks"]):
        scores = results[0]["attacks"][i]["per_example"] + results[1]["attacks"][i]["per_example"]
        assert row["per_example"] == scores
        assert row["robust_accuracy"] == pytest.approx(sum(scores) / 6, abs=1e-6)
        assert row["interval"]["n"] == 6 and row["interval"]["low"] <= row["robust_accuracy"] <= row["interval"]["high"]
        assert row["seconds"] == pytest.approx(sum(r["attacks"][i]["seconds"] for r in results), abs=0.02)
    worst = [min(s) for s in zip(*(row["per_example"] for row in merged["attacks"]))]
    assert merged["worst_case_per_example"] == worst
    assert merged["worst_case_accuracy"] == pytest.approx(sum(worst) / 6, abs=1e-6)
    assert merged["intervals"]["worst_case"]["n"] == 6 and merged["intervals"]["worst_case_rescored"]["n"] == 6
    assert len(merged["worst_case_rescored_per_example"]) == 6
    assert set(merged) == set(results[0]) | {"blocks"}
    json.dumps(merged)


def test_one_block_is_the_evaluation_itself(blocks_of_a_random_model):
    model, x, labels, _ = blocks_of_a_random_model
    whole = evaluate_attacks(model, x, labels, ATTACKS, seed=4, draws=3)
    merged = merge_results([whole], seed=4, block_size=100)
    assert {k: v for k, v in merged.items() if k != "blocks"} == whole
    with pytest.raises(InputError, match="different attacks"):
        merge_results([whole, evaluate_attacks(model, x, labels, ATTACKS[:1], seed=4, draws=3)], seed=4, block_size=6)
    with pytest.raises(InputError, match="no block"):
        merge_results([], seed=4, block_size=6)


def test_other_scoring_rules_are_weighted_by_block_size():
    rules = [[{"scoring_rule": "all", "clean_accuracy": 1.0, "attacks": {"a": 0.5}, "worst_case_accuracy": 0.5}],
             [{"scoring_rule": "all", "clean_accuracy": 0.0, "attacks": {"a": 1.0}, "worst_case_accuracy": 0.0}]]
    (merged,) = merge_scoring_rules(rules, [3, 1])
    assert merged == {"scoring_rule": "all", "clean_accuracy": 0.75, "attacks": {"a": 0.625}, "worst_case_accuracy": 0.375}


# ---- the command, on the smoke run's digits model ----------------------------------------------
def _evaluate(model, out, processes: int, *extra: str) -> float:
    args = ["-m", "idc_lite", "evaluate", "--model", str(model), "--smoke", "--device", "cpu", "--out", str(out), *extra]
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *launcher, *args], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-4000:]
    return time.perf_counter() - start


def _record(folder) -> dict:
    return json.loads((folder / "metrics" / "04_attack.json").read_text())


def _outcomes(record: dict) -> dict:
    """Everything an evaluation decides per example and per check, without times."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("seconds", "seconds_in_blocks", "processes", "backend")}
        return [strip(v) for v in value] if isinstance(value, list) else value
    return strip({k: record[k] for k in ("adaptive_protocol", "adaptive_protocol_secondary", "paper_protocol",
                                         "other_scoring_rules", "sanity_checks", "eps", "seed", "settings", "num_examples")})


def test_a_folder_with_blocks_of_an_earlier_version_is_refused_before_any_work_and_kept(tmp_path):
    from idc_lite.runs import shards

    config = {"examples": 200, "seed": 0}
    shards.claim_folder(tmp_path, config)
    shards.write_block(tmp_path, 0, {"start": 0, "stop": 100}, {"worst": torch.zeros(1)})
    assert shards.check_folder(tmp_path, config) and shards.outdated_blocks(tmp_path) == []
    old = tmp_path / "blocks" / "block-00001.json"
    old.write_text(json.dumps({"format": "idc_lite-evaluation-block-1", "block": 1, "start": 100, "stop": 200}))
    before = old.read_bytes()
    with pytest.raises(InputError, match=r"blocks \[1\] written by an earlier version.*kept.*new folder"):
        shards.check_folder(tmp_path, config)
    assert old.read_bytes() == before and shards.read_block(tmp_path, 0) is not None


@pytest.mark.slow
def test_two_gloo_processes_give_the_per_example_outcomes_of_one_and_a_lost_block_is_redone(smoke_run, tmp_path, capsys):
    model = smoke_run / "model.pt"
    blocks = ("--examples", "6", "--block-size", "2")               # 3 blocks: rank 0 takes 0 and 2, rank 1 takes 1
    one = _evaluate(model, tmp_path / "one", 1, *blocks)
    two = _evaluate(model, tmp_path / "two", 2, *blocks)
    with capsys.disabled():
        print(f"\n[sharded evaluation, 6 examples in 3 blocks] 1 process {one:.0f} s, 2 gloo processes {two:.0f} s")
    first, second = _record(tmp_path / "one"), _record(tmp_path / "two")
    assert second["evaluation"]["processes"] == 2 and first["evaluation"]["processes"] == 1
    assert len(first["adaptive_protocol"]["worst_case_per_example"]) == 6
    assert _outcomes(first) == _outcomes(second)
    worst = [torch.load(tmp_path / name / "worst_adversarial.pt") for name in ("one", "two")]
    assert worst[0].shape[0] == 6 and torch.equal(*worst)
    # the blocks are not copies of one another: each draws its own noise
    scores = first["adaptive_protocol"]["attacks"][0]["per_example"]
    assert len(set(first["adaptive_protocol"]["blocks"]["seeds"])) == 3 and len(scores) == 6
    # the per-example challenger checks are judged over all 3 blocks, not block 0 alone
    rows = {a["name"]: a for a in first["adaptive_protocol"]["attacks"]}
    judged = [c for c in first["sanity_checks"] if any(isinstance(v, dict) and "attacked" in v for v in c["values"].values())]
    assert judged and all("of the 6 examples" in c["criterion"] for c in judged)
    for check in judged:
        for name, v in check["values"].items():
            if isinstance(v, dict) and "attacked" in v:
                assert v["attacked"] == sum(p is not None for p in rows[name]["per_example"]), (check["check"], name)

    # preemption: block 1 lost, the record not written; the same command evaluates block 1 only, same result
    kept = {b: (tmp_path / "two" / "blocks" / f"block-{b:05d}.json").stat().st_mtime_ns for b in (0, 2)}
    (tmp_path / "two" / "blocks" / "block-00001.json").unlink()
    (tmp_path / "two" / "metrics" / "04_attack.json").unlink()
    _evaluate(model, tmp_path / "two", 2, *blocks)
    assert {b: (tmp_path / "two" / "blocks" / f"block-{b:05d}.json").stat().st_mtime_ns for b in (0, 2)} == kept
    assert _outcomes(_record(tmp_path / "two")) == _outcomes(first)


@pytest.mark.slow
def test_an_evaluation_of_one_block_is_notebook_04s_evaluation(smoke_run, tmp_path):
    """Notebook 04 (smoke) attacked its first examples with the run's settings; the command, reading those
    settings from the run's record, must decide every example and every check the same way."""
    notebook = json.loads((smoke_run / "metrics" / "04_attack.json").read_text())
    _evaluate(smoke_run / "model.pt", tmp_path / "eval", 1, "--examples", str(notebook["num_examples"]))
    command = _record(tmp_path / "eval")

    def decided(record):
        out = _outcomes(record)
        results = [out["adaptive_protocol"], out["adaptive_protocol_secondary"], *out["paper_protocol"].values()]
        for result in results:
            result.pop("blocks", None)
        return out

    assert decided(command) == decided(notebook)
    tables = (tmp_path / "eval" / "report.md").read_text().count("| worst case (per example) |")
    assert tables == 2 + len(notebook["paper_protocol"])      # main and secondary adaptive, each paper budget


@pytest.mark.slow
def test_notebook_04_shows_a_finished_evaluation_instead_of_its_own(smoke_run, tmp_path):
    """Notebook 04 with ``evaluation_dir``: the evaluation's examples, results and checks become its record
    (and so the report's); an evaluation of another model is refused by name."""
    import shutil

    import papermill

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("notebooks", "html", "exercises"))
    _evaluate(run / "model.pt", tmp_path / "eval", 2, "--examples", "10", "--block-size", "5")
    papermill.execute_notebook(str(REPO / "notebooks" / "04_attack.ipynb"), str(tmp_path / "04.ipynb"), kernel_name="python3",
                               parameters={"run_dir": str(run), "smoke": True, "evaluation_dir": str(tmp_path / "eval")},
                               cwd=str(REPO / "notebooks"), progress_bar=False)
    shown, evaluated = _record(run), _record(tmp_path / "eval")
    assert shown["num_examples"] == 10 and shown["evaluation"]["processes"] == 2
    for key in ("adaptive_protocol", "adaptive_protocol_secondary", "paper_protocol", "other_scoring_rules",
                "sanity_checks", "eps", "settings", "budget_choice"):
        assert shown[key] == evaluated[key], key
    assert torch.load(run / "eval_examples.pt")["x"].shape[0] == 10

    evaluated["evaluation"]["weights_sha256"] = "0" * 64    # as if the folder held an evaluation of another model
    (tmp_path / "eval" / "metrics" / "04_attack.json").write_text(json.dumps(evaluated))
    with pytest.raises(papermill.PapermillExecutionError, match="evaluated another model"):
        papermill.execute_notebook(str(REPO / "notebooks" / "04_attack.ipynb"), str(tmp_path / "04b.ipynb"),
                                   kernel_name="python3", parameters={"run_dir": str(run), "smoke": True,
                                                                      "evaluation_dir": str(tmp_path / "eval")},
                                   cwd=str(REPO / "notebooks"), progress_bar=False)

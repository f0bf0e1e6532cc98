"""make sweep: grid files are checked before anything runs, every point gets its own run folder, a failed
point is reported while the others finish, and the table says which change exceeds the evaluation's noise."""
import json
import subprocess
import sys

import pytest

from conftest import REPO
from idc_lite.comparisons.claims import SUPPORTED, UNDEFENDED_CHECK
from idc_lite.foundation.errors import GridError, InputError, RunFolderError
from idc_lite.foundation.run_metrics import AttackMetrics, TrainingMetrics, write_metrics
from idc_lite.runs.reproduce import check_run_parameters
from idc_lite.sweeps.grid import grid_points, load_grid, notebook_files, run_sweep, sweep_runs
from idc_lite.training.presets import get_preset, with_ablation

DEFAULT_GRID = REPO / "sweeps" / "digits_ablations.json"


def _grid(tmp_path, **grid):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid))
    return path


def test_the_default_grid_varies_the_papers_ablations_with_parameters_the_notebooks_take():
    grid = load_grid(DEFAULT_GRID)
    assert set(grid["vary"]) == {"num_timesteps", "model_channels", "num_res_blocks", "cls_loss_weight", "eta"}
    notebooks = notebook_files(grid["notebooks"])
    assert [nb.stem for nb in notebooks] == ["02_train_classifier", "04_attack"]
    points = grid_points(grid)
    assert points[0][0] == "base" and len(points) == 1 + sum(len(v) for v in grid["vary"].values())
    for _, parameters in points:
        check_run_parameters(notebooks, {"smoke": False, "seed": 0, **parameters})


def test_points_one_at_a_time_and_as_a_product(tmp_path):
    grid = load_grid(_grid(tmp_path, base={"epochs": 3, "eta": 1.0}, vary={"eta": [1.0, 0.0], "num_timesteps": [2, 8]}))
    assert grid_points(grid) == [("base", {"epochs": 3, "eta": 1.0}), ("eta=0.0", {"epochs": 3, "eta": 0.0}),
                                 ("num_timesteps=2", {"epochs": 3, "eta": 1.0, "num_timesteps": 2}),
                                 ("num_timesteps=8", {"epochs": 3, "eta": 1.0, "num_timesteps": 8})]
    grid["mode"] = "product"
    assert [name for name, _ in grid_points(grid)] == ["eta=1.0, num_timesteps=2", "eta=1.0, num_timesteps=8",
                                                       "eta=0.0, num_timesteps=2", "eta=0.0, num_timesteps=8"]


@pytest.mark.parametrize("content, message", [
    (None, "no grid file"),
    ("{not json", "not a readable JSON grid"),
    ([1, 2], "a grid is a JSON object"),
    ({"vary": {"eta": [0.0]}, "colour": 1}, r"unknown key\(s\) \['colour'\]"),
    ({"mode": "random"}, "mode must be"),
    ({"vary": {"eta": 0.0}}, "must be a non-empty list"),
    ({"base": {"run_dir": "x"}}, "set by the sweep itself"),
])
def test_bad_grid_files_are_refused_with_a_message(tmp_path, content, message):
    path = tmp_path / "grid.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(GridError, match=message):
        load_grid(path)


def test_an_unknown_notebook_or_parameter_stops_the_sweep_before_anything_runs(tmp_path):
    calls = []
    with pytest.raises(GridError, match="unknown notebook '07_nothing'"):
        run_sweep(_grid(tmp_path, notebooks=["07_nothing"]), tmp_path / "out", run_point=lambda *a: calls.append(a))
    grid = _grid(tmp_path, base={"epochs": 2}, vary={"cls_loss_weight": [0.0], "num_timestep": [2]})
    with pytest.raises(GridError, match=r"point 'num_timestep=2': unknown parameter\(s\) \['num_timestep'\].*nothing was run"):
        run_sweep(grid, tmp_path / "out", run_point=lambda *a: calls.append(a))
    with pytest.raises(GridError, match="point 'eta=fast'.*must be float"):
        run_sweep(_grid(tmp_path, vary={"eta": ["fast"]}), tmp_path / "out", run_point=lambda *a: calls.append(a))
    assert calls == [] and not (tmp_path / "out").exists()


def _fake_point(worst_by_point):
    """A stand-in for the notebooks: writes 02 / 04 metrics with the given adaptive per-example scores."""
    def run_point(folder, smoke, seed, parameters, notebooks):
        name = folder.name
        if name not in worst_by_point:
            raise RuntimeError(f"point {name} broke")
        per_example = worst_by_point[name]
        write_metrics(folder, TrainingMetrics(test_accuracy=0.9, test_examples=100, n_params=10, flops_per_prediction=4e6))
        write_metrics(folder, AttackMetrics(eps=16 / 255, paper_eps=8 / 255, paper_protocol={
            "paper@8": {"worst_case_and_clean": 0.8}, "paper@16": {"worst_case_and_clean": 0.7}},
            adaptive_protocol={"examples": len(per_example), "draws": 5, "worst_case_per_example": per_example,
                               "worst_case_accuracy": sum(per_example) / len(per_example), "worst_case_rescored": None}))
    return run_point


def test_a_failed_point_is_reported_and_the_others_finish(tmp_path):
    grid = _grid(tmp_path, name="toy", base={"epochs": 2}, vary={"cls_loss_weight": [0.0], "eta": [0.0], "num_timesteps": [2]})
    half = [1.0, 0.0] * 32                                    # 50 %, standard error 6.3 points
    sweep = run_sweep(grid, tmp_path / "out", run_point=_fake_point({
        "base": half, "cls_loss_weight=0.0": [0.0] * 62 + [1.0, 1.0], "eta=0.0": [1.0, 0.0] * 30 + [1.0] * 4}))
    status = {r["point"]: r["status"] for r in sweep["points"]}
    assert status == {"base": "finished", "cls_loss_weight=0.0": "finished", "eta=0.0": "finished",
                      "num_timesteps=2": "failed"}
    rows = {r["point"]: r for r in sweep["points"]}
    assert "point num_timesteps=2 broke" in rows["num_timesteps=2"]["error"]
    assert rows["cls_loss_weight=0.0"]["difference"]["beyond_noise"] is True       # 50 % -> 3 %
    assert rows["eta=0.0"]["difference"]["beyond_noise"] is False                   # 50 % -> 53 %, inside the noise
    base = rows["base"]["adaptive_interval"]
    assert (base["value"], base["n"], base["method"]) == (0.5, 64, "bootstrap")
    assert base["low"] == pytest.approx(0.375, abs=0.02) and base["high"] == pytest.approx(0.625, abs=0.02)
    assert rows["cls_loss_weight=0.0"]["difference"]["interval"]["high"] < 0                # paired, on the same examples
    assert rows["base"]["clean_interval"]["method"] == "wilson" and rows["base"]["clean_interval"]["n"] == 100
    text = (tmp_path / "out" / "sweep.md").read_text()
    assert "**failed**: RuntimeError: point num_timesteps=2 broke" in text
    assert "| paper@8 worst case | paper@16 worst case | adaptive worst case |" in text
    assert "50.0 % [" in text and "(n = 64)" in text and "paired bootstrap, n = 64" in text
    assert "beyond the noise of the evaluation: cls_loss_weight=0.0." in text
    assert (tmp_path / "out" / "sweep.png").stat().st_size > 1000
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["points"][3]["status"] == "failed"


def test_ablation_overrides_change_only_what_they_name():
    base = get_preset("digits").model
    assert with_ablation(base) == base
    changed = with_ablation(base, num_timesteps=8, model_channels=64, num_res_blocks=2, cls_loss_weight=0, eta=0.0)
    assert (changed.num_timesteps, changed.sample_step, changed.unet.model_channels, changed.unet.num_res_blocks,
            changed.cls_loss_weight, changed.eta) == (8, 8, 64, 2, 0.0, 0.0)
    assert changed.unet.channel_mult == base.unet.channel_mult and base.num_timesteps == 4
    with pytest.raises(InputError, match="multiple of 32"):
        with_ablation(base, model_channels=48)
    with pytest.raises(InputError, match="num_timesteps"):
        with_ablation(base, num_timesteps=-2)
    with pytest.raises(InputError, match="at least 3"):
        with_ablation(base, num_timesteps=2)


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory):
    """(grid file, out folder): two points of a smoke grid run once by `idc-lite sweep --smoke`, one after the other,
    for the tests of the command and of the Dask run that must give its table."""
    folder = tmp_path_factory.mktemp("smoke-sweep")
    grid = _grid(folder, name="smoke", base={"num_examples": 8}, vary={"cls_loss_weight": [0.0]})
    out = folder / "out"
    done = subprocess.run([sys.executable, "-m", "idc_lite", "sweep", str(grid), "--smoke", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return grid, out


@pytest.mark.slow
def test_make_sweep_in_smoke_mode_runs_the_notebooks_for_each_point(smoke_sweep):
    """Two points through papermill (notebooks 02 and 04, smoke settings): the ablation parameters reach the
    trained model, and each point's run folder has its own report."""
    _, out = smoke_sweep
    sweep = json.loads((out / "sweep.json").read_text())
    assert [r["status"] for r in sweep["points"]] == ["finished", "finished"]
    record = json.loads((out / "points" / "cls_loss_weight=0.0" / "model.json").read_text())
    assert record["config"]["cls_loss_weight"] == 0.0
    assert json.loads((out / "points" / "base" / "model.json").read_text())["config"]["cls_loss_weight"] == 0.2
    assert (out / "points" / "base" / "summary.md").is_file() and "SMOKE RUN" in (out / "sweep.md").read_text()


@pytest.mark.slow
def test_a_sweep_on_two_dask_workers_makes_the_table_of_a_serial_run(smoke_sweep, tmp_path):
    """The smoke grid as tasks on a LocalCluster of 2 workers: every point's figures, its run folder and the
    table equal those of the serial run (the seconds aside)."""
    grid, serial_out = smoke_sweep
    run_sweep(grid, tmp_path / "parallel", smoke=True, workers=2)
    serial, parallel = (json.loads((folder / "sweep.json").read_text()) for folder in (serial_out, tmp_path / "parallel"))

    def figures(sweep):
        drop = ("seconds", "run")
        return [{k: v for k, v in row.items() if k not in drop} for row in sweep["points"]]

    assert [r["status"] for r in parallel["points"]] == ["finished", "finished"]
    assert figures(parallel) == figures(serial)

    def table(folder):
        return [line.rsplit("|", 2)[0] for line in (folder / "sweep.md").read_text().splitlines() if line.startswith("| ")]

    assert table(tmp_path / "parallel") == table(serial_out)


def test_the_seeds_grid_names_the_claims_points_with_parameters_the_notebooks_take():
    grid = load_grid(REPO / "sweeps" / "digits_seeds.json")
    runs = sweep_runs(grid)
    assert [r["run"] for r in runs] == [f"{p}, seed={s}" for p in ("base", "no inter-class loss") for s in (0, 1, 2)] + [
        "pruned, T = 10", "unpruned, T = 10"]
    assert [r["seed"] for r in runs] == [0, 1, 2, 0, 1, 2, 0, 0]
    unpruned = runs[-1]
    assert [nb.stem for nb in unpruned["notebooks"]] == ["02_train_classifier"]
    assert unpruned["parameters"] == {"num_timesteps": 10, "model_channels": 64, "num_res_blocks": 2}   # 04's dropped
    assert runs[3]["parameters"]["cls_loss_weight"] == 0.0 and runs[0]["parameters"]["eps_255"] == 48.0
    for run in runs:
        check_run_parameters(run["notebooks"], {"smoke": False, "seed": run["seed"], **run["parameters"]})
    assert grid["claims"] == {"C4": {"reference": "base", "other": "no inter-class loss"},
                              "C5": {"reference": "base", "other": "unpruned, T = 10"}}


@pytest.mark.parametrize("content, message", [
    ({"seeds": [0, 0]}, "distinct whole numbers"),
    ({"seeds": [0, "1"]}, "distinct whole numbers"),
    ({"replicate": ["base"]}, "has no 'seeds'"),
    ({"seeds": [0, 1], "replicate": ["bsae"]}, r"unknown: \['bsae'\]"),
    ({"points": {"x": 3}}, "each an object of parameters"),
    ({"points": {"x": {"seed": 3}}}, "sets what the sweep sets itself"),
    ({"points": {"base": {"eta": 0.0}}}, "two points share a name"),
    ({"points": {"x": {"notebooks": []}}}, "non-empty list of notebook names"),
    ({"points": {"x": {"notebooks": [2]}}}, "non-empty list of notebook names"),
    ({"base": {"notebooks": ["04_attack"]}}, "'notebooks' is the grid's own key"),
    ({"seeds": [0, 1], "replicate": None}, "'replicate' must be a list of point names"),
    ({"seeds": [0, 1], "replicate": "base"}, "'replicate' must be a list of point names"),
    ({"seeds": [1], "replicate": ["base"], "points": {"base, seed=1": {"eta": 0.0}}}, "the name of another point's seed run"),
    ({"claims": {"C4": {"reference": ["base"], "other": "base"}}}, "'claims' maps"),
    ({"claims": {"C9": {"reference": "base", "other": "base"}}}, "'claims' maps"),
    ({"claims": {"C4": {"reference": "base", "other": "nothing"}}}, "'claims' maps"),
])
def test_bad_seed_and_point_keys_are_refused_with_a_message(tmp_path, content, message):
    with pytest.raises(GridError, match=message):
        load_grid(_grid(tmp_path, **content))


def _fake_replicate(worst_by_group):
    """A stand-in for 02 / 04 whose scores depend on the point and the training seed (secondary budget too)."""
    def run_point(folder, smoke, seed, parameters, notebooks):
        group = folder.name.split("__seed=")[0]
        main, clean = worst_by_group[group](seed)
        n = len(clean)
        write_metrics(folder, TrainingMetrics(test_accuracy=sum(clean) / n, test_examples=n, flops_per_prediction=4e6,
                                              accuracy_over_draws={"per_example": clean}))
        if any(nb.stem == "04_attack" for nb in notebooks):
            protocol = {"examples": len(main), "draws": 5, "worst_case_per_example": main,
                        "worst_case_accuracy": sum(main) / len(main), "worst_case_rescored": None}
            write_metrics(folder, AttackMetrics(eps=48 / 255, paper_eps=8 / 255, adaptive_protocol=protocol,
                                                adaptive_protocol_secondary=protocol, secondary_eps=16 / 255,
                                                sanity_checks=[{"check": UNDEFENDED_CHECK, "status": "passed"}]))
    return run_point


def test_replicated_points_run_once_per_seed_and_the_claims_are_judged_over_seeds(tmp_path):
    grid = _grid(tmp_path, name="seeds", base={"num_examples": 40, "eps_255": 48.0}, seeds=[0, 1, 2],
                 replicate=["base", "no loss"],
                 points={"no loss": {"cls_loss_weight": 0.0},
                         "wide": {"model_channels": 64, "notebooks": ["02_train_classifier"]}},
                 claims={"C4": {"reference": "base", "other": "no loss"}, "C5": {"reference": "base", "other": "wide"}})

    def right(k, n=40):
        return [1.0] * k + [0.0] * (n - k)
    calls = []
    fake = _fake_replicate({"base": lambda s: (right(20 + s), right(40)), "no_loss": lambda s: (right(4 + s), right(38)),
                            "wide": lambda s: (right(0), right(39))})
    sweep = run_sweep(grid, tmp_path / "out", run_point=lambda *a: calls.append(a[2]) or fake(*a))
    assert calls == [0, 1, 2, 0, 1, 2, 0]                                # training seeds reach the notebooks
    assert sorted(p.name for p in (tmp_path / "out" / "points").iterdir())[:2] == ["base__seed=0", "base__seed=1"]
    groups = sweep["replicates"]
    assert groups["base"]["seeds"] == [0, 1, 2] and groups["base"]["main"]["per_seed"] == [0.5, 0.525, 0.55]
    assert groups["base"]["main"]["method"] == "seed x example bootstrap" and groups["wide"]["main"] is None
    rows = {r["point"]: r for r in sweep["points"]}
    assert rows["no loss, seed=2"]["difference"]["change"] == pytest.approx(-0.4)     # against base, seed=2
    claims = {c["claim"]: c for c in sweep["claims"]}
    assert claims["C4"]["verdict"] == SUPPORTED and claims["C5"]["verdict"] == SUPPORTED
    assert claims["C4"]["values"]["differences"]["48/255"]["seeds"] == [3, 3]
    text = (tmp_path / "out" / "sweep.md").read_text()
    assert "## Over training seeds" in text and "| base | 0, 1, 2 |" in text and "50.0, 52.5, 55.0" in text
    assert "| C4: the inter-class loss helps | **supported** |" in text


def test_a_point_attacked_with_several_seeds_needs_a_fixed_budget(tmp_path):
    """Notebook 04 chooses its main budget from a CNN trained with the run's seed: seeds could be attacked at
    different budgets and pooled, so a replicated point without eps_255 stops the sweep before anything runs."""
    calls = []
    grid = _grid(tmp_path, seeds=[0, 1], points={"wide": {"model_channels": 64, "notebooks": ["02_train_classifier"]}},
                 replicate=["base", "wide"])
    with pytest.raises(GridError, match="'base, seed=0': a point attacked with several seeds needs the main budget fixed"):
        run_sweep(grid, tmp_path / "out", run_point=lambda *a: calls.append(a))
    assert calls == []


def test_groups_pool_seeds_only_when_attacked_alike_and_say_which_checks_failed():
    """A seed attacked at another budget is not pooled (no figure rather than a mixed one); a replicate without
    the undefended-CNN check counts as 'missing', which C4's rule does not take as passed."""
    from idc_lite.runs.replicates import group_runs

    def row(seed, eps, check="passed", failed=()):
        return {"status": "finished", "group": "base", "point": f"base, seed={seed}", "seed": seed, "parameters": {},
                "clean_per_example": [1.0, 0.0], "adaptive_per_example": [1.0, 0.0], "secondary_per_example": [1.0, 1.0],
                "eps_255": eps, "secondary_eps_255": 16.0, "undefended_check": check, "failed_checks": list(failed)}
    alike = group_runs([row(0, 48.0), row(1, 48.0, failed=["doubling EOT"])])["base"]
    assert alike["main"] == [[1.0, 0.0]] * 2 and alike["eps_255"] == 48.0 and alike["failed_checks"] == ["doubling EOT"]
    mixed = group_runs([row(0, 48.0), row(1, 32.0, check=None)])["base"]
    assert mixed["main"] is None and mixed["eps_255"] is None and mixed["secondary"] == [[1.0, 1.0]] * 2
    assert mixed["undefended_checks"] == ["passed", "missing"]


def test_the_costs_of_a_claims_points_are_measured_from_their_models(tmp_path):
    """measure_costs loads each compared point's first model and counts and times it with the kit's one counter and
    timer: a U-Net twice as wide costs about four times the FLOPs; a point without a model keeps what it had."""
    from dataclasses import replace

    from conftest import tiny_config, tiny_data
    from idc_lite.model.classifier import IDCClassifier
    from idc_lite.runs.replicates import measure_costs
    from idc_lite.training.config import TrainConfig
    from idc_lite.training.trainer import Trainer

    for name, width in (("narrow", 32), ("wide", 64)):
        config = tiny_config()
        config.unet = replace(config.unet, model_channels=width)
        (tmp_path / name).mkdir()
        trainer = Trainer(IDCClassifier(config), TrainConfig(epochs=1, batch_size=8, seed=0), tiny_data())
        trainer.save(tmp_path / name / "model.pt")
    groups = {"narrow": {"runs": ["narrow"]}, "wide": {"runs": ["wide"]}, "none": {"runs": ["none"], "flops_per_prediction": 7}}
    measure_costs(groups, {n: tmp_path / n for n in ("narrow", "wide", "none")}, ["narrow", "wide", "none"], batch_size=4)
    assert 3.5 < groups["wide"]["flops_per_prediction"] / groups["narrow"]["flops_per_prediction"] < 4.5
    assert groups["wide"]["n_params"] > 3 * groups["narrow"]["n_params"] and groups["narrow"]["seconds_per_prediction"] > 0
    assert groups["none"] == {"runs": ["none"], "flops_per_prediction": 7}


def test_a_finished_sweep_is_retabulated_from_its_runs_folders(tmp_path):
    """--tabulate rebuilds the table, seeds and claims with the checkout's code from the runs' folders, keeping the
    runs' statuses, commit and times; a folder from another grid is refused."""
    from idc_lite.cli.sweep import main

    grid = _grid(tmp_path, name="seeds", base={"num_examples": 4, "eps_255": 48.0}, seeds=[0, 1],
                 points={"no loss": {"cls_loss_weight": 0.0}}, claims={"C4": {"reference": "base", "other": "no loss"}})
    fake = _fake_replicate({"base": lambda s: ([1.0, 1.0, 0.0, 0.0], [1.0] * 4),
                            "no_loss": lambda s: ([0.0] * 4, [1.0] * 4)})
    first = run_sweep(grid, tmp_path / "out", run_point=fake)
    saved = json.loads((tmp_path / "out" / "sweep.json").read_text())
    saved["commit"], saved["points"][0]["seconds"] = "c" * 40, 123.0
    for row in saved["points"]:
        row.pop("difference")
    saved.pop("claims")
    (tmp_path / "out" / "sweep.json").write_text(json.dumps(saved))
    assert main([str(grid), "--out", str(tmp_path / "out"), "--tabulate"]) == 0
    again = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert again["commit"] == "c" * 40 and again["points"][0]["seconds"] == 123.0
    assert again["claims"] == first["claims"] and again["replicates"] == json.loads(json.dumps(first["replicates"]))
    other = _grid(tmp_path, name="other", base={"eps_255": 48.0}, seeds=[5])
    assert main([str(other), "--out", str(tmp_path / "out"), "--tabulate"]) == 2


def test_runs_that_stopped_are_rerun_alone_and_the_record_names_their_commit(tmp_path, monkeypatch):
    """--rerun-unfinished runs again only the runs that did not finish, into their folders, and rebuilds the
    claims with them; each rerun keeps its commit and its first try's error, the sweep keeps its own commit, and
    the sweep record names the rerun (and refuses one rerun from uncommitted changes)."""
    import idc_lite.sweeps.grid as sweep_module
    import idc_lite.sweeps.rebuild as rebuild
    from idc_lite.cli.sweep import main
    from idc_lite.results.sweep_records import add_sweep, load_sweeps, seeds_block

    grid = _grid(tmp_path, name="seeds", base={"num_examples": 4, "eps_255": 48.0}, seeds=[0, 1],
                 points={"no loss": {"cls_loss_weight": 0.0}}, claims={"C4": {"reference": "base", "other": "no loss"}})
    fake = _fake_replicate({"base": lambda s: ([1.0, 1.0, 0.0, 0.0], [1.0] * 4),
                            "no_loss": lambda s: ([0.0] * 4, [1.0] * 4)})

    def breaks_once(folder, *args):
        if folder.name == "no_loss__seed=1":
            raise RuntimeError("exercise checker rejected the solution")
        return fake(folder, *args)
    monkeypatch.setattr(sweep_module, "repository_commit", lambda: "a" * 40)
    first = run_sweep(grid, tmp_path / "out", run_point=breaks_once)
    assert [r["status"] for r in first["points"]] == ["finished", "finished", "finished", "failed"]
    assert first["replicates"]["no loss"]["seeds"] == [0]
    calls = []
    monkeypatch.setattr(rebuild, "repository_commit", lambda: "b" * 40)
    again = rebuild.rerun_unfinished(grid, tmp_path / "out", run_point=lambda *a: calls.append(a[0].name) or fake(*a))
    assert calls == ["no_loss__seed=1"] and again["commit"] == "a" * 40
    rerun = again["points"][3]["rerun"]
    assert again["points"][3]["status"] == "finished" and rerun["commit"] == "b" * 40
    assert "exercise checker rejected" in rerun["first_try"]["error"] and "rerun" not in again["points"][0]
    assert again["replicates"]["no loss"]["seeds"] == [0, 1]
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["points"][3]["rerun"]["commit"] == "b" * 40
    assert main([str(grid), "--out", str(tmp_path / "out"), "--rerun-unfinished"]) == 2     # nothing left to rerun
    assert main([str(grid), "--out", str(tmp_path / "out"), "--tabulate", "--workers", "2"]) == 2
    assert main([str(grid), "--out", str(tmp_path / "out"), "--tabulate"]) == 0           # keeps the rerun
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["points"][3]["rerun"]["commit"] == "b" * 40
    add_sweep(tmp_path / "out", "seeds", tmp_path / "records")
    block = seeds_block(load_sweeps(tmp_path / "records"))
    assert "were run again: no loss, seed=1 at commit `bbbbbbbbbb`" in block
    assert "exercise checker rejected the solution" in block and "did not finish" not in block
    saved = json.loads((tmp_path / "out" / "sweep.json").read_text())
    saved["points"][3]["rerun"]["commit"] = "b" * 40 + "+changes"
    (tmp_path / "out" / "sweep.json").write_text(json.dumps(saved))
    with pytest.raises(RunFolderError, match=r"\['no loss, seed=1'\] were rerun outside a commit"):
        add_sweep(tmp_path / "out", "seeds", tmp_path / "records")
    saved["points"][3]["rerun"]["commit"] = None                      # rerun outside a git checkout
    (tmp_path / "out" / "sweep.json").write_text(json.dumps(saved))
    with pytest.raises(RunFolderError, match="outside a commit"):
        add_sweep(tmp_path / "out", "seeds", tmp_path / "records")


def test_a_rerun_keeps_the_first_passs_try_and_refuses_a_grid_changed_since(tmp_path, monkeypatch):
    """A run that fails again and is rerun a second time still names the first pass's error; a grid that now gives
    the run other parameters is refused before anything runs (the rerun would mix two grids)."""
    import idc_lite.sweeps.rebuild as rebuild

    grid = _grid(tmp_path, name="toy", base={"epochs": 2}, vary={"num_timesteps": [2]})
    fake = _fake_point({"base": [1.0, 0.0] * 4, "num_timesteps=2": [1.0] * 8})

    def breaks(message):
        def run_point(folder, *args):
            if folder.name == "num_timesteps=2":
                raise RuntimeError(message)
            return fake(folder, *args)
        return run_point
    run_sweep(grid, tmp_path / "out", run_point=breaks("first pass broke"))
    monkeypatch.setattr(rebuild, "repository_commit", lambda: "b" * 40)
    again = rebuild.rerun_unfinished(grid, tmp_path / "out", run_point=breaks("rerun broke"))
    assert again["points"][1]["status"] == "failed" and "rerun broke" in again["points"][1]["error"]
    third = rebuild.rerun_unfinished(grid, tmp_path / "out", run_point=fake)
    assert third["points"][1]["status"] == "finished"
    assert "first pass broke" in third["points"][1]["rerun"]["first_try"]["error"]
    saved = json.loads((tmp_path / "out" / "sweep.json").read_text())
    saved["points"][1]["status"] = "failed"
    (tmp_path / "out" / "sweep.json").write_text(json.dumps(saved))
    calls = []
    changed = _grid(tmp_path, name="toy", base={"epochs": 3}, vary={"num_timesteps": [2]})
    with pytest.raises(GridError, match=r"other parameters than the first pass"):
        rebuild.rerun_unfinished(changed, tmp_path / "out", run_point=lambda *a: calls.append(a))
    assert calls == []

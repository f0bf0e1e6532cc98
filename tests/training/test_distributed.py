"""Training under torchrun: two CPU processes (gloo) reach the weights one process reaches with the same
global batch, only rank 0 writes, and a two-process run resumes exactly.

These start real processes through ``python -m torch.distributed.run`` (torchrun) on the digits
preset in smoke mode (2 batches per epoch) and float32, so the comparison is of arithmetic, not of
bfloat16 rounding."""
import json
import subprocess
import sys
import time

import pytest
import torch

from idc_lite.foundation.errors import InputError
from idc_lite.training import distributed
from idc_lite.training.checkpoint import log_path_for, read_checkpoint
from idc_lite.training.trainer import Trainer

# float32 sums over two half batches against one whole batch, after 4 Adam steps: the weight updates
# agree to 4e-4 of their size (measured; the largest single differences, ~8e-5, sit in biases whose
# gradient is near zero, where Adam's division by sqrt(v) magnifies rounding)
RELATIVE_TOLERANCE = 1e-3


def _train(out, processes: int, *extra: str) -> float:
    args = ["-m", "idc_lite", "train", "--preset", "digits", "--smoke", "--precision", "fp32", "--device", "cpu",
            "--out", str(out), *extra]
    launcher = (["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [])
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *launcher, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return time.perf_counter() - start


def _weights(path) -> dict[str, torch.Tensor]:
    state = read_checkpoint(path)
    return {**{f"unet.{k}": v for k, v in state["unet"].items()}, **{f"ema.{k}": v for k, v in state["ema"].items()}}


@pytest.mark.slow
def test_two_gloo_processes_reach_the_weights_of_one_process_and_resume_exactly(tmp_path, capsys):
    seconds = _train(tmp_path / "one.pt", 1, "--epochs", "2")
    seconds_two = _train(tmp_path / "two.pt", 2, "--epochs", "2")
    _train(tmp_path / "half.pt", 1, "--epochs", "2", "--batch-size", "32")   # what one process alone would do
    one, two, half = (_weights(tmp_path / f"{name}.pt") for name in ("one", "two", "half"))
    start = _weights_at_start()
    difference = _relative_update_difference(one, two, start)
    assert difference < RELATIVE_TOLERANCE, f"two processes differ from one by {difference:.2e} of the update"
    # the control: training on half the global batch moves the weights elsewhere, far beyond the tolerance
    assert _relative_update_difference(one, half, start) > 50 * RELATIVE_TOLERANCE

    # only rank 0 wrote: one checkpoint, one record, one log with a line per epoch, each naming 2 processes
    record = json.loads((tmp_path / "two.json").read_text())
    log = [json.loads(line) for line in log_path_for(tmp_path / "two.pt").read_text().splitlines()]
    assert [entry["epoch"] for entry in log] == [1, 2] and {entry["processes"] for entry in log} == {2}
    assert record["epoch"] == 2 and record["global_step"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}{suffix}" for name in ("one", "two", "half") for suffix in (".pt", ".json", ".log.jsonl"))

    # preempted after epoch 1 and resumed with two processes: the same weights, bit for bit
    _train(tmp_path / "resumed.pt", 2, "--epochs", "1")
    _train(tmp_path / "resumed.pt", 2, "--epochs", "2", "--resume")
    resumed = _weights(tmp_path / "resumed.pt")
    assert all(torch.equal(resumed[k], two[k]) for k in two)
    with capsys.disabled():
        print(f"\n[two-process test] one process {seconds:.1f} s, two gloo processes {seconds_two:.1f} s "
              f"(2 epochs of 2 batches each, process start included); updates differ by {difference:.1e} of their size")


def _relative_update_difference(a: dict, b: dict, start: dict) -> float:
    """||(a - start) - (b - start)|| / ||a - start|| over the U-Net's raw weights."""
    keys = [k for k in start if k.startswith("unet.")]
    difference = sum(((a[k] - b[k]) ** 2).sum() for k in keys) ** 0.5
    update = sum(((a[k] - start[k]) ** 2).sum() for k in keys) ** 0.5
    return (difference / update).item()


def _weights_at_start() -> dict[str, torch.Tensor]:
    """The digits preset's initial weights (seed 0), as a checkpoint would store them."""
    from idc_lite.data.datasets import load_dataset
    from idc_lite.model.classifier import IDCClassifier
    from idc_lite.training.presets import get_preset

    preset = get_preset("digits")
    trainer = Trainer(IDCClassifier(preset.model), preset.train, load_dataset("digits"))
    state = trainer.model.unet.state_dict()
    return {**{f"unet.{k}": v for k, v in state.items()}, **{f"ema.{k}": v for k, v in state.items()}}


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused(monkeypatch):
    from idc_lite.data.datasets import load_dataset
    from idc_lite.model.classifier import IDCClassifier
    from idc_lite.training.presets import get_preset

    preset = get_preset("digits")
    monkeypatch.setattr(distributed, "current", lambda: (0, 3))
    with pytest.raises(InputError, match="global batch of 64 does not split evenly over 3 processes"):
        Trainer(IDCClassifier(preset.model), preset.train, load_dataset("digits"))


def test_start_outside_torchrun_says_how_to_launch(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert not distributed.launched_by_torchrun() and distributed.current() == (0, 1)
    with pytest.raises(InputError, match="torchrun --nproc_per_node"):
        distributed.start()
    values = torch.tensor([1.0, 2.0])
    assert distributed.mean_over_processes(values) is values      # one process: nothing to average

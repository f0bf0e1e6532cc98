"""What one digits training step costs under the settings a user might change (printed, never asserted).

    python benchmarks/step_costs.py [--compile]

Measured on the digits preset, batch 64: the float32 step (2 torch threads on a 2-core machine),
bfloat16 autocast (what the preset's precision='auto' picks where the CPU has bf16 natively), one
thread, ``channels_last`` memory layout, the checkpoint the training loop writes every epoch
(atomic, fsync'd), and, with ``--compile``, ``torch.compile`` (its compile time and the steps it
must save to pay that back).  A CPU training step is dominated by convolutions (oneDNN).  Measured
on a 2-core AMD EPYC at 181 GFLOP/s (float32 against float32): one thread +79 %, channels_last
+19 % (slower), torch.compile -4 % after 63 s of compiling, a checkpoint 1.3 % of an epoch; so
those defaults are kept.  bfloat16 autocast on that CPU (AVX512-BF16): 0.14 s against 0.21 s (at 184 GFLOP/s).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from timing import seconds_per_call, synthetic_trainer, training_step

from idc_lite.data.datasets import load_dataset
from idc_lite.foundation.machine import describe_machine, machine_info, native_bf16


def _seconds_per_step(trainer, x: torch.Tensor, labels: torch.Tensor, repeats: int = 10) -> float:
    return seconds_per_call(training_step(trainer, x, labels), repeats, warmup=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (needs a C++ compiler)")
    args = parser.parse_args()
    print(f"machine: {describe_machine(machine_info())}")
    rows = []
    trainer, x, labels = synthetic_trainer("digits", 64, precision="fp32")
    base = _seconds_per_step(trainer, x, labels)
    rows.append(("float32 step", base, ""))
    auto = synthetic_trainer("digits", 64)[0].precision
    rows.append(("bfloat16 autocast", _seconds_per_step(*synthetic_trainer("digits", 64, precision="bf16")),
                 f"the preset's precision='auto' picks {auto} here (native bf16: {native_bf16()})"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows.append(("one torch thread", _seconds_per_step(trainer, x, labels), f"the default uses {threads}"))
    torch.set_num_threads(threads)
    trainer.model.unet.to(memory_format=torch.channels_last)
    rows.append(("channels_last", _seconds_per_step(trainer, x.contiguous(memory_format=torch.channels_last), labels), ""))
    trainer.model.unet.to(memory_format=torch.contiguous_format)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        trainer.save(path)
        start = time.perf_counter()
        for _ in range(5):
            trainer.save(path)
        save = (time.perf_counter() - start) / 5
    digits_batches = load_dataset("digits").x_train.shape[0] // trainer.config.batch_size   # drop_last, as training
    rows.append(("checkpoint write (atomic, fsync)", save,
                 f"{100 * save / (base * digits_batches):.1f} % of a {digits_batches}-batch digits epoch"))
    if args.compile:
        trainer, x, labels = synthetic_trainer("digits", 64, precision="fp32")
        start = time.perf_counter()
        trainer.model.unet = torch.compile(trainer.model.unet)
        _seconds_per_step(trainer, x, labels, repeats=1)      # compiles during its warm-up steps
        compile_seconds = time.perf_counter() - start
        compiled = _seconds_per_step(trainer, x, labels)
        saved = base - compiled
        note = f"compile and first 3 steps {compile_seconds:.0f} s" + (
            f"; pays back after {compile_seconds / saved:.0f} steps" if saved > 0 else "; never pays back")
        rows.append(("torch.compile", compiled, note))
    print("| setting | seconds | against the float32 step | note |")
    print("|---|---|---|---|")
    for name, seconds, note in rows:
        versus = "–" if name.startswith("checkpoint") else f"{100 * (seconds / base - 1):+.0f} %"   # against float32
        print(f"| {name} | {seconds:.4f} | {versus} | {note} |")


if __name__ == "__main__":
    main()

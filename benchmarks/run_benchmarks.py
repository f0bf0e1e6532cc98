"""Speed, size and memory figures of the kit on this machine (printed, never asserted).

    python benchmarks/run_benchmarks.py [--skip-cifar] [--device cuda]

First the machine: CPU model, cores, torch threads and a measured float32 matmul rate.  Then, per
preset: U-Net parameters, FLOPs per network call and per prediction, training images per second (in
the preset's precision: the digits preset's 'auto' trains in bfloat16 where the CPU has it natively),
float32 predictions per second, seconds for one PGD step per image (a gradient through the whole
sampler: the official 4-call sampler, the 3-call twin attacks use, and the twin with its U-Net calls
in bfloat16), the fraction of the float32 matmul rate that training and prediction reach (FLOPs from
torch's own counter), and peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import resource

import torch
from timing import seconds_per_call, synthetic_trainer, training_step

from idc_lite.evaluation.attacks import loss_and_grad
from idc_lite.foundation.cost_meter import count_flops
from idc_lite.foundation.machine import describe_machine, machine_info, matmul_gflops
from idc_lite.model.unet import count_parameters


def _flops(fn) -> int:
    """FLOPs of fn() as it runs (a training step's backward included)."""
    return count_flops(fn, gradients=True)


def bench_preset(name: str, train_batch: int, classify_batch: int, repeats: int, matmul_rate: float,
                 device: str = "cpu") -> dict:
    trainer, x, labels = synthetic_trainer(name, train_batch, device)
    model = trainer.model
    g = torch.Generator(device).manual_seed(0)   # the sampler's noise
    train_step = training_step(trainer, x, labels)
    per_batch = seconds_per_call(train_step, repeats)
    train_flops = _flops(train_step)
    model.eval()
    xc, yc = x[:classify_batch], labels[:classify_batch]
    with torch.no_grad():
        per_image = seconds_per_call(lambda: model(xc, generator=g), repeats) / classify_batch
        predict_flops = _flops(lambda: model(xc[:1], generator=g))
    pgd_step = {}
    for sampler, target in (("4-call", model), ("3-call", model.gradient_twin()),
                            ("3-call bf16", model.gradient_twin("bf16"))):
        gradient = lambda target=target: loss_and_grad(target, xc, yc, "ce", g)  # noqa: E731
        pgd_step[sampler] = seconds_per_call(gradient, max(1, repeats // 2)) / len(xc)
    return {"preset": name, "params": count_parameters(model.unet),
            "flops_per_call": predict_flops // model.bridge.num_network_calls,
            "calls_per_prediction": model.bridge.num_network_calls, "flops_per_prediction": predict_flops,
            "train_batch": train_batch, "seconds_per_train_batch": round(per_batch, 4),
            "train_precision": trainer.precision, "train_images_per_second": round(train_batch / per_batch, 1),
            "train_fraction_of_matmul_rate": round(train_flops / per_batch / (matmul_rate * 1e9), 3),
            "predictions_per_second": round(1 / per_image, 1),
            "predict_fraction_of_matmul_rate": round(predict_flops / per_image / (matmul_rate * 1e9), 3),
            "seconds_per_pgd_step_per_image": {k: round(v, 5) for k, v in pgd_step.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cifar", action="store_true", help="skip the paper-size CIFAR-10 U-Net (slow on CPUs; "
                                                                 "the cifar10_cpu preset always runs)")
    parser.add_argument("--device", default="cpu", help="'cpu' (default) or a GPU, e.g. 'cuda'; shares are of that "
                                                            "device's float32 matmul rate")
    args = parser.parse_args()
    machine = machine_info()
    rate = machine["matmul_gflops_float32_2048"]
    if args.device != "cpu":
        machine["device_matmul_gflops_float32_2048"] = rate = round(matmul_gflops(device=args.device), 1)
    print(f"machine: {describe_machine(machine)}; torch {torch.__version__}, cuda: {torch.cuda.is_available()}"
          + (f"; benchmarks on {machine.get('gpu')} measuring {rate:.0f} GFLOP/s" if args.device != "cpu" else ""))
    on_gpu = args.device != "cpu"        # a GPU is measured at the paper's batch (64) and larger predictions
    rows = [bench_preset("digits", 64, 128, 5, rate, args.device), bench_preset("mnist", 64, 128, 3, rate, args.device),
            bench_preset("cifar10_cpu", 64, 64, 3, rate, args.device)]
    if not args.skip_cifar:
        rows.append(bench_preset("cifar10", 64 if on_gpu else 32, 256 if on_gpu else 8, 5 if on_gpu else 1, rate,
                                 args.device))
    print("| preset | params | GFLOP / call x calls | train img/s (precision) | share of matmul rate | predictions/s | share | "
          "PGD step / image, 4-call | 3-call | 3-call bf16 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pgd = r["seconds_per_pgd_step_per_image"]
        print(f"| {r['preset']} | {r['params'] / 1e6:.2f} M | {r['flops_per_call'] / 1e9:.3f} x {r['calls_per_prediction']} | "
              f"{r['train_images_per_second']:.0f} ({r['train_precision']}) | {100 * r['train_fraction_of_matmul_rate']:.0f} % | "
              f"{r['predictions_per_second']:.0f} | {100 * r['predict_fraction_of_matmul_rate']:.0f} % | "
              f"{1e3 * pgd['4-call']:.1f} ms | {1e3 * pgd['3-call']:.1f} ms | {1e3 * pgd['3-call bf16']:.1f} ms |")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mib:.0f} MiB")
    print(json.dumps({"machine": machine, "rows": rows, "peak_rss_mib": round(peak_mib)}, indent=1))


if __name__ == "__main__":
    main()

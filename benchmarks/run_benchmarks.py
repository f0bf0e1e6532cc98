"""Speed, size and memory figures of the kit on this machine (printed, never asserted).

    python benchmarks/run_benchmarks.py [--skip-cifar]

Reports, per preset: U-Net parameters, FLOPs per network call and per prediction, seconds per
training batch, seconds per classified image, and the process's peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from idc_lite.classifier import IDCClassifier
from idc_lite.presets import get_preset
from idc_lite.train import Trainer
from idc_lite.unet import count_flops, count_parameters


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def bench_preset(name: str, train_batch: int, classify_batch: int, repeats: int) -> dict:
    preset = get_preset(name)
    cfg = preset.model
    model = IDCClassifier(cfg)
    shape = cfg.image_shape
    g = torch.Generator().manual_seed(0)
    x = torch.rand(train_batch, *shape, generator=g)
    labels = torch.randint(0, cfg.num_classes, (train_batch,), generator=g)

    from idc_lite.data import DataSplit
    data = DataSplit(x, labels, x[:2], labels[:2], [str(i) for i in range(cfg.num_classes)], {"dataset": "random"})
    trainer = Trainer(model, preset.train, data)
    model.train()

    def train_step():
        terms = trainer.loss_on_batch(x, labels)
        terms.loss.backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)

    per_batch = _time(train_step, repeats)
    model.eval()
    xc = x[:classify_batch]
    with torch.no_grad():
        per_image = _time(lambda: model(xc, generator=g), repeats) / classify_batch
    flops = count_flops(model.unet, shape)
    return {"preset": name, "params": count_parameters(model.unet), "flops_per_call": flops,
            "calls_per_prediction": model.bridge.num_network_calls,
            "flops_per_prediction": flops * model.bridge.num_network_calls,
            "train_batch": train_batch, "seconds_per_train_batch": round(per_batch, 3),
            "seconds_per_image": round(per_image, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cifar", action="store_true", help="skip the paper-size CIFAR-10 U-Net (slow on CPUs)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cuda: {torch.cuda.is_available()}")
    rows = [bench_preset("digits", 64, 128, 5), bench_preset("mnist", 128, 128, 3)]
    if not args.skip_cifar:
        rows.append(bench_preset("cifar10", 64, 16, 1))
    for r in rows:
        print(f"{r['preset']:>8}: {r['params'] / 1e6:.2f} M params, {r['flops_per_call'] / 1e9:.3f} GFLOP/call x "
              f"{r['calls_per_prediction']} calls, {r['seconds_per_train_batch']:.3f} s per training batch of "
              f"{r['train_batch']}, {1000 * r['seconds_per_image']:.1f} ms per classified image")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mib:.0f} MiB")
    print(json.dumps({"rows": rows, "peak_rss_mib": round(peak_mib)}, indent=1))


if __name__ == "__main__":
    main()

"""Accuracy per sampler seed, at batch size 1 and K, with the kit's noise stream and with the raw one.

    python benchmarks/seed_bias.py runs/NAME/model.pt [--seeds 21] [--paper-examples 100]

Prints Markdown (never asserts).  "raw stream" feeds the sampler the normals of
``Generator().manual_seed(seed)`` itself, as the kit did before the sampler spawned its own stream
(:mod:`idc_lite.foundation.streams`); "kit stream" is what the classifier draws now.  The label images come from
seed 0's first normals, so with the raw stream seed 0 pushes example i of a batch towards class i.
The last table is the paper protocol's wrapper (probabilities, the same noise at every query) on the
first test images, with both streams: its clean accuracy is what that protocol's robust count starts from.
"""
from __future__ import annotations

import argparse

import torch

from idc_lite.evaluation.scoring import PaperProtocolModel
from idc_lite.foundation.machine import describe_machine, machine_info
from idc_lite.training.checkpoint import load_checkpoint_data, load_classifier


def _draws(model, batch: int, seed: int, raw: bool) -> list[torch.Tensor]:
    shape = (batch, *model.config.image_shape)
    if raw:
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(shape, generator=g) for _ in range(model.bridge.num_noise_draws)]
    with torch.no_grad():
        return model.sample(torch.zeros(shape), generator=torch.Generator().manual_seed(seed)).noise


@torch.no_grad()
def accuracy(model, x, labels, seed: int, batch: int, raw: bool) -> float:
    """Every batch of ``batch`` images called with a fresh generator seeded ``seed`` (same draws each batch)."""
    draws = _draws(model, batch, seed, raw)
    repeats = -(-x.shape[0] // batch)
    tiled = [d.repeat(repeats, 1, 1, 1)[:x.shape[0]] for d in draws]
    return (model(x, noise=tiled).argmax(1) == labels).float().mean().item()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--seeds", type=int, default=21)
    parser.add_argument("--paper-examples", type=int, default=100)
    args = parser.parse_args(argv)
    model = load_classifier(args.model)
    data = load_checkpoint_data(args.model)
    x, labels = data.x_test, data.y_test
    k = model.config.num_classes
    print(f"{len(labels)} test images; {describe_machine(machine_info())}\n")
    print("| seed | raw, batch 1 | raw, batch " + str(k) + " | kit, batch 1 | kit, batch " + str(k) + " |")
    print("|---|---|---|---|---|")
    for seed in range(args.seeds):
        cells = [accuracy(model, x, labels, seed, b, raw) for raw in (True, False) for b in (1, k)]
        print(f"| {seed} | " + " | ".join(f"{100 * c:.1f} %" for c in cells) + " |")
    n = min(args.paper_examples, len(labels))
    print(f"\nPaper protocol wrapper (seed 0, same noise every query), clean accuracy on the first {n} test images:\n")
    wrapper = PaperProtocolModel(model)
    with torch.no_grad():
        kit = (wrapper(x[:n]).argmax(1) == labels[:n]).float().mean().item()
        raw_noise = _draws(model, n, 0, raw=True)
        raw = (model(x[:n], noise=raw_noise).argmax(1) == labels[:n]).float().mean().item()
    print(f"| stream | clean accuracy |\n|---|---|\n| raw (before) | {100 * raw:.1f} % |\n| kit (after) | {100 * kit:.1f} % |")


if __name__ == "__main__":
    main()

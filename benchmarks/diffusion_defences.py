"""Design figures of the diffusion defences on the digits (printed, not asserted): training time, and clean
accuracy and seconds per test set against DiffPure's t* and reverse steps and the likelihood classifier's timesteps.

    python benchmarks/diffusion_defences.py CNN_FILE [--epochs 40] [--out runs/defences-trial]

CNN_FILE: a standard CNN of a digits run (``runs/<run>/cnn.pt``), the classifier behind the purification.  The
two denoisers (unconditional and class-conditional, the digits preset's U-Net) are trained into ``--out``, or
loaded from there when made with the same settings.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from idc_lite.comparisons.baselines import load_cnn
from idc_lite.data.datasets import load_digits
from idc_lite.defences.ddpm import DDPMConfig, DenoiserRecipe
from idc_lite.defences.likelihood import DiffusionLikelihoodClassifier, spread_timesteps
from idc_lite.defences.purification import DiffPure
from idc_lite.defences.store import load_or_train_denoiser
from idc_lite.foundation.machine import machine_info
from idc_lite.training.presets import get_preset

PURIFICATION = ((50, 5), (100, 5), (200, 5), (100, 101))        # (t*, reverse steps); t* + 1 steps: the full chain
LIKELIHOOD = ((2, 0.05, 0.3), (4, 0.05, 0.5), (8, 0.05, 0.5), (16, 0.02, 0.5))   # (timesteps, low, high)


def _accuracy(model, x, y, batch=64, generator=None) -> tuple[float, float]:
    started = time.perf_counter()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + batch], generator=generator).argmax(1) for i in range(0, len(x), batch)])
    return (pred == y).float().mean().item(), time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cnn", type=Path)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("runs/defences-trial"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_digits()
    unet = dataclasses.replace(get_preset("digits").model.unet, dropout=0.0)
    recipe, ddpm = DenoiserRecipe(epochs=args.epochs, seed=0), DDPMConfig()
    print(json.dumps({"machine": machine_info(), "test_images": len(data.y_test), "recipe": recipe.to_dict()}))
    started = time.perf_counter()
    plain, schedule, _ = load_or_train_denoiser(args.out / "ddpm.pt", data.x_train, unet, ddpm, recipe, data_info=data.info)
    print(json.dumps({"denoiser": "unconditional", "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    started = time.perf_counter()
    conditional, _, _ = load_or_train_denoiser(args.out / "ddpm_cond.pt", data.x_train, unet, ddpm, recipe,
                                               data_info=data.info, labels=data.y_train, num_classes=10)
    print(json.dumps({"denoiser": "class-conditional", "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    cnn = load_cnn(args.cnn)
    x, y = data.x_test, data.y_test
    print(json.dumps({"model": "standard CNN", "clean": round(_accuracy(cnn, x, y)[0], 4)}), flush=True)
    for t_star, steps in PURIFICATION:
        acc, seconds = _accuracy(DiffPure(plain, schedule, cnn, t_star, steps), x, y, generator=torch.Generator().manual_seed(0))
        print(json.dumps({"model": "DiffPure", "t_star": t_star, "reverse_steps": steps, "clean": round(acc, 4),
                          "seconds": round(seconds, 1)}), flush=True)
    for count, low, high in LIKELIHOOD:
        timesteps = spread_timesteps(schedule, count, low, high)
        acc, seconds = _accuracy(DiffusionLikelihoodClassifier(conditional, schedule, (1, 16, 16), timesteps), x, y)
        print(json.dumps({"model": "likelihood classifier", "timesteps": timesteps, "clean": round(acc, 4),
                          "seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()

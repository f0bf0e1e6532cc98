"""Retrain every shipped reference model at its record's settings and compare it with the shipped file
(printed as Markdown, never asserted).

    python benchmarks/shipped_models.py [--out runs/shipped-check] [--only idc,cnn]

Each model is trained by the notebooks' own code (``IDC_LITE_SHIPPED_MODELS=0``, so nothing shipped is taken)
into ``--out``, or loaded from there when an earlier call trained it with the same settings.  Printed per model:
the largest weight difference from the shipped file (the float16 ones compared after rounding the retrained
weights the same way), and for the classifiers the clean accuracy of both with its interval.  Training with
bfloat16 autocast ('auto' precision on a machine with native bf16) gives other weights on a machine without it,
so identical weights are expected only on a machine of the record's kind; the accuracy should agree anywhere.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from idc_lite.comparisons.baselines import load_or_train_cnn
from idc_lite.comparisons.reference_models import load_reference, measured_clean_accuracy
from idc_lite.data.datasets import load_digits
from idc_lite.defences.ddpm import DDPMConfig, DenoiserRecipe
from idc_lite.defences.store import load_or_train_denoiser
from idc_lite.evaluation.attacks import PGDSettings
from idc_lite.foundation.machine import describe_machine, machine_info
from idc_lite.foundation.runtime import SHIPPED_ENV, environment
from idc_lite.foundation.uncertainty import format_estimate
from idc_lite.model.classifier import IDCClassifier
from idc_lite.model.config import IDCConfig
from idc_lite.model.unet import UNetConfig
from idc_lite.shipped import catalogue, reference_names, reference_record
from idc_lite.training.checkpoint import load_classifier
from idc_lite.training.config import TrainConfig
from idc_lite.training.trainer import Trainer


def retrain(name: str, out: Path, data) -> torch.nn.Module:
    """Shipped model ``name`` trained again at its record's settings (or loaded from ``out``)."""
    record = reference_record(name)
    s, path = record["settings"], out / f"{name}.pt"
    with environment(**{SHIPPED_ENV: "0"}):
        if record["kind"] == "idc":
            if not path.exists():
                trainer = Trainer(IDCClassifier(IDCConfig.from_dict(s["config"])), TrainConfig.from_dict(s["train_config"]), data)
                trainer.train(checkpoint_path=path, progress=False)
                trainer.save(path)
            return load_classifier(path)
        if record["kind"] == "cnn":
            adversarial = PGDSettings(**s["adversarial"]) if s["adversarial"] else None
            return load_or_train_cnn(path, data, epochs=s["epochs"], seed=s["seed"], adversarial=adversarial)[0]
        unet, _, _ = load_or_train_denoiser(path, data.x_train, UNetConfig(**s["unet"]), DDPMConfig(**s["ddpm"]),
                                            DenoiserRecipe(**s["recipe"]), data_info=data.info, labels=data.y_train,
                                            num_classes=s["num_classes"])
        return unet


def weight_difference(shipped: torch.nn.Module, retrained: torch.nn.Module, dtype: str) -> float:
    """The largest absolute difference between the two models' weights, in the shipped file's dtype."""
    cast = getattr(torch, dtype)
    a, b = shipped.state_dict(), retrained.state_dict()
    return max(float((a[k].to(cast).float() - b[k].to(cast).float()).abs().max()) for k in a if a[k].is_floating_point())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/shipped-check", help="where the retrained models go (reused there)")
    parser.add_argument("--only", default="", help="comma-separated names (default: every shipped model)")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or reference_names()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_digits()
    source = catalogue()["source"]
    print(f"- shipped from: commit {source['commit'][:10]}, {describe_machine(source['machine'])}")
    print(f"- retrained {describe_machine(machine_info())}\n")
    print("| model | stored | seconds | largest weight difference | clean accuracy, shipped | clean accuracy, retrained |")
    print("|---|---|---|---|---|---|")
    for name in names:
        record = reference_record(name)
        started = time.perf_counter()
        model = retrain(name, out, data)
        seconds = time.perf_counter() - started
        shipped = load_reference(name)
        unet_a = shipped.unet if record["kind"] == "idc" else shipped
        unet_b = model.unet if record["kind"] == "idc" else model
        difference = weight_difference(unet_a, unet_b, record["stored_dtype"])
        clean = ["–", "–"]
        if record["kind"] != "denoiser":
            clean = [format_estimate(measured_clean_accuracy(m, record["kind"], data)) for m in (shipped, model)]
        print(f"| {name} | {record['stored_dtype']} | {seconds:.0f} | {difference:.3g} | {clean[0]} | {clean[1]} |", flush=True)


if __name__ == "__main__":
    main()

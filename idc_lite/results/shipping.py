"""Ship a run's models with the kit (``idc-lite results ship RUN``): each one slimmed to the weights a lab uses,
written into :mod:`idc_lite.shipped`'s folder with a catalogue that records where it came from.

IDC and its ablation keep their EMA weights in float32, exactly as the run evaluated them; the CNNs and the
denoisers are stored in float16 (the package stays under ``MAX_TOTAL_BYTES``), so their records also give what
the rounding did: the clean accuracy before and after for a CNN, the largest change of a denoiser's output."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from idc_lite.comparisons.baselines import cnn_settings, load_cnn
from idc_lite.comparisons.reference_models import measured_clean_accuracy
from idc_lite.defences.store import denoiser_settings, load_denoiser
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.files import atomic_save, atomic_write_json, file_sha256, read_torch_file
from idc_lite.foundation.streams import seeded
from idc_lite.shipped.catalogue import CATALOGUE, FILES, MAX_TOTAL_BYTES
from idc_lite.training.checkpoint import load_checkpoint_data, load_classifier, read_checkpoint
from idc_lite.training.load_or_train import stored_training_settings

# name: (the run's file, kind, stored dtype, the run's robustness entry)
SHIPPED = {
    "idc": ("model.pt", "idc", "float32", "IDC"),
    "idc_no_interclass": ("ablation_no_interclass.pt", "idc", "float32", "IDC without inter-class loss"),
    "cnn": ("cnn.pt", "cnn", "float16", "standard CNN"),
    "adv_cnn": ("adv_cnn.pt", "cnn", "float16", "adversarially trained CNN"),
    "ddpm": ("ddpm.pt", "denoiser", "float16", "DiffPure-style purification"),
    "ddpm_class_conditional": ("ddpm_class_conditional.pt", "denoiser", "float16", "RDC-style diffusion classifier"),
}


def _half(state: dict) -> dict:
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def _slim_idc(source: Path) -> tuple[dict, dict]:
    """(the file's contents: the EMA weights as ``unet``, no optimiser; the settings the reuse rule compares, as
    notebook 02 reads them from a checkpoint)."""
    state = read_checkpoint(source)
    weights = state["ema"] if state.get("ema") is not None else state["unet"]
    slim = {key: state[key] for key in ("format", "config", "train_config", "data_info", "class_names", "progress")}
    slim.update(unet=weights, ema=None)
    return slim, stored_training_settings(source)


def _robustness(summary: dict, entry: str) -> dict:
    """The run's adaptive-protocol worst cases of one model, per budget, with n and interval."""
    out = {}
    for key, protocol in summary["robustness"].get(entry, {}).get("protocols", {}).items():
        if key.startswith("adaptive@"):
            out[key] = {"worst_case_accuracy": protocol["worst_case_accuracy"], "interval": protocol["worst_case_interval"],
                        "clean_accuracy": protocol["clean_accuracy"], "examples": protocol["examples"],
                        "draws": protocol["draws"], "scoring_rule": protocol["scoring_rule"]}
    return out


def _denoiser_rounding(source: Path, target: Path, data) -> float:
    """The largest change the float16 weights make to the denoiser's output on 64 noised test images, each at a
    timestep of its own, relative to the output's largest magnitude."""
    before, after = load_denoiser(source), load_denoiser(target)
    g = seeded(0, "shipping/denoiser-check")
    x = data.x_test[:64] * 2 - 1
    t = torch.randint(0, 1000, (x.shape[0],), generator=g)
    x_t = x + torch.randn(x.shape, generator=g) * 0.5
    conditional = getattr(before, "num_classes", None)
    args = (data.y_test[:64],) if conditional else ()
    with torch.no_grad():
        a, b = before(x_t, t, *args), after(x_t, t, *args)
    return float((a - b).abs().max() / a.abs().max())


CLEAN_PROTOCOL = ("the whole test split; IDC: one-draw accuracy averaged over 5 sampler-noise draws (stream "
                  "seeded(0, 'defences/clean'), bootstrap interval); a CNN: one pass (Wilson interval)")


def ship_run(run: str | Path, out: str | Path = FILES, record_name: str | None = None) -> dict:
    """Write the shipped models of ``run`` (a finished ``make reproduce`` of the digits default) and their
    catalogue into ``out``; ``record_name``: the results record made from the same run, if any.  Returns the
    catalogue."""
    run, out = Path(run), Path(out)
    summary_path = run / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{run} is not a finished run folder (no summary.json)")
    summary = json.loads(summary_path.read_text())
    if summary.get("smoke") or summary.get("lab") or (summary.get("parameters") or {}).get("lab"):
        raise InputError(f"{run} is a smoke or lab-size run: it is not what reference models come from")
    missing = [file for file, *_ in SHIPPED.values() if not (run / file).is_file()]
    if missing:
        raise InputError(f"{run} lacks {', '.join(missing)}: ship a run of all seven notebooks")
    if "main_budget" not in summary:
        raise InputError(f"{run}'s summary names no main budget: ship a run of all seven notebooks")
    data = load_checkpoint_data(run / "model.pt")
    final, out = out, out.with_name(out.name + ".new")      # built beside, swapped in when complete: a failed
    if out.exists():                                        # shipping leaves the installed models as they were
        shutil.rmtree(out)
    out.mkdir(parents=True)
    models = {}
    for name, (file, kind, dtype, entry) in SHIPPED.items():
        source, target = run / file, out / f"{name}.pt"
        if kind == "idc":
            slim, settings = _slim_idc(source)
            seed = settings["train_config"]["seed"]
        else:
            slim = read_torch_file(source)
            slim["state_dict"] = _half(slim["state_dict"])
            settings = cnn_settings(source) if kind == "cnn" else denoiser_settings(source)
            seed = settings["seed"] if kind == "cnn" else settings["recipe"]["seed"]
        atomic_save(slim, target)
        record = {"file": target.name, "kind": kind, "stored_dtype": dtype, "bytes": target.stat().st_size,
                  "sha256": file_sha256(target), "run_file": file, "seed": seed, "settings": settings,
                  "robustness": _robustness(summary, entry), "robustness_of": entry}
        if kind == "idc":
            record["clean_accuracy"] = measured_clean_accuracy(load_classifier(target), kind, data)
        elif kind == "cnn":
            record["clean_accuracy"] = measured_clean_accuracy(load_cnn(target), kind, data)
            record["clean_accuracy_float32"] = measured_clean_accuracy(load_cnn(source), kind, data)
        else:
            record["largest_output_change_from_float16"] = _denoiser_rounding(source, target, data)
        models[name] = record
    total = sum(r["bytes"] for r in models.values())
    if total > MAX_TOTAL_BYTES:
        shutil.rmtree(out)
        raise InputError(f"the shipped models would take {total:,} bytes, over the kit's {MAX_TOTAL_BYTES:,}")
    result = {"source": {"run": f"runs/{run.name}", "record": record_name, "commit": summary.get("commit"),
                         "main_eps_255": summary["main_budget"]["eps_255"],
                         "created": summary.get("created"),
                         "machine": summary.get("machine"), "preset": summary.get("preset"), "data": summary.get("data")},
              "clean_accuracy_protocol": CLEAN_PROTOCOL, "total_bytes": total, "models": models}
    atomic_write_json(result, out / CATALOGUE)
    if final.exists():
        shutil.rmtree(final)
    out.rename(final)
    return result

"""The kit's checkpoint format: a ``.pt`` of plain tensors and values (read without running
pickled code), a JSON record beside it holding the settings, data split, metrics and the ``.pt``'s
SHA-256, and a training log (one JSON line per epoch).  :func:`load_classifier` is the way in."""
from __future__ import annotations

import json
from pathlib import Path

from idc_lite.data.datasets import data_identity, same_data
from idc_lite.data.splits import DataSplit
from idc_lite.foundation.errors import CheckpointError, InputError, StaleRecordError
from idc_lite.foundation.files import (
    atomic_write_json,
    file_sha256,
    library_versions,
    read_torch_file,
)
from idc_lite.foundation.validation import check_choice
from idc_lite.model.classifier import IDCClassifier
from idc_lite.model.config import IDCConfig

CHECKPOINT_FORMAT = "idc_lite-checkpoint-1"


def log_path_for(checkpoint: str | Path) -> Path:
    """The training log beside a checkpoint: model.pt -> model.log.jsonl (one JSON record per epoch)."""
    return Path(checkpoint).with_suffix(".log.jsonl")


def json_entry(state: dict, key: str, path) -> object:
    """A JSON-encoded entry of a checkpoint, with an error naming the file and key."""
    if key not in state:
        raise CheckpointError(f"{path} has no {key!r} entry (was it edited by hand?)")
    try:
        return json.loads(state[key])
    except (TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: the {key!r} entry is not valid JSON ({err})") from None


def built_from_stored(path, key: str, build):
    """``build()`` a configuration read from a checkpoint; bad values name the file and key."""
    try:
        return build()
    except InputError as err:
        raise CheckpointError(f"{path}: the stored {key!r} is not valid: {err}") from None


def model_config_from(state: dict, path) -> IDCConfig:
    return built_from_stored(path, "config", lambda: IDCConfig.from_dict(json_entry(state, "config", path)))


def read_checkpoint(path: str | Path) -> dict:
    """Read a kit checkpoint safely and check its format."""
    state = read_torch_file(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        if isinstance(state, dict) and "model" in state and "format" not in state:
            raise CheckpointError(f"{path} looks like a checkpoint of the authors' code; give it to notebook 02 as "
                                  "model_path (with the preset it was trained with), or load it with "
                                  "idc_lite.authors.checkpoint.load_official_classifier(path, config)")
        raise CheckpointError(f"{path} is not an idc_lite checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return state


def load_unet_weights(model: IDCClassifier, state: dict, path) -> None:
    from idc_lite.authors.checkpoint import load_unet_state

    load_unet_state(model, state, source=str(path))


def load_classifier(path: str | Path, weights: str = "ema", seed: int = 0) -> IDCClassifier:
    """Load a trained classifier from a kit checkpoint, in eval mode.

    Returns an ``nn.Module`` mapping images (B, C, H, W) in [0, 1] to logits (B, K).  It is
    random: give each call ``generator=`` (or ``noise=``), set ``model.set_generator(g)``, or fix
    its noise with ``model.fix_noise(seed)``.  ``weights='ema'`` (default, as the authors
    evaluate) or ``'raw'``.
    """
    check_choice(weights, "weights", ("ema", "raw"))
    state = read_checkpoint(path)
    model = IDCClassifier(model_config_from(state, path), seed=seed)
    if "unet" not in state:
        raise CheckpointError(f"{path} has no 'unet' weights (was it edited by hand?)")
    unet_state = state["ema"] if weights == "ema" and state.get("ema") is not None else state["unet"]
    load_unet_weights(model, unet_state, path)
    model.class_names = list(state.get("class_names", []))
    return model.eval()


def checkpoint_record(path: str | Path) -> dict:
    """The JSON record written beside a checkpoint (configuration, data, metrics, versions).

    The record holds the SHA-256 of the ``.pt`` it describes; when the ``.pt`` differs (a crash
    between the two writes, or a record copied from another run) :class:`StaleRecordError` says
    so and which file to trust.  (Records written before the hash was stored are taken as they are.)
    """
    path = Path(path)
    record_path = path.with_suffix(".json")
    if not record_path.is_file():
        raise CheckpointError(f"no record {record_path} beside the checkpoint")
    try:
        record = json.loads(record_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"the record {record_path} is not valid JSON ({err}); rebuild it from the checkpoint "
                              f"with: idc-lite train --repair-record {path}") from None
    missing = [k for k in ("config", "train_config", "data") if not isinstance(record, dict) or k not in record]
    if missing:
        raise CheckpointError(f"the record {record_path} lacks {missing}; rebuild it with: "
                              f"idc-lite train --repair-record {path}")
    stored = record.get("checkpoint_sha256")
    if stored is not None and path.is_file() and file_sha256(path) != stored:
        raise StaleRecordError(
            f"the record {record_path.name} does not describe {path.name} (content hash differs: the record was written "
            f"for another file, or a crash came between the two writes). Trust {path.name}: it carries its own "
            f"settings and data split; rewrite the record from it with: idc-lite train --repair-record {path}")
    return record


def repair_record(path: str | Path) -> dict:
    """Rewrite ``path``'s JSON record from the checkpoint itself (metrics are not kept: they may
    belong to another file).  Returns the new record."""
    path = Path(path)
    state = read_checkpoint(path)
    progress = state.get("progress", {})
    record = make_record(path, file_sha256(path), model_config_from(state, path).to_dict(),
                     json_entry(state, "train_config", path), json_entry(state, "data_info", path),
                     state.get("class_names", []), int(progress.get("epoch", 0)), int(progress.get("global_step", 0)),
                     float(progress.get("train_seconds", 0.0)), json.loads(progress.get("history", "[]")), {})
    record["repaired"] = True
    atomic_write_json(record, path.with_suffix(".json"))
    return record


def make_record(path: Path, digest: str, config: dict, train_config: dict, data_info: dict, class_names, epoch: int,
            global_step: int, train_seconds: float, history: list, metrics: dict) -> dict:
    """The JSON record beside a checkpoint (what :meth:`Trainer.save` and :func:`repair_record` write)."""
    return {"format": CHECKPOINT_FORMAT, "config": config, "train_config": train_config, "data": data_info,
            "class_names": list(class_names), "seed": train_config.get("seed"), "epoch": epoch, "global_step": global_step,
            "train_seconds": round(train_seconds, 2), "final_loss": history[-1] if history else None,
            "versions": library_versions(), "metrics": metrics, "checkpoint": path.name, "checkpoint_sha256": digest}


def load_checkpoint_data(path: str | Path, data_root: str | None = None) -> DataSplit:
    """The dataset (and split) a checkpoint was trained on, as its JSON record names it, read from
    ``data_root`` if given, else from where the record says.  Raises CheckpointError when the data
    found there are not those the model was trained on (another copy, or changed files)."""
    from idc_lite.data.datasets import TORCHVISION_DATASETS, load_dataset
    from idc_lite.data.image_folders import load_image_folder

    info = checkpoint_record(path)["data"]
    if not isinstance(info, dict) or "dataset" not in info or "image_size" not in info:
        raise CheckpointError(f"the record of {path} does not name its dataset (data: {info!r})")
    root = data_root or info.get("root")
    if info["dataset"] == "digits":
        data = load_dataset("digits", image_size=info["image_size"], test_fraction=info["test_fraction"],
                            seed=info["split_seed"])
    elif "fingerprint" in info and info["dataset"] not in TORCHVISION_DATASETS:   # the user's own image folder
        if root is None:
            raise CheckpointError(f"the record of {path} does not say where its image folder is: pass data_root")
        data = load_image_folder(root, image_size=info["image_size"], test_fraction=info.get("test_fraction", 0.2),
                                 seed=info.get("split_seed", 0), name=info["dataset"])
    else:
        data = load_dataset(info["dataset"], root=root, image_size=info["image_size"])
    if not same_data(info, data.info):
        raise CheckpointError(f"the data read from {root} are not those {Path(path).name} was trained on "
                              f"(record: {data_identity(info)}; found: {data_identity(data.info)}): point data_root "
                              "at the data it was trained on")
    return data



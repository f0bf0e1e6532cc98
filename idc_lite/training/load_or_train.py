"""Load or train, never silently: what notebook 02 continues (a checkpoint with the same
settings, a model trained elsewhere, an authors' checkpoint, or a new trainer)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from idc_lite.data.datasets import data_identity
from idc_lite.data.splits import DataSplit
from idc_lite.foundation.errors import CheckpointError, InputError
from idc_lite.foundation.files import (
    atomic_write_bytes,
    file_sha256,
    read_torch_file,
)
from idc_lite.foundation.reuse import Artefact, artefact_for_settings
from idc_lite.model.classifier import IDCClassifier
from idc_lite.model.config import IDCConfig
from idc_lite.shipped import catalogue, reference_file, reference_record, shipped_with_settings
from idc_lite.training.checkpoint import checkpoint_record, load_unet_weights, read_checkpoint
from idc_lite.training.config import TrainConfig
from idc_lite.training.trainer import Trainer


def training_settings(model_config: IDCConfig, train_config: TrainConfig, data: DataSplit) -> dict:
    """What a checkpoint's record must match for a notebook to reuse it: model, recipe and data."""
    return {"config": model_config.to_dict(), "train_config": asdict(train_config), "data": data_identity(data.info)}


def stored_training_settings(path: str | Path) -> dict:
    """The :func:`training_settings` a checkpoint was made with, from its JSON record."""
    record = checkpoint_record(path)
    stored = record["train_config"]
    try:     # options added since the checkpoint was written take their defaults, as when it is resumed
        stored = asdict(TrainConfig.from_dict(stored))
    except (InputError, TypeError):
        pass     # left as stored: the comparison then names what differs
    return {"config": record["config"], "train_config": stored, "data": data_identity(record["data"])}


def prepare_trainer(checkpoint: str | Path, model_config: IDCConfig, train_config: TrainConfig, data: DataSplit,
                    retrain: bool = False, model_file: str | Path | None = None) -> tuple[Trainer, str]:
    """The trainer notebook 02 continues, and a sentence saying what it does.  Never reuses silently.

    * ``model_file``: a model trained elsewhere; it is copied to ``checkpoint`` (unless that already
      holds the same file) and used as it is, whatever its settings: ``train()`` then does nothing.
      A checkpoint of the authors' code is converted (:func:`import_official_checkpoint`): it stores
      no configuration, so ``model_config`` (the preset's) must be the one it was trained with.
    * ``checkpoint`` exists (and not ``retrain``): its stored settings must equal the asked ones
      (epochs aside), else :class:`~idc_lite.foundation.errors.SettingsMismatchError` names every difference.
      Fewer epochs than asked: training continues from where it stopped.  More: an error too.
    * no checkpoint, no ``model_file``, not ``retrain``: the IDC model shipped with the kit when it was made
      with exactly these settings (:func:`trainer_from_shipped`; ``IDC_LITE_SHIPPED_MODELS=0`` turns that off);
    * otherwise a new trainer (``retrain`` replaces the checkpoint when it is saved).
    """
    from idc_lite.foundation.errors import SettingsMismatchError
    from idc_lite.foundation.reuse import settings_differences

    checkpoint = Path(checkpoint)
    if model_file and is_official_checkpoint(model_file):
        return import_official_checkpoint(model_file, checkpoint, model_config, train_config, data, retrain=retrain)
    if model_file:
        source = Path(model_file).expanduser().resolve()
        read_checkpoint(source)                      # a clear error for a missing, corrupt or foreign file
        checkpoint_record(source)                    # and for a missing record (03 to 05 read the data split there)
        if checkpoint.exists() and not retrain and checkpoint.read_bytes() != source.read_bytes():
            raise SettingsMismatchError(f"{checkpoint} already holds another model than {source}: give a new run_dir, "
                                        "or set retrain=True to replace it")
        if checkpoint.resolve() != source:
            for src, dst in ((source, checkpoint), (source.with_suffix(".json"), checkpoint.with_suffix(".json"))):
                atomic_write_bytes(dst, lambda handle, src=src: handle.write(src.read_bytes()))
        trainer = Trainer.resume(checkpoint, data)
        trainer.replace_existing = True              # the copy above is what it saves over
        trainer.config.epochs = trainer.epoch        # use it as it is: no further training
        return trainer, f"using the model trained elsewhere ({source}, {trainer.epoch} epochs); no training here"
    if checkpoint.exists() and not retrain:
        differences = settings_differences(stored_training_settings(checkpoint),
                                           training_settings(model_config, train_config, data),
                                           ignore=("train_config.epochs",))
        trainer = Trainer.resume(checkpoint, data) if not differences else None
        if trainer is not None and trainer.epoch > train_config.epochs:
            differences.append(f"train_config.epochs: the model has {trainer.epoch}, asked {train_config.epochs}")
        if differences:
            raise SettingsMismatchError(
                f"{checkpoint} was trained with other settings than this notebook asks for:\n  " + "\n  ".join(differences)
                + "\nGive a new run_dir, or set retrain=True to train a new model over it (notebooks 03 to 05 then "
                  "read the new one).")
        note = (f"resuming {checkpoint.name} at epoch {trainer.epoch} of {train_config.epochs}"
                if trainer.epoch < train_config.epochs
                else f"loaded {checkpoint.name}: trained for {trainer.epoch} epochs with the same settings")
        trainer.config.epochs = train_config.epochs
        return trainer, note
    shipped = None if checkpoint.exists() or retrain else shipped_with_settings(
        "idc", training_settings(model_config, train_config, data))
    if shipped:
        return trainer_from_shipped(shipped, checkpoint, model_config, train_config, data)
    action = "training from scratch, replacing" if checkpoint.exists() else "training from scratch into"
    return (Trainer(IDCClassifier(model_config), train_config, data, replace_existing=retrain),
            f"{action} {checkpoint.name}")


def check_model_file(path: str | Path) -> str:
    """What a ``model_path`` holds, checked before any notebook runs: ``'authors'`` for a checkpoint of the
    authors' code, ``'kit'`` for a kit checkpoint with its record.  Raises :class:`CheckpointError` (or the
    reading errors of :func:`read_torch_file`) for a missing file, a file that is not a checkpoint, or a kit
    checkpoint without its record."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise CheckpointError(f"no checkpoint at {source}")
    if is_official_checkpoint(source):
        return "authors"
    read_checkpoint(source)
    checkpoint_record(source)
    return "kit"


def is_official_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` holds a checkpoint of the authors' code (a dict with 'model', no kit format);
    False for a kit checkpoint; the reading errors of :func:`read_torch_file` for anything unreadable."""
    state = read_torch_file(path)
    return isinstance(state, dict) and "model" in state and "format" not in state


def import_official_checkpoint(source: str | Path, checkpoint: str | Path, model_config: IDCConfig,
                               train_config: TrainConfig, data: DataSplit, retrain: bool = False) -> tuple[Trainer, str]:
    """Write the authors' checkpoint ``source`` as a kit checkpoint at ``checkpoint`` (raw weights
    as ``unet``, their EMA shadow as ``ema``, their epoch and step), so notebooks 03 to 05 evaluate
    it like a model trained here.  Returns the trainer (which trains no further) and a sentence.

    ``model_config`` must be the configuration it was trained with (the authors' checkpoints store
    tensors only): shapes and the stored bridge schedule are checked, a wrong ``eta`` or ``num_classes``
    that leaves them unchanged cannot be (see :func:`idc_lite.authors.checkpoint.load_official_classifier`).
    The optimiser state is not imported: training on from it starts Adam afresh."""
    from idc_lite.authors.checkpoint import load_official_classifier, official_unet_state
    from idc_lite.foundation.errors import SettingsMismatchError

    source, checkpoint = Path(source).expanduser().resolve(), Path(checkpoint)
    digest = file_sha256(source)
    raw = load_official_classifier(source, model_config, weights="model")   # checks shapes and schedule
    official = read_torch_file(source)
    if checkpoint.exists() and not retrain:
        try:
            existing = checkpoint_record(checkpoint).get("imported_from", {}).get("sha256")
        except CheckpointError:
            existing = None
        if existing != digest:
            raise SettingsMismatchError(f"{checkpoint} already holds another model than {source}: give a new run_dir, "
                                        "or set retrain=True to replace it")
    trainer = Trainer(IDCClassifier(model_config), train_config, data, replace_existing=True)
    trainer.model.unet.load_state_dict(raw.unet.state_dict())
    if trainer.ema is not None:
        ema = official_unet_state(official, "ema") if official.get("ema") is not None else raw.unet.state_dict()
        trainer.ema.shadow = {k: ema[k].clone().float() for k in trainer.ema.shadow}
    trainer.epoch = int(official.get("epoch", 0) or 0)
    trainer.global_step = int(official.get("step", 0) or 0)
    trainer.config.epochs = trainer.epoch            # used as it is: no further training
    trainer.imported_from = {"format": "authors' checkpoint (github.com/hfmei/IDC)", "file": source.name,
                             "sha256": digest, "epoch": trainer.epoch, "step": trainer.global_step,
                             "ema": official.get("ema") is not None}
    trainer.save(checkpoint)
    return trainer, (f"using the authors' checkpoint {source.name} (epoch {trainer.epoch}, step {trainer.global_step}, "
                     f"sha256 {digest[:12]}...) with the {model_config.unet.image_size}x{model_config.unet.image_size} "
                     "configuration given; no training here")




def trainer_from_shipped(name: str, checkpoint: str | Path, model_config: IDCConfig, train_config: TrainConfig,
                         data: DataSplit) -> tuple[Trainer, str]:
    """Write shipped IDC model ``name`` (made with exactly these settings) as a kit checkpoint at ``checkpoint``,
    its EMA weights as both the raw and the averaged ones, so notebooks 03 to 07 read it as a model trained here;
    returns the trainer (which trains no further) and a sentence.  Training on from it starts Adam afresh."""
    path = reference_file(name)
    state = read_checkpoint(path)
    trainer = Trainer(IDCClassifier(model_config), train_config, data, replace_existing=True)
    load_unet_weights(trainer.model, state["unet"], path)
    if trainer.ema is not None:
        trainer.ema.shadow = {k: v.clone().float() for k, v in state["unet"].items() if k in trainer.ema.shadow}
    progress = state["progress"]
    trainer.epoch, trainer.global_step = int(progress["epoch"]), int(progress["global_step"])
    trainer.train_seconds, trainer.history = float(progress["train_seconds"]), json.loads(progress["history"])
    commit = catalogue()["source"].get("commit") or "?"
    trainer.imported_from = {"format": "a reference model shipped with the kit", "name": name,
                             "sha256": reference_record(name)["sha256"], "commit": commit, "epoch": trainer.epoch}
    trainer.save(checkpoint)
    return trainer, (f"{Path(checkpoint).name}: the kit ships a model trained with exactly these settings ({name!r}, "
                     f"{trainer.epoch} epochs at commit {commit[:10]}); using it instead of training "
                     "(make reproduce trains its own; retrain=True trains here)")


def load_or_train_variant(main_checkpoint: str | Path, path: str | Path, model_config: IDCConfig, data: DataSplit, *,
                          seed: int, epochs: int = 0, max_batches: int | None = None, progress: bool = False,
                          log_every: int = 25) -> tuple[Trainer, Artefact]:
    """A variant of the main model (an ablation): ``model_config`` trained with the recipe stored in
    ``main_checkpoint``, with ``seed`` and ``epochs`` (0: the recipe's).  Reused when ``path`` holds one
    made with exactly these settings, resumed when it stopped early, trained otherwise; a file with other
    settings is left as it is (:func:`idc_lite.foundation.reuse.artefact_for_settings`).  ``progress`` prints the
    reuse note and a progress bar.  Returns (the trainer, saved; the artefact: its path and note)."""
    train_config = TrainConfig(**checkpoint_record(main_checkpoint)["train_config"])
    train_config.seed = seed
    if epochs:
        train_config.epochs = epochs
    file = artefact_for_settings(path, training_settings(model_config, train_config, data), stored_training_settings)
    shipped = None if file.exists else shipped_with_settings("idc", training_settings(model_config, train_config, data))
    if shipped:
        _, note = trainer_from_shipped(shipped, file.path, model_config, train_config, data)
        file = Artefact(file.path, True, note)
    if progress:
        print(file.note)      # an interrupted variant has the same settings: it resumes where it stopped
    trainer = Trainer.resume(file.path, data) if file.exists else Trainer(IDCClassifier(model_config), train_config, data)
    trainer.train(checkpoint_path=file.path, max_batches=max_batches, progress=progress, log_every=log_every)
    trainer.save(file.path)
    return trainer, file

"""Training the IDC classifier as the authors do: Adam, gradient accumulation, plateau learning
rate, EMA weights for evaluation, and checkpoints that resume exactly.

Command line twin of notebook 02, for long runs::

    python -m idc_lite.train --preset digits --out runs/my_digits
    python -m idc_lite.train --preset cifar10 --data-root /data --out runs/cifar10 --resume
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from .checkpoints import CheckpointError, atomic_save, atomic_write_bytes, atomic_write_json, library_versions, read_torch_file
from .classifier import IDCClassifier, to_model_scale
from .config import IDCConfig
from .data import DataSplit
from .losses import idc_loss
from .runs import progress_bar

CHECKPOINT_FORMAT = "idc_lite-checkpoint-1"


@dataclass
class TrainConfig:
    """How to train (names after the authors' YAML where they have one).

    The official recipe: Adam (lr 1e-4, beta1 0.9), ``accumulate_grad_batches`` 2 with the
    gradients *summed* (not averaged), ReduceLROnPlateau stepped on the last batch loss after
    every optimiser step, EMA with decay 0.995 updated every ``update_ema_interval`` optimiser
    steps, copying the raw weights until ``start_ema_step`` batches.
    """
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-4
    beta1: float = 0.9
    weight_decay: float = 0.0
    accumulate_grad_batches: int = 1
    lr_scheduler: str = "plateau"      # 'plateau' (official auto_lr_scheduler), 'step' (per epoch) or 'none'
    plateau_factor: float = 0.5
    plateau_patience: int = 3000
    plateau_threshold: float = 1e-4
    plateau_cooldown: int = 3000
    min_lr: float = 5e-7
    step_size: int = 350               # epochs, for lr_scheduler='step'
    step_gamma: float = 0.5
    use_ema: bool = True
    ema_decay: float = 0.995
    update_ema_interval: int = 8       # optimiser steps between EMA updates
    start_ema_step: int = 30000        # batches before the EMA starts averaging
    augment: str = "none"              # 'none', 'shift' (1-pixel moves) or 'flip_rotate' (authors' CIFAR-100 transform)
    official_init: bool = True         # the authors' weights_init: N(0, 0.02) for every Conv2d / Linear weight
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training option(s) {sorted(unknown)}")
        return cls(**d)


class EMA:
    """Exponential moving average of the parameters, exactly as the authors' ``EMA`` class."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, with_decay: bool = True) -> None:
        for name, param in model.named_parameters():
            if param.requires_grad:
                self.shadow[name] = ((1.0 - self.decay) * param + self.decay * self.shadow[name] if with_decay
                                     else param.detach()).clone()

    def state_dict_for(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The model's state dict with the EMA values in place of the parameters."""
        state = {k: v.clone() for k, v in model.state_dict().items()}
        state.update({k: v.clone() for k, v in self.shadow.items()})
        return state


def augment_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 1) -> torch.Tensor:
    """Translate each image (B, C, H, W) by up to ``max_shift`` pixels in each direction, zero-filled."""
    padded = torch.nn.functional.pad(x, [max_shift] * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (x.shape[0], 2), generator=generator).tolist()
    h, w = x.shape[-2:]
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


def augment_flip_rotate(x: torch.Tensor, generator: torch.Generator, degrees: float = 15.0) -> torch.Tensor:
    """Random horizontal flip and rotation in [-degrees, degrees], per image (x: (B, C, H, W))."""
    import torchvision.transforms.v2.functional as TF

    flips = torch.rand(x.shape[0], generator=generator) < 0.5
    angles = (torch.rand(x.shape[0], generator=generator) * 2 - 1) * degrees
    out = torch.where(flips[:, None, None, None].to(x.device), x.flip(-1), x)
    return torch.stack([TF.rotate(img, float(a)) for img, a in zip(out, angles)])


class Trainer:
    """Owns the model, optimiser, scheduler, EMA, random state and loss history.

    ``train()`` runs until ``config.epochs``; ``save()`` / ``Trainer.resume()`` continue exactly
    (same batches, timesteps, noise and dropout) from an epoch boundary.
    """

    def __init__(self, model: IDCClassifier, config: TrainConfig, data: DataSplit):
        if tuple(data.image_shape) != tuple(model.config.image_shape):
            raise ValueError(f"data images {data.image_shape} do not fit the model {model.config.image_shape}")
        if data.num_classes != model.config.num_classes:
            raise ValueError(f"data has {data.num_classes} classes, the model {model.config.num_classes}")
        self.model, self.config, self.data = model, config, data
        model.unet.reset_parameters(config.seed, official_init=config.official_init)  # initial weights from the seed
        self.optimizer = torch.optim.Adam(model.unet.parameters(), lr=config.lr, betas=(config.beta1, 0.999),
                                          weight_decay=config.weight_decay)
        if config.lr_scheduler == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience,
                threshold=config.plateau_threshold, threshold_mode="rel", cooldown=config.plateau_cooldown,
                min_lr=config.min_lr)
        elif config.lr_scheduler == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, config.step_size, config.step_gamma)
        elif config.lr_scheduler == "none":
            self.scheduler = None
        else:
            raise ValueError(f"lr_scheduler must be 'plateau', 'step' or 'none', got {config.lr_scheduler!r}")
        if config.augment not in ("none", "shift", "flip_rotate"):
            raise ValueError(f"augment must be 'none', 'shift' or 'flip_rotate', got {config.augment!r}")
        self.ema = EMA(model.unet, config.ema_decay) if config.use_ema else None
        self.generator = torch.Generator().manual_seed(config.seed)   # shuffling, timesteps, bridge noise
        self.dropout_rng_state = torch.Generator().manual_seed(config.seed + 1).get_state()  # dropout (global RNG, forked)
        self.global_step = 0
        self.epoch = 0
        self.history: list[dict] = []
        self.train_seconds = 0.0

    # ---- one batch ------------------------------------------------------------------------
    def loss_on_batch(self, x: torch.Tensor, labels: torch.Tensor):
        """Official training loss for images x (B, C, H, W) in [0, 1] and labels (B,)."""
        model = self.model
        device = model.label_images.device
        x, labels = x.to(device), labels.to(device)
        if self.config.augment == "flip_rotate":
            x = augment_flip_rotate(x, self.generator)
        elif self.config.augment == "shift":
            x = augment_shift(x, self.generator)
        label_images = to_model_scale(model.label_images)
        t = torch.randint(0, model.config.num_timesteps, (x.shape[0],), generator=self.generator).to(device)
        noise = torch.randn(x.shape, generator=self.generator).to(device)
        return idc_loss(model.bridge, model.denoise, label_images[labels], to_model_scale(x), t, noise, labels,
                        label_images, model.config.cls_loss_weight, model.config.loss_type)

    def train(self, epochs: int | None = None, progress: bool = True, checkpoint_path: str | Path | None = None,
              checkpoint_every: int = 1, max_batches: int | None = None, log_every: int = 0) -> list[dict]:
        """Train up to ``epochs`` (default ``config.epochs``) in total; returns the loss history.

        With ``checkpoint_path`` a checkpoint is written atomically every ``checkpoint_every``
        epochs and at the end.  ``max_batches`` caps batches per epoch (smoke runs).  ``log_every``
        prints one line every that many epochs (visible in papermill logs, where bars are not).
        """
        cfg = self.config
        target = cfg.epochs if epochs is None else epochs
        n = self.data.x_train.shape[0]
        batches = n // cfg.batch_size if n >= cfg.batch_size else 1   # drop_last, as the authors
        if max_batches:
            batches = min(batches, max_batches)
        accumulate = max(1, cfg.accumulate_grad_batches)
        self.model.train()
        bar = progress_bar(total=(target - self.epoch) * batches, desc="training", disable=not progress)
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.dropout_rng_state)
            while self.epoch < target:
                start = time.perf_counter()
                order = torch.randperm(n, generator=self.generator)
                sums = {"loss": 0.0, "recloss": 0.0, "simloss": 0.0}
                for b in range(batches):
                    idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                    terms = self.loss_on_batch(self.data.x_train[idx], self.data.y_train[idx])
                    terms.loss.backward()   # summed over accumulated batches, as the authors
                    self.global_step += 1
                    if self.global_step % accumulate == 0:
                        self.optimizer.step()
                        self.optimizer.zero_grad(set_to_none=True)
                        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                            self.scheduler.step(terms.loss.item())
                    if self.ema is not None and self.global_step % (cfg.update_ema_interval * accumulate) == 0:
                        self.ema.update(self.model.unet, with_decay=self.global_step >= cfg.start_ema_step)
                    for k in sums:
                        sums[k] += getattr(terms, k).item()
                    bar.update(1)
                    bar.set_postfix(epoch=self.epoch + 1, loss=f"{terms.loss.item():.4f}")
                if isinstance(self.scheduler, torch.optim.lr_scheduler.StepLR):
                    self.scheduler.step()
                self.epoch += 1
                self.train_seconds += time.perf_counter() - start
                record = {"epoch": self.epoch, "step": self.global_step, "lr": self.optimizer.param_groups[0]["lr"]}
                record.update({k: v / batches for k, v in sums.items()})
                self.history.append(record)
                if log_every and (self.epoch % log_every == 0 or self.epoch == target):
                    print(f"epoch {self.epoch}/{target}: loss {record['loss']:.4f} (L1 {record['recloss']:.4f}, "
                          f"inter-class {record['simloss']:.4f}), {self.train_seconds:.0f} s", flush=True)
                self.dropout_rng_state = torch.get_rng_state()
                if checkpoint_path and (self.epoch % checkpoint_every == 0 or self.epoch == target):
                    self.save(checkpoint_path)
        bar.close()
        self.model.eval()
        return self.history

    # ---- results and checkpoints -------------------------------------------------------------
    def ema_classifier(self) -> IDCClassifier:
        """A copy of the classifier carrying the EMA weights (what the authors evaluate), in eval mode."""
        model = copy.deepcopy(self.model)
        if self.ema is not None:
            model.unet.load_state_dict(self.ema.state_dict_for(self.model.unet))
        return model.eval()

    def state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": json.dumps(self.model.config.to_dict()),
            "train_config": json.dumps(asdict(self.config)),
            "data_info": json.dumps(self.data.info),
            "class_names": list(self.data.class_names),
            "unet": self.model.unet.state_dict(),
            "ema": self.ema.state_dict_for(self.model.unet) if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "progress": {"epoch": self.epoch, "global_step": self.global_step, "train_seconds": self.train_seconds,
                         "history": json.dumps(self.history)},
            "rng": {"generator": self.generator.get_state(), "dropout": self.dropout_rng_state},
            # gradients summed since the last optimiser step (accumulation runs across epoch ends)
            "pending_grads": {n: p.grad.clone() for n, p in self.model.unet.named_parameters() if p.grad is not None},
        }

    def save(self, path: str | Path, metrics: dict | None = None) -> Path:
        """Write ``path`` (tensors and plain values) and ``path.with_suffix('.json')`` atomically."""
        path = Path(path)
        atomic_save(self.state(), path)
        record = {"format": CHECKPOINT_FORMAT, "config": self.model.config.to_dict(), "train_config": asdict(self.config),
                  "data": self.data.info, "class_names": list(self.data.class_names), "seed": self.config.seed,
                  "epoch": self.epoch, "global_step": self.global_step, "train_seconds": round(self.train_seconds, 2),
                  "final_loss": self.history[-1] if self.history else None, "versions": library_versions(),
                  "metrics": metrics or {}, "checkpoint": path.name}
        atomic_write_json(record, path.with_suffix(".json"))
        return path

    @classmethod
    def resume(cls, path: str | Path, data: DataSplit) -> "Trainer":
        """Rebuild a trainer from a checkpoint written by :meth:`save` and continue where it stopped."""
        state = read_checkpoint(path)
        model = IDCClassifier(IDCConfig.from_dict(json.loads(state["config"])))
        config = TrainConfig.from_dict(json.loads(state["train_config"]))
        saved_info = json.loads(state["data_info"])
        if saved_info != data.info:
            raise CheckpointError(f"{path} was trained on {saved_info}, not on the data given {data.info}")
        trainer = cls(model, config, data)
        _load_unet(model, state["unet"], path)
        if trainer.ema is not None and state["ema"] is not None:
            trainer.ema.shadow = {k: v.clone() for k, v in state["ema"].items() if k in trainer.ema.shadow}
        trainer.optimizer.load_state_dict(state["optimizer"])
        if trainer.scheduler is not None and state["scheduler"] is not None:
            trainer.scheduler.load_state_dict(state["scheduler"])
        progress = state["progress"]
        trainer.epoch, trainer.global_step = int(progress["epoch"]), int(progress["global_step"])
        trainer.train_seconds = float(progress["train_seconds"])
        trainer.history = json.loads(progress["history"])
        trainer.generator.set_state(state["rng"]["generator"])
        trainer.dropout_rng_state = state["rng"]["dropout"]
        params = dict(model.unet.named_parameters())
        for name, grad in state.get("pending_grads", {}).items():
            params[name].grad = grad.clone()
        return trainer


def training_settings(model_config: IDCConfig, train_config: TrainConfig, data: DataSplit) -> dict:
    """What a checkpoint's record must match for a notebook to reuse it: model, recipe and data."""
    return {"config": model_config.to_dict(), "train_config": asdict(train_config), "data": data.info}


def stored_training_settings(path: str | Path) -> dict:
    """The :func:`training_settings` a checkpoint was made with, from its JSON record."""
    record = checkpoint_record(path)
    return {key: record[key] for key in ("config", "train_config", "data")}


def prepare_trainer(checkpoint: str | Path, model_config: IDCConfig, train_config: TrainConfig, data: DataSplit,
                    retrain: bool = False, model_file: str | Path | None = None) -> tuple[Trainer, str]:
    """The trainer notebook 02 continues, and a sentence saying what it does.  Never reuses silently.

    * ``model_file``: a model trained elsewhere; it is copied to ``checkpoint`` (unless that already
      holds the same file) and used as it is, whatever its settings: ``train()`` then does nothing.
    * ``checkpoint`` exists (and not ``retrain``): its stored settings must equal the asked ones
      (epochs aside), else :class:`~idc_lite.runs.SettingsMismatchError` names every difference.
      Fewer epochs than asked: training continues from where it stopped.  More: an error too.
    * otherwise a new trainer (``retrain`` replaces the checkpoint when it is saved).
    """
    from .runs import SettingsMismatchError, settings_differences

    checkpoint = Path(checkpoint)
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
    action = "training from scratch, replacing" if checkpoint.exists() else "training from scratch into"
    return Trainer(IDCClassifier(model_config), train_config, data), f"{action} {checkpoint.name}"


def read_checkpoint(path: str | Path) -> dict:
    """Read a kit checkpoint safely and check its format."""
    state = read_torch_file(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        if isinstance(state, dict) and "model" in state and "format" not in state:
            raise CheckpointError(f"{path} looks like a checkpoint of the authors' code; load it with "
                                  "idc_lite.official.load_official_classifier(path, config)")
        raise CheckpointError(f"{path} is not an idc_lite checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return state


def _load_unet(model: IDCClassifier, state: dict, path) -> None:
    from .official import load_unet_state

    load_unet_state(model, state, source=str(path))


def load_classifier(path: str | Path, weights: str = "ema", seed: int = 0) -> IDCClassifier:
    """Load a trained classifier from a kit checkpoint, in eval mode.

    Returns an ``nn.Module`` mapping images (B, C, H, W) in [0, 1] to logits (B, K).  It is
    random: give each call ``generator=`` (or ``noise=``), set ``model.set_generator(g)``, or fix
    its noise with ``model.fix_noise(seed)``.  ``weights='ema'`` (default, as the authors
    evaluate) or ``'raw'``.
    """
    state = read_checkpoint(path)
    config = IDCConfig.from_dict(json.loads(state["config"]))
    model = IDCClassifier(config, seed=seed)
    if weights not in ("ema", "raw"):
        raise ValueError(f"weights must be 'ema' or 'raw', got {weights!r}")
    unet_state = state["ema"] if weights == "ema" and state.get("ema") is not None else state["unet"]
    _load_unet(model, unet_state, path)
    model.class_names = list(state.get("class_names", []))
    return model.eval()


def checkpoint_record(path: str | Path) -> dict:
    """The JSON record written beside a checkpoint (configuration, data, metrics, versions)."""
    record_path = Path(path).with_suffix(".json")
    if not record_path.is_file():
        raise CheckpointError(f"no record {record_path} beside the checkpoint")
    return json.loads(record_path.read_text())


def load_checkpoint_data(path: str | Path, data_root: str | None = None) -> DataSplit:
    """The dataset (and split) a checkpoint was trained on, as its JSON record names it."""
    from .data import load_dataset

    info = checkpoint_record(path)["data"]
    if info["dataset"] == "digits":
        return load_dataset("digits", image_size=info["image_size"], test_fraction=info["test_fraction"],
                            seed=info["split_seed"])
    return load_dataset(info["dataset"], root=data_root or info.get("root"), image_size=info["image_size"])


def accuracy_over_draws(model: IDCClassifier, x: torch.Tensor, labels: torch.Tensor, seeds: list[int],
                        batch_size: int = 256) -> dict:
    """Accuracy of a random classifier, stated per scoring rule.

    One draw of sampler noise per image for each seed in ``seeds`` (fresh generators): returns the
    per-draw accuracies with their mean, min and max, and the accuracy of the majority vote over
    the draws (ties go to the lowest class index).
    """
    from .robustness import majority_vote, predictions_over_draws

    stacked = predictions_over_draws(model, x, [torch.Generator().manual_seed(s) for s in seeds], batch_size)
    per_draw = [(p == labels).float().mean().item() for p in stacked]
    majority = (majority_vote(stacked, model.config.num_classes) == labels).float().mean().item()
    return {"per_draw": per_draw, "mean": sum(per_draw) / len(per_draw), "min": min(per_draw), "max": max(per_draw),
            "majority_vote": majority, "draws": len(seeds), "seeds": list(seeds), "examples": int(x.shape[0])}


def evaluate_accuracy(model: IDCClassifier, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                      batch_size: int = 256) -> float:
    """Accuracy of one random draw per image (fresh noise from ``generator``)."""
    model.eval()
    predictions = model.predict(x.to(model.label_images.device), generator=generator, batch_size=batch_size).cpu()
    return (predictions == labels).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    from .data import DataNotFoundError, load_dataset
    from .presets import PRESETS, get_preset

    parser = argparse.ArgumentParser(prog="python -m idc_lite.train", description="Train an IDC classifier.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="digits")
    parser.add_argument("--out", required=True, help="checkpoint path (.pt); a .json record is written beside it")
    parser.add_argument("--data-root", default=None, help="data root (default $IDC_LITE_DATA, else data/ in the repository)")
    parser.add_argument("--download", action="store_true", help="allow torchvision to download the dataset")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    parser.add_argument("--eval-examples", type=int, default=2000, help="test images for the final accuracy")
    parser.add_argument("--smoke", action="store_true", help="1 epoch of 2 batches, 32 test images: checks the code path")
    args = parser.parse_args(argv)
    preset = get_preset(args.preset)
    if args.epochs is not None:
        preset.train.epochs = args.epochs
    max_batches = None
    if args.smoke:
        preset.train.epochs, max_batches, args.eval_examples = 1, 2, 32
    try:
        data = load_dataset(preset.dataset, root=args.data_root, image_size=preset.model.unet.image_size,
                            download=args.download)
    except DataNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out if args.out.endswith(".pt") else args.out + ".pt")
    if args.resume and out.exists():
        trainer = Trainer.resume(out, data)
        print(f"resuming {out} at epoch {trainer.epoch}")
    else:
        trainer = Trainer(IDCClassifier(preset.model), preset.train, data)
    trainer.model.to(args.device)
    trainer.train(checkpoint_path=out, max_batches=max_batches)
    model = trainer.ema_classifier()
    n = min(args.eval_examples, data.x_test.shape[0])
    acc = evaluate_accuracy(model, data.x_test[:n], data.y_test[:n], torch.Generator().manual_seed(1))
    trainer.save(out, metrics={"test_accuracy": acc, "test_examples": n})
    print(json.dumps({"checkpoint": str(out), "test_accuracy": acc, "epochs": trainer.epoch,
                      "train_seconds": round(trainer.train_seconds, 1)}))
    return 0 if math.isfinite(trainer.history[-1]["loss"]) else 1


if __name__ == "__main__":
    sys.exit(main())

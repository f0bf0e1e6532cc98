"""Training the IDC classifier as the authors do: Adam, gradient accumulation, plateau learning
rate, EMA weights for evaluation, and checkpoints that resume exactly.

Command line twin of notebook 02, for long runs::

    python -m idc_lite.train --preset digits --out runs/my_digits
    python -m idc_lite.train --preset cifar10 --data-root /data --out runs/cifar10 --resume
    torchrun --standalone --nproc_per_node=4 -m idc_lite.train --preset cifar10 --data-root /data --out runs/cifar10/

Under torchrun every process trains its share of each global batch (:mod:`idc_lite.distributed`).
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

from . import distributed
from .checkpoints import (
    CheckpointError,
    OverwriteRefusedError,
    StaleRecordError,
    atomic_save_hashed,
    atomic_write_bytes,
    atomic_write_json,
    file_sha256,
    library_versions,
    read_torch_file,
)
from .classifier import IDCClassifier, to_model_scale
from .config import IDCConfig
from .data import DataSplit, data_identity, same_data
from .losses import idc_loss
from .machine import native_bf16
from .runs import progress_bar
from .uncertainty import estimate
from .validation import (
    InputError,
    TrainingDivergedError,
    check_batch,
    check_choice,
    check_int,
    check_number,
)

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
    lr_scheduler: str = "plateau"      # 'plateau' (official auto_lr_scheduler), 'step' (per epoch), 'cosine' or 'none'
    warmup_fraction: float = 0.05      # lr_scheduler='cosine': linear warm-up over this share of the optimiser steps
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
    timesteps: str = "uniform"         # 'uniform': t ~ U{0..T-1} (official); 'sampler': only the t the sampler calls (quirk Q8)
    first_step_weight: int = 1         # timesteps='sampler': the sampler's first t (the one call that sees the clean
                                       # input, so where the class is decided) counts this many times in the draw
    official_init: bool = True         # the authors' weights_init: N(0, 0.02) for every Conv2d / Linear weight
    precision: str = "fp32"            # 'fp32' (authors); 'bf16': forward and loss under bfloat16 autocast (weights,
                                       # optimiser and EMA stay float32); 'auto': bf16 where the device has it natively
    seed: int = 0

    def __post_init__(self):
        self.validate()

    def validate(self) -> "TrainConfig":
        """Check every option (also after fields were changed by assignment); raises InputError."""
        for name in ("epochs", "step_size", "update_ema_interval", "start_ema_step", "plateau_patience",
                     "plateau_cooldown", "seed"):
            check_int(getattr(self, name), f"TrainConfig.{name}", 0)
        for name in ("batch_size", "accumulate_grad_batches"):
            check_int(getattr(self, name), f"TrainConfig.{name}", 1)
        check_number(self.lr, "TrainConfig.lr", 0.0, strict_minimum=True)
        check_number(self.min_lr, "TrainConfig.min_lr", 0.0)
        check_number(self.weight_decay, "TrainConfig.weight_decay", 0.0)
        for name in ("beta1", "ema_decay", "plateau_factor", "step_gamma"):
            check_number(getattr(self, name), f"TrainConfig.{name}", 0.0, 1.0)
        check_number(self.plateau_threshold, "TrainConfig.plateau_threshold", 0.0)
        check_choice(self.lr_scheduler, "TrainConfig.lr_scheduler", ("plateau", "step", "cosine", "none"))
        check_number(self.warmup_fraction, "TrainConfig.warmup_fraction", 0.0, 1.0)
        check_choice(self.augment, "TrainConfig.augment", ("none", "shift", "flip_rotate"))
        check_choice(self.timesteps, "TrainConfig.timesteps", ("uniform", "sampler"))
        check_int(self.first_step_weight, "TrainConfig.first_step_weight", 1)
        if self.first_step_weight > 1 and self.timesteps != "sampler":
            raise InputError("TrainConfig.first_step_weight weights the sampler's timesteps: it needs timesteps='sampler', "
                             f"got timesteps={self.timesteps!r}")
        check_choice(self.precision, "TrainConfig.precision", ("fp32", "bf16", "auto"))
        for name in ("use_ema", "official_init"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"TrainConfig.{name} must be True or False, got {getattr(self, name)!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise InputError(f"a training configuration must be a dict, got {type(d).__name__}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(f.name for f in fields(cls))}")
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

    def __init__(self, model: IDCClassifier, config: TrainConfig, data: DataSplit, replace_existing: bool = False):
        """``replace_existing``: :meth:`save` may replace a checkpoint that holds more training
        than this trainer (by default it refuses, so no finished model is lost by mistake)."""
        for value, cls, what in ((model, IDCClassifier, "model"), (config, TrainConfig, "config"), (data, DataSplit, "data")):
            if not isinstance(value, cls):
                raise InputError(f"Trainer {what} must be a {cls.__name__}, got {type(value).__name__}")
        if tuple(data.image_shape) != tuple(model.config.image_shape):
            raise InputError(f"data images {data.image_shape} do not fit the model {model.config.image_shape}")
        if data.num_classes != model.config.num_classes:
            raise InputError(f"data has {data.num_classes} classes, the model {model.config.num_classes}")
        config.validate()
        self.model, self.config, self.data = model, config, data
        self.replace_existing = replace_existing
        self._checked_paths: set[Path] = set()     # checkpoints this trainer has checked (or written) once
        model.unet.reset_parameters(config.seed, official_init=config.official_init)  # initial weights from the seed
        self.optimizer = torch.optim.Adam(model.unet.parameters(), lr=config.lr, betas=(config.beta1, 0.999),
                                          weight_decay=config.weight_decay)
        if config.lr_scheduler == "plateau":  # options were checked by TrainConfig
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience,
                threshold=config.plateau_threshold, threshold_mode="rel", cooldown=config.plateau_cooldown,
                min_lr=config.min_lr)
        elif config.lr_scheduler == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, config.step_size, config.step_gamma)
        elif config.lr_scheduler == "cosine":
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._cosine_factor)
        else:  # 'none'
            self.scheduler = None
        self.ema = EMA(model.unet, config.ema_decay) if config.use_ema else None
        self.generator = torch.Generator().manual_seed(config.seed)   # shuffling, timesteps, bridge noise
        self.dropout_rng_state = torch.Generator().manual_seed(config.seed + 1).get_state()  # dropout (global RNG, forked)
        self.dropout_cuda_rng_state: torch.Tensor | None = None   # dropout on a GPU: its own generator, kept likewise
        self._timesteps_drawn_from = self._timestep_pool(model, config)
        self.global_step = 0
        self.epoch = 0
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self._saved_epoch: int | None = None
        # Under torchrun: this process's share of every global batch (see idc_lite.distributed)
        self.rank, self.world_size = distributed.current()
        if config.batch_size % self.world_size:
            raise InputError(f"the global batch of {config.batch_size} does not split evenly over {self.world_size} "
                             "processes: choose a process count that divides it")
        self._parallel_unet = None     # DistributedDataParallel around the U-Net, built when training starts
        self.imported_from: dict | None = None   # set for an authors' checkpoint (import_official_checkpoint)

    @staticmethod
    def _timestep_pool(model: IDCClassifier, config: TrainConfig) -> torch.Tensor | None:
        """The timesteps a batch draws from, uniformly (long, ascending); None: every t in 0..T-1, the
        authors' draw.  timesteps='sampler' (quirk Q8 option): only the t the sampler calls, e.g. [0, 1, 3]
        for its steps [3, 1, 1, 0]; first_step_weight w repeats its first (largest) t w times, e.g.
        [0, 1, 3, 3, 3, 3] for w = 4, so that two thirds of a batch train the step that decides the class."""
        if config.timesteps != "sampler":
            return None
        called = sorted(set(model.bridge.steps))
        first = model.bridge.steps[0]     # the sampler starts at the largest t, so the pool stays ascending
        return torch.tensor(called + [first] * (config.first_step_weight - 1), dtype=torch.long)

    def batches_per_epoch(self) -> int:
        n = self.data.x_train.shape[0]
        return n // self.config.batch_size if n >= self.config.batch_size else 1   # drop_last, as the authors

    def optimizer_steps_per_epoch(self) -> int:
        return max(1, self.batches_per_epoch() // max(1, self.config.accumulate_grad_batches))

    def _cosine_factor(self, step: int) -> float:
        """lr_scheduler='cosine': linear warm-up, then a half cosine from lr down to min_lr at the last
        optimiser step of ``config.epochs`` (read at every step, so training on extends the schedule)."""
        cfg = self.config
        total = max(1, cfg.epochs * self.optimizer_steps_per_epoch())
        warm = int(round(cfg.warmup_fraction * total))
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        floor = cfg.min_lr / cfg.lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    # ---- one batch ------------------------------------------------------------------------
    def loss_on_batch(self, x: torch.Tensor, labels: torch.Tensor):
        """Official training loss for images x (B, C, H, W) in [0, 1] and labels (B,)."""
        model = self.model
        x, labels = check_batch(x, labels, model.config.num_classes, *model.config.image_shape[:2],
                                dtype=model.label_images.dtype)
        return self._loss(x, labels)

    @property
    def precision(self) -> str:
        """'fp32' or 'bf16': ``config.precision`` with 'auto' resolved for the device the model is on
        now (notebook 02 moves the model after building the trainer)."""
        if self.config.precision != "auto":
            return self.config.precision
        return "bf16" if native_bf16(self.model.label_images.device) else "fp32"

    def _loss(self, x: torch.Tensor, labels: torch.Tensor):
        """:meth:`loss_on_batch` without the input checks, for batches of the already checked DataSplit.

        Every process draws the augmentations, timesteps and noise of the whole (global) batch, from
        the same generator, then keeps its own rows: N processes see what one process sees."""
        model = self.model
        device = model.label_images.device
        x, labels = x.to(device), labels.to(device)
        if self.config.augment == "flip_rotate":
            x = augment_flip_rotate(x, self.generator)
        elif self.config.augment == "shift":
            x = augment_shift(x, self.generator)
        label_images = to_model_scale(model.label_images)
        pool = self._timesteps_drawn_from
        if pool is not None:   # quirk Q8: train only where the sampler calls the network (see _timestep_pool)
            t = pool[torch.randint(0, len(pool), (x.shape[0],), generator=self.generator)].to(device)
        else:
            t = torch.randint(0, model.config.num_timesteps, (x.shape[0],), generator=self.generator).to(device)
        noise = torch.randn(x.shape, generator=self.generator).to(device)
        denoise = model.denoise
        if self.world_size > 1:
            rows = slice(self.rank * x.shape[0] // self.world_size, (self.rank + 1) * x.shape[0] // self.world_size)
            x, labels, t, noise = x[rows], labels[rows], t[rows], noise[rows]
            if self._parallel_unet is not None:     # the U-Net call through DDP, which averages the gradients
                denoise = self._parallel_unet
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return idc_loss(model.bridge, denoise, label_images[labels], to_model_scale(x), t, noise, labels,
                            label_images, model.config.cls_loss_weight, model.config.loss_type)

    def _start_parallel(self) -> None:
        """Wrap the U-Net in DistributedDataParallel (once, on the device it is on now)."""
        if self.world_size == 1 or self._parallel_unet is not None:
            return
        from torch.nn.parallel import DistributedDataParallel

        device = self.model.label_images.device
        # gradients are averaged at every backward, also between accumulated batches: the pending
        # gradients are then the same on every process, so rank 0's checkpoint resumes all of them
        self._parallel_unet = DistributedDataParallel(self.model.unet, device_ids=[device] if device.type == "cuda" else None,
                                                      broadcast_buffers=False)

    def train(self, epochs: int | None = None, progress: bool = True, checkpoint_path: str | Path | None = None,
              checkpoint_every: int = 1, max_batches: int | None = None, log_every: int = 0) -> list[dict]:
        """Train up to ``epochs`` (default ``config.epochs``) in total; returns the loss history.

        With ``checkpoint_path`` a checkpoint is written atomically every ``checkpoint_every``
        epochs and at the end.  ``max_batches`` caps batches per epoch (smoke runs).  ``log_every``
        prints one line every that many epochs (visible in papermill logs, where bars are not).
        """
        cfg = self.config.validate()
        target = check_int(cfg.epochs if epochs is None else epochs, "epochs", 0)
        check_int(checkpoint_every, "checkpoint_every", 1)
        check_int(log_every, "log_every", 0)
        if max_batches is not None:
            check_int(max_batches, "max_batches", 1)
        if target < self.epoch:
            raise InputError(f"this model has already trained {self.epoch} epochs; asked to train up to {target}. "
                             "Ask for at least as many epochs, or start a new trainer")
        n = self.data.x_train.shape[0]
        batches = self.batches_per_epoch()
        if max_batches:
            batches = min(batches, max_batches)
        accumulate = max(1, cfg.accumulate_grad_batches)
        main = self.rank == 0                  # under torchrun only rank 0 prints and writes
        self._start_parallel()
        self.model.train()
        device = self.model.label_images.device
        # On a GPU the training images live on it (CIFAR-10: 0.6 GB), so batches never wait for the host
        x_source, y_source = ((self.data.x_train.to(device), self.data.y_train.to(device)) if device.type == "cuda"
                              else (self.data.x_train, self.data.y_train))
        bar = progress_bar(total=(target - self.epoch) * batches, desc="training", disable=not (progress and main))
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.set_rng_state(self.dropout_rng_state)
            # Dropout masks on a GPU come from the device's generator: seeded, then carried in checkpoints.
            # Every process starts from the same state (as on the CPU), so rank 0's checkpoint resumes all.
            if cuda:
                if self.dropout_cuda_rng_state is None:
                    torch.cuda.manual_seed(cfg.seed + 1)
                else:
                    torch.cuda.set_rng_state(self.dropout_cuda_rng_state, device)
            while self.epoch < target:
                start = time.perf_counter()
                order = torch.randperm(n, generator=self.generator)
                sums = {"loss": 0.0, "recloss": 0.0, "simloss": 0.0}
                for b in range(batches):
                    idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                    if device.type == "cuda":
                        idx = idx.to(device)
                    terms = self._loss(x_source[idx], y_source[idx])
                    # the global batch's loss terms (the mean over processes), for logs, NaN check and scheduler
                    values = distributed.mean_over_processes(
                        torch.stack([terms.loss.detach(), terms.recloss.detach(), terms.simloss.detach()]).float())
                    loss_value, term_values = values[0].item(), dict(zip(("loss", "recloss", "simloss"), values.tolist()))
                    if not math.isfinite(loss_value):   # stop before the bad step reaches the weights
                        bar.close()
                        self.model.eval()
                        kept = (f"the last good checkpoint {checkpoint_path} (epoch {self._saved_epoch}) is kept"
                                if checkpoint_path and self._saved_epoch is not None else "no checkpoint was written")
                        raise TrainingDivergedError(
                            f"the training loss became {loss_value} at epoch {self.epoch + 1}, batch {b + 1}; {kept}. "
                            "Try a smaller learning rate, and check the data for NaN or out-of-range values")
                    terms.loss.backward()   # summed over accumulated batches, as the authors
                    self.global_step += 1
                    if self.global_step % accumulate == 0:
                        self.optimizer.step()
                        self.optimizer.zero_grad(set_to_none=True)
                        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                            self.scheduler.step(loss_value)
                        elif isinstance(self.scheduler, torch.optim.lr_scheduler.LambdaLR):
                            self.scheduler.step()
                    if self.ema is not None and self.global_step % (cfg.update_ema_interval * accumulate) == 0:
                        self.ema.update(self.model.unet, with_decay=self.global_step >= cfg.start_ema_step)
                    for k in sums:
                        sums[k] += term_values[k]
                    bar.update(1)
                    bar.set_postfix(epoch=self.epoch + 1, loss=f"{loss_value:.4f}")
                if isinstance(self.scheduler, torch.optim.lr_scheduler.StepLR):
                    self.scheduler.step()
                self.epoch += 1
                self.train_seconds += time.perf_counter() - start
                record = {"epoch": self.epoch, "step": self.global_step, "lr": self.optimizer.param_groups[0]["lr"],
                          "precision": self.precision, "processes": self.world_size}
                record.update({k: v / batches for k, v in sums.items()})
                self.history.append(record)
                if main and log_every and (self.epoch % log_every == 0 or self.epoch == target):
                    print(f"epoch {self.epoch}/{target}: loss {record['loss']:.4f} (L1 {record['recloss']:.4f}, "
                          f"inter-class {record['simloss']:.4f}), {self.train_seconds:.0f} s", flush=True)
                self.dropout_rng_state = torch.get_rng_state()
                if cuda:
                    self.dropout_cuda_rng_state = torch.cuda.get_rng_state(device)
                if checkpoint_path and (self.epoch % checkpoint_every == 0 or self.epoch == target):
                    self.save(checkpoint_path)
        bar.close()
        self.model.eval()
        distributed.barrier()      # no process leaves before rank 0 has written the last checkpoint
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
            "rng": {"generator": self.generator.get_state(), "dropout": self.dropout_rng_state,
                    "dropout_cuda": self.dropout_cuda_rng_state},
            # gradients summed since the last optimiser step (accumulation runs across epoch ends)
            "pending_grads": {n: p.grad.clone() for n, p in self.model.unet.named_parameters() if p.grad is not None},
            "imported_from": json.dumps(self.imported_from),
        }

    def _check_overwrite(self, path: Path) -> None:
        """Refuse (once per path) to replace a checkpoint with more training, or a file that is not
        a kit checkpoint, unless ``replace_existing``."""
        if self.replace_existing or path in self._checked_paths or not path.exists():
            return
        try:
            progress = read_checkpoint(path)["progress"]
            existing_epoch, existing_step = int(progress["epoch"]), int(progress["global_step"])
        except (CheckpointError, KeyError, TypeError, ValueError) as err:
            raise OverwriteRefusedError(f"{path} exists and is not a readable idc_lite checkpoint ({err}); "
                                        "not replacing it. Move it away, or pass replace_existing=True") from None
        if existing_step > self.global_step:
            raise OverwriteRefusedError(
                f"{path} holds more training (epoch {existing_epoch}, step {existing_step}) than this trainer "
                f"(epoch {self.epoch}, step {self.global_step}); not replacing it. Resume it with "
                "Trainer.resume(path, data), write elsewhere, or pass replace_existing=True")

    def save(self, path: str | Path, metrics: dict | None = None) -> Path:
        """Write ``path`` (tensors and plain values) and ``path.with_suffix('.json')`` atomically.

        The record stores the SHA-256 of the ``.pt``, so a stale or foreign record is detected
        (:func:`checkpoint_record`).  Raises :class:`OverwriteRefusedError` rather than replace a
        checkpoint with more training (see ``replace_existing``)."""
        path = Path(path)
        if path.suffix != ".pt":
            raise InputError(f"checkpoint paths end in .pt (the record goes beside it as .json), got {path}")
        if self.rank != 0:           # under torchrun rank 0 writes for all (their states are the same)
            self._saved_epoch = self.epoch
            return path
        self._check_overwrite(path)
        digest = atomic_save_hashed(self.state(), path)
        self._checked_paths.add(path)
        self._saved_epoch = self.epoch
        record = _record(path, digest, self.model.config.to_dict(), asdict(self.config), self.data.info,
                         self.data.class_names, self.epoch, self.global_step, self.train_seconds, self.history,
                         metrics or {})
        if self.imported_from:
            record["imported_from"] = self.imported_from
        atomic_write_json(record, path.with_suffix(".json"))
        # the training log, one JSON line per epoch, always matching the checkpoint beside it (a
        # preempted run's log ends at the epoch it resumes from, without a half-written line)
        log = "".join(json.dumps(record) + "\n" for record in self.history).encode()
        atomic_write_bytes(log_path_for(path), lambda handle: handle.write(log))
        return path

    @classmethod
    def resume(cls, path: str | Path, data: DataSplit) -> "Trainer":
        """Rebuild a trainer from a checkpoint written by :meth:`save` and continue where it stopped."""
        state = read_checkpoint(path)
        for key in ("unet", "optimizer", "progress", "rng"):
            if key not in state:
                raise CheckpointError(f"{path} has no {key!r} entry: it cannot be resumed (was it edited by hand?)")
        model = IDCClassifier(_config_from(state, path))
        config = _stored(path, "train_config", lambda: TrainConfig.from_dict(_json_entry(state, "train_config", path)))
        saved_info = _json_entry(state, "data_info", path)
        if not same_data(saved_info, data.info):
            raise CheckpointError(f"{path} was trained on {saved_info}, not on the data given {data.info}")
        trainer = cls(model, config, data)
        trainer._checked_paths.add(Path(path))       # resuming it: later saves continue it
        trainer._saved_epoch = int(state["progress"]["epoch"])
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
        trainer.dropout_cuda_rng_state = state["rng"].get("dropout_cuda")
        params = dict(model.unet.named_parameters())
        for name, grad in state.get("pending_grads", {}).items():
            params[name].grad = grad.clone()
        trainer.imported_from = json.loads(state.get("imported_from") or "null")
        return trainer


def log_path_for(checkpoint: str | Path) -> Path:
    """The training log beside a checkpoint: model.pt -> model.log.jsonl (one JSON record per epoch)."""
    return Path(checkpoint).with_suffix(".log.jsonl")


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
      (epochs aside), else :class:`~idc_lite.runs.SettingsMismatchError` names every difference.
      Fewer epochs than asked: training continues from where it stopped.  More: an error too.
    * otherwise a new trainer (``retrain`` replaces the checkpoint when it is saved).
    """
    from .runs import SettingsMismatchError, settings_differences

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
    action = "training from scratch, replacing" if checkpoint.exists() else "training from scratch into"
    return (Trainer(IDCClassifier(model_config), train_config, data, replace_existing=retrain),
            f"{action} {checkpoint.name}")


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
    that leaves them unchanged cannot be (see :func:`idc_lite.official.load_official_classifier`).
    The optimiser state is not imported: training on from it starts Adam afresh."""
    from .official import load_official_classifier, official_unet_state
    from .runs import SettingsMismatchError

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


def _json_entry(state: dict, key: str, path) -> object:
    """A JSON-encoded entry of a checkpoint, with an error naming the file and key."""
    if key not in state:
        raise CheckpointError(f"{path} has no {key!r} entry (was it edited by hand?)")
    try:
        return json.loads(state[key])
    except (TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: the {key!r} entry is not valid JSON ({err})") from None


def _stored(path, key: str, build):
    """``build()`` a configuration read from a checkpoint; bad values name the file and key."""
    try:
        return build()
    except InputError as err:
        raise CheckpointError(f"{path}: the stored {key!r} is not valid: {err}") from None


def _config_from(state: dict, path) -> IDCConfig:
    return _stored(path, "config", lambda: IDCConfig.from_dict(_json_entry(state, "config", path)))


def read_checkpoint(path: str | Path) -> dict:
    """Read a kit checkpoint safely and check its format."""
    state = read_torch_file(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        if isinstance(state, dict) and "model" in state and "format" not in state:
            raise CheckpointError(f"{path} looks like a checkpoint of the authors' code; give it to notebook 02 as "
                                  "model_path (with the preset it was trained with), or load it with "
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
    check_choice(weights, "weights", ("ema", "raw"))
    state = read_checkpoint(path)
    model = IDCClassifier(_config_from(state, path), seed=seed)
    if "unet" not in state:
        raise CheckpointError(f"{path} has no 'unet' weights (was it edited by hand?)")
    unet_state = state["ema"] if weights == "ema" and state.get("ema") is not None else state["unet"]
    _load_unet(model, unet_state, path)
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
                              f"with: python -m idc_lite.train --repair-record {path}") from None
    missing = [k for k in ("config", "train_config", "data") if not isinstance(record, dict) or k not in record]
    if missing:
        raise CheckpointError(f"the record {record_path} lacks {missing}; rebuild it with: "
                              f"python -m idc_lite.train --repair-record {path}")
    stored = record.get("checkpoint_sha256")
    if stored is not None and path.is_file() and file_sha256(path) != stored:
        raise StaleRecordError(
            f"the record {record_path.name} does not describe {path.name} (content hash differs: the record was written "
            f"for another file, or a crash came between the two writes). Trust {path.name}: it carries its own "
            f"settings and data split; rewrite the record from it with: python -m idc_lite.train --repair-record {path}")
    return record


def repair_record(path: str | Path) -> dict:
    """Rewrite ``path``'s JSON record from the checkpoint itself (metrics are not kept: they may
    belong to another file).  Returns the new record."""
    path = Path(path)
    state = read_checkpoint(path)
    progress = state.get("progress", {})
    record = _record(path, file_sha256(path), _config_from(state, path).to_dict(),
                     _json_entry(state, "train_config", path), _json_entry(state, "data_info", path),
                     state.get("class_names", []), int(progress.get("epoch", 0)), int(progress.get("global_step", 0)),
                     float(progress.get("train_seconds", 0.0)), json.loads(progress.get("history", "[]")), {})
    record["repaired"] = True
    atomic_write_json(record, path.with_suffix(".json"))
    return record


def _record(path: Path, digest: str, config: dict, train_config: dict, data_info: dict, class_names, epoch: int,
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
    from .data import TORCHVISION_DATASETS, load_dataset
    from .image_folders import load_image_folder

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


def accuracy_over_draws(model: IDCClassifier, x: torch.Tensor, labels: torch.Tensor, seeds: list[int],
                        batch_size: int = 256) -> dict:
    """Accuracy of a random classifier, stated per scoring rule.

    One draw of sampler noise per image for each seed in ``seeds`` (fresh generators): returns the
    per-draw accuracies with their mean, min and max, and the accuracy of the majority vote over
    the draws (ties go to the lowest class index).
    """
    from .robustness import majority_vote, predictions_over_draws

    x, labels = check_batch(x, labels, model.config.num_classes)
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise InputError(f"seeds must be a non-empty list of whole numbers, got {seeds!r}")
    seeds = [check_int(s, "seeds[i]", 0) for s in seeds]
    stacked = predictions_over_draws(model, x, [torch.Generator().manual_seed(s) for s in seeds], batch_size)
    per_draw = [(p == labels).float().mean().item() for p in stacked]
    per_example = (stacked == labels).float().mean(0)        # the fraction of draws each image is right in
    majority_correct = (majority_vote(stacked, model.config.num_classes) == labels).float()
    return {"per_draw": per_draw, "mean": sum(per_draw) / len(per_draw), "min": min(per_draw), "max": max(per_draw),
            "majority_vote": majority_correct.mean().item(), "draws": len(seeds), "seeds": list(seeds),
            "examples": int(x.shape[0]),
            # one draw: Wilson; the mean over draws: a bootstrap over images (idc_lite.uncertainty)
            "interval": estimate(per_example, "wilson" if len(seeds) == 1 else "bootstrap"),
            "majority_vote_interval": estimate(majority_correct, "wilson")}


def evaluate_accuracy(model: IDCClassifier, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                      batch_size: int = 256) -> float:
    """Accuracy of one random draw per image (fresh noise from ``generator``)."""
    x, labels = check_batch(x, labels, model.config.num_classes)
    model.eval()
    predictions = model.predict(x.to(model.label_images.device), generator=generator, batch_size=batch_size).cpu()
    return (predictions == labels).float().mean().item()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def checkpoint_path_for(out: str) -> Path:
    """``--out`` as a checkpoint path: a folder (existing, or written with a trailing /) gets
    ``model.pt`` inside it; a name without ``.pt`` gets the suffix."""
    if out.endswith(("/", "\\")) or Path(out).is_dir():
        return Path(out) / "model.pt"
    return Path(out if out.endswith(".pt") else out + ".pt")


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 trained, 2 bad arguments or files (nothing written), 3 training diverged
    (the last good checkpoint kept)."""
    from .presets import PRESETS

    parser = argparse.ArgumentParser(prog="python -m idc_lite.train", description="Train an IDC classifier.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="digits")
    parser.add_argument("--out", help="checkpoint path (.pt; a folder gets model.pt); a .json record is written beside it")
    parser.add_argument("--data-root", default=None, help="data root (default $IDC_LITE_DATA, else data/ in the repository)")
    parser.add_argument("--download", action="store_true", help="allow torchvision to download the dataset")
    parser.add_argument("--epochs", type=_positive_int, default=None, help="train up to this many epochs in all")
    parser.add_argument("--device", default="",
                        help="'cpu', 'cuda', 'cuda:N' (default: the first GPU if there is one, else the CPU; "
                             "under torchrun each process takes the GPU of its LOCAL_RANK)")
    parser.add_argument("--batch-size", type=_positive_int, default=None,
                        help="global batch (default: the preset's); under torchrun each process takes an equal share")
    parser.add_argument("--precision", choices=("fp32", "bf16", "auto"), default=None,
                        help="training arithmetic (default: the preset's; 'auto' = bf16 where the device has it natively)")
    parser.add_argument("--resume", action="store_true", help="continue --out up to --epochs (or the preset's)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out with a new model")
    parser.add_argument("--eval-examples", type=_positive_int, default=2000, help="test images for the final accuracy")
    parser.add_argument("--smoke", action="store_true",
                        help="epochs of 2 batches (1 epoch unless --epochs), 32 test images: checks the code path")
    parser.add_argument("--repair-record", metavar="CHECKPOINT", default=None,
                        help="only rewrite CHECKPOINT's .json record from the checkpoint itself")
    args = parser.parse_args(argv)
    group = None
    try:
        if distributed.launched_by_torchrun():
            group = distributed.start(args.device)
        return _run_cli(parser, args, group)
    finally:
        if group is not None:
            distributed.stop()


def _run_cli(parser: argparse.ArgumentParser, args: argparse.Namespace, group) -> int:
    from .data import DataNotFoundError, load_dataset
    from .machine import resolve_device
    from .presets import get_preset

    main_process = group is None or group.is_main
    say = print if main_process else (lambda *a, **k: None)
    try:
        if args.repair_record:
            record = repair_record(args.repair_record)
            print(f"rewrote {Path(args.repair_record).with_suffix('.json')} (epoch {record['epoch']})")
            return 0
        if not args.out:
            parser.error("--out is required")
        if args.resume and args.overwrite:
            parser.error("--resume continues a checkpoint and --overwrite replaces it: give one of them")
        out = checkpoint_path_for(args.out)
        device = group.device if group is not None else resolve_device(args.device)
        if out.exists() and not (args.resume or args.overwrite):
            print(f"error: {out} exists; --resume continues it, --overwrite replaces it, or choose another --out",
                  file=sys.stderr)
            return 2
        preset = get_preset(args.preset)
        if args.epochs is not None:
            preset.train.epochs = args.epochs
        if args.precision is not None:
            preset.train.precision = args.precision
        if args.batch_size is not None:
            preset.train.batch_size = args.batch_size
        max_batches = None
        if args.smoke:       # 2 batches per epoch, 32 test images; 1 epoch unless --epochs says otherwise
            max_batches, args.eval_examples = 2, 32
            preset.train.epochs = args.epochs or 1
        data = load_dataset(preset.dataset, root=args.data_root, image_size=preset.model.unet.image_size,
                            download=args.download)
        if args.resume and out.exists():
            trainer = Trainer.resume(out, data)
            target = args.epochs if args.epochs is not None else trainer.config.epochs
            if target < trainer.epoch:
                print(f"error: {out} has already trained {trainer.epoch} epochs; --epochs {target} would train none "
                      "(nothing changed)", file=sys.stderr)
                return 2
            if args.batch_size is not None and args.batch_size != trainer.config.batch_size:
                print(f"error: {out} trains with a global batch of {trainer.config.batch_size}; --batch-size "
                      f"{args.batch_size} cannot change it on resume (nothing changed)", file=sys.stderr)
                return 2
            trainer.config.epochs = target
            if args.precision is not None:      # e.g. moved to a GPU: each epoch's record keeps its precision
                trainer.config.precision = args.precision
            say(f"resuming {out} at epoch {trainer.epoch} of {target}")
        else:
            trainer = Trainer(IDCClassifier(preset.model), preset.train, data, replace_existing=args.overwrite)
        trainer.model.to(device)
        processes = f", {group.world_size} processes ({group.backend}), global batch {trainer.config.batch_size}" if group else ""
        say(f"training on {device} in {trainer.precision}{processes}", flush=True)
        trainer.train(checkpoint_path=out, max_batches=max_batches, progress=main_process, log_every=1 if group else 0)
    except TrainingDivergedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (DataNotFoundError, InputError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not main_process:     # rank 0 evaluates and writes the final record
        return 0
    model = trainer.ema_classifier()
    n = min(args.eval_examples, data.x_test.shape[0])
    acc = evaluate_accuracy(model, data.x_test[:n], data.y_test[:n], torch.Generator().manual_seed(1))
    trainer.save(out, metrics={"test_accuracy": acc, "test_examples": n})
    print(json.dumps({"checkpoint": str(out), "test_accuracy": acc, "epochs": trainer.epoch,
                      "train_seconds": round(trainer.train_seconds, 1),
                      "processes": group.world_size if group else 1}))
    return 0


if __name__ == "__main__":
    # run the package's module, not this __main__ copy, so that classes match the presets' ones
    from idc_lite.train import main as package_main

    sys.exit(package_main())

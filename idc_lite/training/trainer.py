"""Training the IDC classifier as the authors do: Adam, gradient accumulation, plateau learning
rate, EMA weights for evaluation, and checkpoints that resume exactly.

Under torchrun every process trains its share of each global batch (:mod:`idc_lite.training.distributed`).
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from idc_lite.data.datasets import same_data
from idc_lite.data.splits import DataSplit
from idc_lite.foundation.errors import CheckpointError, InputError, OverwriteRefusedError, TrainingDivergedError
from idc_lite.foundation.files import (
    atomic_save_hashed,
    atomic_write_bytes,
    atomic_write_json,
)
from idc_lite.foundation.machine import native_bf16
from idc_lite.foundation.runtime import progress_bar
from idc_lite.foundation.streams import hashed_seed, seeded
from idc_lite.foundation.validation import check_batch, check_int
from idc_lite.model.classifier import IDCClassifier, to_model_scale
from idc_lite.model.losses import idc_loss
from idc_lite.training import distributed
from idc_lite.training.checkpoint import (
    CHECKPOINT_FORMAT,
    built_from_stored,
    json_entry,
    load_unet_weights,
    log_path_for,
    make_record,
    model_config_from,
    read_checkpoint,
)
from idc_lite.training.config import TrainConfig


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
        self.dropout_rng_state = seeded(config.seed, "training/dropout").get_state()  # dropout (global RNG, forked)
        self.dropout_cuda_rng_state: torch.Tensor | None = None   # dropout on a GPU: its own generator, kept likewise
        self._timesteps_drawn_from = self._timestep_pool(model, config)
        self.global_step = 0
        self.epoch = 0
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self._saved_epoch: int | None = None
        # Under torchrun: this process's share of every global batch (see idc_lite.training.distributed)
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
                    torch.cuda.manual_seed(hashed_seed(cfg.seed, "training/dropout-cuda"))
                else:
                    torch.cuda.set_rng_state(self.dropout_cuda_rng_state, device)
            while self.epoch < target:
                start = time.perf_counter()
                try:
                    sums = self._train_epoch(x_source, y_source, batches, accumulate, bar)
                except TrainingDivergedError as err:   # stop before the bad step reaches the weights
                    bar.close()
                    self.model.eval()
                    kept = (f"the last good checkpoint {checkpoint_path} (epoch {self._saved_epoch}) is kept"
                            if checkpoint_path and self._saved_epoch is not None else "no checkpoint was written")
                    raise TrainingDivergedError(f"{err}; {kept}. Try a smaller learning rate, and check the data for "
                                                "NaN or out-of-range values") from None
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

    def _train_epoch(self, x_source: torch.Tensor, y_source: torch.Tensor, batches: int, accumulate: int, bar) -> dict:
        """One epoch of ``batches`` batches; returns the summed loss terms.  Raises TrainingDivergedError
        (without touching the weights) when the global batch's loss is not finite."""
        cfg, device = self.config, self.model.label_images.device
        order = torch.randperm(self.data.x_train.shape[0], generator=self.generator)
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
            if not math.isfinite(loss_value):
                raise TrainingDivergedError(f"the training loss became {loss_value} at epoch {self.epoch + 1}, batch {b + 1}")
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
        return sums

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
        record = make_record(path, digest, self.model.config.to_dict(), asdict(self.config), self.data.info,
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
        model = IDCClassifier(model_config_from(state, path))
        config = built_from_stored(path, "train_config", lambda: TrainConfig.from_dict(json_entry(state, "train_config", path)))
        saved_info = json_entry(state, "data_info", path)
        if not same_data(saved_info, data.info):
            raise CheckpointError(f"{path} was trained on {saved_info}, not on the data given {data.info}")
        trainer = cls(model, config, data)
        trainer._checked_paths.add(Path(path))       # resuming it: later saves continue it
        trainer._saved_epoch = int(state["progress"]["epoch"])
        load_unet_weights(model, state["unet"], path)
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



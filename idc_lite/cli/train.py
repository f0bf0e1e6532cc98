"""Command line twin of notebook 02, for long runs::

    idc-lite train --preset digits --out runs/my_digits
    idc-lite train --preset cifar10 --data-root /data --out runs/cifar10 --resume
    torchrun --standalone --nproc_per_node=4 -m idc_lite train --preset cifar10 --data-root /data --out runs/cifar10/

Exit status: 0 trained, 2 bad arguments or files (nothing written), 3 training diverged.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from idc_lite.foundation.errors import CheckpointError, InputError, TrainingDivergedError
from idc_lite.model.accuracy import evaluate_accuracy
from idc_lite.model.classifier import IDCClassifier
from idc_lite.training import distributed
from idc_lite.training.checkpoint import repair_record
from idc_lite.training.trainer import Trainer


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


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Exit status: 0 trained, 2 bad arguments or files (nothing written), 3 training diverged
    (the last good checkpoint kept)."""
    from idc_lite.training.presets import PRESETS

    parser = argparse.ArgumentParser(prog=prog or "idc-lite train", description="Train an IDC classifier.")
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
    from idc_lite.data.datasets import load_dataset
    from idc_lite.foundation.errors import DataNotFoundError
    from idc_lite.foundation.machine import resolve_device
    from idc_lite.training.presets import get_preset

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



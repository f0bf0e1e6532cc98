"""The files of a sharded evaluation (``idc-lite evaluate``), so that a rerun resumes it.

An evaluation folder holds::

    config.json                  what is evaluated and how: a rerun with other settings is refused
    blocks/block-00000.json      block 0's protocol results, written when the block has finished
    blocks/block-00000.pt        its adversarial examples (the worst case's; block 0: every attack's)
    metrics/04_attack.json       the merged record, in notebook 04's format (rank 0, at the end)
    eval_examples.pt, worst_adversarial.pt, report.md

Every file is written atomically, the tensors before the JSON, so a block whose JSON is there is whole.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.files import atomic_save, atomic_write_json, read_torch_file

# -2: blocks judge their own challengers (``challenger_breaks``) and the cascade refines from the transfer's examples
# on every example still standing; a -1 block holds other figures and cannot be merged with -2 ones
BLOCK_FORMAT = "idc_lite-evaluation-block-2"
CONFIG_FILE = "config.json"


def block_paths(folder: Path, block: int) -> tuple[Path, Path]:
    """(results JSON, tensors) of block ``block`` in an evaluation folder."""
    stem = Path(folder) / "blocks" / f"block-{block:05d}"
    return stem.with_suffix(".json"), stem.with_suffix(".pt")


def check_folder(folder: Path, config: dict) -> bool:
    """Whether ``folder`` already holds an evaluation for ``config`` (a resumed run); reads only.  Raises
    InputError when it holds an evaluation with other settings, or files of something else."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if path.is_file():
        try:
            held = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"{path} is not readable ({err}); choose another --out") from None
        if held != config:
            differ = sorted(k for k in set(held) | set(config) if held.get(k) != config.get(k))
            raise InputError(f"{folder} holds an evaluation with other settings ({', '.join(differ)}); its blocks "
                             "are kept: choose another --out, or give the same settings to resume it")
        outdated = outdated_blocks(folder)
        if outdated:
            raise InputError(f"{folder} holds blocks {outdated} written by an earlier version of the kit, whose cascade "
                             f"and checks differ from this one's; they are kept: evaluate into a new folder (--out), or "
                             f"move {Path(folder) / 'blocks'} away to evaluate them again here")
        return True
    if folder.is_file() or (folder.exists() and any(folder.iterdir())):
        raise InputError(f"{folder} is not empty and holds no {CONFIG_FILE}: choose a new or empty --out")
    return False


def outdated_blocks(folder: Path) -> list[int]:
    """The blocks of ``folder`` written in an earlier block format (reads only; unreadable files are not counted:
    :func:`read_block` evaluates those again)."""
    found = []
    for path in sorted((Path(folder) / "blocks").glob("block-*.json")):
        try:
            fmt = json.loads(path.read_text()).get("format")
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        if isinstance(fmt, str) and fmt.startswith("idc_lite-evaluation-block-") and fmt != BLOCK_FORMAT:
            found.append(int(path.stem.removeprefix("block-")))
    return found


def claim_folder(folder: Path, config: dict) -> None:
    """Make ``folder`` an evaluation folder for ``config`` (after :func:`check_folder` has passed)."""
    if not check_folder(folder, config):
        atomic_write_json(config, Path(folder) / CONFIG_FILE)


def write_block(folder: Path, block: int, record: dict, tensors: dict) -> None:
    """Store one finished block: ``tensors`` (adversarial examples) first, then ``record`` (JSON)."""
    results, data = block_paths(folder, block)
    atomic_save(tensors, data)
    atomic_write_json({"format": BLOCK_FORMAT, "block": block, **record}, results)


def read_block(folder: Path, block: int, with_tensors: bool = False) -> tuple[dict, dict | None] | None:
    """(record, tensors or None) of a finished block; None when the block has not finished."""
    results, data = block_paths(folder, block)
    if not results.is_file():
        return None
    try:
        record = json.loads(results.read_text())
    except (OSError, json.JSONDecodeError):
        return None            # not written by write_block (which renames whole files): evaluate it again
    if record.get("format") != BLOCK_FORMAT or record.get("block") != block:
        return None
    return record, (read_torch_file(data) if with_tensors else None)


def adversarial_tensors(adversarial: dict[str, torch.Tensor], worst: torch.Tensor, every_attack: bool) -> dict:
    """What a block stores: the worst case's adversarial examples (n, C, H, W), and every attack's when
    ``every_attack`` (block 0: the sanity checks start from them)."""
    return {"worst": worst.detach().cpu().contiguous(),
            "by_attack": {k: v.detach().cpu().contiguous() for k, v in adversarial.items()} if every_attack else {}}

"""An evaluation cut into fixed blocks of examples, so that it can be spread over processes and resumed.

The block, not the process, is the unit of randomness.  Examples ``[b * B, (b + 1) * B)`` form block
``b`` (B, the block size, is recorded); block ``b`` is evaluated exactly as
:func:`idc_lite.evaluation.protocol.evaluate_attacks` evaluates a batch, with the seed :func:`block_seed` gives
it.  Every attack and scoring draw of an example therefore follows from the run's seed and the example's
index alone: which process evaluates a block, and how many processes there are, changes nothing.  Block
0 keeps the run's seed, so an evaluation of at most B examples is the one notebook 04 makes.

Why blocks and not one stream per example: the attacks draw their noise for a whole batch at once, so
per-example streams would mean batches of one (about B times slower on a GPU).  A block of 100 keeps
the batches, and 100 examples is also what a lost block costs after a preemption.

:func:`merge_results` joins the blocks' results into one result of the same shape as evaluate_attacks()'s:
per-example scores concatenated in example order, accuracies and 95 % intervals computed over all of
them, and a ``blocks`` entry saying how it was cut.
"""
from __future__ import annotations

import torch

from idc_lite.evaluation.protocol import accuracy_intervals
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.streams import hashed_seed
from idc_lite.foundation.validation import check_int

BLOCK_SIZE = 100   # examples per block: notebook 04's default number of examples, so block 0 is its evaluation


def block_seed(seed: int, block: int) -> int:
    """The seed block ``block`` is evaluated with: ``seed`` itself for block 0, else a hash of both
    (:func:`idc_lite.foundation.streams.hashed_seed`, stream ``'block/<b>'``), so no two blocks share a stream."""
    check_int(seed, "seed", 0)
    check_int(block, "block", 0)
    return seed if block == 0 else hashed_seed(seed, f"block/{block}")


def block_bounds(num_examples: int, block_size: int = BLOCK_SIZE) -> list[tuple[int, int]]:
    """[(start, stop)] of every block of ``num_examples`` examples; the last block may be shorter."""
    check_int(num_examples, "num_examples", 1)
    check_int(block_size, "block_size", 1)
    return [(start, min(start + block_size, num_examples)) for start in range(0, num_examples, block_size)]


def blocks_of_rank(num_blocks: int, rank: int, world_size: int) -> list[int]:
    """The blocks process ``rank`` of ``world_size`` evaluates: rank, rank + world_size, ... (every block
    goes to exactly one process; consecutive blocks to different processes, so they finish together)."""
    check_int(world_size, "world_size", 1)
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise InputError(f"rank must be in [0, {world_size}), got {rank!r}")
    return list(range(rank, num_blocks, world_size))


def merge_results(blocks: list[dict], *, seed: int, block_size: int) -> dict:
    """One evaluate_attacks()-shaped result from the results of consecutive blocks (block 0 first).

    One block: its result as it is.  Several: every per-example list concatenated; each attack's robust
    accuracy, the worst case, the clean accuracy and all 95 % intervals computed over the concatenation;
    seconds summed; the largest perturbation the largest of any block.  Every result also gains
    ``blocks``: {size, count, seeds}.  An attack's ``attack_seed`` and ``scoring_seed`` are block 0's;
    block b's are derived the same way from ``blocks.seeds[b]``."""
    if not blocks:
        raise InputError("no block results to merge")
    names = [[a["name"] for a in r["attacks"]] for r in blocks]
    if any(n != names[0] for n in names):
        raise InputError(f"the blocks ran different attacks: {sorted({tuple(n) for n in names})}")
    info = {"size": block_size, "count": len(blocks), "seeds": [block_seed(seed, b) for b in range(len(blocks))]}
    if len(blocks) == 1:
        return {**blocks[0], "blocks": info}
    first = blocks[0]

    def joined(key: str, results=blocks) -> torch.Tensor:
        return torch.tensor([v for r in results for v in r[key]])

    clean, worst = joined("clean_per_example"), joined("worst_case_per_example")
    rescored = joined("worst_case_rescored_per_example") if first.get("worst_case_rescored_per_example") else None
    table = []
    cascade = bool(first.get("cascade"))
    for i, row in enumerate(first["attacks"]):
        rows = [r["attacks"][i] for r in blocks]
        # a cascade's row: the accuracy left after the attack (defined on every example); per_example has gaps
        score = joined("accuracy_left_per_example" if cascade else "per_example", rows)
        table.append({**{k: v for k, v in row.items() if not k.endswith("interval")},
                      "seconds": round(sum(r["seconds"] for r in rows), 2),
                      "robust_accuracy": score.mean().item(),
                      "clean_and_adversarial_correct": (clean * score).mean().item(),
                      "max_linf": max(r["max_linf"] for r in rows), "max_l2": max(r["max_l2"] for r in rows),
                      "per_example": [v for r in rows for v in r["per_example"]],
                      **({"accuracy_left_per_example": score.tolist()} if cascade else {}),
                      **_spent(rows)})
    one_draw = first["draws"] == 1 or first["scoring_rule"] != "one"
    intervals = accuracy_intervals(table, clean, worst, rescored, one_draw=one_draw)
    return {**first, "seed": seed, "examples": int(clean.numel()), "clean_accuracy": clean.mean().item(),
            "clean_per_example": [v for r in blocks for v in r["clean_per_example"]], "attacks": table,
            "worst_case_accuracy": worst.mean().item(), "worst_case_and_clean": (worst * clean).mean().item(),
            "worst_case_per_example": [v for r in blocks for v in r["worst_case_per_example"]],
            "worst_case_rescored": None if rescored is None else rescored.mean().item(),
            "worst_case_rescored_per_example": None if rescored is None else [
                v for r in blocks for v in r["worst_case_rescored_per_example"]],
            "intervals": intervals, "seconds": round(sum(r["seconds"] for r in blocks), 2), "blocks": info}


def _spent(rows: list[dict]) -> dict:
    """One attack's spending over blocks: attacked examples summed, draws and queries per attacked example
    weighted by them (rows written before the kit counted them have none)."""
    if "attacked_examples" not in rows[0]:
        return {}
    attacked = sum(r["attacked_examples"] for r in rows)
    return {"attacked_examples": attacked, **{
        key: sum(r[key] * r["attacked_examples"] for r in rows) / max(attacked, 1)
        for key in ("gradient_draws_per_example", "queries_per_example")}}


def merge_scoring_rules(blocks: list[list[dict]], sizes: list[int]) -> list[dict]:
    """:func:`idc_lite.evaluation.protocol.rescore` results (a list of rules per block) joined: every
    accuracy the mean over blocks weighted by their numbers of examples ``sizes``."""
    if not blocks or len(blocks) != len(sizes):
        raise InputError(f"need one list of rules per block size, got {len(blocks)} lists and {len(sizes)} sizes")
    total = sum(sizes)

    def mean(values):
        return sum(n * v for n, v in zip(sizes, values)) / total

    merged = []
    for i, rule in enumerate(blocks[0]):
        per_block = [b[i] for b in blocks]
        merged.append({**rule, "clean_accuracy": mean(r["clean_accuracy"] for r in per_block),
                       "attacks": {name: mean(r["attacks"][name] for r in per_block) for name in rule["attacks"]},
                       "worst_case_accuracy": mean(r["worst_case_accuracy"] for r in per_block)})
    return merged

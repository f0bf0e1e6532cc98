"""Training on several processes (GPUs, or CPU processes) started by ``torchrun``.

How the kit splits the work, so that N processes reach the weights one process reaches with the same
global batch (within float tolerance):

* every process holds the whole dataset and the same seeded generator, so all draw the same shuffled
  order, augmentations, timesteps and bridge noise for each *global* batch (``batch_size`` of the preset);
* process ``rank`` then keeps rows ``rank * B/N`` to ``(rank + 1) * B/N`` of that batch (the sampler:
  each example of an epoch goes to exactly one process, as with ``DistributedSampler``);
* ``DistributedDataParallel`` averages the gradients, so the step is that of the mean loss over the
  global batch, as in one process (every term of the IDC loss is a mean over the batch, and the U-Net
  uses GroupNorm, which does not mix examples);
* the loss printed, checked for NaN and given to the plateau scheduler is averaged over processes,
  so every process takes the same learning-rate decisions;
* only rank 0 writes checkpoints and logs; all read the same checkpoint to resume.

Dropout is the one difference: every process starts its dropout generator from the same state (so that
rank 0's checkpoint resumes them all exactly) and draws masks for its own rows, so a preset with
dropout > 0 follows a different, equally valid, random path than one process does.

Start::

    torchrun --standalone --nproc_per_node=4 -m idc_lite train --preset cifar10 --data-root DATA --out runs/c10/
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from idc_lite.foundation.errors import InputError


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in a run: ``rank`` of ``world_size``, and the device it computes on."""
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher) set the environment of a multi-process run."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: str = "", timeout_s: int = 1800) -> ProcessGroup:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT): NCCL with one GPU per process (``cuda:LOCAL_RANK``) where CUDA is
    available and ``device`` does not say 'cpu', else gloo on the CPU."""
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise InputError(f"not started by torchrun (missing {missing}); run: torchrun --nproc_per_node=N -m idc_lite train ...")
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = torch.cuda.is_available() and not device.startswith("cpu")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise InputError(f"LOCAL_RANK {local_rank} but this machine has {torch.cuda.device_count()} GPU(s): "
                             "give torchrun --nproc_per_node at most the number of GPUs")
        torch.cuda.set_device(local_rank)
    backend = "nccl" if use_cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return ProcessGroup(rank, world_size, local_rank,
                        torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu"), backend)


def stop() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def current() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def mean_over_processes(values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``values`` over all processes (itself in a single process)."""
    _, world_size = current()
    if world_size == 1:
        return values
    values = values.detach().clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / world_size


def barrier() -> None:
    if current()[1] > 1:
        dist.barrier()



"""Independent tasks (sweep points, students to grade) in this process or on a Dask cluster.

    run_tasks(function, [args, ...], workers=1)                 # one after the other, here (the default)
    run_tasks(function, [args, ...], workers=4)                 # a LocalCluster of 4 worker processes
    run_tasks(function, [args, ...], scheduler="tcp://host:8786")   # an existing cluster (Slurm: dask-jobqueue)

Every task ends as a :class:`TaskOutcome`, in the order the tasks were given: ``finished`` with the
function's value, or ``failed`` with what went wrong (the function raised, or its worker was lost); one
failed task never stops the others.  On a cluster each task's torch and BLAS threads are limited to
``threads`` (default: this machine's cores shared among the local workers), so that workers do not
oversubscribe the cores; the kernels that papermill or nbgrader start inherit the limit.  Tasks read and
write their own folders, so a remote cluster needs a file system shared with this process.
"""
from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.validation import check_int

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class TaskOutcome:
    """How one task ended: ``status`` 'finished' (``value`` is what the function returned) or 'failed'
    (``error`` says why); ``seconds`` of wall time; ``worker`` where it ran ('local' in this process)."""
    name: str
    status: str
    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    worker: str = "local"
    extra: dict = field(default_factory=dict)


def _describe(err: BaseException) -> str:
    """One line for an exception; papermill's carries the notebook's own exception as ename / evalue."""
    if hasattr(err, "ename"):
        return f"{err.ename}: {err.evalue}"[:800]
    return f"{type(err).__name__}: {str(err).strip()}"[:800]


def call_task(function: Callable, args: tuple, name: str, threads: int | None = None) -> TaskOutcome:
    """Run ``function(*args)`` and say how it ended, never raising (KeyboardInterrupt aside).
    ``threads``: the limit on torch's and the BLAS libraries' threads for the call and its child kernels."""
    if threads:
        os.environ.update({variable: str(threads) for variable in THREAD_VARIABLES})
        import torch

        torch.set_num_threads(threads)
    worker = "local"
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        pass
    started = time.perf_counter()
    try:
        value = function(*args)
        return TaskOutcome(name, "finished", value=value, seconds=round(time.perf_counter() - started, 1), worker=worker)
    except KeyboardInterrupt:
        raise
    except Exception as err:     # one failed task is reported; the others still run
        return TaskOutcome(name, "failed", error=_describe(err), seconds=round(time.perf_counter() - started, 1),
                           worker=worker, extra={"traceback": traceback.format_exc()[-4000:]})


def check_cluster_options(workers: int, scheduler: str | None) -> None:
    """A clear error for a worker count below 1, or for a scheduler address that is not a string."""
    check_int(workers, "workers", 1)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise InputError(f"scheduler must be an address such as 'tcp://host:8786', got {scheduler!r}")


def run_tasks(function: Callable, arguments: list[tuple], names: list[str], *, workers: int = 1,
              scheduler: str | None = None, threads: int | None = None,
              on_start: Callable[[int, str], None] | None = None,
              on_outcome: Callable[[TaskOutcome], None] | None = None) -> list[TaskOutcome]:
    """``function(*args)`` for each of ``arguments`` (named by ``names``), in this process one after the other
    (``workers=1`` and no ``scheduler``), on a new LocalCluster of ``workers`` processes, or on the cluster at
    ``scheduler``.  ``on_start(i, name)`` is called before each task in this process (on a cluster, when it is
    submitted); ``on_outcome`` sees each outcome as it arrives.  Returns the outcomes in the given order."""
    check_cluster_options(workers, scheduler)
    if len(arguments) != len(names):
        raise InputError(f"{len(arguments)} tasks but {len(names)} names")
    if workers == 1 and scheduler is None:
        outcomes = []
        for i, (args, name) in enumerate(zip(arguments, names)):
            if on_start:
                on_start(i, name)
            outcomes.append(call_task(function, args, name))
            if on_outcome:
                on_outcome(outcomes[-1])
        return outcomes
    try:
        from dask import config as dask_config
        from distributed import Client, LocalCluster, as_completed
    except ImportError as err:
        raise InputError("--workers above 1 and --scheduler need dask.distributed (pip install -r requirements.txt)") from err
    if threads is None and scheduler is None:
        threads = max(1, (os.cpu_count() or 1) // workers)
    # Dask's nanny writes its pre-spawn variables (OMP_NUM_THREADS=1, ...) into this process's environment before
    # starting a worker and leaves them there: every later kernel or subprocess of this process would run on one thread
    leaked = set(THREAD_VARIABLES) | set(dask_config.get("distributed.nanny.pre-spawn-environ", default=None) or {})
    saved = {name: os.environ.get(name) for name in leaked}
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None)
    try:
        with Client(scheduler or cluster) as client:
            futures = {}
            for i, (args, name) in enumerate(zip(arguments, names)):
                if on_start:
                    on_start(i, name)
                futures[client.submit(call_task, function, args, name, threads, pure=False)] = i
            outcomes: list[TaskOutcome | None] = [None] * len(arguments)
            for future in as_completed(futures):
                i = futures[future]
                try:
                    outcome = future.result()
                except Exception as err:   # the worker died or was lost: the task failed, the others go on
                    outcome = TaskOutcome(names[i], "failed", error=f"worker lost: {_describe(err)}")
                outcomes[i] = outcome
                if on_outcome:
                    on_outcome(outcome)
    finally:
        if cluster is not None:
            cluster.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return outcomes

"""Independent tasks here or on a Dask LocalCluster: outcomes in the given order, a failing task (or a lost
worker) reported while the others finish, and each worker's threads limited so workers share the cores."""
import os

import pytest

from idc_lite.foundation.cluster import THREAD_VARIABLES, call_task, run_tasks
from idc_lite.foundation.errors import InputError


def square_or_fail(n: int) -> int:
    if n == 3:
        raise RuntimeError("task 3 broke")
    return n * n


def threads_seen(_: int) -> tuple[str | None, int]:
    import torch

    return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def die(n: int) -> int:
    if n == 1:
        os._exit(3)       # the worker process dies mid-task
    return n


def test_tasks_here_keep_their_order_and_a_failure_does_not_stop_the_others():
    started, seen = [], []
    outcomes = run_tasks(square_or_fail, [(n,) for n in range(5)], [f"t{n}" for n in range(5)],
                         on_start=lambda i, name: started.append(name), on_outcome=lambda o: seen.append(o.name))
    assert [o.status for o in outcomes] == ["finished"] * 3 + ["failed", "finished"]
    assert [o.value for o in outcomes if o.status == "finished"] == [0, 1, 4, 16]
    assert outcomes[3].error == "RuntimeError: task 3 broke" and "Traceback" in outcomes[3].extra["traceback"]
    assert started == seen == [f"t{n}" for n in range(5)] and {o.worker for o in outcomes} == {"local"}


def test_a_call_limits_the_threads_when_asked():
    before = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    try:
        outcome = call_task(threads_seen, (0,), "t", threads=1)
        assert outcome.value == ("1", 1)
    finally:
        import torch

        for variable, value in before.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        torch.set_num_threads(os.cpu_count() or 1)


@pytest.mark.parametrize("workers, scheduler, names, message", [
    (0, None, ["a"], "workers"), (1, "", ["a"], "scheduler"), (1, None, ["a", "b"], "1 tasks but 2 names")])
def test_bad_cluster_options_are_refused(workers, scheduler, names, message):
    with pytest.raises(InputError, match=message):
        run_tasks(square_or_fail, [(1,)], names, workers=workers, scheduler=scheduler)


@pytest.mark.slow  # starts a Dask LocalCluster of 2 worker processes (about 10 s)
def test_a_local_cluster_gives_the_same_outcomes_and_survives_a_lost_worker():
    environment_before = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    here = run_tasks(square_or_fail, [(n,) for n in range(5)], [f"t{n}" for n in range(5)])
    there = run_tasks(square_or_fail, [(n,) for n in range(5)], [f"t{n}" for n in range(5)], workers=2)
    assert [(o.name, o.status, o.value, o.error) for o in there] == [(o.name, o.status, o.value, o.error) for o in here]
    assert all(o.worker.startswith(("tcp://", "inproc://")) for o in there)
    limits = run_tasks(threads_seen, [(0,), (1,)], ["a", "b"], workers=2, threads=1)
    assert [o.value for o in limits] == [("1", 1), ("1", 1)]
    # the workers ran on one thread each; this process keeps its environment (Dask's nanny had left OMP_NUM_THREADS=1
    # in it, and every later notebook kernel of the test session ran on one thread)
    assert {v: os.environ.get(v) for v in THREAD_VARIABLES} == environment_before
    lost = run_tasks(die, [(0,), (1,), (2,)], ["a", "b", "c"], workers=2)
    assert [o.status for o in lost] == ["finished", "failed", "finished"] and "worker lost" in lost[1].error

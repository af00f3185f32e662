"""Task executors: one interface, results in task order, one default worker count, Dask options."""

from __future__ import annotations

import os
import time

import pytest

from cllsim._errors import InputError
from cllsim.execution import (
    ExecutorError,
    FunctionTask,
    ProcessExecutor,
    SerialExecutor,
    default_workers,
    executor_from_options,
    make_executor,
)


def _slow_square(i: int, delay_s: float) -> tuple[int, int]:
    time.sleep(delay_s)
    return i * i, os.getpid()


def _fail(i: int) -> None:
    if i == 1:
        raise KeyError(f"task {i} failed")


def _tasks(n: int) -> list[FunctionTask]:
    # later tasks finish first, so completion order is the reverse of task order
    return [FunctionTask(_slow_square, (i, 0.05 * (n - i))) for i in range(n)]


@pytest.mark.parametrize("executor_factory", [SerialExecutor, lambda: ProcessExecutor(2)], ids=["serial", "processes"])
def test_results_come_back_in_task_order_with_progress_for_every_task(executor_factory):
    seen = []
    with executor_factory() as ex:
        results = ex.execute(_tasks(5), progress=lambda i, r: seen.append((i, r[0])))
        pids = {pid for _, pid in results}
    assert [r[0] for r in results] == [i * i for i in range(5)]
    assert sorted(seen) == [(i, i * i) for i in range(5)]
    if isinstance(ex, ProcessExecutor):
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
    else:
        assert pids == {os.getpid()}


def test_process_workers_are_reused_across_batches():
    with ProcessExecutor(1) as ex:
        first = ex.execute([FunctionTask(os.getpid)])
        second = ex.execute([FunctionTask(os.getpid), FunctionTask(os.getpid)])
    assert set(first) == set(second) and first[0] != os.getpid()


@pytest.mark.parametrize("executor_factory", [SerialExecutor, lambda: ProcessExecutor(2)], ids=["serial", "processes"])
def test_a_failing_task_raises_its_own_error(executor_factory):
    with pytest.raises(KeyError, match="task 1 failed"), executor_factory() as ex:
        ex.execute([FunctionTask(_fail, (i,)) for i in range(3)])


def test_default_is_one_worker_per_core_at_most_one_per_task(monkeypatch):
    import cllsim.execution._executors as executors

    monkeypatch.setattr(executors, "usable_cores", lambda: 8)
    assert default_workers() == 8 and default_workers(3) == 3 and default_workers(20) == 8
    assert isinstance(make_executor(n_tasks=1), SerialExecutor)
    assert isinstance(make_executor(1, n_tasks=10), SerialExecutor)
    ex = make_executor(n_tasks=3)
    with ex:
        assert isinstance(ex, ProcessExecutor) and ex.n_workers == 3
    with make_executor(6, n_tasks=2) as capped:
        assert capped.n_workers == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0, "scheduler": None}, "--workers must be >= 1"),
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "either --workers or --scheduler"),
        ({"workers": None, "scheduler": None, "tls_ca": "ca.pem"}, "need --scheduler"),
        ({"workers": None, "scheduler": "tls://127.0.0.1:1", "tls_ca": "ca.pem"}, "give all of"),
        ({"workers": None, "scheduler": "tls://127.0.0.1:1"}, "uses TLS"),
        ({"workers": None, "scheduler": "tls://127.0.0.1:1", "tls_ca": "a", "tls_cert": "b", "tls_key": "c"},
         "does not exist"),
    ],
)
def test_cli_executor_options_are_refused_as_input_errors(kwargs, message):
    with pytest.raises(ExecutorError, match=message) as info:
        executor_from_options(**kwargs)
    assert isinstance(info.value, InputError)


def test_unreachable_scheduler_is_an_input_error():
    with pytest.raises(ExecutorError, match="cannot reach Dask scheduler"):
        make_executor(scheduler="tcp://127.0.0.1:1", scheduler_timeout_s=1.0)

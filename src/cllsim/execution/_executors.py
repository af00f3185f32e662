"""Task executors: run a list of independent tasks serially, in local processes, or on Dask.

The split follows pyPESTO's engines: a *task* is a small picklable object whose ``execute()``
does one unit of work (simulate a chunk of a cohort, run one optimizer start, compute one
profile); an *executor* only decides where tasks run. Switching from serial to processes to a
Dask cluster is therefore one argument, and every batch in cllsim (cohort chunks, fit
multistarts and profiles) runs through the same three classes.

Not to be confused with the simulation *engines* of :mod:`cllsim.simulate`, which integrate
the model; an executor runs whatever tasks it is given and knows nothing of the model.
"""

from __future__ import annotations

import abc
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .._errors import SpecError
from ._lifeline import bind_to_parent

if TYPE_CHECKING:
    from distributed.security import Security

R = TypeVar("R", covariant=True)

#: ``progress(index, result)``: called in the caller's thread as each task finishes.
ProgressCallback = Callable[[int, Any], None]


class Task(Protocol[R]):
    """One unit of work: picklable, and ``execute()`` returns a picklable result."""

    def execute(self) -> R:
        """Do the work (in whatever process the executor chose)."""
        ...


@dataclass(frozen=True)
class FunctionTask:
    """A task that calls a module-level function: ``fn(*args)``.

    Attributes
    ----------
    fn
        Function importable by the workers (a module-level ``def``, not a lambda).
    args
        Positional arguments (picklable).
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()

    def execute(self) -> Any:
        return self.fn(*self.args)


def _execute(task: Task[Any]) -> Any:
    return task.execute()


class ExecutorError(SpecError):
    """An executor that cannot be set up as asked (worker count, scheduler, security)."""


class Executor(abc.ABC):
    """Runs tasks and returns their results; use as a context manager to release workers.

    Results of :meth:`execute` are in task order whatever the completion order. An exception
    raised by a task propagates to the caller and the tasks not yet started are cancelled.
    """

    #: Worker processes (or Dask workers at connection time); 1 for serial.
    n_workers: int = 1

    @abc.abstractmethod
    def execute_unordered(self, tasks: Sequence[Task[Any]]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, result)`` for each task as it finishes (any order)."""

    def execute(self, tasks: Sequence[Task[Any]], progress: ProgressCallback | None = None) -> list[Any]:
        """Run every task; return the results in task order.

        Parameters
        ----------
        tasks
            Picklable objects with an ``execute()`` method.
        progress
            Called as ``progress(index, result)`` when each task finishes (completion order).
        """
        tasks = list(tasks)
        results: list[Any] = [None] * len(tasks)
        for i, result in self.execute_unordered(tasks):
            results[i] = result
            if progress is not None:
                progress(i, result)
        return results

    def close(self) -> None:  # noqa: B027 - executors without workers have nothing to release
        """Release the workers (waits for running tasks)."""

    def terminate(self) -> None:
        """Stop the workers at once (running tasks are lost); default: :meth:`close`."""
        self.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # on an error (Ctrl-C included) do not wait for tasks whose results nobody will read
        if exc_type is not None:
            self.terminate()
        else:
            self.close()

    def describe(self) -> str:
        """Short text for metadata: class and where it runs."""
        return type(self).__name__


class SerialExecutor(Executor):
    """Run tasks one after the other in this process (no pickling, no start-up cost)."""

    def execute_unordered(self, tasks: Sequence[Task[Any]]) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, task.execute()


class ProcessExecutor(Executor):
    """Run tasks in ``n_workers`` local processes.

    Processes, not threads: libRoadRunner and the pyPESTO optimizers hold the GIL. Workers are
    started with ``spawn`` (no fork of a process that may hold threads or compiled-solver
    state) as tasks arrive, at most ``n_workers``, and live until :meth:`close`, so state a
    task caches per process (a compiled model) is reused by the next task in that worker.
    Workers die with this process even when it is killed with SIGKILL (see
    :mod:`cllsim.execution._lifeline`). Scripts that use it need the
    ``if __name__ == "__main__":`` guard (``spawn`` re-imports the main module).

    Parameters
    ----------
    n_workers
        Number of worker processes, >= 1.
    """

    def __init__(self, n_workers: int):
        if n_workers < 1:
            raise ExecutorError(f"n_workers must be >= 1, got {n_workers}")
        self.n_workers = n_workers
        self._pool = ProcessPoolExecutor(
            max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=bind_to_parent, initargs=(os.getpid(),),
        )

    def execute_unordered(self, tasks: Sequence[Task[Any]]) -> Iterator[tuple[int, Any]]:
        index: dict[Future[Any], int] = {self._pool.submit(_execute, t): i for i, t in enumerate(tasks)}
        pending = set(index)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=index.__getitem__):
                    yield index[f], f.result()
        finally:
            for f in pending:
                f.cancel()

    def worker_pids(self) -> list[int]:
        """Process ids of the workers started so far."""
        return sorted(getattr(self._pool, "_processes", None) or {})

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        processes = dict(getattr(self._pool, "_processes", None) or {})
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes.values():
            if proc.is_alive():
                proc.kill()
        for proc in processes.values():
            proc.join(timeout=5)

    def describe(self) -> str:
        return f"ProcessExecutor({self.n_workers} workers)"


class DaskExecutor(Executor):
    """Run tasks on a Dask cluster: an existing scheduler at ``address``, or a new local cluster.

    **Trust:** Dask sends tasks and results as pickles, and unpickling runs code. Connect only
    to a scheduler you control, on a network you trust, or with TLS (``security``) so that only
    holders of your certificates can join. Workers must see the output folder of a cohort
    (same machine or a shared file system).

    Parameters
    ----------
    address
        Scheduler address (``tcp://host:8786``, ``tls://host:8786``); ``None`` starts a
        :class:`distributed.LocalCluster` of ``n_workers`` single-threaded processes.
    n_workers
        Workers of the local cluster (ignored with ``address``).
    security
        Dask TLS settings (:class:`distributed.security.Security`, e.g. from
        :func:`dask_security`); required for a ``tls://`` scheduler.
    timeout_s
        Seconds to wait for the scheduler.
    """

    def __init__(self, address: str | None = None, n_workers: int = 2, *, security: Security | None = None,
                 timeout_s: float = 20.0):
        from dask.distributed import Client, LocalCluster

        if address is not None and address.startswith("tls://") and security is None:
            raise ExecutorError(f"scheduler {address} uses TLS: give its CA, certificate and key (security=)")
        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, dashboard_address=None, security=security,
                protocol="tls" if security is not None else None,
            )
            self.client = Client(self._cluster, security=security)
        else:
            self.client = Client(address, timeout=f"{timeout_s}s", security=security)
        self.address = address
        self.n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    def execute_unordered(self, tasks: Sequence[Task[Any]]) -> Iterator[tuple[int, Any]]:
        from dask.distributed import as_completed

        futures = self.client.map(_execute, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for f in as_completed(futures):
                yield index[f.key], f.result()
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> str:
        return f"DaskExecutor({self.address or 'LocalCluster'})"


def dask_security(ca_file: str | os.PathLike[str], cert_file: str | os.PathLike[str],
                  key_file: str | os.PathLike[str]) -> Security:
    """Dask TLS settings for a client: the cluster's CA and this client's certificate and key.

    Parameters
    ----------
    ca_file
        PEM file of the certificate authority that signed the scheduler's certificate.
    cert_file, key_file
        PEM files of this client's certificate and private key.

    Returns
    -------
    distributed.security.Security
        With encryption required (a ``tcp://`` address is then refused).
    """
    from distributed.security import Security

    for label, path in (("CA", ca_file), ("certificate", cert_file), ("key", key_file)):
        if not os.path.isfile(path):
            raise ExecutorError(f"TLS {label} file {str(path)!r} does not exist")
    return Security(tls_ca_file=os.fspath(ca_file), tls_client_cert=os.fspath(cert_file),
                    tls_client_key=os.fspath(key_file), require_encryption=True)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_workers(n_tasks: int | None = None) -> int:
    """The default worker count of every cllsim batch: one per usable core, at most one per task."""
    cores = usable_cores()
    return max(1, min(cores, n_tasks)) if n_tasks is not None else cores


def make_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    *,
    n_tasks: int | None = None,
    security: Security | None = None,
    scheduler_timeout_s: float = 20.0,
) -> Executor:
    """The executor for ``workers`` local processes or the Dask scheduler at ``scheduler``.

    Parameters
    ----------
    workers
        Local worker processes; 1 runs the tasks in this process; ``None``:
        :func:`default_workers` (one per usable core, at most ``n_tasks``).
    scheduler
        Address of a trusted Dask scheduler (see :class:`DaskExecutor`); excludes ``workers``.
    n_tasks
        How many tasks the batch has (caps the default worker count).
    security
        Dask TLS settings for ``scheduler``.
    scheduler_timeout_s
        Seconds to wait for the scheduler.
    """
    if scheduler:
        if workers is not None:
            raise ExecutorError("give either a worker count or a Dask scheduler, not both")
        try:
            return DaskExecutor(scheduler, security=security, timeout_s=scheduler_timeout_s)
        except OSError as exc:
            raise ExecutorError(f"cannot reach Dask scheduler {scheduler!r}: {exc}") from None
    if security is not None:
        raise ExecutorError("TLS settings apply to a Dask scheduler only: give its address too")
    if workers is None:
        workers = default_workers(n_tasks)
    if workers < 1:
        raise ExecutorError(f"workers must be >= 1, got {workers}")
    if n_tasks is not None:
        workers = max(1, min(workers, n_tasks))
    return SerialExecutor() if workers == 1 else ProcessExecutor(workers)

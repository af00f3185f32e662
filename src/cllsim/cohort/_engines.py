"""Execution engines: run a list of independent tasks serially, in local processes, or on Dask.

The cohort builds one task per chunk of patients and hands the list to an engine (the
task/engine split of pyPESTO); switching engines is one argument. Results come back as they
finish, in any order; each task writes its own files, so an engine only needs to run them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any


class Engine(abc.ABC):
    """Runs ``fn(task)`` for every task; use as a context manager."""

    @abc.abstractmethod
    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(task)`` for each task as it completes."""

    def close(self) -> None:  # noqa: B027 - engines without workers have nothing to release
        """Release workers."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return type(self).__name__


class SerialEngine(Engine):
    """Run tasks one after the other in this process."""

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        for task in tasks:
            yield fn(task)


class ProcessEngine(Engine):
    """Run tasks in ``n_workers`` local processes (libRoadRunner and NumPy release no GIL for us)."""

    def __init__(self, n_workers: int):
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {n_workers}")
        self.n_workers = n_workers
        self._pool = ProcessPoolExecutor(max_workers=n_workers)

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        futures = [self._pool.submit(fn, t) for t in tasks]
        try:
            for f in as_completed(futures):
                yield f.result()
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> str:
        return f"ProcessEngine({self.n_workers} workers)"


class DaskEngine(Engine):
    """Run tasks on a Dask cluster: an existing scheduler (``address``) or a new local cluster.

    Workers must see the output folder (same machine or a shared file system).
    """

    def __init__(self, address: str | None = None, n_workers: int = 2, **cluster_kwargs: Any):
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, dashboard_address=None, **cluster_kwargs
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(address, timeout="20s")
        self.address = address

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        from dask.distributed import as_completed as dask_completed

        futures = self.client.map(fn, list(tasks), pure=False)
        try:
            for f in dask_completed(futures):
                yield f.result()
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> str:
        return f"DaskEngine({self.address or 'LocalCluster'})"


def make_engine(workers: int = 1, scheduler: str | None = None) -> Engine:
    """Engine for ``workers`` local processes (1: serial) or the Dask scheduler at ``scheduler``."""
    if scheduler:
        if workers != 1:
            raise ValueError("give either --workers or --scheduler, not both")
        return DaskEngine(scheduler)
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    return SerialEngine() if workers == 1 else ProcessEngine(workers)

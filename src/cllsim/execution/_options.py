"""Command-line options that choose an executor, shared by ``cllsim cohort`` and ``cllsim fit``.

Only the CLI modules import this (it needs typer); the options mean the same in every command:
``--workers N`` local processes (1: in the calling process; default: one per usable core, at
most one per task), or ``--scheduler ADDR`` of a trusted Dask cluster, with
``--scheduler-tls-ca/--scheduler-tls-cert/--scheduler-tls-key`` for a ``tls://`` one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ._executors import Executor, ExecutorError, dask_security, make_executor


def output_path(value: str | os.PathLike[str]) -> Path:
    """Parser of every ``--out`` option and output-path argument: the path, refusing an empty one.

    ``Path("")`` is the current folder, so ``--out ''`` (an unset shell variable, say) would
    silently write there; say ``--out .`` to mean it.
    """
    if not os.fspath(value).strip():
        raise typer.BadParameter("must not be empty (an empty path would write into the current folder)")
    return Path(value)


WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Local worker processes (1: run in this process). Default: one per CPU core, at most one per task.",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a Dask scheduler (tcp:// or tls://host:port) instead of local workers. Dask exchanges "
        "pickles, which run code: use only a cluster you trust, over TLS on a shared network.",
    ),
]
TlsCaOpt = Annotated[
    Path | None, typer.Option("--scheduler-tls-ca", help="PEM file of the CA of a tls:// Dask scheduler.")
]
TlsCertOpt = Annotated[
    Path | None, typer.Option("--scheduler-tls-cert", help="PEM file of this client's certificate (tls:// scheduler).")
]
TlsKeyOpt = Annotated[
    Path | None, typer.Option("--scheduler-tls-key", help="PEM file of this client's private key (tls:// scheduler).")
]


def executor_from_options(
    workers: int | None,
    scheduler: str | None,
    tls_ca: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    *,
    n_tasks: int | None = None,
) -> Executor:
    """The executor the CLI options ask for (errors name the options; they are input errors).

    Parameters
    ----------
    workers, scheduler
        ``--workers`` and ``--scheduler`` (``None``: not given).
    tls_ca, tls_cert, tls_key
        ``--scheduler-tls-*``: all three or none.
    n_tasks
        Tasks in the batch (caps the default worker count).
    """
    if scheduler and workers is not None:
        raise ExecutorError("give either --workers or --scheduler, not both")
    if workers is not None and workers < 1:
        raise ExecutorError(f"--workers must be >= 1, got {workers}")
    tls = (tls_ca, tls_cert, tls_key)
    security = None
    if any(p is not None for p in tls):
        if not scheduler:
            raise ExecutorError("--scheduler-tls-* options need --scheduler")
        if any(p is None for p in tls):
            raise ExecutorError("give all of --scheduler-tls-ca, --scheduler-tls-cert and --scheduler-tls-key")
        security = dask_security(tls_ca, tls_cert, tls_key)  # type: ignore[arg-type]
    if scheduler and scheduler.startswith("tls://") and security is None:
        raise ExecutorError(
            f"--scheduler {scheduler} uses TLS: give --scheduler-tls-ca, --scheduler-tls-cert and --scheduler-tls-key"
        )
    return make_executor(workers, scheduler, n_tasks=n_tasks, security=security)

"""Where batches run, and how their outputs land on disk.

*Executors* run a list of independent, picklable tasks (objects with ``execute()``) and return
their results in task order: :class:`SerialExecutor` (this process), :class:`ProcessExecutor`
(local worker processes that die with their parent) and :class:`DaskExecutor` (a trusted Dask
cluster, optionally over TLS). Cohort chunks and fit multistarts and profiles all run through
them; :func:`make_executor` turns the CLI's ``--workers N`` / ``--scheduler ADDR`` into one, with
one default everywhere (:func:`default_workers`: one process per usable core, at most one per
task; ``--workers 1`` runs in the calling process).

*Outputs*: :func:`staged_output` / :func:`publish_folder` write a folder so that its completion
marker (``metadata.json``) appears last and atomically; :func:`write_atomic` writes one file by
rename; :func:`json_text` makes strict JSON (NaN and infinities as ``null``); :func:`remove_stale`
clears temporary files and staging folders of killed runs.

Example::

    from cllsim.execution import FunctionTask, make_executor

    with make_executor(workers=2) as ex:
        squares = ex.execute([FunctionTask(pow, (i, 2)) for i in range(10)])
"""

from ._executors import DaskExecutor as DaskExecutor
from ._executors import Executor as Executor
from ._executors import ExecutorError as ExecutorError
from ._executors import FunctionTask as FunctionTask
from ._executors import ProcessExecutor as ProcessExecutor
from ._executors import ProgressCallback as ProgressCallback
from ._executors import SerialExecutor as SerialExecutor
from ._executors import Task as Task
from ._executors import dask_security as dask_security
from ._executors import default_workers as default_workers
from ._executors import make_executor as make_executor
from ._executors import usable_cores as usable_cores
from ._lifeline import bind_to_parent as bind_to_parent
from ._outputs import MARKER as MARKER
from ._outputs import OutputFolderError as OutputFolderError
from ._outputs import invalidate as invalidate
from ._outputs import json_text as json_text
from ._outputs import publish_folder as publish_folder
from ._outputs import remove_stale as remove_stale
from ._outputs import staged_output as staged_output
from ._outputs import temporary_path as temporary_path
from ._outputs import write_atomic as write_atomic
from ._outputs import write_text_atomic as write_text_atomic

# CLI option types (need typer): imported on first use, so the library does not load typer
_LAZY = {name: "._options" for name in (
    "SchedulerOpt", "TlsCaOpt", "TlsCertOpt", "TlsKeyOpt", "WorkersOpt", "executor_from_options", "output_path")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MARKER",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "FunctionTask",
    "OutputFolderError",
    "ProcessExecutor",
    "ProgressCallback",
    "SchedulerOpt",
    "SerialExecutor",
    "Task",
    "TlsCaOpt",
    "TlsCertOpt",
    "TlsKeyOpt",
    "WorkersOpt",
    "bind_to_parent",
    "dask_security",
    "default_workers",
    "executor_from_options",
    "invalidate",
    "json_text",
    "make_executor",
    "output_path",
    "publish_folder",
    "remove_stale",
    "staged_output",
    "temporary_path",
    "usable_cores",
    "write_atomic",
    "write_text_atomic",
]

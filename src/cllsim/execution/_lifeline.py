"""Worker processes that die with their parent, even when the parent is killed with SIGKILL.

A ``ProcessPoolExecutor`` worker normally notices a dead parent only when it next reads its
task queue, so a worker busy in a long simulation (libRoadRunner holds the GIL) outlives a
SIGKILLed parent by minutes. Two guards, both installed by :func:`bind_to_parent` as the pool's
worker initializer:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its
  parent dies, whatever the worker is doing (prctl(2); the signal follows the *thread* that
  started the worker, so create and use a :class:`ProcessExecutor` from a thread that lives
  as long as the executor, normally the main thread);
* everywhere, a daemon thread that polls ``os.getppid()`` and exits the worker once it has
  changed (the worker was re-parented), for systems without ``prctl``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: ``PR_SET_PDEATHSIG`` from <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1
#: Seconds between two looks of the watchdog thread at the parent's pid.
WATCHDOG_PERIOD_S = 0.5


def _set_parent_death_signal() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(WATCHDOG_PERIOD_S)
        if os.getppid() != parent_pid:
            os._exit(1)  # no cleanup: the results have nowhere to go


def bind_to_parent(parent_pid: int) -> None:
    """Make this worker process exit when process ``parent_pid`` (its parent) dies.

    Parameters
    ----------
    parent_pid
        Process id of the parent, taken in the parent before the worker started (a worker
        whose parent already died between start and this call exits at once).
    """
    _set_parent_death_signal()
    if os.getppid() != parent_pid:
        os._exit(1)
    # Ctrl-C goes to the whole process group: the parent handles it and stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="cllsim-parent-watchdog", daemon=True).start()

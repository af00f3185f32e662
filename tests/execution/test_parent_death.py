"""Worker processes die with their parent, even when it is killed with SIGKILL (Linux: /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None if it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")  # a zombie has exited, it only waits to be reaped


def _descendants(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None and st[0] not in ("Z", "X"):
            parents[int(entry.name)] = st[1]
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        frontier += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill_when_workers_run(proc: subprocess.Popen, n_workers: int, timeout_s: float = 240.0) -> list[int]:
    """Wait for ``n_workers`` spawned workers of ``proc``, SIGKILL it; return every process it had started."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        workers = [c for c in _descendants(proc.pid) if "spawn_main" in _cmdline(c)]
        if len(workers) >= n_workers:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no {n_workers} workers before the deadline (rc {proc.returncode}): {err[-2000:]!r}")
    time.sleep(1.0)  # let the workers get busy
    started = _descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return started


def _assert_all_exit(pids: list[int], within_s: float = 10.0) -> None:
    deadline = time.time() + within_s
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    survivors = {p: _cmdline(p)[:120] for p in pids if _alive(p)}
    for p in survivors:  # do not leave them running even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not survivors, f"processes outlived their SIGKILLed parent: {survivors}"


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def test_workers_holding_the_gil_die_with_a_sigkilled_parent(tmp_path):
    # sum(range(...)) runs in C without releasing the GIL: no watchdog thread can run in the
    # worker, only the kernel's parent-death signal can stop it
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent("""
        from cllsim.execution import FunctionTask, ProcessExecutor

        if __name__ == "__main__":
            with ProcessExecutor(2) as ex:
                ex.execute([FunctionTask(sum, (range(10**15),)) for _ in range(2)])
    """))
    proc = subprocess.Popen([sys.executable, str(script)], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    started = _kill_when_workers_run(proc, 2)
    _assert_all_exit(started)


def test_without_the_kernel_signal_the_watchdog_thread_still_ends_the_worker(tmp_path):
    # the fallback for systems without prctl: the worker polls its parent's pid
    script = tmp_path / "watchdog.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, os, time

        def worker(parent_pid):
            import cllsim.execution._lifeline as lifeline

            lifeline._set_parent_death_signal = lambda: False  # as on macOS
            lifeline.bind_to_parent(parent_pid)
            time.sleep(600)

        if __name__ == "__main__":
            multiprocessing.set_start_method("spawn")
            p = multiprocessing.Process(target=worker, args=(os.getpid(),))
            p.start()
            p.join()
    """))
    proc = subprocess.Popen([sys.executable, str(script)], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    started = _kill_when_workers_run(proc, 1)
    _assert_all_exit(started)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cllsim.cli import app; app()", *args]


def test_cohort_workers_die_with_a_sigkilled_cli(tmp_path):
    proc = subprocess.Popen(
        _cli("cohort", "--n", "8", "--chunk-size", "2", "--days", "3650", "--workers", "2", "--out",
             str(tmp_path / "trial")),
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    started = _kill_when_workers_run(proc, 2)
    _assert_all_exit(started)
    assert not (tmp_path / "trial" / "metadata.json").exists()


def test_fit_workers_die_with_a_sigkilled_cli(tmp_path):
    days = np.array([0, 7, 14, 28, 56, 84, 112, 168], dtype=float)
    alc = 60_000.0 * np.exp(-days / 120.0) * (1.0 + 0.6 * np.exp(-((days - 21.0) / 14.0) ** 2))
    csv = tmp_path / "patient.csv"
    pd.DataFrame({"day": days, "alc_per_uL": alc}).to_csv(csv, index=False)
    proc = subprocess.Popen(
        _cli("fit", str(csv), "--ighv", "U", "--starts", "8", "--workers", "2", "--out", str(tmp_path / "fit")),
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    started = _kill_when_workers_run(proc, 2)
    _assert_all_exit(started)
    assert not (tmp_path / "fit" / "metadata.json").exists()

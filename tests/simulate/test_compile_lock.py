"""The first compilation of a kernel runs under a file lock, so workers on a fresh cache do not race."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from cllsim.simulate import _compiled
from cllsim.simulate._cache_dir import exclusive

fcntl = pytest.importorskip("fcntl")


def held(lock: Path) -> bool:
    """Whether another open file description holds the lock (a non-blocking attempt fails)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_exclusive_holds_the_lock_for_the_block_only(tmp_path):
    lock = tmp_path / "k.lock"
    with exclusive(lock):
        assert held(lock)
    assert not held(lock)
    with pytest.raises(RuntimeError), exclusive(lock):  # released on an error too
        raise RuntimeError
    assert not held(lock)


def test_first_call_compiles_on_zero_patients_under_the_lock_then_runs_unlocked(tmp_path):
    lock = tmp_path / "k.lock"
    calls: list[tuple[int, bool]] = []
    mod = types.SimpleNamespace(__cllsim_lock__=lock, run=lambda P, *rest: calls.append((P.shape[0], held(lock))))
    P = np.ones((3, 2))
    _compiled._run(mod, (P, "other", "arguments"))
    _compiled._run(mod, (P, "other", "arguments"))
    # one warm-up on no patients (the compilation) under the lock; the real calls without it
    assert calls == [(0, True), (3, False), (3, False)]
    _compiled._ready.discard(id(mod))


WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    import test_multi_input as T
    from cllsim.model import antimony_to_sbml
    from cllsim.simulate._codegen import compile_sbml
    from cllsim.simulate._engine import DoseSchedule
    from cllsim.simulate._vectorized import CohortEngine

    cm = compile_sbml(antimony_to_sbml(T.TOY))
    res = CohortEngine(backend="compiled", rtol=1e-8, atol=1e-12).integrate(
        cm, T.patients(cm, 2), T.start(2), DoseSchedule(T.SCHEDULES[:2]), T.TIMES_H, T.RECORD)
    assert not res.failed.any()
    print(repr(float(res.values["cells"][0, -1])))
""")


@pytest.mark.slow
def test_two_processes_on_a_fresh_cache_both_compile_and_agree(tmp_path):
    """Two workers start together on an empty cache: both finish, with the same numbers."""
    env = {**os.environ, "CLLSIM_CACHE_DIR": str(tmp_path / "cache")}
    code = WORKER.format(tests=str(Path(__file__).parent))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    assert outs[0][0] == outs[1][0]
    assert list((tmp_path / "cache" / "kernels").glob("cllsim_model_*.lock"))

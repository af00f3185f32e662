"""Compiled backend of the cohort engine: the same generated model, one patient at a time, in numba.

The NumPy backend (:mod:`._vectorized`) advances a whole batch in lockstep; with per-patient
step sizes and stops, most of its time goes into bookkeeping of shrinking sub-batches, not into
arithmetic. Here the one-patient flavor of the generated code (``CompiledModel.scalar_source``,
translated from the same SBML, nothing restated) is compiled with numba and each patient is
integrated by a plain loop: same method (RODAS4 with the generated sparse LU), same
driver/driven split, same closed-form linear PK between input switches, same stops and error
control as the NumPy backend, so the two agree to solver tolerance.

Compiled code is cached on disk in a private folder (``$CLLSIM_CACHE_DIR``, default
``~/.cache/cllsim``, see :func:`cache_dir`): the first
use on a machine compiles for ~20-60 s, later processes load it in about a second. The first
compilation of a kernel in each process runs under a file lock next to it (see
:func:`._cache_dir.exclusive`), so processes starting together on a fresh cache compile it once,
one after the other loading what the first wrote.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from ._cache_dir import exclusive, kernel_cache_dir
from ._codegen import ELEMENTARY, CompiledModel

_KERNEL_FILE = Path(__file__).with_name("_kernel.py")
# the kernel bakes the method's coefficients into machine code: a change to them must miss the cache
_TABLEAU_FILE = Path(__file__).with_name("_rosenbrock.py")
#: Status codes returned by the kernel.
OK, FAILED = 0, 1


def cache_dir() -> Path:
    """Directory for generated kernels and numba's compiled code, private to this user.

    ``$CLLSIM_CACHE_DIR/kernels`` (default ``~/.cache/cllsim/kernels``, created with mode 0700);
    a folder owned by another user or writable by group or others is refused with a warning, and
    a fresh private temporary folder is used instead (see :mod:`._cache_dir`).
    """
    return kernel_cache_dir()


_FOOTER = """

from numba import njit as _njit

# error_model="numpy": a division by zero gives inf/nan, which the kernel turns into a rejected
# step or a failed patient, instead of an exception that would abort the whole batch
for _name in [*BLOCK_FUNCTIONS, *KERNEL_FUNCTIONS]:
    globals()[_name] = _njit(cache=True, error_model="numpy")(globals()[_name])
"""


@functools.lru_cache(maxsize=8)
def _generated_module(source: str) -> ModuleType:
    """Write the model's one-patient code plus the kernel (``_kernel.py``) to a file, import it, jit it.

    The file name hashes the file's text and the method's coefficients (which the kernel imports),
    so a change to any of them gives a new file and numba (which caches compiled code next to it)
    never loads stale machine code.
    """
    kernel = _KERNEL_FILE.read_text()

    def defs(text: str) -> list[str]:
        return [line[4:].split("(", 1)[0] for line in text.splitlines() if line.startswith("def ")]

    text = (
        "import numpy as np\n"
        f"from numpy import {', '.join(ELEMENTARY)}\n\n"
        f"BLOCK_FUNCTIONS = {defs(source)!r}\nKERNEL_FUNCTIONS = {defs(kernel)!r}\n\n"
        + source + "\n\n" + kernel + _FOOTER
    )
    digest = hashlib.sha1((text + _TABLEAU_FILE.read_text()).encode()).hexdigest()[:16]
    path = cache_dir() / f"cllsim_model_{digest}.py"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic: concurrent workers never import a half-written file
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[path.stem] = module  # numba's on-disk cache refers to the functions by module name
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.__cllsim_lock__ = path.with_suffix(".lock")  # type: ignore[attr-defined]
    return module


#: Generated modules whose kernel this process has compiled or loaded (``id`` of the module).
_ready: set[int] = set()


def _run(mod: ModuleType, args: tuple) -> None:
    """Call the kernel ``mod.run(*args)``; the first call of a process compiles it under the file lock.

    The compilation is triggered by a call on zero patients (the same argument types, so numba
    compiles, or loads from its cache, exactly the signature of the real call), so the lock is
    held for the compilation only, never while patients are integrated.
    """
    if id(mod) not in _ready:
        with exclusive(mod.__cllsim_lock__):
            mod.run(args[0][:0], *args[1:])
        _ready.add(id(mod))
    mod.run(*args)


def available(cm: CompiledModel) -> bool:
    """Whether the compiled backend can run this model.

    It needs the driver/driven and linear split (any number of dosing inputs and bolus targets);
    other models run on the NumPy backend.
    """
    return {"driver", "driven", "linear", "drivernl"} <= set(cm.blocks) and bool(cm.scalar_source)


def integrate(
    cm: CompiledModel,
    d: dict[str, np.ndarray],
    lin: dict[str, np.ndarray],
    y0: np.ndarray,
    sched,
    n_out: int,
    *,
    rtol: float,
    atol: float,
    max_steps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integrate every patient through its stops with the compiled kernel.

    Parameters
    ----------
    cm
        Compiled model (its ``scalar_source`` is what runs).
    d
        Parameters and static rules, arrays of shape ``(n,)``.
    lin
        Per-patient factors of the linear driver states (``._vectorized._Linear.factors``).
    y0
        Initial states ``(n_states, n)``.
    sched
        Stops with their dose changes (``._vectorized._Schedule``).
    n_out
        Number of output slots.

    Returns
    -------
    states, inputs, failed, steps, fail_t
        Recorded states ``(n_out, n_states, n)`` and inputs ``(n_out, n_inputs, n)`` (NaN where
        not reached), failure mask, accepted steps and failure time (h) per patient.
    """
    mod = _generated_module(cm.scalar_source)
    ns, n = y0.shape
    P = np.ascontiguousarray(np.stack([np.broadcast_to(np.asarray(d[k], float), (n,)) for k in cm.pvec], axis=1))
    Y = np.ascontiguousarray(y0.T)
    idx_drv = np.asarray(cm.blocks["driver"][0], dtype=np.int64)
    idx_drn = np.asarray(cm.blocks["driven"][0], dtype=np.int64)
    drv_order = list(cm.blocks["driver"][0])
    pos_lin = np.array([drv_order.index(i) for i in cm.blocks["linear"][0]], dtype=np.int64)
    pos_nl = np.array([drv_order.index(i) for i in cm.blocks["drivernl"][0]], dtype=np.int64)
    n_in = len(cm.inputs)
    rec = np.full((n, n_out, ns), np.nan)
    recu = np.full((n, n_out, n_in), np.nan)
    status = np.zeros(n, dtype=np.int64)
    steps = np.zeros(n, dtype=np.int64)
    fail_t = np.full(n, np.nan)

    def c(key: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(lin[key], float), (n, *shape)))

    k = pos_lin.size
    m = max(n_in, 1)
    _run(mod, (
        P, Y, np.ascontiguousarray(sched.t), np.ascontiguousarray(sched.target, dtype=np.int64),
        np.ascontiguousarray(sched.delta), np.ascontiguousarray(sched.out, dtype=np.int64), rec, recu, idx_drv,
        idx_drn, pos_lin, pos_nl,
        c("__lin_lam", (k,)), c("__lin_V", (k, k)), c("__lin_Vinv", (k, k)), c("__lin_A", (k, k)),
        c("__lin_B", (k, m))[:, :, :n_in].copy(), c("__lin_b0", (k,)), c("__lin_AinvB", (k, m))[:, :, :n_in].copy(),
        c("__lin_Ainvb0", (k,)),
        c("__lin_T", (k, k)),
        np.ascontiguousarray(np.broadcast_to(np.asarray(lin["__lin_blocks"], dtype=np.int64), (n, k))),
        float(rtol), float(atol), int(max_steps),
        status, steps, fail_t,
    ))
    return rec.transpose(1, 2, 0), recu.transpose(1, 2, 0), status != OK, steps, fail_t

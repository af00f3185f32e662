"""Cohort engine: the generated model solved for a batch of patients at once.

The equations come from :mod:`._codegen` (translated from the same SBML the reference engine
runs). The integrator is RODAS4 (Hairer & Wanner; see :mod:`._rosenbrock`): a six-stage,
L-stable, stiffly accurate Rosenbrock method of order 4 with an embedded order-3 solution, using
the generated exact Jacobian. All patients advance in lockstep, each with its own step size and error control, so
one stiff patient does not slow the others' accuracy and one failure does not stop the batch.
Every patient stops exactly at each of its dose changes (a switch of any drug's dosing input, a
bolus into any state) and at the output times, so a piecewise-constant input never changes
inside a step.

The structure of the declaration is used, as found by the code generator (nothing here names
a model variable):

* **driver / driven split**: states that drive the main coupled block without feeling it (drug,
  BTK, PKD1, PIM-1) are integrated with their own short steps; the driven block (cells,
  cell-carried BCL2/CXCR4) takes long steps as a non-autonomous system, reading the driver at
  its stage times;
* **closed-form linear states**: driver states with affine rates (linear PK) are propagated
  exactly between input switches (per patient: L* + W exp(T tau) W^-1 (L - L*), with T diagonal,
  or with a block per cluster of equal eigenvalues such as a transit chain, whose exponential is
  a Pade scaling and squaring), not integrated;
* CXCR4 receptor kinetics are already at closed-form quasi-steady state in the declaration.

Pre-treatment equilibration (populations frozen, cell-carried states relaxing) runs the same
equations with ``cells_frozen = 1``, as the reference engine does, and the same baseline
feasibility checks are applied. Patients whose baseline is impossible or whose solve fails keep
their row with a status and a reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import SpecError
from ..drugs import DEFAULT_DRUG, Regimen, Therapy
from ..model import PATIENT, Host
from . import _kernel
from . import _rosenbrock as _ros
from ._codegen import CompiledModel, compile_host
from ._engine import BatchTrajectory, DoseSchedule, Engine, Integration


@dataclass
class _Schedule:
    """Per-patient stops: time, and at each stop either an output slot or one dose change.

    A dose change adds ``delta`` to one target: input ``k`` (``0 <= target < n_inputs``) or
    state ``j`` (``target = n_inputs + j``, a bolus); ``target = -1`` changes nothing. One entry
    per change (not one column per input), so many drugs and 1e5 doses per patient stay small.
    """

    t: np.ndarray  # (n, m + 1), last column +inf
    target: np.ndarray  # (n, m + 1) int64, -1: no change
    delta: np.ndarray  # (n, m + 1)
    out: np.ndarray  # (n, m + 1) int64, -1: not an output
    n_inputs: int = 0


def _schedule(schedule: DoseSchedule, times_h: np.ndarray, inputs: tuple[str, ...],
              states: tuple[str, ...]) -> _Schedule:
    """Merge each patient's dose changes with the output times into one sorted stop list.

    A change of a dosing input (one of ``inputs``) becomes a rate step at its stop, a change of a
    state (one of ``states``) a bolus into it; any other variable is refused. At equal times
    outputs come first (recorded before the change), then the changes in schedule order.
    """
    n = len(schedule)
    code = {s: len(inputs) + j for j, s in enumerate(states)}
    code.update({name: k for k, name in enumerate(inputs)})
    n_out = times_h.size
    built: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for i in range(n):
        changes = schedule.changes[i]
        # DoseSchedule.of shares one tuple between patients with the same dosing values
        row = built.get(id(changes))
        if row is None:
            try:
                ev_tg = np.fromiter((code[c.variable] for c in changes), np.int64, len(changes))
            except KeyError as exc:
                raise SpecError(
                    f"a dose changes {exc.args[0]!r}, which is neither a dosing input "
                    f"({', '.join(inputs) or 'none'}) nor a state of the model"
                ) from None
            ev_t = np.fromiter((c.time_h for c in changes), float, len(changes))
            ev_d = np.fromiter((c.delta for c in changes), float, len(changes))
            t = np.concatenate([times_h, ev_t])
            kind = np.concatenate([np.zeros(n_out, np.int64), np.ones(len(changes), np.int64)])
            keep = t <= times_h[-1]
            order = np.lexsort((kind[keep], t[keep]))  # stable: changes at one time keep their order
            row = (t[keep][order],
                   np.concatenate([np.full(n_out, -1, np.int64), ev_tg])[keep][order],
                   np.concatenate([np.zeros(n_out), ev_d])[keep][order],
                   np.concatenate([np.arange(n_out, dtype=np.int64), np.full(len(changes), -1, np.int64)])[keep][order])
            built[id(changes)] = row
        rows.append(row)
    m = max(len(r[0]) for r in rows)

    def pad(col: int, fill: float, dtype: type) -> np.ndarray:
        out: np.ndarray = np.full((n, m + 1), fill, dtype=dtype)
        for i, r in enumerate(rows):
            out[i, : len(r[col])] = r[col]
        return out

    return _Schedule(pad(0, np.inf, float), pad(1, -1, np.int64), pad(2, 0.0, float), pad(3, -1, np.int64),
                     len(inputs))


def _apply_changes(sched: _Schedule, wi: np.ndarray, ki: np.ndarray, u: np.ndarray, y: np.ndarray) -> None:
    """Apply the change at stop ``ki`` of each patient ``wi`` (distinct) to inputs ``u`` and states ``y``."""
    tg = sched.target[wi, ki]
    if not np.any(tg >= 0):
        return
    dl = sched.delta[wi, ki]
    n_in = sched.n_inputs
    rate = (tg >= 0) & (tg < n_in)
    if rate.any():
        u[tg[rate], wi[rate]] += dl[rate]
    bolus = tg >= n_in
    if bolus.any():
        y[tg[bolus] - n_in, wi[bolus]] += dl[bolus]


class _Subset:
    """Derived parameters of a working subset of patients, rebuilt only when the subset changes."""

    def __init__(self, d: Mapping[str, np.ndarray], n: int):
        self.full = {
            k: np.asarray(v) if np.ndim(v) > 1 else np.broadcast_to(np.asarray(v, float), (n,)) for k, v in d.items()
        }
        self.key: np.ndarray | None = None
        self.sub: dict[str, np.ndarray] = {}

    def get(self, w: np.ndarray) -> dict[str, np.ndarray]:
        if self.key is None or self.key.shape != w.shape or not np.array_equal(self.key, w):
            self.key = w.copy()
            self.sub = {k: v[w] for k, v in self.full.items()}
        return self.sub




def _ros_step(fns, y, xs, xdot, d, u, h, rtol, atol):
    """One Rosenbrock step of a block; ``xs``: external states per row of ``_ros.STAGE_ROW`` (or None)."""
    rhs, factor, solve, ft = fns
    x0 = xs[0] if xs is not None else None
    factors = factor(y, x0, d, u, 1.0 / (_ros.GAMMA * h))
    ftv = ft(y, x0, xdot, d, u) if xdot is not None else None
    stages: list[np.ndarray] = []
    for i in range(_ros.STAGES):
        yi = y
        for j in range(i):
            if _ros.TA[i, j]:
                yi = yi + _ros.TA[i, j] * stages[j]
        r = rhs(yi, xs[_ros.STAGE_ROW[i]] if xs is not None else None, d, u)
        for j in range(i):
            if _ros.TC[i, j]:
                r = r + (_ros.TC[i, j] / h) * stages[j]
        if ftv is not None and _ros.GSUM[i]:
            r = r + (_ros.GSUM[i] * h) * ftv
        stages.append(solve(factors, r))
    ynew = y + sum(_ros.TM[i] * stages[i] for i in range(_ros.STAGES) if _ros.TM[i])
    err_vec = sum(_ros.TE[i] * stages[i] for i in range(_ros.STAGES) if _ros.TE[i])
    scale = atol + rtol * np.maximum(np.abs(y), np.abs(ynew))
    err = np.sqrt(np.mean((err_vec / scale) ** 2, axis=0))
    err = np.where(np.isfinite(err) & np.all(np.isfinite(ynew), axis=0), err, np.inf)
    return ynew, err


def _new_h(h, err, acc):
    fac = np.clip(0.9 * np.power(np.maximum(err, 1e-10), -1.0 / _ros.ERROR_ORDER), 0.2, 5.0)
    return h * np.where(acc, fac, np.minimum(fac, 0.5))


def _expm_batch(m: np.ndarray) -> np.ndarray:
    """exp of each matrix of a stack ``(..., k, k)``: scaling and squaring with the degree-13 Pade approximant.

    Each matrix gets its own scaling 2^-s (Higham 2005, the same bound ``PADE_THETA`` as the
    compiled kernel's ``_expm``), so one large matrix does not cost the others accuracy. Works for
    any matrix, defective ones (Jordan blocks, transit chains of equal rates) included.
    """
    theta, b = _kernel.PADE_THETA[-1], _kernel.PADE_COEFFS[-1]
    norm = np.max(np.sum(np.abs(m), axis=-2), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(norm > theta, np.ceil(np.log2(norm / theta)), 0.0)
    s = np.where(np.isfinite(s), s, 0.0).astype(np.int64)
    x = m * np.ldexp(1.0, -s)[..., None, None]
    eye = np.eye(m.shape[-1])
    x2 = x @ x
    x4 = x2 @ x2
    x6 = x4 @ x2
    uu = x @ (x6 @ (b[13] * x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 + b[3] * x2 + b[1] * eye)
    vv = x6 @ (b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + b[2] * x2 + b[0] * eye
    r = np.linalg.solve(vv - uu, vv + uu)
    for q in range(int(s.max(initial=0))):
        sq = s > q
        r = np.where(sq[..., None, None], r @ r, r)
    return r


#: Condition number of a change of basis (eigenvectors, or eigenvectors and invariant subspaces)
#: above which it is not used: the error of propagating through it grows with it.
_BASIS_MAX_COND = 1e6
#: Relative distance below which eigenvalues are treated as one cluster (one block of the block
#: form): a Jordan block of size m is perturbed by about eps^(1/m) by rounding (2.5e-3 for m = 6).
_CLUSTER_RTOL = 0.05


def _block_form(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A = W T W^-1 with T block diagonal, W well conditioned, for one matrix ``a`` (k, k).

    Each eigenvalue far from the others (relative distance above :data:`_CLUSTER_RTOL`) gets a
    1 x 1 block and its eigenvector; each cluster of close eigenvalues (a defective A: a transit
    chain of equal rates) and each complex pair gets a block of its own, T_c = Q^T A Q on an
    orthonormal basis Q of its invariant subspace (the ordered real Schur form: T_c is upper
    quasi-triangular, upper triangular for a real cluster), whose
    exponential is computed with :func:`_expm_batch`. Returns W, T and the block sizes (at the first
    position of each block, 0 inside one). Where no such basis is well conditioned, the whole
    matrix is one block (W = I, T = A).
    """
    from scipy.linalg import schur  # only for defective or oscillatory linear parts

    k = a.shape[0]
    whole = (np.eye(k), a.copy(), np.array([k] + [0] * (k - 1), dtype=np.int64))
    lam, vec = np.linalg.eig(a)
    scale = np.maximum(np.abs(lam)[:, None], np.abs(lam)[None, :]) + 1e-300
    close = (np.abs(lam[:, None] - lam[None, :]) <= _CLUSTER_RTOL * scale) | (
        np.abs(lam[:, None] - np.conj(lam)[None, :]) <= _CLUSTER_RTOL * scale)
    group = np.arange(k)
    for _ in range(k):  # single linkage: each eigenvalue takes the smallest label among its neighbours
        group = np.min(np.where(close, group[None, :], k), axis=1)
        group = group[group]
    cols: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for g in np.unique(group):
        members = np.nonzero(group == g)[0]
        if members.size == 1 and lam[members[0]].imag == 0.0:
            cols.append(vec[:, members[:1]].real)
            blocks.append(np.array([[lam[members[0]].real]]))
            continue
        sel = lam[members]

        def chosen(re: float, im: float, sel: np.ndarray = sel) -> bool:
            z = complex(re, im)
            return bool(np.min(np.abs(sel - z)) <= 1e-8 * max(abs(z), 1e-300) + 0.5 * _CLUSTER_RTOL * abs(z))

        try:
            tt, z, sdim = schur(a, output="real", sort=chosen)
        except (ValueError, np.linalg.LinAlgError):
            return whole
        if sdim != members.size:
            return whole
        cols.append(z[:, :sdim])
        blk = tt[:sdim, :sdim]  # = Q^T A Q, upper quasi-triangular
        # exactly upper triangular where rounding left dust below the diagonal (a real cluster):
        # the compiled kernel's exponential of a triangular block costs a sixth
        if np.max(np.abs(np.tril(blk, -1))) <= 1e-14 * np.max(np.abs(blk)):
            blk = np.triu(blk)
        blocks.append(blk)
    w = np.concatenate(cols, axis=1)
    t = np.zeros((k, k))
    sizes = np.zeros(k, dtype=np.int64)
    p = 0
    for blk in blocks:
        m = blk.shape[0]
        t[p:p + m, p:p + m] = blk
        sizes[p] = m
        p += m
    if not np.isfinite(np.linalg.cond(w)) or np.linalg.cond(w) > _BASIS_MAX_COND:
        return whole
    if np.max(np.abs(w @ t @ np.linalg.inv(w) - a)) > 1e-11 * np.max(np.abs(a)):
        return whole
    return w, t, sizes


@dataclass(frozen=True)
class _Linear:
    """Closed-form propagation of the linear driver states (e.g. linear PK) between input switches.

    With constant input u, dL/dt = A L + B u + b0 has the steady state L* = -A^-1 (B u + b0) and
    L(t + tau) = L* + exp(A tau) (L(t) - L*), with exp(A tau) = W exp(T tau) W^-1 for a block
    form A = W T W^-1 (:func:`_block_form`). Where A has real eigenvalues and well-conditioned
    eigenvectors, T = Lambda is diagonal (one exponential per eigenvalue); otherwise
    (``__lin_expm`` set: a defective A, e.g. a transit chain of equal rates, or complex
    eigenvalues) T has blocks whose exponential is computed by scaling and squaring. The
    per-patient factors live in the derived-parameter dict under ``__lin_*`` keys so that batch
    subsets slice them too.
    """

    pos_linear: np.ndarray  # positions of the linear states in the driver vector
    pos_other: np.ndarray  # positions of the other driver states
    inputs: tuple[str, ...]

    @staticmethod
    def factors(cm: CompiledModel, d: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray] | None:
        """Per-patient factors, or None where A is not finite or singular (no steady state: integrate)."""
        a, b, b0 = cm._fns["linear_system"](d)
        a = np.broadcast_to(a, (n,) + a.shape[-2:])
        b = np.broadcast_to(b, (n,) + b.shape[-2:])
        b0 = np.broadcast_to(b0, (n,) + b0.shape[-1:])
        if not np.all(np.isfinite(a)) or np.any(np.abs(np.linalg.det(a)) < 1e-300):
            return None
        k = a.shape[-1]
        lam, vec = np.linalg.eig(a)
        with np.errstate(all="ignore"):
            cond = np.linalg.cond(vec)
        diagonal = np.all(np.isfinite(vec), axis=(1, 2)) & (cond <= _BASIS_MAX_COND) & np.all(lam.imag == 0.0, axis=1)
        w = np.array(vec.real)
        t = np.zeros((n, k, k))
        t[:, np.arange(k), np.arange(k)] = lam.real
        sizes = np.ones((n, k), dtype=np.int64)
        # patients with the same A (shared parameters) share one block form
        done: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for i in np.nonzero(~diagonal)[0]:
            key = np.ascontiguousarray(a[i]).tobytes()
            if key not in done:
                done[key] = _block_form(np.array(a[i]))
            w[i], t[i], sizes[i] = done[key]
        return {
            "__lin_A": a, "__lin_B": b, "__lin_b0": b0, "__lin_lam": t[:, np.arange(k), np.arange(k)].copy(),
            "__lin_V": w, "__lin_Vinv": np.linalg.inv(w), "__lin_T": t, "__lin_blocks": sizes,
            "__lin_AinvB": np.linalg.solve(a, b), "__lin_Ainvb0": np.linalg.solve(a, b0[..., None])[..., 0],
            "__lin_expm": ~diagonal,
        }

    def _u(self, u: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        if not self.inputs:
            return np.zeros((1, n))
        return np.stack([np.broadcast_to(u[k], (n,)) for k in self.inputs])

    def steady(self, d: Mapping[str, np.ndarray], u: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        uv = self._u(u, n)
        return -(np.einsum("nij,jn->in", d["__lin_AinvB"], uv) + d["__lin_Ainvb0"].T)

    def derivative(self, d: Mapping[str, np.ndarray], lin: np.ndarray, u: Mapping[str, np.ndarray]) -> np.ndarray:
        uv = self._u(u, lin.shape[1])
        return (np.einsum("nij,jn->in", d["__lin_A"], lin) + np.einsum("nij,jn->in", d["__lin_B"], uv)
                + d["__lin_b0"].T)

    @staticmethod
    def propagate(d: Mapping[str, np.ndarray], lin: np.ndarray, star: np.ndarray, step: np.ndarray,
                  fracs: np.ndarray) -> list[np.ndarray]:
        """Linear states ``(k, n)`` at times ``fracs[r] * step`` (h, per patient) after the current ones ``lin``."""
        w = np.einsum("nij,jn->in", d["__lin_Vinv"], lin - star)
        outs = [star + np.einsum("nij,jn->in", d["__lin_V"], np.exp(d["__lin_lam"].T * (f * step)) * w)
                for f in fracs]
        mask = d["__lin_expm"]
        if mask.any():
            # block form: exp(T tau) of a block-diagonal T is block diagonal, so the whole T goes in
            idx = np.nonzero(mask)[0]
            tau = fracs[:, None] * step[idx][None, :]  # (r, m)
            e = _expm_batch(d["__lin_T"][idx][None] * tau[..., None, None])  # (r, m, k, k)
            moved = star[:, idx][None] + (d["__lin_V"][idx] @ (e @ w[:, idx].T[..., None]))[..., 0].transpose(0, 2, 1)
            for r, out in enumerate(outs):
                out[:, idx] = moved[r]
        return outs


def _advance_driver(fns, yF, hF, targets, d, u, rtol, atol, max_sub, lin: _Linear | None = None):
    """Integrate the driver block of a batch from time 0 through the rows of ``targets`` (relative times, increasing).

    Each patient moves on to its next target as soon as it lands on one; each iteration works on
    the patients still moving only. With ``lin``, the linear driver states are propagated in
    closed form and only the others are integrated (as a non-autonomous system). Returns the
    states at every target ``(k, nF, n)``, the updated step sizes and a failure mask.
    """
    k, n = targets.shape
    out = np.empty((k,) + yF.shape)
    t = np.zeros(n)
    if lin is not None:
        y = yF[lin.pos_other].copy()
        lv = yF[lin.pos_linear].copy()
        star = lin.steady(d, u, n)
    else:
        y = yF.copy()
    h = hF.copy()
    j = np.zeros(n, dtype=int)
    failed = np.zeros(n, dtype=bool)
    for _ in range(max_sub):
        act = np.nonzero((j < k) & ~failed)[0]
        if not act.size:
            break
        full_set = act.size == n
        da = d if full_set else {key: v[act] for key, v in d.items()}
        ua = u if full_set else {key: v[act] for key, v in u.items()}
        ta, ha = t[act], h[act]
        tgt = targets[j[act], act]
        step = np.minimum(ha, tgt - ta)
        lands = step >= tgt - ta
        ya = y[:, act]
        with np.errstate(all="ignore"):
            if lin is not None:
                la, sa = lv[:, act], star[:, act]
                xs = [la, *lin.propagate(da, la, sa, step, _ros.TARGETS)]
                ynew, err = _ros_step(fns, ya, xs, lin.derivative(da, la, ua), da, ua, step, rtol, atol)
            else:
                ynew, err = _ros_step(fns, ya, None, None, da, ua, step, rtol, atol)
        acc = err <= 1.0
        ia = act[acc]
        y[:, ia] = ynew[:, acc]
        if lin is not None:
            lv[:, ia] = xs[-1][:, acc]
        t[ia] = np.where(lands[acc], tgt[acc], ta[acc] + step[acc])
        hn = _new_h(step, err, acc)
        h[act] = np.where(acc & lands, np.maximum(ha, hn), hn)
        landed = act[acc & lands]
        if landed.size:
            if lin is not None:
                full = np.empty((yF.shape[0], landed.size))
                full[lin.pos_other] = y[:, landed]
                full[lin.pos_linear] = lv[:, landed]
            else:
                full = y[:, landed]
            out[j[landed], :, landed] = full.T
            j[landed] += 1
        failed[act] |= h[act] < 1e-10
    failed |= j < k
    return out, h, failed


def _integrate(
    cm: CompiledModel,
    d: Mapping[str, np.ndarray],
    y0: np.ndarray,
    sched: _Schedule,
    n_out: int,
    *,
    rtol: float,
    atol: float,
    max_steps: int,
    record: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integrate every patient through its stops; return recorded states and inputs, status, steps, failure time.

    If the generated model has a driver block (states that drive the main block without feeling it),
    the driver is integrated with its own steps between the driven block's stage times, and the
    driven block is solved as a non-autonomous system with its own, larger steps.
    """
    ns, n = y0.shape
    split = "driver" in cm.blocks
    if split:
        iF = np.array(cm.blocks["driver"][0])
        iS = np.array(cm.blocks["driven"][0])
        fF = tuple(cm.block("driver", f) for f in ("rhs", "factor", "solve", "ft"))
        lin = None
        if "linear" in cm.blocks:
            factors = _Linear.factors(cm, d, n)
            if factors is not None:
                driver_order = list(cm.blocks["driver"][0])
                lin = _Linear(
                    np.array([driver_order.index(i) for i in cm.blocks["linear"][0]]),
                    np.array([driver_order.index(i) for i in cm.blocks["drivernl"][0]]),
                    cm.inputs,
                )
                d = {**d, **factors}
                fF_step = tuple(cm.block("drivernl", f) for f in ("rhs", "factor", "solve", "ft"))
        if lin is None:
            fF_step = fF
        driver_keys = [key for key in cm.block_keys("drivernl" if lin is not None else "driver") if key in d]
        driver_keys += [key for key in d if key.startswith("__lin_")]
        fS = tuple(cm.block("driven", f) for f in ("rhs", "factor", "solve", "ft"))
    else:
        iF = np.array([], dtype=int)
        iS = np.arange(ns)
        fS = tuple(cm.block("full", f) for f in ("rhs", "factor", "solve", "ft"))
    y = y0.copy()
    t = np.zeros(n)
    h = np.full(n, 1e-3)
    hF = np.full(n, 1e-3)
    k = np.zeros(n, dtype=int)
    u = np.zeros((len(cm.inputs), n))  # dosing inputs, mg/h, in cm.inputs order
    steps = np.zeros(n, dtype=int)
    failed = np.zeros(n, dtype=bool)
    fail_t = np.full(n, np.nan)
    # only the requested variables are kept (memory: outputs x variables x patients)
    rec_v = np.full((n_out, len(record), n), np.nan)
    subset = _Subset(d, n)
    work = np.arange(n)
    while work.size:
        # pass every stop each working patient has reached: record outputs, switch inputs
        while True:
            s = sched.t[work, k[work]]
            with np.errstate(invalid="ignore"):
                hit = t[work] >= s - 1e-12 * np.maximum(1.0, np.abs(s))
            if not hit.any():
                break
            wi = work[hit]
            ki = k[wi]
            t[wi] = sched.t[wi, ki]
            o = sched.out[wi, ki]
            rec = o >= 0
            if rec.any():
                wr = wi[rec]
                d_r = {key: v[wr] for key, v in subset.full.items()}
                with np.errstate(all="ignore"):
                    vals = cm.variables(record, y[:, wr], d_r, {name: u[q, wr] for q, name in enumerate(cm.inputs)})
                rec_v[o[rec], :, wr] = np.stack([np.asarray(vals[name], float) for name in record], axis=1)
            _apply_changes(sched, wi, ki, u, y)
            k[wi] += 1
        work = work[np.isfinite(sched.t[work, k[work]])]
        if not work.size:
            break
        dw = subset.get(work)
        target = sched.t[work, k[work]]
        tw = t[work]
        hw = np.minimum(h[work], target - tw)
        lands = hw >= target - tw
        uw = {name: u[q, work] for q, name in enumerate(cm.inputs)}
        yS = y[iS][:, work]
        bad_driver = np.zeros(work.size, dtype=bool)
        with np.errstate(all="ignore"):
            if split:
                yF = y[iF][:, work]
                targets = _ros.TARGETS[:, None] * hw[None, :]
                dF = {key: dw[key] for key in driver_keys}
                tol = _ros.DRIVER_TOLERANCE_FACTOR
                xF, hFw, bad_driver = _advance_driver(fF_step, yF, hF[work], targets, dF,
                                                      uw, rtol * tol, atol * tol, 100_000, lin)
                xs = [yF, *xF]  # rows as _ros.STAGE_ROW numbers them
                xdot = fF[0](yF, None, dw, uw)
                ynew, err = _ros_step(fS, yS, xs, xdot, dw, uw, hw, rtol, atol)
            else:
                ynew, err = _ros_step(fS, yS, None, None, dw, uw, hw, rtol, atol)
        acc = (err <= 1.0) & ~bad_driver
        wa = work[acc]
        t[wa] = np.where(lands[acc], target[acc], tw[acc] + hw[acc])
        y[np.ix_(iS, wa)] = ynew[:, acc]
        if split:
            y[np.ix_(iF, wa)] = xs[-1][:, acc]
            hF[work] = hFw
        steps[wa] += 1
        hn = _new_h(hw, err, acc)
        # a step clipped to a stop says nothing about the step size beyond it
        h[work] = np.where(acc & lands, np.maximum(h[work], hn), hn)
        bad = bad_driver | (h[work] < 1e-10 * np.maximum(1.0, t[work])) | (steps[work] >= max_steps)
        if bad.any():
            wb = work[bad]
            failed[wb] = True
            fail_t[wb] = t[wb]
            work = work[~bad]
    return rec_v, failed, steps, fail_t


#: Backends of :func:`run_batch`.
BACKENDS = ("auto", "compiled", "numpy")


def _solver(cm: CompiledModel, backend: str):
    """The integration function of ``backend`` (same signature and results as :func:`_integrate`)."""
    if backend == "numpy":
        return _integrate
    from . import _compiled  # numba is imported only when the compiled backend is used

    if not _compiled.available(cm):
        if backend == "compiled":
            raise SpecError("the compiled backend needs a model with a linear driver block; use backend='numpy'")
        return _integrate

    def solve(cm, d, y0, sched, n_out, *, rtol, atol, max_steps, record):
        n = y0.shape[1]
        lin = _Linear.factors(cm, d, n)
        if lin is None:
            # singular linear part (no steady state): the NumPy backend integrates it
            return _integrate(cm, d, y0, sched, n_out, rtol=rtol, atol=atol, max_steps=max_steps, record=record)
        states, inputs, failed, steps, fail_t = _compiled.integrate(
            cm, d, lin, y0, sched, n_out, rtol=rtol, atol=atol, max_steps=max_steps
        )
        return _recorded(cm, record, states, inputs, d), failed, steps, fail_t

    return solve


#: Patient-times evaluated per call when recording outputs (bounds the temporaries of the rules).
_RECORD_BLOCK = 4096


def _recorded(cm: CompiledModel, record: tuple[str, ...], states: np.ndarray, inputs: np.ndarray,
              d: Mapping[str, np.ndarray]) -> np.ndarray:
    """Variables ``record`` at every output, ``(T, len(record), n)``, from states ``(T, ns, n)``.

    The rules are evaluated for many output times at once (outputs x patients flattened), in
    blocks of about :data:`_RECORD_BLOCK` columns: one call per output time cost more than the
    integration for a single patient.
    """
    n_out, ns, n = states.shape
    out = np.full((n_out, len(record), n), np.nan)
    per_block = max(1, _RECORD_BLOCK // max(n, 1))
    dd = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in d.items()}
    for start in range(0, n_out, per_block):
        stop = min(n_out, start + per_block)
        k = stop - start
        y = states[start:stop].transpose(1, 0, 2).reshape(ns, k * n)
        u = {name: inputs[start:stop, i].reshape(k * n) for i, name in enumerate(cm.inputs)}
        flat = {key: np.tile(v, k) for key, v in dd.items()}
        with np.errstate(all="ignore"):
            vals = cm.variables(record, y, flat, u)
        out[start:stop] = np.stack([np.asarray(vals[name], float).reshape(k, n) for name in record], axis=1)
    return out


class CohortEngine(Engine):
    """The cohort engine: RODAS4 on code generated from the SBML, many patients per call.

    Parameters
    ----------
    rtol, atol
        Relative and absolute tolerances of the per-patient error control.
    max_steps
        Accepted-step limit per patient and run.
    backend
        ``"compiled"`` (numba, one patient at a time; see :mod:`._compiled`), ``"numpy"`` (the
        whole batch in lockstep) or ``"auto"`` (compiled when the model allows it). Both run the
        same generated equations with the same method and agree to solver tolerance.
    """

    name = "cohort"

    def __init__(self, *, rtol: float = 1e-8, atol: float = 1e-12, max_steps: int = 500_000,
                 backend: str = "auto") -> None:
        super().__init__(rtol=rtol, atol=atol, max_steps=max_steps)
        if backend not in BACKENDS:
            raise SpecError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend

    def compile(self, host: Host, drugs: tuple[str, ...] = (DEFAULT_DRUG,)) -> CompiledModel:
        return compile_host(host, drugs)

    def parameter_ids(self, model: CompiledModel) -> tuple[str, ...]:
        return model.parameters

    def state_ids(self, model: CompiledModel) -> tuple[str, ...]:
        return model.states

    def initial(self, model: CompiledModel, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        y = model.initial(model.derived(params), {})
        return {s: np.asarray(y[k], dtype=float) for k, s in enumerate(model.states)}

    def evaluate(self, model: CompiledModel, params: Mapping[str, np.ndarray], states: Mapping[str, np.ndarray],
                 names: Sequence[str]) -> dict[str, np.ndarray]:
        n = len(next(iter(params.values())))
        if n == 0:
            return {k: np.empty(0) for k in names}
        y = np.stack([states[s] for s in model.states])
        with np.errstate(all="ignore"):
            vals = model.variables(tuple(names), y, model.derived(params), {i: np.zeros(n) for i in model.inputs})
        return {k: np.asarray(v, dtype=float) for k, v in vals.items()}

    def integrate(self, model: CompiledModel, params: Mapping[str, np.ndarray], states: Mapping[str, np.ndarray],
                  schedule: DoseSchedule, times_h: np.ndarray, record: tuple[str, ...]) -> Integration:
        n = len(schedule)
        if n == 0:
            empty = np.empty(0)
            return Integration({v: np.empty((0, times_h.size)) for v in record}, empty.astype(bool), empty,
                               empty.astype(int), empty.astype(object))
        d = model.derived(params)
        y0 = np.stack([np.asarray(states[s], dtype=float) for s in model.states])
        sched = _schedule(schedule, times_h, model.inputs, model.states)
        solve = _solver(model, self.backend)
        # the solvers record at least one variable (nothing asked: the first state, dropped below)
        asked = record or model.states[:1]
        rec_v, failed, steps, fail_t = solve(model, d, y0, sched, times_h.size, rtol=self.rtol, atol=self.atol,
                                             max_steps=self.max_steps, record=asked)
        values = {name: np.ascontiguousarray(rec_v[:, i, :].T) for i, name in enumerate(asked) if name in record}
        said = np.where(failed, "step size collapsed or step limit reached", "").astype(object)
        return Integration(values, failed, fail_t, steps, said)


def run_batch(
    regimen: Therapy | Regimen | str | Sequence[Therapy],
    values: Mapping[str, Any],
    times_h: npt.ArrayLike,
    variables: Sequence[str],
    *,
    host: Host | str = PATIENT,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_steps: int = 500_000,
    backend: str = "auto",
    initial_state: Mapping[str, Any] | None = None,
    drug: str | Sequence[str] = DEFAULT_DRUG,
) -> BatchTrajectory:
    """Simulate a batch of patients with the cohort engine (:class:`CohortEngine` through :meth:`Engine.run`).

    Parameters
    ----------
    regimen
        Regimen (or its text form), the same for every patient.
    values
        Every model parameter (table units): a scalar (shared) or an array of shape ``(n,)``.
    times_h
        Output times, h; must start at 0 and increase.
    variables
        Model variables (states, parameters or rules; SBML ids) to return.
    host
        Host whose declaration is compiled.
    rtol, atol, max_steps, backend
        As for :class:`CohortEngine`.
    initial_state
        States set at time 0 after equilibration.
    drug
        Drug of a regimen that names none, or the drugs of the model (see :meth:`Engine.run`).

    Returns
    -------
    BatchTrajectory
        Variables of shape ``(n, T)`` and a status per patient.
    """
    engine = CohortEngine(rtol=rtol, atol=atol, max_steps=max_steps, backend=backend)
    return engine.run(host, values, regimen, times_h, variables, initial_state=initial_state, drug=drug)


def values_table(values: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
    """Stack per-patient parameter dicts (e.g. from :func:`cllsim.simulate.patient_values`) into arrays."""
    if not values:
        raise SpecError("no patients")
    keys = set(values[0])
    for v in values[1:]:
        if set(v) != keys:
            raise SpecError("patients have different parameter ids")
    return {k: np.array([float(v[k]) for v in values]) for k in sorted(keys)}

"""Integrator kernel of the compiled backend, written against the generated block functions.

This file is not imported as a module: :mod:`._compiled` appends its text to the one-patient
generated code of a model (``CompiledModel.scalar_source``) and compiles the result with numba,
so the names below that are not defined here (``rhs_driven``, ``factor_drivernl``,
``FACTOR_SIZE_driven``, ...) are that model's generated functions and constants. Keeping them
module globals (not function arguments) lets numba cache the compiled kernel on disk.

Method, per patient: RODAS4 (:mod:`._rosenbrock`: L-stable, stiffly accurate, order 4 with an
embedded order-3 error estimate) on the driven block, which reads the driver states at its stage
times; the driver's linear states (PK) are propagated in closed form between input switches and
its other states (BTK, kinases) integrated with their own RODAS4 steps; every stop (a dose
change of any input or state, an output time) is landed on exactly. Same method and error
control as :mod:`._vectorized`.
"""

# ruff: noqa: F821 -- the generated block functions are defined by the text this file is appended to

from math import factorial

import numpy as np

from cllsim.simulate import _rosenbrock as _ros

_GAMMA = _ros.GAMMA
STAGES = _ros.STAGES
TA = _ros.as_tuples(_ros.TA)
TC = _ros.as_tuples(_ros.TC)
TM = _ros.as_tuples(_ros.TM)
TE = _ros.as_tuples(_ros.TE)
GSUM = _ros.as_tuples(_ros.GSUM)
# external (driver) states are needed at the step's start (row 0) and at each distinct later
# stage time (rows 1..N_TARGETS, increasing; the last is the step's end); stage i reads row STAGE_ROW[i]
TARGET_FRACS = _ros.as_tuples(_ros.TARGETS)
N_TARGETS = len(TARGET_FRACS)
STAGE_ROW = _ros.as_tuples(_ros.STAGE_ROW)
_STEP_EXPONENT = -1.0 / _ros.ERROR_ORDER
DRIVER_TOL = _ros.DRIVER_TOLERANCE_FACTOR


#: Degrees of the Pade approximants of :func:`_expm` and the largest 1-norm of the (scaled)
#: matrix each is accurate to double precision for (theta_m of Higham 2005, SIAM J. Matrix Anal.
#: Appl. 26:1179, Table 2.3).
PADE_DEGREES = (3, 5, 7, 9, 13)
PADE_THETA = (1.495585217958292e-2, 2.539398330063230e-1, 9.504178996162932e-1, 2.097847961257068, 5.371920351148152)
# b_0..b_m of the [m/m] approximant (b_0 = 1), zero-padded to one length (numba indexes them at run time)
PADE_COEFFS = tuple(
    tuple([factorial(2 * m - j) * factorial(m) / (factorial(2 * m) * factorial(j) * factorial(m - j))
           for j in range(m + 1)] + [0.0] * (13 - m))
    for m in PADE_DEGREES
)

#: A cluster block T_c of the linear states is propagated by a Taylor series on the vector where
#: ||T_c step||_1 is at most this (terms below 1e-18 after at most TAYLOR_TERMS), else by _expm.
TAYLOR_NORM = 1.0
TAYLOR_TERMS = 24

#: Status codes returned by the kernel.
OK, FAILED = 0, 1


def _ros_step(driven, y, xs, xdot, p, u, h, rtol, atol, F, K, ftv, yi, r, ynew):
    """One Rosenbrock step of the driven block (``driven``) or of the nonlinear driver states.

    ``xs[STAGE_ROW[i]]``: external states at stage ``i``. Returns the error norm of the step.
    """
    n = y.shape[0]
    if driven:
        factor_driven(y, xs[0], p, u, 1.0 / (_GAMMA * h), F)
        ft_driven(y, xs[0], xdot, p, u, ftv)
    else:
        factor_drivernl(y, xs[0], p, u, 1.0 / (_GAMMA * h), F)
        ft_drivernl(y, xs[0], xdot, p, u, ftv)
    for i in range(STAGES):
        for q in range(n):
            v = y[q]
            for j in range(i):
                v += TA[i][j] * K[j, q]
            yi[q] = v
        if driven:
            rhs_driven(yi, xs[STAGE_ROW[i]], p, u, r)
        else:
            rhs_drivernl(yi, xs[STAGE_ROW[i]], p, u, r)
        for q in range(n):
            v = r[q] + GSUM[i] * h * ftv[q]
            for j in range(i):
                v += TC[i][j] / h * K[j, q]
            r[q] = v
        if driven:
            solve_driven(F, r, K[i])
        else:
            solve_drivernl(F, r, K[i])
    acc = 0.0
    finite = True
    for q in range(n):
        yn = y[q]
        e = 0.0
        for i in range(STAGES):
            yn += TM[i] * K[i, q]
            e += TE[i] * K[i, q]
        ynew[q] = yn
        sc = atol + rtol * max(abs(y[q]), abs(yn))
        acc += (e / sc) ** 2
        if not np.isfinite(yn):
            finite = False
    err = np.sqrt(acc / n)
    if not finite or not np.isfinite(err):
        return np.inf
    return err


def _new_h(h, err, accepted):
    fac = 0.9 * max(err, 1e-10) ** _STEP_EXPONENT
    fac = min(max(fac, 0.2), 5.0)
    return h * (fac if accepted else min(fac, 0.5))


def _lin_steady(ainvb, ainvb0, u, star):
    """Steady state of the linear states under constant input ``u``: -A^-1 (B u + b0)."""
    for a in range(star.shape[0]):
        v = ainvb0[a]
        for j in range(u.shape[0]):
            v += ainvb[a, j] * u[j]
        star[a] = -v


def _lin_modes(vinv, lv, star, w):
    """Modal coordinates of the linear states: V^-1 (lv - star)."""
    k = lv.shape[0]
    for a in range(k):
        v = 0.0
        for b in range(k):
            v += vinv[a, b] * (lv[b] - star[b])
        w[a] = v


def _matmul(a, b, out, upper):
    """out = a @ b for square matrices (small: plain loops beat a BLAS call); ``upper``: both upper triangular."""
    k = a.shape[0]
    for i in range(k):
        for j in range(k):
            v = 0.0
            if upper:
                if j >= i:
                    for q in range(i, j + 1):
                        v += a[i, q] * b[q, j]
            else:
                for q in range(k):
                    v += a[i, q] * b[q, j]
            out[i, j] = v


def _solve_square(m, rhs):
    """Overwrite ``rhs`` with m^-1 rhs (Gaussian elimination, partial pivoting); ``m`` is destroyed."""
    k = m.shape[0]
    for c in range(k):
        piv = c
        for i in range(c + 1, k):
            if abs(m[i, c]) > abs(m[piv, c]):
                piv = i
        if piv != c:
            for j in range(k):
                m[c, j], m[piv, j] = m[piv, j], m[c, j]
                rhs[c, j], rhs[piv, j] = rhs[piv, j], rhs[c, j]
        for i in range(c + 1, k):
            f = m[i, c] / m[c, c]
            if f != 0.0:
                for j in range(c + 1, k):
                    m[i, j] -= f * m[c, j]
                for j in range(k):
                    rhs[i, j] -= f * rhs[c, j]
    for c in range(k - 1, -1, -1):
        for j in range(k):
            v = rhs[c, j]
            for i in range(c + 1, k):
                v -= m[c, i] * rhs[i, j]
            rhs[c, j] = v / m[c, c]


def _expm(amat, tau, out, ew, upper):
    """out = exp(amat tau): scaling and squaring with a diagonal Pade approximant (Higham 2005).

    The degree (3, 5, 7, 9 or 13) is the lowest whose backward-error bound ``PADE_THETA`` covers
    the 1-norm of M = amat tau; beyond the degree-13 bound the matrix is scaled by 2^-s and the
    result squared s times. Works for any matrix, defective ones (Jordan blocks, transit chains
    of equal rates) included. ``upper``: ``amat`` is upper triangular (a cluster's block of the
    Schur form), so are all the products, which then cost a sixth. ``ew``: work array (8, k, k).
    (No trace shift: shifting a transit chain by its rate loses accuracy for long tau, relative
    1e-8 at 24 h, for a 12% gain.)
    """
    k = amat.shape[0]
    x, x2, x4, x6, x8, uu, vv, tmp = ew[0], ew[1], ew[2], ew[3], ew[4], ew[5], ew[6], ew[7]
    norm = 0.0
    for j in range(k):
        v = 0.0
        for i in range(k):
            v += abs(amat[i, j])
        norm = max(norm, v)
    norm *= abs(tau)
    deg = 4
    for q in range(4):
        if norm <= PADE_THETA[q]:
            deg = q
            break
    s = 0
    if deg == 4 and norm > PADE_THETA[4]:
        s = int(np.ceil(np.log2(norm / PADE_THETA[4])))
    scale = tau / 2.0**s
    for i in range(k):
        for j in range(k):
            x[i, j] = amat[i, j] * scale
    _matmul(x, x, x2, upper)
    b = PADE_COEFFS[deg]
    if deg < 4:
        # U = X sum_i b[2i+1] X^(2i), V = sum_i b[2i] X^(2i), powers X^2 .. X^(m-1)
        if deg >= 1:
            _matmul(x2, x2, x4, upper)
        if deg >= 2:
            _matmul(x4, x2, x6, upper)
        if deg >= 3:
            _matmul(x4, x4, x8, upper)
        for i in range(k):
            for j in range(k):
                ev = b[0] if i == j else 0.0
                od = b[1] if i == j else 0.0
                ev += b[2] * x2[i, j]
                od += b[3] * x2[i, j]
                if deg >= 1:
                    ev += b[4] * x4[i, j]
                    od += b[5] * x4[i, j]
                if deg >= 2:
                    ev += b[6] * x6[i, j]
                    od += b[7] * x6[i, j]
                if deg >= 3:
                    ev += b[8] * x8[i, j]
                    od += b[9] * x8[i, j]
                vv[i, j] = ev
                tmp[i, j] = od
        _matmul(x, tmp, uu, upper)
    else:
        _matmul(x2, x2, x4, upper)
        _matmul(x4, x2, x6, upper)
        # degree 13 (Higham's nesting): U = X [X6 (b13 X6 + b11 X4 + b9 X2) + b7 X6 + b5 X4 + b3 X2 + b1 I],
        # V = X6 (b12 X6 + b10 X4 + b8 X2) + b6 X6 + b4 X4 + b2 X2 + b0 I
        for i in range(k):
            for j in range(k):
                tmp[i, j] = b[13] * x6[i, j] + b[11] * x4[i, j] + b[9] * x2[i, j]
        _matmul(x6, tmp, uu, upper)
        for i in range(k):
            for j in range(k):
                uu[i, j] += b[7] * x6[i, j] + b[5] * x4[i, j] + b[3] * x2[i, j] + (b[1] if i == j else 0.0)
                tmp[i, j] = b[12] * x6[i, j] + b[10] * x4[i, j] + b[8] * x2[i, j]
        _matmul(x6, tmp, vv, upper)
        for i in range(k):
            for j in range(k):
                vv[i, j] += b[6] * x6[i, j] + b[4] * x4[i, j] + b[2] * x2[i, j] + (b[0] if i == j else 0.0)
        for i in range(k):
            for j in range(k):
                tmp[i, j] = uu[i, j]
        _matmul(x, tmp, uu, upper)
    # r = (V - U)^-1 (V + U)
    for i in range(k):
        for j in range(k):
            tmp[i, j] = vv[i, j] - uu[i, j]
            out[i, j] = vv[i, j] + uu[i, j]
    _solve_square(tmp, out)
    for _ in range(s):
        for i in range(k):
            for j in range(k):
                tmp[i, j] = out[i, j]
        _matmul(tmp, tmp, out, upper)


def _lin_rows(lam, tmat, sizes, vec, modes, star, step, xs, zs, kry, ew):
    """Exact linear states at each stage time ``TARGET_FRACS[r] * step`` (h) into ``xs[r + 1]``.

    star + W exp(T tau) modes for the block form A = W T W^-1. ``sizes[p]``: size of the block of
    T starting at position p (0 inside a block). A 1 x 1 block is an eigenvalue ``lam[p]`` (one
    exponential per stage time); a larger one (a cluster of equal eigenvalues, a complex pair):
    where ||T_c step||_1 <= ``TAYLOR_NORM`` a Taylor series on the vector, whose terms
    (T_c step)^j modes / j! are shared by all stage times (evaluated by Horner in the fraction);
    beyond it :func:`_expm` per stage time. Work arrays: ``zs`` (N_TARGETS, k), ``kry``
    (TAYLOR_TERMS, k), ``ew`` (10, k, k).
    """
    k = modes.shape[0]
    p = 0
    while p < k:
        m = sizes[p]
        if m <= 1:
            for r in range(N_TARGETS):
                zs[r, p] = np.exp(lam[p] * (TARGET_FRACS[r] * step)) * modes[p]
            p += 1
            continue
        norm = 0.0
        for b in range(m):
            v = 0.0
            for a in range(m):
                v += abs(tmat[p + a, p + b])
            norm = max(norm, v)
        norm *= abs(step)
        if norm <= TAYLOR_NORM:
            for a in range(m):
                kry[0, a] = modes[p + a]
            terms = 1
            bound = 1.0
            for j in range(1, TAYLOR_TERMS):
                for a in range(m):
                    v = 0.0
                    for b in range(m):
                        v += tmat[p + a, p + b] * kry[j - 1, b]
                    kry[j, a] = v * step / j
                terms = j + 1
                bound *= norm / j
                if bound < 1e-18:  # the rest of the series is below 1e-18 |modes| (norm <= 1)
                    break
            for r in range(N_TARGETS):
                f = TARGET_FRACS[r]
                for a in range(m):
                    v = kry[terms - 1, a]
                    for j in range(terms - 2, -1, -1):
                        v = v * f + kry[j, a]
                    zs[r, p + a] = v
            p += m
            continue
        # contiguous m x m work arrays carved from the flat buffer (strided views are much slower)
        ewm = ew.ravel()[:10 * m * m].reshape((10, m, m))
        blk = ewm[9]
        e = ewm[8]
        upper = True
        for a in range(m):
            for b in range(m):
                blk[a, b] = tmat[p + a, p + b]
                if b < a and blk[a, b] != 0.0:
                    upper = False
        for r in range(N_TARGETS):
            _expm(blk, TARGET_FRACS[r] * step, e, ewm, upper)
            for a in range(m):
                v = 0.0
                for b in range(m):
                    v += e[a, b] * modes[p + b]
                zs[r, p + a] = v
        p += m
    for r in range(N_TARGETS):
        row = xs[r + 1]
        for a in range(k):
            v = star[a]
            for b in range(k):
                v += vec[a, b] * zs[r, b]
            row[a] = v


def _lin_derivative(amat, bmat, b0, lv, u, out):
    for a in range(lv.shape[0]):
        v = b0[a]
        for b in range(lv.shape[0]):
            v += amat[a, b] * lv[b]
        for j in range(u.shape[0]):
            v += bmat[a, j] * u[j]
        out[a] = v


def _driver_workspace(nl, k):
    """Work arrays of :func:`_advance_driver` (allocated once per patient, not once per step)."""
    return (np.empty(nl), np.empty(k), np.empty(k), np.empty((N_TARGETS + 1, k)), np.empty(k), np.empty(k),
            np.empty(FACTOR_SIZE_drivernl), np.empty((STAGES, nl)), np.empty(nl), np.empty(nl), np.empty(nl),
            np.empty(nl), np.empty((10, k, k)), np.empty((N_TARGETS, k)), np.empty((TAYLOR_TERMS, k)))


def _advance_driver(
    y_drv, h_drv, hw, p, u, pos_lin, pos_nl,
    lam, vec, vinv, amat, bmat, b0, ainvb, ainvb0, tmat, sizes, rtol, atol, max_sub, xs_out, work,
):
    """Integrate the driver from 0 through the driven step's stage times, one row of ``xs_out`` per target.

    Linear driver states are propagated in closed form through the block form A = W T W^-1
    (``vec`` = W, ``vinv`` = W^-1, ``tmat`` = T with blocks ``sizes``, ``lam`` its diagonal; see
    :func:`_lin_rows`), for any A; the others are integrated with their own Rosenbrock steps as
    a non-autonomous system. Returns (ok, new driver step size).
    """
    y, lv, star, xs, xdot, w, F, K, ftv, yi, r, ynew, ew, zs, kry = work
    nl = pos_nl.shape[0]
    k = pos_lin.shape[0]
    for a in range(nl):
        y[a] = y_drv[pos_nl[a]]
    for a in range(k):
        lv[a] = y_drv[pos_lin[a]]
    _lin_steady(ainvb, ainvb0, u, star)
    t = 0.0
    h = h_drv
    j = 0
    for _ in range(max_sub):
        if j >= N_TARGETS:
            break
        tgt = TARGET_FRACS[j] * hw
        step = min(h, tgt - t)
        lands = step >= tgt - t
        # row 0 is the current point; the other stage times are propagated from it in closed form
        xs[0, :] = lv
        _lin_modes(vinv, lv, star, w)
        _lin_rows(lam, tmat, sizes, vec, w, star, step, xs, zs, kry, ew)
        _lin_derivative(amat, bmat, b0, lv, u, xdot)
        err = _ros_step(False, y, xs, xdot, p, u, step, rtol, atol, F, K, ftv, yi, r, ynew)
        accepted = err <= 1.0
        if accepted:
            y[:] = ynew
            lv[:] = xs[N_TARGETS]
            t = tgt if lands else t + step
        hn = _new_h(step, err, accepted)
        h = max(h, hn) if (accepted and lands) else hn
        if accepted and lands:
            row = xs_out[j + 1]
            for a in range(nl):
                row[pos_nl[a]] = y[a]
            for a in range(k):
                row[pos_lin[a]] = lv[a]
            j += 1
        if h < 1e-10:
            return False, h
    return j >= N_TARGETS, h


def _integrate_one(
    p, y, st, stg, sdl, so, rec, recu, idx_drv, idx_drn, pos_lin, pos_nl,
    lam, vec, vinv, amat, bmat, b0, ainvb, ainvb0, tmat, sizes, rtol, atol, max_steps,
):
    """Integrate one patient through its stops (dose changes, outputs); returns (status, steps, failure time h).

    At stop ``k``: ``so[k] >= 0`` records output slot ``so[k]``; ``stg[k]`` adds ``sdl[k]`` to input
    ``stg[k]`` (below the number of inputs) or to state ``stg[k] - n_inputs`` (a bolus); -1: nothing.
    """
    ns_drv = idx_drv.shape[0]
    ns_drn = idx_drn.shape[0]
    n_in = recu.shape[1]
    u = np.zeros(n_in)
    y_drv = np.empty(ns_drv)
    y_drn = np.empty(ns_drn)
    xs = np.empty((N_TARGETS + 1, ns_drv))
    xdot = np.empty(ns_drv)
    no_ext = np.empty(0)
    F = np.empty(FACTOR_SIZE_driven)
    K = np.empty((STAGES, ns_drn))
    ftv = np.empty(ns_drn)
    yi = np.empty(ns_drn)
    r = np.empty(ns_drn)
    ynew = np.empty(ns_drn)
    work = _driver_workspace(pos_nl.shape[0], pos_lin.shape[0])
    t = 0.0
    h = 1e-3
    h_drv = 1e-3
    k = 0
    steps = 0
    while True:
        # pass every stop reached: record outputs, switch inputs, give boluses
        while np.isfinite(st[k]) and t >= st[k] - 1e-12 * max(1.0, abs(st[k])):
            t = st[k]
            o = so[k]
            if o >= 0:
                rec[o, :] = y
                recu[o, :] = u
            g = stg[k]
            if g >= n_in:
                y[g - n_in] += sdl[k]
            elif g >= 0:
                u[g] += sdl[k]
            k += 1
        if not np.isfinite(st[k]):
            return OK, steps, np.nan
        target = st[k]
        hw = min(h, target - t)
        lands = hw >= target - t
        for a in range(ns_drv):
            y_drv[a] = y[idx_drv[a]]
            xs[0, a] = y_drv[a]
        for a in range(ns_drn):
            y_drn[a] = y[idx_drn[a]]
        ok_drv, h_drv = _advance_driver(
            y_drv, h_drv, hw, p, u, pos_lin, pos_nl,
            lam, vec, vinv, amat, bmat, b0, ainvb, ainvb0, tmat, sizes, rtol * DRIVER_TOL, atol * DRIVER_TOL,
            100_000, xs, work,
        )
        rhs_driver(y_drv, no_ext, p, u, xdot)
        err = np.inf
        if ok_drv:
            err = _ros_step(True, y_drn, xs, xdot, p, u, hw, rtol, atol,
                            F, K, ftv, yi, r, ynew)
        accepted = ok_drv and err <= 1.0
        if accepted:
            t = target if lands else t + hw
            for a in range(ns_drn):
                y[idx_drn[a]] = ynew[a]
            for a in range(ns_drv):
                y[idx_drv[a]] = xs[N_TARGETS, a]
            steps += 1
        hn = _new_h(hw, err, accepted)
        # a step clipped to a stop says nothing about the step size beyond it
        h = max(h, hn) if (accepted and lands) else hn
        if (not ok_drv) or h < 1e-10 * max(1.0, t) or steps >= max_steps:
            return FAILED, steps, t


def run(
    P, Y, ST, STG, SDL, SO, REC, RECU, idx_drv, idx_drn, pos_lin, pos_nl,
    LAM, VEC, VINV, AMAT, BMAT, B0, AINVB, AINVB0, TMAT, SIZES, rtol, atol, max_steps,
    status, steps, fail_t,
):
    """Integrate every patient (rows of the batch arrays) with :func:`_integrate_one`."""
    for i in range(P.shape[0]):
        status[i], steps[i], fail_t[i] = _integrate_one(
            P[i], Y[i], ST[i], STG[i], SDL[i], SO[i], REC[i], RECU[i], idx_drv, idx_drn, pos_lin, pos_nl,
            LAM[i], VEC[i], VINV[i], AMAT[i], BMAT[i], B0[i], AINVB[i], AINVB0[i], TMAT[i], SIZES[i],
            rtol, atol, max_steps,
        )



"""Closed form of the linear driver states (linear PK) for any A, defective ones included.

Drugs whose absorption is a chain of transit compartments with one rate (acalabrutinib: depot and
five transit compartments; pirtobrutinib: depot and four) make A defective: its eigenvectors are
dependent, so L(t + tau) = L* + V exp(Lambda tau) V^-1 (L - L*) is useless. The cohort engine
then uses a block form A = W T W^-1 (eigenvectors for the separated eigenvalues, an invariant
subspace for each cluster) and a Pade matrix exponential for the cluster blocks. Checked here:
the exponentials against scipy, the block form, and whole runs against the reference engine.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import cllsim
from cllsim.model import PATIENT
from cllsim.simulate import CohortEngine, Patient, patient_values
from cllsim.simulate import _kernel as kernel
from cllsim.simulate import _vectorized as vectorized
from cllsim.simulate._codegen import compile_host
from cllsim.simulate._compare import max_relative_difference

KTR_ACALABRUTINIB_PER_H = 6.0 / 0.459  # transit rate of the size of the acalabrutinib model's, 1/h


def _chain(k: int, rate_per_h: float) -> np.ndarray:
    """A transit chain of ``k`` compartments with one rate: a single Jordan block of size k."""
    a = -rate_per_h * np.eye(k)
    a[np.arange(1, k), np.arange(k - 1)] = rate_per_h
    return a


def _pk_like(rng: np.random.Generator, n_chain: int) -> np.ndarray:
    """Transit chain into a two-compartment disposition with elimination, like the drug models."""
    k = n_chain + 2
    a = np.zeros((k, k))
    a[:n_chain, :n_chain] = _chain(n_chain, KTR_ACALABRUTINIB_PER_H)
    a[n_chain, n_chain - 1] = KTR_ACALABRUTINIB_PER_H
    k10, k12, k21 = rng.uniform(0.05, 2.0, 3)
    a[n_chain, n_chain] = -(k10 + k12)
    a[n_chain, n_chain + 1] = k21
    a[n_chain + 1, n_chain] = k12
    a[n_chain + 1, n_chain + 1] = -k21
    return a


def _rel(e: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(e - ref)) / np.max(np.abs(ref)))


def _test_matrices() -> list[tuple[np.ndarray, float]]:
    rng = np.random.default_rng(7)
    cases: list[tuple[np.ndarray, float]] = []
    for k in (1, 2, 3, 5, 6, 8, 11):
        for tau_h in (1e-4, 0.01, 0.3, 2.0, 24.0):
            cases.append((_chain(k, KTR_ACALABRUTINIB_PER_H), tau_h))
            cases.append((_pk_like(rng, max(k, 2)), tau_h))
            # a random matrix of moderate norm (exp(M) stays representable and well conditioned)
            cases.append((rng.normal(size=(k, k)) * 2.0 / np.sqrt(k), min(tau_h, 2.0)))
    # an exact Jordan block with a shift, and a rotation (complex eigenvalues)
    cases.append((np.array([[-2.0, 1.0, 0.0], [0.0, -2.0, 1.0], [0.0, 0.0, -2.0]]), 3.0))
    cases.append((np.array([[-0.1, 2.0], [-2.0, -0.1]]), 5.0))
    return cases


def test_kernel_expm_matches_scipy():
    """The kernel's Pade exponential (run as plain Python here) vs scipy.linalg.expm: rel < 1e-10."""
    worst = 0.0
    for a, tau_h in _test_matrices():
        k = a.shape[0]
        out = np.empty((k, k))
        kernel._expm(a, tau_h, out, np.empty((8, k, k)), False)
        worst = max(worst, _rel(out, scipy.linalg.expm(a * tau_h)))
        # the triangular variant on an upper triangular matrix (the cluster blocks of the Schur form)
        u = np.triu(a)
        kernel._expm(u, tau_h, out, np.empty((8, k, k)), True)
        assert np.all(np.tril(out, -1) == 0.0)
        worst = max(worst, _rel(out, scipy.linalg.expm(u * tau_h)))
    assert worst < 1e-10


def test_batched_expm_matches_scipy():
    """The NumPy backend's batched exponential, each matrix with its own scaling: rel < 1e-10 each."""
    for k in (1, 3, 8):
        stack = np.array([a * tau_h for a, tau_h in _test_matrices() if a.shape[0] == k])
        got = vectorized._expm_batch(stack)
        ref = scipy.linalg.expm(stack)
        assert max(_rel(g, r) for g, r in zip(got, ref, strict=True)) < 1e-10


def test_block_form_of_transit_chains():
    """A defective A gets one block per cluster, a well-conditioned W, and W exp(T tau) W^-1 = exp(A tau)."""
    rng = np.random.default_rng(3)
    for n_chain in (5, 6):
        a = _pk_like(rng, n_chain)
        lam, vec = np.linalg.eig(a)
        assert np.linalg.cond(vec) > 1e8  # the eigenvector path would be useless here
        w, t, sizes = vectorized._block_form(a)
        assert sorted(sizes[sizes > 0].tolist()) == [1, 1, n_chain]
        assert np.linalg.cond(w) < 1e3
        for tau_h in (0.05, 1.0, 12.0):
            e = w @ vectorized._expm_batch(t * tau_h) @ np.linalg.inv(w)
            assert _rel(e, scipy.linalg.expm(a * tau_h)) < 1e-10
    # complex eigenvalues: a real 2 x 2 block
    a = np.array([[-0.1, 2.0, 0.0], [-2.0, -0.1, 0.0], [0.0, 1.0, -3.0]])
    w, t, sizes = vectorized._block_form(a)
    assert sorted(sizes[sizes > 0].tolist()) == [1, 2]
    assert _rel(w @ vectorized._expm_batch(t * 2.0) @ np.linalg.inv(w), scipy.linalg.expm(a * 2.0)) < 1e-10


def test_block_form_falls_back_to_the_whole_matrix(monkeypatch):
    """Where no basis is well enough conditioned, A is one block (W = I, T = A): still exact."""
    monkeypatch.setattr(vectorized, "_BASIS_MAX_COND", 0.5)  # no basis qualifies
    a = _pk_like(np.random.default_rng(5), 5)
    w, t, sizes = vectorized._block_form(a)
    assert np.array_equal(w, np.eye(a.shape[0])) and np.array_equal(t, a)
    assert sizes.tolist() == [a.shape[0]] + [0] * (a.shape[0] - 1)


def test_kernel_stage_states_match_scipy():
    """The kernel's linear states at the stage times (Taylor branch for short steps, Pade beyond) vs scipy."""
    rng = np.random.default_rng(11)
    for n_chain in (5, 6):
        a = _pk_like(rng, n_chain)
        k = a.shape[0]
        w, t, sizes = vectorized._block_form(a)
        winv = np.linalg.inv(w)
        star = rng.uniform(0.0, 5.0, k)
        lv = rng.uniform(0.0, 100.0, k)
        # 1-norm of the cluster block x step from 0.02 (Taylor) to about 80 (Pade, squarings)
        for step_h in (1e-3, 0.02, 0.03, 0.2, 3.0):
            xs = np.full((kernel.N_TARGETS + 1, k), np.nan)
            kernel._lin_rows(np.diag(t).copy(), t, sizes, w, winv @ (lv - star), star, step_h, xs,
                             np.empty((kernel.N_TARGETS, k)), np.empty((kernel.TAYLOR_TERMS, k)),
                             np.empty((10, k, k)))
            for r, f in enumerate(kernel.TARGET_FRACS):
                ref = star + scipy.linalg.expm(a * f * step_h) @ (lv - star)
                assert _rel(xs[r + 1], ref) < 1e-10, (n_chain, step_h, f)


@pytest.mark.parametrize(("drug", "chain"), [("acalabrutinib", 6), ("pirtobrutinib", 5)])
def test_drug_models_get_a_closed_form(drug: str, chain: int):
    """The model's linear PK is propagated in closed form (not integrated): one block per transit chain."""
    cm = compile_host(PATIENT, (drug,))
    vals = patient_values(Patient(), drug=drug)
    params = {p: np.array([vals[p]]) for p in cm.parameters if p != "cells_frozen"}
    d = cm.derived(params | {"cells_frozen": np.zeros(1)})
    f = vectorized._Linear.factors(cm, d, 1)
    assert f is not None, "no closed form: the driver would be integrated (about 100x slower)"
    assert bool(f["__lin_expm"][0])
    sizes = f["__lin_blocks"][0]
    assert int(sizes.max()) == chain
    p = int(np.argmax(sizes))
    assert np.all(np.tril(f["__lin_T"][0][p:p + chain, p:p + chain], -1) == 0.0)  # the cheap triangular kind
    w, t, a = f["__lin_V"][0], f["__lin_T"][0], f["__lin_A"][0]
    assert np.linalg.cond(w) < 1e6
    assert _rel(w @ t @ f["__lin_Vinv"][0], a) < 1e-12


def _observables(drug: str) -> tuple[str, ...]:
    return ("alc_per_uL", "btk_occupancy_pct", f"{drug}_plasma_ng_per_mL")


def _compare(regimen: str, drug: str, days: float, backend: str) -> None:
    ref = cllsim.simulate(regimen, days=days, engine="reference")
    res = cllsim.simulate(regimen, days=days, engine=CohortEngine(backend=backend))
    assert ref.ok and res.ok
    for name in _observables(drug):
        r = ref.data[ref.data.observable == name].value.to_numpy(float)
        c = res.data[res.data.observable == name].value.to_numpy(float)
        assert r.size > 10 and np.all(np.isfinite(r)), name
        assert max_relative_difference(c, r) < 1e-5, name


def test_acalabrutinib_numpy_backend_matches_reference_short():
    """Fast check: two days of acalabrutinib 100 mg bid, NumPy backend vs libRoadRunner."""
    _compare("acalabrutinib 100 mg bid", "acalabrutinib", 2.0, "numpy")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "compiled"])
@pytest.mark.parametrize(("regimen", "drug"), [("acalabrutinib 100 mg bid", "acalabrutinib"),
                                               ("pirtobrutinib 200 mg qd", "pirtobrutinib")])
def test_transit_chain_drugs_match_reference(regimen: str, drug: str, backend: str, monkeypatch):
    """Ten days, ALC, BTK occupancy and plasma drug within 1e-5 of the reference engine.

    The compiled backend must not hand the run to the NumPy backend (its fallback for a singular
    linear part): that path is made to fail here.
    """
    if backend == "compiled":
        def refuse(*args, **kwargs):
            raise AssertionError("the compiled backend fell back to the NumPy backend")

        monkeypatch.setattr(vectorized, "_integrate", refuse)
    _compare(regimen, drug, 10.0, backend)

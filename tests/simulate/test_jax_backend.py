"""The optional JAX/diffrax cohort engine solves the same declaration as the NumPy cohort engine."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("diffrax")

from cllsim.cohort import CohortSpec, sample_chunk  # noqa: E402
from cllsim.model import PATIENT  # noqa: E402
from cllsim.simulate import Patient, Status, patient_values, run_batch, values_table  # noqa: E402  # noqa: E402
from cllsim.simulate._codegen import compile_host  # noqa: E402
from cllsim.simulate._jax import _import_jax, compile_jax, run_batch_jax  # noqa: E402

SUCCESS, INFEASIBLE = Status.SUCCESS.value, Status.INFEASIBLE_BASELINE.value

VARIABLES = ["alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3", "btk_occupancy_pct"]
# differences scaled by max(|reference|, 1e-6 * max_t |reference|): occupancy starts at exactly zero
FLOOR = 1e-6


def max_rel_diff(a: np.ndarray, ref: np.ndarray) -> float:
    den = np.maximum(np.abs(ref), FLOOR * np.max(np.abs(ref), axis=-1, keepdims=True) + 1e-300)
    return float(np.max(np.abs(a - ref) / den))


def test_generated_rhs_matches_numpy_code():
    jax, _ = _import_jax()
    cm = compile_host(PATIENT)
    model = compile_jax(PATIENT)
    assert model.states == cm.states
    vals = patient_values(Patient())
    params = {p: np.array([vals[p]]) for p in cm.parameters if p != "cells_frozen"}
    d = cm.derived(params | {"cells_frozen": np.zeros(1)})
    y = cm.initial(d, {})
    y[:3] += np.array([[50.0], [3.0], [20.0]])  # some drug on board
    u = np.array([12.0])
    ref = cm.rhs(y, d, {"ibrutinib_input_mg_per_h": u})[:, 0]
    reads = {k: np.atleast_1d(d[k])[0] for k in model.reads}
    got = model.rhs(0.0, jax.numpy.asarray(y[:, 0]), (reads, jax.numpy.asarray(u)))
    assert np.allclose(np.asarray(got), ref, rtol=1e-12, atol=1e-300)


def test_agrees_with_numpy_engine():
    """Six random patients, 21 days of daily outputs: max relative difference < 1e-4 (rtol 1e-8 both)."""
    spec = CohortSpec(n=6, chunk_size=6, seed=3, days=21)
    pop = sample_chunk(spec, 0)
    times = np.arange(22) * 24.0
    ref = run_batch(spec.regimen, pop.values, times, VARIABLES, rtol=1e-8, atol=1e-12)
    got = run_batch_jax(spec.regimen, pop.values, times, VARIABLES, rtol=1e-8, atol=1e-12)
    # both engines refuse the same patients (the template decides), and integrate the others alike
    assert list(got.status) == list(ref.status), got.detail
    ok = ref.ok
    assert ok.sum() >= 4
    assert np.all(got.n_steps[ok] > 0)
    worst = {v: max_rel_diff(got.values[v][ok], ref.values[v][ok]) for v in VARIABLES}
    assert max(worst.values()) < 1e-4, worst


def test_boluses_agree_with_numpy_engine():
    """Acalabrutinib has no zero-order input: each dose is a bolus into the depot."""
    vals = patient_values(Patient(), drug="acalabrutinib")
    assert vals["acalabrutinib_d1_fed_h"] == 0 and vals["acalabrutinib_d1_fasted_h"] == 0
    table = values_table([vals, vals | {"acalabrutinib_lag_h": 0.5}])
    times = np.arange(0, 73, 6.0)
    central = "acalabrutinib_central_mg"
    ref = run_batch("acalabrutinib 100 mg bid", table, times, [central, *VARIABLES], rtol=1e-8, atol=1e-12,
                    drug="acalabrutinib")
    got = run_batch_jax("acalabrutinib 100 mg bid", table, times, [central, *VARIABLES], rtol=1e-8, atol=1e-12,
                        drug="acalabrutinib")
    assert list(got.status) == [SUCCESS] * 2, got.detail
    assert max_rel_diff(got.values[central], ref.values[central]) < 1e-4
    assert max(max_rel_diff(got.values[v], ref.values[v]) for v in VARIABLES) < 1e-4


def test_impossible_baseline_gets_a_status_not_dropped():
    vals = patient_values(Patient())
    table = {k: np.full(3, v) for k, v in vals.items()}
    # an untreated steady state needs tissues to release cells as fast as they die in blood
    table["baseline_alc_per_uL"][1] = 1e6
    table["egress_per_day_ln"][1] = table["egress_per_day_spleen"][1] = table["egress_per_day_bm"][1] = 0.01
    batch = run_batch_jax("420 mg qd", table, np.arange(4) * 24.0, ["alc_per_uL"], rtol=1e-6, atol=1e-10)
    assert batch.status[0] == SUCCESS and batch.status[2] == SUCCESS
    assert batch.status[1] == INFEASIBLE and "blood" in batch.detail[1]
    assert batch.values["alc_per_uL"].shape == (3, 4)
    assert np.all(np.isnan(batch.values["alc_per_uL"][1]))


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffrax", None)
    with pytest.raises(ImportError, match=r'pip install "cllsim\[jax\]"'):
        _import_jax()

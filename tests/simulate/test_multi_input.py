"""Several dosing inputs and boluses into any state, each applied at its exact time, in every engine.

A toy of two drugs (a combination regimen in miniature): each has its own zero-order input
(``{drug}_input_mg_per_h``) into its own depot and linear one-compartment PK; a target occupancy
depends nonlinearly on both drugs, and a two-state cell block is driven by it and by drug b. The
toy has the structure the cohort engine exploits (linear PK in closed form, a nonlinear driver, a
driven block), so every code path of the compiled and NumPy backends runs. The schedules interleave
rate steps and boluses of both drugs, with simultaneous changes and changes at output times.
PK states are checked against their closed-form solution; the others against libRoadRunner.
"""

from __future__ import annotations

import numpy as np
import pytest

from cllsim._errors import SpecError
from cllsim.model import antimony_to_sbml
from cllsim.simulate import ReferenceEngine
from cllsim.simulate._codegen import compile_sbml
from cllsim.simulate._compare import max_relative_difference
from cllsim.simulate._engine import DoseChange, DoseSchedule
from cllsim.simulate._roadrunner import _model_of
from cllsim.simulate._vectorized import CohortEngine

TOY = """
model two_drugs()
  a_input_mg_per_h = 0; b_input_mg_per_h = 0
  a_depot_mg' = a_input_mg_per_h - a_ka_per_h*a_depot_mg
  a_central_mg' = a_ka_per_h*a_depot_mg - a_ke_per_h*a_central_mg
  b_depot_mg' = b_input_mg_per_h - b_ka_per_h*b_depot_mg
  b_central_mg' = b_ka_per_h*b_depot_mg - b_ke_per_h*b_central_mg
  occupancy' = (a_kon_per_mg_h*a_central_mg + b_kon_per_mg_h*b_central_mg)*(1 - occupancy) - koff_per_h*occupancy
  kill_per_h := kkill_per_h*b_central_mg/(b_central_mg + ec50_mg)
  cells' = kp_per_h*cells*(1 - occupancy) - k12_per_h*cells + k21_per_h*reserve - kill_per_h*cells
  reserve' = k12_per_h*cells - k21_per_h*reserve
  a_depot_mg = 0; a_central_mg = 0; b_depot_mg = 0; b_central_mg = 0; occupancy = 0; cells = 1; reserve = 0.5
  a_ka_per_h = 1.2; a_ke_per_h = 0.15; b_ka_per_h = 0.4; b_ke_per_h = 0.05
  a_kon_per_mg_h = 0.02; b_kon_per_mg_h = 0.01; koff_per_h = 0.1
  kp_per_h = 0.01; k12_per_h = 0.03; k21_per_h = 0.02; kkill_per_h = 0.02; ec50_mg = 30
end
"""

TIMES_H = np.arange(0.0, 97.0, 1.0)
RECORD = ("a_depot_mg", "a_central_mg", "b_depot_mg", "b_central_mg", "occupancy", "cells", "reserve",
          "a_input_mg_per_h", "b_input_mg_per_h")
PK = {"a": ("a_depot_mg", "a_central_mg"), "b": ("b_depot_mg", "b_central_mg")}
# tight tolerances on both sides: engine differences then reflect the method, not the tolerance
# (CVODE is the reference, one step tighter: at 1e-10 its depots, decayed to 1e-13 of their
# peaks, were off by 4e-7 of the floor used by the comparison)
TOL = {"rtol": 1e-10, "atol": 1e-14}
REF_TOL = {"rtol": 1e-12, "atol": 1e-16}


def _sorted(*changes: tuple[float, str, float]) -> tuple[DoseChange, ...]:
    return tuple(sorted((DoseChange(*c) for c in changes), key=lambda c: c.time_h))


def on_off(t: float, duration: float, drug: str, rate: float) -> list[tuple[float, str, float]]:
    return [(t, f"{drug}_input_mg_per_h", rate), (t + duration, f"{drug}_input_mg_per_h", -rate)]


# patient 0: both drugs interleaved; simultaneous changes at 0, 6, 9 and 24 h (most on output
# times), two rate steps of one input at once, overlapping infusions, boluses between outputs,
# an IV bolus into b's central compartment, a bolus into a driven state and one into the
# nonlinear driver state
COMBINATION = _sorted(
    (0.0, "a_depot_mg", 100.0), *on_off(0.0, 2.0, "b", 20.0),
    (6.0, "b_depot_mg", 50.0), *on_off(6.0, 3.0, "a", 10.0),
    (9.0, "b_depot_mg", 25.0),
    (12.0, "a_depot_mg", 80.0), *on_off(12.0, 24.0, "b", 5.0),
    *on_off(24.0, 6.0, "a", 8.0), *on_off(24.0, 6.0, "a", 4.0),
    (30.5, "b_depot_mg", 40.0), (30.5, "a_depot_mg", 20.0),
    (48.0, "b_central_mg", 15.0), *on_off(47.25, 0.5, "a", 60.0),
    (60.0, "reserve", 0.25), (66.5, "occupancy", 0.05),
    (72.0, "a_depot_mg", 100.0), (72.0, "b_depot_mg", 100.0),
)
ONLY_B = _sorted(*on_off(3.0, 1.5, "b", 40.0), (50.0, "b_depot_mg", 60.0))


@pytest.fixture(scope="module")
def toy():
    sbml = antimony_to_sbml(TOY)
    return sbml, compile_sbml(sbml), _model_of(sbml)


def patients(cm, n: int) -> dict[str, np.ndarray]:
    """Toy parameters for ``n`` patients (absorption and elimination differ between them)."""
    base = {"a_ka_per_h": 1.2, "a_ke_per_h": 0.15, "b_ka_per_h": 0.4, "b_ke_per_h": 0.05, "a_kon_per_mg_h": 0.02,
            "b_kon_per_mg_h": 0.01, "koff_per_h": 0.1, "kp_per_h": 0.01, "k12_per_h": 0.03, "k21_per_h": 0.02,
            "kkill_per_h": 0.02, "ec50_mg": 30.0}
    assert set(base) == set(cm.parameters)
    scale = 1.0 + 0.3 * np.arange(n)
    return {k: v * (scale if k.endswith(("ka_per_h", "ke_per_h")) else np.ones(n)) for k, v in base.items()}


def start(n: int) -> dict[str, np.ndarray]:
    y = {s: np.zeros(n) for s in RECORD[:7]}
    y["cells"], y["reserve"] = np.ones(n), np.full(n, 0.5)
    return y


def closed_form_pk(changes, params, i: int, times: np.ndarray) -> dict[str, np.ndarray]:
    """Depot and central amounts (mg) by superposition of each change's exact response.

    A change at ``t0`` counts from just after ``t0`` (outputs at ``t0`` are recorded before it).
    """
    out = {s: np.zeros(times.size) for pair in PK.values() for s in pair}
    for c in changes:
        drug = c.variable[0]
        if drug not in PK:  # a bolus into occupancy or cells leaves the PK alone
            continue
        ka, ke = params[f"{drug}_ka_per_h"][i], params[f"{drug}_ke_per_h"][i]
        depot, central = PK[drug]
        tau = np.maximum(times - c.time_h, 0.0)
        after = times > c.time_h
        if c.variable.endswith("_input_mg_per_h"):  # a rate step of size delta
            out[depot] += c.delta / ka * (1 - np.exp(-ka * tau))
            out[central] += c.delta / ke * (1 - (ka * np.exp(-ke * tau) - ke * np.exp(-ka * tau)) / (ka - ke))
        elif c.variable == depot:
            out[depot] += after * c.delta * np.exp(-ka * tau)
            out[central] += after * c.delta * ka / (ka - ke) * (np.exp(-ke * tau) - np.exp(-ka * tau))
        elif c.variable == central:
            out[central] += after * c.delta * np.exp(-ke * tau)
    return out


def input_rates(changes, name: str, times: np.ndarray) -> np.ndarray:
    """The input's rate (mg/h) at each output time, before the changes at that time."""
    return np.array([sum(c.delta for c in changes if c.variable == name and c.time_h < t) for t in times])


def run(engine, cm, schedule: tuple[tuple[DoseChange, ...], ...], times=TIMES_H):
    """``engine.integrate`` of the toy's compiled model ``cm`` through ``schedule``; the recorded values."""
    n = len(schedule)
    res = engine.integrate(cm, patients(cm, n), start(n), DoseSchedule(schedule), times, RECORD)
    assert not res.failed.any(), res.messages
    return res.values


SCHEDULES = (COMBINATION, ONLY_B, (), COMBINATION)


@pytest.fixture(scope="module")
def reference(toy):
    sbml, cm, rr = toy
    values = ReferenceEngine(**REF_TOL).integrate(rr, patients(cm, 4), start(4), DoseSchedule(SCHEDULES), TIMES_H,
                                              RECORD)
    assert values.failed.sum() == 0, values.messages
    return values.values


def test_toy_has_two_inputs_and_the_split_the_cohort_engine_exploits(toy):
    _, cm, rr = toy
    assert cm.inputs == rr.inputs == ("a_input_mg_per_h", "b_input_mg_per_h")
    assert [cm.states[i] for i in cm.blocks["linear"][0]] == [s for pair in PK.values() for s in pair]
    assert [cm.states[i] for i in cm.blocks["drivernl"][0]] == ["occupancy"]
    assert [cm.states[i] for i in cm.blocks["driven"][0]] == ["cells", "reserve"]
    from cllsim.simulate import _compiled

    assert _compiled.available(cm)


def test_reference_engine_matches_the_closed_form_pk(toy, reference):
    _, cm, _ = toy
    params = patients(cm, 4)
    for i, changes in enumerate(SCHEDULES):
        exact = closed_form_pk(changes, params, i, TIMES_H)
        for s, v in exact.items():
            assert max_relative_difference(reference[s][i], v) < 1e-6, (i, s)
        for name in ("a_input_mg_per_h", "b_input_mg_per_h"):
            assert np.allclose(reference[name][i], input_rates(changes, name, TIMES_H), atol=1e-12), (i, name)


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_cohort_engine_agrees_with_the_reference_and_the_closed_form(toy, reference, backend):
    _, cm, _ = toy
    got = run(CohortEngine(backend=backend, **TOL), cm, SCHEDULES)
    params = patients(cm, 4)
    for i, changes in enumerate(SCHEDULES):
        exact = closed_form_pk(changes, params, i, TIMES_H)
        for s, v in exact.items():
            assert max_relative_difference(got[s][i], v) < 1e-6, (backend, i, s)
        for name in ("a_input_mg_per_h", "b_input_mg_per_h"):
            assert np.array_equal(got[name][i], input_rates(changes, name, TIMES_H)), (backend, i, name)
    for s in RECORD:
        assert max_relative_difference(got[s], reference[s]) < 1e-6, (backend, s)
    # the drug-free patient keeps its PK at zero
    assert np.all(got["a_central_mg"][2] == 0) and np.all(got["b_depot_mg"][2] == 0)


def test_compiled_and_numpy_backends_take_the_same_steps(toy):
    _, cm, _ = toy
    n = len(SCHEDULES)
    res = {b: CohortEngine(backend=b, rtol=1e-6, atol=1e-10).integrate(
        cm, patients(cm, n), start(n), DoseSchedule(SCHEDULES), TIMES_H, RECORD) for b in ("compiled", "numpy")}
    assert np.array_equal(res["compiled"].steps, res["numpy"].steps)
    for s in RECORD:
        assert max_relative_difference(res["compiled"].values[s], res["numpy"].values[s]) < 1e-10, s


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_a_dropped_second_input_is_detected(toy, reference, backend):
    """Can fail: the same comparison flags an engine that ignored drug b's zero-order input."""
    _, cm, _ = toy
    without_b_rate = tuple(tuple(c for c in ch if c.variable != "b_input_mg_per_h") for ch in SCHEDULES)
    got = run(CohortEngine(backend=backend, **TOL), cm, without_b_rate)
    assert max_relative_difference(got["b_central_mg"], reference["b_central_mg"]) > 1e-2
    assert max_relative_difference(got["occupancy"], reference["occupancy"]) > 1e-3


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_a_change_at_an_output_time_is_recorded_after_the_output(toy, backend):
    """Can fail: a bolus at 6 h must not appear in the 6 h output, but in the next one."""
    _, cm, _ = toy
    times = np.array([0.0, 6.0, 6.5])
    got = run(CohortEngine(backend=backend, **TOL), cm, ((DoseChange(6.0, "b_depot_mg", 50.0),),), times)
    assert got["b_depot_mg"][0, 1] == 0.0
    assert got["b_depot_mg"][0, 2] == pytest.approx(50.0 * np.exp(-0.4 * 0.5), rel=1e-8)


@pytest.mark.parametrize("engine", ["compiled", "numpy", "reference"])
def test_a_dose_into_an_unknown_variable_is_refused_by_name(toy, engine):
    _, cm, rr = toy
    eng, model = (ReferenceEngine(), rr) if engine == "reference" else (CohortEngine(backend=engine), cm)
    bad = DoseSchedule(((DoseChange(1.0, "a_depot_mg", 1.0), DoseChange(2.0, "c_input_mg_per_h", 5.0)),))
    with pytest.raises(SpecError, match="'c_input_mg_per_h'"):
        eng.integrate(model, patients(cm, 1), start(1), bad, TIMES_H, RECORD)
    # a parameter is neither an input nor a state
    bad = DoseSchedule(((DoseChange(1.0, "a_ka_per_h", 1.0),),))
    with pytest.raises(SpecError, match="'a_ka_per_h'"):
        eng.integrate(model, patients(cm, 1), start(1), bad, TIMES_H, RECORD)


def test_many_doses_per_patient_stay_one_entry_each(toy):
    """The stop list holds one (target, delta) entry per change, not a column per input."""
    from cllsim.simulate._vectorized import _schedule

    _, cm, _ = toy
    hours = np.arange(0.0, 2000.0, 0.02)  # 100,000 doses per patient, alternating drugs
    changes = tuple(DoseChange(float(t), ("a_depot_mg", "b_depot_mg")[k % 2], 1.0) for k, t in enumerate(hours))
    sched = _schedule(DoseSchedule((changes, changes)), np.array([0.0, 2000.0]), cm.inputs, cm.states)
    assert sched.t.shape == sched.target.shape == sched.delta.shape == (2, hours.size + 2 + 1)
    assert set(np.unique(sched.target)) == {-1, 2 + cm.index("a_depot_mg"), 2 + cm.index("b_depot_mg")}


def test_jax_engine_agrees_with_the_reference(toy, reference):
    pytest.importorskip("jax")
    pytest.importorskip("diffrax")
    from cllsim.simulate._jax import JaxEngine, _host_texts

    _, cm, _ = toy
    _host_texts[cm.source] = TOY  # the JAX engine translates the declaration text itself
    got = run(JaxEngine(**TOL), cm, SCHEDULES)
    params = patients(cm, 4)
    for i, changes in enumerate(SCHEDULES):
        for name in ("a_input_mg_per_h", "b_input_mg_per_h"):
            assert np.array_equal(got[name][i], input_rates(changes, name, TIMES_H)), (i, name)
        for s, v in closed_form_pk(changes, params, i, TIMES_H).items():
            assert max_relative_difference(got[s][i], v) < 1e-6, (i, s)
    for s in RECORD:
        assert max_relative_difference(got[s], reference[s]) < 1e-6, s

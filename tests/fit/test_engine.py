"""The fit engine (one compiled model, doses as segments) reproduces the reference engine."""

from __future__ import annotations

import numpy as np
import pytest

import cllsim
from cllsim.fit import FitEngine
from cllsim.fit._engine import EngineError

DAYS = [0, 2, 7, 14, 30, 45]
VARS = {"alc_per_uL": "alc_per_uL", "ln_volume_cm3": "ln_volume_cm3", "spleen_volume_cm3": "spleen_volume_cm3",
        "cum_net_efflux": "cum_net_efflux_1e9", "bcl2_blood": "cells_blood_1e9"}


@pytest.fixture(scope="module", params=["compiled", "roadrunner"])
def engine(request):
    return FitEngine("420 mg qd", "M", days=45, backend=request.param)


def test_matches_reference_for_non_nominal_parameters(engine):
    # parameters that move initial cell numbers (baselines) and the untreated carried state (bcr, trafficking)
    theta = {"baseline_alc_per_uL": 90000.0, "egress_per_day_ln": 2.0, "bcr_strength": 0.6,
             "death_max_per_day": 0.15, "baseline_ln_volume_cm3": 300.0, "detach_per_day_spleen": 0.4}
    out = engine.simulate(theta, DAYS, ["alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3", "cll_blood"])
    assert out.ok
    ref = cllsim.simulate("420 mg qd", cllsim.Patient(ighv="M", parameters=theta), days=45, times=DAYS).wide()
    for v, rv in [("alc_per_uL", "alc_per_uL"), ("ln_volume_cm3", "ln_volume_cm3"),
                  ("spleen_volume_cm3", "spleen_volume_cm3"), ("cll_blood", "cells_blood_1e9")]:
        np.testing.assert_allclose(out.values[v], ref[rv].to_numpy(), rtol=1e-6)
    # the effect is real: the nominal patient differs from this one by far more than the tolerance
    nominal = engine.simulate({}, DAYS, ["alc_per_uL"]).values["alc_per_uL"]
    assert np.max(np.abs(nominal / out.values["alc_per_uL"] - 1)) > 0.05


def test_repeated_simulations_identical_and_reset_restores_nominal(engine):
    a = engine.simulate({}, DAYS, ["alc_per_uL"]).values["alc_per_uL"]
    engine.simulate({"baseline_alc_per_uL": 20000.0, "bcr_strength": 0.9}, DAYS, ["alc_per_uL"])
    b = engine.simulate({}, DAYS, ["alc_per_uL"]).values["alc_per_uL"]
    np.testing.assert_array_equal(a, b)
    ref = cllsim.simulate("420 mg qd", cllsim.Patient(ighv="M"), days=45, times=DAYS).wide()["alc_per_uL"]
    np.testing.assert_allclose(a, ref.to_numpy(), rtol=1e-6)


def test_refuses_schedule_parameters_and_late_times(engine):
    with pytest.raises(EngineError, match="dose schedule"):
        engine.simulate({"ibrutinib_lag_h": 1.0}, DAYS, ["alc_per_uL"])
    with pytest.raises(EngineError, match="unknown parameter"):
        engine.simulate({"not_a_parameter": 1.0}, DAYS, ["alc_per_uL"])
    with pytest.raises(ValueError, match="horizon"):
        engine.simulate({}, [0, 50], ["alc_per_uL"])


def test_batched_vectors_give_the_same_result_as_one_at_a_time(engine):
    """The FD Jacobian runs its shifted vectors as one batch; each must be simulated independently."""
    thetas = [{"death_max_per_day": 0.15}, {}, {"baseline_alc_per_uL": 1e6, "egress_per_day_ln": 0.01,
                                                 "egress_per_day_spleen": 0.01, "egress_per_day_bm": 0.01}]
    many = engine.simulate_many(thetas, DAYS, ["alc_per_uL"])
    assert [o.ok for o in many] == [True, True, False]
    assert "blood" in many[2].detail  # impossible baseline: reported, not raised, in a batch
    for theta, out in zip(thetas[:2], many[:2], strict=True):
        np.testing.assert_array_equal(out.values["alc_per_uL"], engine.simulate(theta, DAYS, ["alc_per_uL"]).values[
            "alc_per_uL"])

"""Work and memory of a simulation bounded before anything is built or allocated (issue 13)."""

import time

import numpy as np
import pytest

import cllsim
from cllsim.model import load_table
from cllsim.simulate import ReferenceEngine, prepare
from cllsim.simulate._api import MAX_DAYS, MAX_OUTPUT_VALUES
from cllsim.simulate._engine import MAX_BATCH_VALUES

DENSE = "420 mg q0.001h"  # 480,000 doses in 20 days


def test_too_many_doses_are_refused_by_simulate_and_prepare_at_once():
    start = time.perf_counter()
    with pytest.raises(cllsim.RegimenError, match="480,000 doses"):
        cllsim.simulate(DENSE, days=20)
    with pytest.raises(cllsim.RegimenError, match="480,000 doses"):
        prepare(DENSE, days=20)
    assert time.perf_counter() - start < 1.0


def test_max_doses_sets_the_limit():
    with pytest.raises(cllsim.RegimenError, match="30 doses in 30 days, more than the limit of 10"):
        cllsim.simulate("420 mg qd", days=30, max_doses=10)
    with pytest.raises(cllsim.RegimenError, match="limit of 10"):
        prepare("420 mg qd", days=30, max_doses=10)
    assert cllsim.simulate("420 mg qd", days=3, max_doses=3).ok


def test_the_engine_template_refuses_too_many_doses_before_equilibrating():
    values = load_table().values()
    start = time.perf_counter()
    with pytest.raises(cllsim.RegimenError, match="doses"):
        ReferenceEngine().run("patient", values, DENSE, [0.0, 20 * 24.0], ["alc_per_uL"])
    assert time.perf_counter() - start < 30.0  # a build at most, no 400-day equilibration


@pytest.mark.parametrize("days", [MAX_DAYS * 1.01, 1e7, 1e300])
def test_days_beyond_a_century_are_refused(days):
    with pytest.raises(cllsim.SpecError, match="at most 36500"):
        cllsim.simulate("420 mg qd", days=days)
    with pytest.raises(cllsim.SpecError, match="at most 36500"):
        prepare("420 mg qd", days=days)


def test_an_output_grid_too_large_is_refused_before_integrating():
    n_obs = len(cllsim.simulate("none", days=1, times=[0.0, 1.0]).observables)
    n_times = MAX_OUTPUT_VALUES // n_obs + 10
    start = time.perf_counter()
    with pytest.raises(cllsim.SpecError, match="give fewer output times"):
        cllsim.simulate("420 mg qd", days=30, times=np.linspace(0.0, 30.0, n_times))
    assert time.perf_counter() - start < 10.0


def test_an_engine_batch_too_large_is_refused():
    values = dict(load_table().values())
    n = 1000
    values["bcr_strength"] = np.full(n, values["bcr_strength"])
    times = np.arange(MAX_BATCH_VALUES // (n * 2) + 1, dtype=float)
    with pytest.raises(cllsim.SpecError, match="split the batch or record less"):
        ReferenceEngine().run("patient", values, "none", times, ["alc_per_uL", "cells_blood"])


def test_regimen_warnings_reach_the_result():
    res = cllsim.simulate("5 mg/kg qd from day 10", days=2, times=[0.0, 1.0, 2.0])
    assert res.ok
    assert any("mg/kg" in w for w in res.warnings) and any("no dose" in w for w in res.warnings)
    assert res.provenance()["warnings"] == list(res.warnings)
    assert not any("mg/kg" in w for w in cllsim.simulate("420 mg qd", days=2, times=[0.0, 2.0]).warnings)

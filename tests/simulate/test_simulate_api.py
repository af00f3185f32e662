"""The result object, metadata, reproducibility and failure reporting."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import cllsim
from cllsim.model import _columns as C
from cllsim.simulate import Patient, Status, prepare
from cllsim.simulate import _roadrunner as engine
from cllsim.simulate._api import make_result
from cllsim.simulate._observables import observables


def test_tidy_columns_units_and_metadata(typical_u):
    df = typical_u.to_df()
    assert list(df.columns) == list(C.RESULT_COLUMNS)
    assert df[C.UNIT].notna().all() and (df[C.UNIT] != "").all()
    units = df.groupby(C.OBSERVABLE)[C.UNIT].first()
    assert units["alc_per_uL"] == "1/uL" and units["ln_volume_cm3"] == "cm3"
    md = typical_u.metadata
    for key in ("cllsim_version", "parameter_hash", "parameters", "regimen", "ighv", "engine", "rtol"):
        assert key in md
    assert md["regimen"] == "420 mg qd" and md["ighv"] == "U"
    assert md["time_unit"] == "day"


def test_two_consecutive_simulations_are_identical():
    a = cllsim.simulate("420 mg qd x 5; hold 3 d; 280 mg qd", days=20, times=np.arange(0, 21.0))
    b = cllsim.simulate("420 mg qd x 5; hold 3 d; 280 mg qd", days=20, times=np.arange(0, 21.0))
    assert np.array_equal(a.data[C.VALUE].to_numpy(), b.data[C.VALUE].to_numpy())


def test_parameter_hash_tracks_parameters():
    a = cllsim.simulate("none", days=2, times=[0, 1, 2])
    b = cllsim.simulate("none", Patient(parameters={"baseline_alc_per_uL": 80000}), days=2, times=[0, 1, 2])
    assert a.metadata["parameter_hash"] != b.metadata["parameter_hash"]
    assert b.at(0, "alc_per_uL") == pytest.approx(80000)


def test_parquet_carries_provenance(tmp_path, typical_u):
    path = typical_u.to_parquet(tmp_path / "r.parquet")
    meta = json.loads(pq.read_schema(path).metadata[b"cllsim"])
    assert meta["parameter_hash"] == typical_u.metadata["parameter_hash"]
    assert meta["status"] == "success"


def test_plot_has_labelled_axes(typical_u):
    fig = typical_u.plot()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6
    assert all(ax.get_xlabel() and ax.get_ylabel() and ax.get_title() for ax in axes)


def test_solver_failure_is_reported_not_nan():
    blowup = engine.antimony_to_sbml("model blow()\n x' = x^2\n x = 1\nend\n")
    traj = engine.run(blowup, [0.0, 0.5, 2.0], ["x"])
    assert not traj.ok and traj.detail


def test_failed_and_nonfinite_trajectories_get_explicit_status():
    model = prepare("none", days=1)
    obs = observables(model.host)
    failed = engine.Trajectory(np.empty(0), {o.variable: np.empty(0) for o in obs}, False, "CV_CONV_FAILURE")
    res = make_result(model, Patient(), failed, obs, engine="roadrunner", rtol=1e-8, atol=1e-12)
    assert res.status is Status.SOLVER_FAILURE and "CV_CONV_FAILURE" in res.detail
    with pytest.raises(RuntimeError, match="solver stopped"):
        res.raise_for_status()
    values = {o.variable: np.array([1.0, np.nan]) for o in obs}
    nan = engine.Trajectory(np.array([0.0, 24.0]), values, True)
    res = make_result(model, Patient(), nan, obs, engine="roadrunner", rtol=1e-8, atol=1e-12)
    assert res.status is Status.NONFINITE and "day 1" in res.detail


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"days": 0}, "days must be a positive"),
        ({"days": -3}, "days must be a positive"),
        ({"regimen": "420 mg weekly-ish"}, "cannot parse"),
        ({"times": [1.0, 2.0]}, "start at 0"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cllsim.simulate(**{"regimen": "420 mg qd", "days": 5, **kwargs})


def test_unknown_ighv_is_refused():
    with pytest.raises(ValueError, match="IGHV status must be 'U' or 'M'"):
        Patient(ighv="X")


def test_impossible_baseline_is_refused():
    from cllsim.simulate._roadrunner import BaselineError

    with pytest.raises(BaselineError, match="baseline blood count cannot be sustained"):
        cllsim.simulate("none", Patient(parameters={"baseline_alc_per_uL": 900000,
                                                    "baseline_ln_volume_cm3": 1,
                                                    "baseline_spleen_volume_cm3": 201,
                                                    "baseline_bm_infiltration_pct": 1}), days=2)


def test_cohort_engine_through_the_entry_point_matches_the_reference():
    patient = Patient(ighv="M", parameters={"death_max_per_day": 0.15})
    ref = cllsim.simulate("420 mg qd", patient, days=10).wide()
    fast = cllsim.simulate("420 mg qd", patient, days=10, engine="cohort")
    assert fast.metadata["engine"] == "cohort"
    got = fast.wide()
    assert list(got.index) == list(ref.index)  # same default output grid (hourly first week)
    for col in ("alc_per_uL", "ln_volume_cm3", "btk_occupancy_pct", "drug_plasma_ng_per_mL"):
        den = np.maximum(np.abs(ref[col].to_numpy()), 1e-6 * np.abs(ref[col].to_numpy()).max())
        assert np.max(np.abs(got[col].to_numpy() - ref[col].to_numpy()) / den) < 1e-4, col


def test_cohort_engine_refuses_impossible_baselines_too():
    from cllsim.simulate._roadrunner import BaselineError

    with pytest.raises(BaselineError, match="blood"):
        cllsim.simulate("none", Patient(parameters={"baseline_alc_per_uL": 900000,
                                                    "baseline_ln_volume_cm3": 1,
                                                    "baseline_spleen_volume_cm3": 201,
                                                    "baseline_bm_infiltration_pct": 1}), days=2, engine="cohort")

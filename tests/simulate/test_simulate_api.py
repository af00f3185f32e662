"""The result object, metadata, reproducibility and failure reporting."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import cllsim
from cllsim.model import _columns as C
from cllsim.simulate import Patient, ReferenceEngine, Status


def test_tidy_columns_units_and_metadata(typical_u):
    df = typical_u.to_df()
    assert list(df.columns) == list(C.RESULT_COLUMNS)
    assert df[C.UNIT].notna().all() and (df[C.UNIT] != "").all()
    units = df.groupby(C.OBSERVABLE)[C.UNIT].first()
    assert units["alc_per_uL"] == "1/uL" and units["ln_volume_cm3"] == "cm3"
    md = typical_u.metadata
    for key in ("cllsim_version", "parameter_hash", "parameters", "regimen", "ighv", "engine", "rtol"):
        assert key in md
    assert md["regimen"] == "ibrutinib 420 mg qd" and md["ighv"] == "U"
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


def test_solver_failure_is_reported_not_nan_and_cvode_output_is_captured(capfd):
    from cllsim.model import antimony_to_sbml
    from cllsim.simulate._roadrunner import run_sbml

    blowup = antimony_to_sbml("model blow()\n x' = x^2\n x = 1\nend\n")
    out, message = run_sbml(blowup, [0.0, 0.5, 2.0], ["x"])
    assert out is None and "CV_" in message
    printed = capfd.readouterr()
    assert "CVode" not in printed.out + printed.err  # CVODE's C-level lines went into the message


class _BrokenEngine(ReferenceEngine):
    """The reference engine with a solver that fails, or returns NaN, for chosen patients."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def integrate(self, model, params, states, schedule, times_h, record):
        res = super().integrate(model, params, states, schedule, times_h, record)
        if times_h[-1] < 24 * 300:  # the treatment run, not the equilibration
            if self.mode == "fail":
                res.failed[:] = True
                res.fail_time_h[:] = 24.0
                res.messages[:] = "CV_CONV_FAILURE"
            elif self.mode == "nan":
                for v in res.values.values():
                    v[:, -1] = np.nan
        return res


def test_failed_and_nonfinite_runs_get_explicit_status_from_the_template():
    res = cllsim.simulate("420 mg qd", days=2, engine=_BrokenEngine("fail"))
    assert res.status is Status.SOLVER_FAILURE and "CV_CONV_FAILURE" in res.detail and "day 1" in res.detail
    with pytest.raises(cllsim.SolverError, match="solver stopped"):
        res.raise_for_status()
    res = cllsim.simulate("420 mg qd", days=2, engine=_BrokenEngine("nan"))
    assert res.status is Status.NONFINITE and "day 2" in res.detail
    assert cllsim.simulate("420 mg qd", days=2, engine=_BrokenEngine("none")).ok


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"days": 0}, "days must be a positive"),
        ({"days": -3}, "days must be a positive"),
        ({"regimen": "420 mg weekly-ish"}, "cannot parse"),
        ({"times": [-1.0, 2.0]}, "not be negative"),
        ({"times": [0.0, 2.0, 1.0]}, "must increase"),
        ({"step": 0.0}, "step must be a positive"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cllsim.simulate(**{"regimen": "420 mg qd", "days": 5, **kwargs})


def test_unknown_ighv_is_refused():
    with pytest.raises(ValueError, match="IGHV status must be 'U' or 'M'"):
        Patient(ighv="X")


def test_impossible_baseline_is_refused():
    with pytest.raises(cllsim.BaselineError, match="baseline blood count cannot be sustained"):
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
    with pytest.raises(cllsim.BaselineError, match="blood"):
        cllsim.simulate("none", Patient(parameters={"baseline_alc_per_uL": 900000,
                                                    "baseline_ln_volume_cm3": 1,
                                                    "baseline_spleen_volume_cm3": 201,
                                                    "baseline_bm_infiltration_pct": 1}), days=2, engine="cohort")


@pytest.mark.parametrize("engine", ["reference", "cohort"])
def test_invalid_tolerances_are_refused_and_leave_the_cached_engine_working(engine):
    """A call with rtol=-1 is refused before any cached solver is touched (issue 13 item 3)."""
    before = cllsim.simulate("420 mg qd", days=3, engine=engine).wide()["alc_per_uL"].to_numpy()
    for bad in ({"rtol": -1.0}, {"atol": float("nan")}, {"rtol": 2.0}):
        with pytest.raises(cllsim.SpecError, match="rtol|atol"):
            cllsim.simulate("420 mg qd", days=3, engine=engine, **bad)
    after = cllsim.simulate("420 mg qd", days=3, engine=engine).wide()["alc_per_uL"].to_numpy()
    np.testing.assert_array_equal(before, after)


def test_times_must_be_finite_and_within_the_simulated_days():
    with pytest.raises(cllsim.SpecError, match="finite"):
        cllsim.simulate("420 mg qd", days=3, times=[0.0, float("nan"), 2.0])
    with pytest.raises(cllsim.SpecError, match="beyond"):
        cllsim.simulate("420 mg qd", days=3, times=[0.0, 1.0, 5.0])


def test_every_engine_runs_the_same_template_and_agrees():
    """The reference and cohort engines give one status vocabulary and the same numbers through simulate()."""
    from cllsim.simulate import CohortEngine, Engine, ReferenceEngine

    assert issubclass(ReferenceEngine, Engine) and issubclass(CohortEngine, Engine)
    # neither engine overrides the template: equilibration, baseline checks and doses live in Engine.run
    assert ReferenceEngine.run is Engine.run and CohortEngine.run is Engine.run
    ref = cllsim.simulate("420 mg bid", Patient(ighv="M"), days=5, engine=ReferenceEngine(rtol=1e-9, atol=1e-13))
    fast = cllsim.simulate("420 mg bid", Patient(ighv="M"), days=5, engine=CohortEngine(rtol=1e-8, atol=1e-12))
    assert ref.metadata["engine"] == "reference" and fast.metadata["engine"] == "cohort"
    a, b = ref.wide(), fast.wide()
    for col in ("alc_per_uL", "cxcr4_surface_blood", "bcl2_blood", "drug_plasma_ng_per_mL"):
        den = np.maximum(np.abs(a[col].to_numpy()), 1e-6 * np.abs(a[col].to_numpy()).max())
        assert np.max(np.abs(b[col].to_numpy() - a[col].to_numpy()) / den) < 1e-5, col


def test_per_baseline_observables_are_normalised_once_for_every_engine():
    res = cllsim.simulate("420 mg qd", days=2, engine="cohort")
    for oid in ("cxcr4_surface_blood", "cxcr4_ps339_blood", "bcl2_blood"):
        assert res[oid].iloc[0] == pytest.approx(1.0)
    assert res.observables["cxcr4_surface_blood"] == "relative to baseline"
    assert res.observables["alc_per_uL"] == "1/uL"


def test_simulations_print_nothing_solver_messages_go_into_the_result(capfd):
    """CVODE writes from C to the process's stdout/stderr; the reference engine captures it per patient."""
    res = cllsim.simulate("560 mg qd x 5; hold 3 d; 420 mg bid", Patient(ighv="M"), days=14)
    printed = capfd.readouterr()
    assert res.ok and printed.out == "" and printed.err == ""
    assert isinstance(res.warnings, tuple) and all("[rank" not in w for w in res.warnings)  # summarised, not raw

"""The explorer's computation (no browser): data equal to cllsim.simulate, the cohort band, the
reproducing Python call, and invalid controls as input errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

import cllsim
from cllsim import InputError
from cllsim.explore import PANELS, View, compute_view, presets, python_call, view_from_controls
from cllsim.explore._view import ATOL, RTOL


def _series(data, panel, observable, series="patient"):
    sel = data[(data["panel"] == panel) & (data["observable"] == observable) & (data["series"] == series)]
    return sel["time_day"].to_numpy(), sel["value"].to_numpy()


def test_patient_curves_are_cllsim_simulate_on_the_cohort_engine():
    view = View(regimens=("420 mg qd", "280 mg qd"), ighv="M", parameters={"baseline_alc_per_uL": 90000.0}, days=60)
    data = compute_view(view).data
    assert set(data["panel"]) == {"A", "B"}
    for panel, regimen in (("A", "420 mg qd"), ("B", "280 mg qd")):
        ref = cllsim.simulate(regimen, cllsim.Patient(ighv="M", parameters={"baseline_alc_per_uL": 90000.0}),
                              days=60, engine="cohort", rtol=RTOL, atol=ATOL)
        for oid, *_ in PANELS:
            t, v = _series(data, panel, oid)
            np.testing.assert_array_equal(v, ref[oid].to_numpy())
            np.testing.assert_array_equal(t, ref[oid].index.to_numpy())
    _, a = _series(data, "A", "drug_plasma_ng_per_mL")
    _, b = _series(data, "B", "drug_plasma_ng_per_mL")
    assert a.max() > b.max()  # 420 mg gives more drug than 280 mg


def test_cohort_band_is_ordered_reproducible_and_centred_on_the_patient():
    view = View(days=20, cohort_n=12, seed=3)
    first, again = compute_view(view).data, compute_view(view).data
    pd.testing.assert_frame_equal(first, again)
    _, lo = _series(first, "A", "alc_per_uL", "p5")
    _, mid = _series(first, "A", "alc_per_uL", "p50")
    _, hi = _series(first, "A", "alc_per_uL", "p95")
    assert (lo <= mid).all() and (mid <= hi).all() and (hi > lo).any()
    other = compute_view(View(days=20, cohort_n=12, seed=4)).data
    assert not np.array_equal(_series(other, "A", "alc_per_uL", "p50")[1], mid)


def test_the_python_call_reproduces_the_view():
    view = View(regimens=("420 mg qd", "560 mg qd"), parameters={"bcr_strength": 0.8}, days=15, cohort_n=6, seed=1)
    data = compute_view(view).data
    scope: dict = {}
    exec(compile(python_call(view), "view.py", "exec"), scope)  # noqa: S102 - the code the user downloads
    for panel in "AB":
        np.testing.assert_array_equal(scope["results"][panel]["alc_per_uL"].to_numpy(),
                                      _series(data, panel, "alc_per_uL")[1])
        band = scope["bands"][panel]
        got = band[(band["series"] == "p50") & (band["observable"] == "alc_per_uL")]["value"].to_numpy()
        np.testing.assert_array_equal(got, _series(data, panel, "alc_per_uL", "p50")[1])


def test_two_patients_side_by_side_differ_in_ighv_only():
    view = view_from_controls({"regimen_a": "420 mg qd", "regimen_b": "420 mg qd", "compare": True, "ighv": "U",
                               "ighv_b": "M", "days": 40}, {"baseline_alc_per_uL": 60000.0, "bcr_strength": 1.0})
    assert view.parameters == {"baseline_alc_per_uL": 60000.0}  # bcr_strength 1.0 is U's nominal: not an override
    data = compute_view(view).data
    for panel, ighv in (("A", "U"), ("B", "M")):
        ref = cllsim.simulate("420 mg qd", cllsim.Patient(ighv=ighv, parameters={"baseline_alc_per_uL": 60000.0}),
                              days=40, engine="cohort", rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(_series(data, panel, "bcl2_blood")[1], ref["bcl2_blood"].to_numpy())
    assert not np.array_equal(_series(data, "A", "bcl2_blood")[1], _series(data, "B", "bcl2_blood")[1])
    assert "ighv='M'" in python_call(view)


@pytest.mark.parametrize("host, drug", [
    ("patient", "ibrutinib"), ("tcl1", "ibrutinib"), ("xenograft", "ibrutinib"),
    # each other drug compiles models of its own (with and without the combination preset): slow
    *(pytest.param("patient", d, marks=pytest.mark.slow) for d in ("acalabrutinib", "zanubrutinib", "pirtobrutinib")),
])
def test_every_preset_simulates(host, drug):
    for text in presets(host, drug):
        compute_view(View(host=host, drug=drug, regimens=(text,), days=3))


def test_a_host_without_a_panel_says_so():
    assert "has no lymph-node volume" in " ".join(compute_view(View(host="xenograft", days=3)).notes)


def test_controls_equal_to_the_nominal_are_not_overrides():
    view = view_from_controls({"regimen_a": "420 mg qd", "days": 30, "ighv": "M"},
                              {"bcr_strength": 0.33, "baseline_alc_per_uL": 70000})
    assert view.parameters == {"baseline_alc_per_uL": 70000.0}


@pytest.mark.parametrize(
    "controls, params, message",
    [
        ({"regimen_a": "banana", "days": 30}, {}, "regimen"),
        ({"regimen_a": "", "days": 30}, {}, "regimen A"),
        ({"regimen_a": "420 mg qd", "days": None}, {}, "days"),
        ({"regimen_a": "420 mg qd", "days": -3}, {}, "days"),
        ({"regimen_a": "420 mg qd", "days": 30, "compare": True, "regimen_b": ""}, {}, "regimen B"),
        ({"regimen_a": "420 mg qd", "days": 30}, {"bcr_strength": 99.0}, "bounds"),
        ({"regimen_a": "420 mg qd", "days": 30}, {"bcr_strength": None}, "give a number"),
    ],
)
def test_invalid_controls_are_input_errors_with_a_message(controls, params, message):
    with pytest.raises(InputError, match=message):
        compute_view(view_from_controls(controls, params))


@pytest.mark.skipif(importlib.util.find_spec("dash") is None, reason="Dash (the explore extra) is not installed")
def test_the_figure_carries_every_panel_and_series_as_trace_metadata():
    from cllsim.explore._app import _figure, make_app

    make_app(warm_up=False)
    result = compute_view(View(regimens=("420 mg qd", "560 mg qd"), days=10, cohort_n=4))
    fig = _figure(result, "patient")
    metas = {(t.meta["panel"], t.meta["observable"], t.meta["series"]) for t in fig.data}
    assert metas == {(p, o, s) for p in "AB" for o, *_ in PANELS for s in ("patient", "p5", "p50", "p95")}
    trace = next(t for t in fig.data if t.meta == {"panel": "B", "observable": "alc_per_uL", "regimen": "560 mg qd",
                                                    "ighv": "U", "series": "patient"})
    np.testing.assert_array_equal(np.asarray(trace.y), _series(result.data, "B", "alc_per_uL")[1])

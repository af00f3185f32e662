"""iwCLL 2018 response and progression (row P6) on synthetic trajectories with known answers."""

import numpy as np
import pytest

from cllsim.cohort._response import CATEGORIES, PD, ResponseCriteria, classify, confirmed, patient_responses

DAYS = np.arange(0.0, 731.0, 7.0)  # weekly assessments for two years


def course(alc, spd, spleen, marrow=None, mrd=None):
    """One patient's observables from functions of the day."""
    obs = {
        "alc_per_uL": np.array([[alc(d) for d in DAYS]]),
        "ln_spd_cm2": np.array([[spd(d) for d in DAYS]]),
        "spleen_length_cm": np.array([[spleen(d) for d in DAYS]]),
    }
    if marrow is not None:
        obs["bm_infiltration_pct"] = np.array([[marrow(d) for d in DAYS]])
    if mrd is not None:
        obs["mrd_blood"] = np.array([[mrd(d) for d in DAYS]])
    return obs


def decay(start, end, rate):
    return lambda d: end + (start - end) * np.exp(-rate * d)


def lymphocytosis_then_fall(d):
    """ALC 30,000/uL doubling in the first month, back below baseline by month 5, then 2,000/uL."""
    return 2000 + 28000 * (1 + 1.5 * np.exp(-(((d - 30) / 25) ** 2))) * np.exp(-d / 40)


def test_complete_response_after_lymphocytosis_confirmed_after_two_months():
    obs = course(lymphocytosis_then_fall, decay(60.0, 5.0, 0.02), decay(18.0, 11.0, 0.02), decay(60.0, 10.0, 0.02),
                 decay(0.5, 1e-5, 0.04))
    res = patient_responses(DAYS, obs)
    assert res.loc[0, "best_response"] == "CR" and not res.loc[0, "progressed"]
    raw = classify(DAYS, obs)
    first_cr = DAYS[np.argmax(raw[0] == 0)]
    assert res.loc[0, "best_response_day"] >= first_cr + ResponseCriteria().confirm_days
    assert res.loc[0, "ttp_day"] == DAYS[-1]  # censored at the end of follow-up
    assert np.isfinite(res.loc[0, "umrd_day"]) and res.loc[0, "mrd_at_365d"] < 1e-4


def test_partial_response_and_pr_with_lymphocytosis():
    # nodes and spleen shrink by > 50% of their enlargement, ALC stays above half of baseline: PR-L
    prl = course(lambda d: 30000 * (1 + 0.8 * min(d, 120) / 120), decay(60.0, 20.0, 0.03), decay(20.0, 15.0, 0.03))
    assert patient_responses(DAYS, prl).loc[0, "best_response"] == "PR-L"
    # the same with the ALC halved: PR (nodes still enlarged, so not CR)
    pr = course(decay(30000.0, 9000.0, 0.03), decay(60.0, 20.0, 0.03), decay(20.0, 15.0, 0.03))
    assert patient_responses(DAYS, pr).loc[0, "best_response"] == "PR"


def test_stable_disease_when_nothing_improves_by_half():
    sd = course(decay(30000.0, 20000.0, 0.03), decay(60.0, 45.0, 0.03), decay(18.0, 16.5, 0.03))
    res = patient_responses(DAYS, sd)
    assert res.loc[0, "best_response"] == "SD" and not res.loc[0, "progressed"]
    assert np.isnan(res.loc[0, "best_response_day"])


def test_progression_from_the_nodal_nadir_not_from_baseline():
    # nodes shrink to 20 cm2 (SPD) by month 8, then regrow: PD once 50% above that nadir, long before
    # they are back to the baseline size
    def spd(d):
        return 20.0 + 40.0 * np.exp(-0.02 * d) + (0.08 * (d - 400) if d > 400 else 0.0)

    res = patient_responses(DAYS, course(decay(30000.0, 3000.0, 0.03), spd, lambda d: 12.0))
    assert res.loc[0, "progressed"]
    nadir_excess = spd(400) - ResponseCriteria().normal_spd_cm2
    day = res.loc[0, "ttp_day"]
    assert spd(day) - ResponseCriteria().normal_spd_cm2 >= 1.5 * nadir_excess
    assert spd(day) < spd(0)
    assert res.loc[0, "best_response"] in ("PR", "CR")


def test_treatment_lymphocytosis_alone_is_not_progression_but_a_later_alc_rise_is():
    nodes, spleen = decay(40.0, 10.0, 0.03), decay(16.0, 12.0, 0.03)
    lymph = course(lymphocytosis_then_fall, nodes, spleen)
    assert not patient_responses(DAYS, lymph).loc[0, "progressed"]

    def relapse(d):  # after the lymphocytosis has resolved, the blood count climbs again
        return lymphocytosis_then_fall(d) + (40.0 * (d - 450) if d > 450 else 0.0)

    res = patient_responses(DAYS, course(relapse, nodes, spleen))
    assert res.loc[0, "progressed"] and res.loc[0, "ttp_day"] > 450
    assert relapse(res.loc[0, "ttp_day"]) >= 5000.0


def test_new_splenomegaly_needs_two_centimetres():
    small = course(decay(30000.0, 3000.0, 0.03), decay(40.0, 10.0, 0.03), lambda d: 12.0 + (1.5 if d > 500 else 0.0))
    big = course(decay(30000.0, 3000.0, 0.03), decay(40.0, 10.0, 0.03), lambda d: 12.0 + (3.0 if d > 500 else 0.0))
    assert not patient_responses(DAYS, small).loc[0, "progressed"]
    assert patient_responses(DAYS, big).loc[0, "progressed"]


def test_confirmation_needs_every_assessment_of_the_window():
    code = np.array([[3, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]])  # a CR interrupted once, then sustained
    days = np.arange(12) * 14.0
    out = confirmed(days, code, 56.0)
    assert list(out[0, :8]) == [3] * 8  # the run from day 56 has lasted 56 days only at day 112
    assert out[0, 8] == 0
    assert confirmed(days, np.full((1, 12), PD), 56.0)[0, 1] == PD


def test_landmarks_beyond_follow_up_are_missing():
    obs = course(decay(30000.0, 3000.0, 0.03), decay(40.0, 10.0, 0.03), lambda d: 12.0)
    res = patient_responses(DAYS, obs, landmarks_days=(365.0, 1826.0))
    assert res.loc[0, "response_at_365d"] in CATEGORIES and res.loc[0, "response_at_1826d"] is None


@pytest.mark.parametrize("field", ["progression_fraction", "response_fraction"])
def test_criteria_change_the_answer(field):
    """The thresholds are used: a 40% regrowth is PD only with a 30% progression threshold."""
    def spd(d):  # nadir SPD 30 cm2 (16.5 above normal) at day 400, then +6.6 cm2 (40%) by day 730
        return 30.0 + 40.0 * np.exp(-0.02 * d) + (0.02 * (d - 400) if d > 400 else 0.0)

    obs = course(decay(30000.0, 3000.0, 0.03), spd, lambda d: 12.0)
    default = patient_responses(DAYS, obs)
    loose = patient_responses(DAYS, obs, criteria=ResponseCriteria(**{field: 0.3}))
    if field == "progression_fraction":
        assert not default.loc[0, "progressed"] and loose.loc[0, "progressed"]
    else:
        assert loose.loc[0, "best_response_day"] < default.loc[0, "best_response_day"]


def test_km_table_matches_a_hand_computed_example_with_greenwood_intervals():
    from cllsim.cohort._endpoints import kaplan_meier, km_table

    durations = np.array([2.0, 3.0, 3.0, 5.0, 8.0, 8.0, 9.0, 12.0])
    events = np.array([1, 1, 0, 1, 1, 0, 0, 1], dtype=bool)
    tab = km_table(durations, events)
    s = tab.set_index("time_day")["survival"]
    # by hand: 7/8; x 6/7; x 4/5 (t = 5, 5 at risk); x 2/3 (t = 8); x 0 (t = 12)
    assert s[2.0] == pytest.approx(7 / 8) and s[3.0] == pytest.approx(7 / 8 * 6 / 7)
    assert s[5.0] == pytest.approx(0.75 * 4 / 5) and s[8.0] == pytest.approx(0.6 * 3 / 4) and s[12.0] == 0.0
    assert list(tab["at_risk"]) == [8, 8, 7, 5, 4, 2, 1]
    assert tab["censored"].sum() == 3 and tab["events"].sum() == 5
    inner = tab[(tab.survival > 0) & (tab.survival < 1)]
    assert np.all(inner.lower < inner.survival) and np.all(inner.survival < inner.upper)
    assert np.all((tab.lower >= 0) & (tab.upper <= 1))
    # Greenwood at t = 2: var(log S) = 1/(8*7); log-log interval
    se = np.sqrt(1 / 56) / abs(np.log(7 / 8))
    assert inner.iloc[0]["lower"] == pytest.approx((7 / 8) ** np.exp(1.959963984540054 * se))
    t, surv = kaplan_meier(durations, events)  # the plain estimate agrees
    np.testing.assert_allclose(surv, s[np.isin(s.index, t)].to_numpy())


def test_cohort_runs_report_iwcll_response_progression_and_pfs(tmp_path):
    """A cohort's patients table carries the per-patient course, its summary the landmark rates, and
    the folder a progression-free Kaplan-Meier figure."""
    from cllsim.cohort import CohortSpec, run_cohort, write_outputs

    res = run_cohort(CohortSpec(n=6, chunk_size=6, days=380, seed=3), tmp_path / "c")
    pats = res.patients
    for col in ("best_response", "progressed", "ttp_day", "response_at_365d", "umrd_day",
                "dominant_clone_at_progression"):
        assert col in pats, col
    ok = pats[pats["status"] == "success"]
    assert set(ok["best_response"]) <= set(CATEGORIES)
    assert np.all(ok.loc[~ok["progressed"].astype(bool), "ttp_day"] == 380)
    summary = res.summary
    assert "response_at_1y_pct" in summary.index and "progression_at_1y_km_pct" in summary.index
    assert "response_at_2y_pct" not in summary.index  # beyond follow-up: not reported
    written = {p.name for p in write_outputs(res)}
    assert "progression_free_km.png" in written

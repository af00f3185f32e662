"""Fixed-duration and sequence endpoints on hand-made courses (answers checked by hand)."""

import numpy as np
import pytest

from cllsim.cohort import (
    end_of_treatment_day,
    fixed_duration_endpoints,
    run_sequence,
    second_progression,
)
from cllsim.drugs import parse_therapy

CAPTIVATE = "ibrutinib 420 mg qd x 420 + venetoclax ramp-up; 400 mg qd x 301 from day 84"


def test_end_of_treatment_is_the_day_after_the_last_dose():
    assert end_of_treatment_day(parse_therapy(CAPTIVATE), 1000 * 24.0) == 420.0
    assert end_of_treatment_day(parse_therapy("420 mg qd x 28"), 100 * 24.0) == 28.0
    assert end_of_treatment_day(parse_therapy("420 mg qd"), 100 * 24.0) is None  # continuous
    assert end_of_treatment_day(parse_therapy("none"), 100 * 24.0) is None


def test_fixed_duration_endpoints_by_hand():
    days = np.array([0.0, 100.0, 200.0, 300.0, 400.0])
    mrd = np.array([
        [0.5, 1e-3, 1e-5, 5e-5, 2e-4],   # uMRD at EOT (200), regrows at 400 (200 days after)
        [0.5, 1e-2, 1e-3, 1e-3, 1e-3],   # detectable at EOT: no regrowth time
        [0.5, 1e-3, 1e-6, 1e-6, 1e-6],   # stays undetectable: censored at the end (200 days)
    ])
    ttp = np.array([400.0, 300.0, 400.0])
    progressed = np.array([False, True, False])
    out = fixed_duration_endpoints(days, mrd, 200.0, ttp, progressed)
    assert out["mrd_at_eot"].tolist() == [1e-5, 1e-3, 1e-6]
    assert out["mrd_at_eot_3m"].tolist() == [5e-5, 1e-3, 1e-6]  # day 291 -> nearest assessment 300
    assert out["umrd_at_eot"].tolist() == [True, False, True]
    assert out["mrd_regrowth"].tolist() == [True, False, False]
    assert out["mrd_regrowth_day"].iloc[0] == 200.0 and np.isnan(out["mrd_regrowth_day"].iloc[1])
    assert out["mrd_regrowth_day"].iloc[2] == 200.0  # censored at the end of follow-up
    assert out["tfi_event"].tolist() == [False, True, False]
    assert out["tfi_days"].tolist() == [200.0, 100.0, 200.0]


def _observed(spd):
    """Courses whose nodes (SPD, cm2) are given; blood and spleen flat."""
    spd = np.asarray(spd, dtype=float)
    n, t = spd.shape
    return {"alc_per_uL": np.full((n, t), 3000.0), "ln_spd_cm2": spd, "spleen_length_cm": np.full((n, t), 12.0),
            "bm_infiltration_pct": np.full((n, t), 20.0), "mrd_blood": np.full((n, t), 0.1)}


def test_second_progression_is_judged_from_the_nadir_after_the_switch():
    days = np.arange(0.0, 400.0, 30.0)
    spd = np.full((2, days.size), 20.0)
    spd[0, days >= 300] = 60.0  # patient 0's nodes grow again on the second therapy from day 300
    out = second_progression(days, _observed(spd), np.array([150.0, np.nan]))
    assert out["switched"].tolist() == [True, False]
    assert out["progressed2"].tolist() == [True, False]
    assert out["pfs2_day"].iloc[0] == pytest.approx(300.0, abs=60)  # confirmed within the 2-month rule
    assert out["pfs2_day"].iloc[1] == days[-1]


def test_run_sequence_switches_only_progressing_patients():
    days = np.arange(0.0, 400.0, 30.0)
    calls = []

    def fake(therapies):
        calls.append(therapies)
        spd = np.full((2, days.size), 20.0)
        if not isinstance(therapies, list):  # first phase: patient 0 progresses from day 180
            spd[0, days >= 180] = 60.0
        return days, _observed(spd), np.array([True, True])

    th = parse_therapy("ibrutinib 420 mg qd until progression then pirtobrutinib 200 mg qd")
    _, _, ok, switch = run_sequence(th, fake, 400 * 24.0)
    assert ok.all() and np.isfinite(switch[0]) and np.isnan(switch[1])
    second = calls[1]
    assert second[0].drugs == ("ibrutinib", "pirtobrutinib") and second[1].drugs == ("ibrutinib",)
    first_pirto = second[0].regimen_of("pirtobrutinib").doses(400 * 24.0)[0][0] / 24.0
    assert first_pirto == switch[0]

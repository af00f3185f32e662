"""Cell kinetics of the typical patient against calibration.md rows K1-K7 and P4."""

import numpy as np
import pytest

ON = slice(30, 180)  # days on ibrutinib over which rates are averaged (Wodarz 2014 fitted months 1-6)


def _wide(result):
    return result.wide()


@pytest.fixture(scope="module")
def u(typical_u):
    return _wide(typical_u)


@pytest.fixture(scope="module")
def m(typical_m):
    return _wide(typical_m)


def _mean_on(w, col):
    return float(w[col].loc[ON].mean())


def test_k1_death_rates_on_ibrutinib(u):
    assert 1.7 - 1.1 <= _mean_on(u, "death_rate_blood_pct_per_day") <= 1.7 + 1.1  # K1 blood
    assert 2.7 - 0.99 <= _mean_on(u, "death_rate_tissue_pct_per_day") <= 2.7 + 0.99  # K1 tissue


def test_k2_death_rates_rise_3x_blood_5x_tissue(u):
    blood = _mean_on(u, "death_rate_blood_pct_per_day") / u["death_rate_blood_pct_per_day"].iloc[0]
    tissue = _mean_on(u, "death_rate_tissue_pct_per_day") / u["death_rate_tissue_pct_per_day"].iloc[0]
    assert blood == pytest.approx(3.0, rel=0.40)  # K2
    assert tissue == pytest.approx(5.0, rel=0.40)  # K2


def test_k3_fraction_of_tissue_burden_redistributed(u):
    fraction = u["cum_net_efflux_1e9"].max() / u["cells_tissue_1e9"].iloc[0]
    assert 0.233 - 0.17 <= fraction <= 0.233 + 0.17  # K3


def test_k4_birth_rates_before_and_on_ibrutinib(u):
    before = u["birth_rate_total_pct_per_day"].iloc[0]
    on = _mean_on(u, "birth_rate_total_pct_per_day")
    assert 0.17 <= before <= 1.04  # K4 before
    assert 0.0 <= on <= 0.36  # K4 on
    assert 4 <= before / on <= 15  # K4 on/off ratio


def test_k5_blood_death_rate_before_ibrutinib(u):
    assert 0.0 <= u["death_rate_blood_pct_per_day"].iloc[0] <= 0.7  # K5


def test_k6_untreated_birth_higher_in_u_cll(u, m):
    b_u, b_m = u["birth_rate_total_pct_per_day"].iloc[0], m["birth_rate_total_pct_per_day"].iloc[0]
    assert 0.07 <= b_m < b_u <= 1.31  # K6 range and U > M


def test_p4_lymphocytosis_then_contraction(u):
    alc = u["alc_per_uL"]
    peak_day = alc.idxmax()
    assert alc.max() >= 1.5 * alc.iloc[0] and alc.max() > 5000  # P4 (iwCLL)
    assert 3 <= peak_day <= 90  # peak within the first months, as on ibrutinib
    assert alc.iloc[-1] < 0.5 * alc.max()  # then contraction


def test_tissue_burden_falls_from_the_first_days(u):
    tissue = u["cells_tissue_1e9"]
    first_month = tissue.loc[[float(d) for d in range(31)]].to_numpy()  # daily
    assert np.all(np.diff(first_month) < 0)
    assert tissue.loc[3] < tissue.loc[0]
    assert u["ln_volume_cm3"].loc[180] < 0.5 * u["ln_volume_cm3"].iloc[0]


def test_untreated_typical_patient_is_near_steady_state_or_slowly_growing(untreated_u):
    w = untreated_u.wide()
    growth = w["cells_total_1e9"].iloc[-1] / w["cells_total_1e9"].iloc[0]
    assert 0.97 <= growth <= 1.5
    alc = w["alc_per_uL"]
    assert 0.9 <= alc.iloc[-1] / alc.iloc[0] <= 1.5
    # BTK is not touched without drug
    assert w["btk_occupancy_pct"].abs().max() < 1e-9


def test_m_cll_untreated_near_steady_state(typical_m):
    """The indolent typical M-CLL patient changes by less than a quarter in a year untreated."""
    import cllsim

    w = cllsim.simulate("none", cllsim.Patient(ighv="M"), days=365, times=np.arange(0, 366.0)).wide()
    growth = w["cells_total_1e9"].iloc[-1] / w["cells_total_1e9"].iloc[0]
    assert 0.75 <= growth <= 1.5


def test_bcl2_falls_more_in_u_than_m_cll(u, m):
    """F8 direction at the core: blood BCL2 on treatment falls in U-CLL more than in M-CLL."""
    assert u["bcl2_blood"].loc[90] < m["bcl2_blood"].loc[90] <= 1.0

"""Forecasts from early data (issue 11, item 9): the band carries persistence and resistance spread."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cllsim import ParameterError
from cllsim.fit import FitEngine, fit_patient, make_patient_data
from cllsim.fit._fit import BANDED, MONTH_12_DAY, MONTH_24_DAY, MRD_BLOOD, PERSISTENCE_RESISTANCE
from cllsim.fit._problem import NOISE_SD_LOG
from cllsim.model import load_table

ESTIMATED = ("baseline_alc_per_uL", "baseline_ln_volume_cm3", "death_max_per_day")
DAYS = np.array([0, 7, 14, 28, 42, 56, 84], dtype=float)


def synthetic_patient(ighv: str, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Nominal patient's first 12 weeks of ALC and node volume, with the noise model's log-normal error."""
    rng = np.random.default_rng(seed)
    out = FitEngine("420 mg qd", ighv, days=DAYS[-1]).simulate({}, DAYS, ["alc_per_uL", "ln_volume_cm3"])
    assert out.ok
    table = pd.DataFrame({"day": DAYS})
    for obs in ("alc_per_uL", "ln_volume_cm3"):
        table[obs] = out.values[obs] * np.exp(NOISE_SD_LOG[obs] * rng.standard_normal(DAYS.size))
    table.loc[[1, 2, 3, 5], "ln_volume_cm3"] = np.nan  # CT at days 0, 42 and 84 only
    return table, {}

# what the population draws must include: every persistence/resistance row with a between-patient SD
DRAWABLE = [p for p in PERSISTENCE_RESISTANCE if load_table().rows[p].iivSD > 0]


@pytest.fixture(scope="module")
def early_fits():
    assert DAYS[-1] <= 84  # early data only: the first 12 weeks
    table, _ = synthetic_patient("U", 21)
    data = make_patient_data(table, regimen="420 mg qd", ighv="U", patient_id="early")
    common = dict(estimated=ESTIMATED, n_starts=1, uncertainty="laplace", n_band=24, seed=5,
                  horizon_days=MONTH_24_DAY + 1)
    drawn = fit_patient(data, **common)
    fixed = fit_patient(data, population_draws=None, **common)
    return drawn, fixed


def _log_width(res, obs: str, day: float) -> float:
    b = res.band[res.band["observable"] == obs].set_index("day")
    row = b.loc[float(round(day))]
    return float(np.log(row["param_high"] / row["param_low"]))


@pytest.mark.parametrize("obs", [MRD_BLOOD, "ln_volume_cm3"])
def test_band_at_one_year_wider_when_persistence_and_resistance_are_drawn(early_fits, obs):
    drawn, fixed = early_fits
    w_drawn, w_fixed = _log_width(drawn, obs, MONTH_12_DAY), _log_width(fixed, obs, MONTH_12_DAY)
    assert w_drawn > 1.2 * w_fixed, f"{obs} at day 365: log band width {w_drawn:.3f} drawn vs {w_fixed:.3f} fixed"


def test_band_reports_the_parameters_drawn_from_the_population(early_fits):
    drawn, fixed = early_fits
    assert sorted(drawn.metadata["population_drawn"]) == sorted(DRAWABLE)
    assert set(drawn.band["population_drawn"]) == {",".join(DRAWABLE)}
    assert fixed.metadata["population_drawn"] == {}
    assert set(fixed.band["population_drawn"]) == {""}
    assert "drawn from the population" in drawn.summary()


def test_forecast_band_spans_month_24_with_mrd(early_fits):
    drawn, _ = early_fits
    assert set(drawn.band["observable"]) == set(BANDED)
    mrd = drawn.band[drawn.band["observable"] == MRD_BLOOD]
    assert mrd["day"].max() >= MONTH_24_DAY
    inside = (mrd["param_low"] <= mrd["map"] * (1 + 1e-9)) & (mrd["map"] <= mrd["param_high"] * (1 + 1e-9))
    assert inside.mean() > 0.95
    # the MAP course keeps the population parameters at nominal: same as without the draws
    np.testing.assert_allclose(drawn.band["map"], early_fits[1].band["map"], rtol=1e-12)


def test_measurement_interval_contains_the_parameter_band(early_fits):
    drawn, _ = early_fits
    alc = drawn.band[drawn.band["observable"] == "alc_per_uL"]
    assert (alc["pi_high"] - alc["pi_low"] >= 0.99 * (alc["param_high"] - alc["param_low"])).all()


def test_unknown_population_parameter_is_refused():
    table, _ = synthetic_patient("U", 21)
    data = make_patient_data(table, regimen="420 mg qd", ighv="U", patient_id="early")
    with pytest.raises(ParameterError, match="persister_entry"):
        fit_patient(data, estimated=ESTIMATED, n_starts=1, uncertainty="laplace", n_band=4,
                    population_draws=("persister_entry",))


def test_cli_forecasts_month_24_and_names_the_drawn_parameters(tmp_path):
    import json

    from typer.testing import CliRunner

    from cllsim.cli import app

    table, _ = synthetic_patient("U", 22)
    csv = tmp_path / "patient.csv"
    table.to_csv(csv, index=False)
    out = tmp_path / "fit"
    r = CliRunner().invoke(app, ["fit", str(csv), "--ighv", "U", "--out", str(out), "--starts", "1",
                                 "--uncertainty", "laplace", "--days", "731", "--estimate", ",".join(ESTIMATED)])
    assert r.exit_code == 0, r.output
    band = pd.read_csv(out / "prediction_band.csv")
    assert band.loc[band["observable"] == MRD_BLOOD, "day"].max() >= MONTH_24_DAY
    meta = json.loads((out / "metadata.json").read_text())
    assert sorted(meta["population_drawn"]) == sorted(DRAWABLE)
    assert "drawn from the population" in " ".join(r.output.split())


@pytest.mark.parametrize("days", ["0", "nan", "99999"])
def test_cli_refuses_a_bad_horizon(tmp_path, days):
    from typer.testing import CliRunner

    from cllsim.cli import app

    table, _ = synthetic_patient("U", 23)
    csv = tmp_path / "patient.csv"
    table.to_csv(csv, index=False)
    r = CliRunner().invoke(app, ["fit", str(csv), "--days", days, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--days" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()

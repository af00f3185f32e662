"""Fitting: small recovery of known parameters, outputs, CLI (deliverables 3 and 4, small version)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.fit import FitEngine, clinical_quantities, fit_patient, make_patient_data
from cllsim.fit._fit import PREDICTED, QUANTITY_INFO
from cllsim.fit._problem import NOISE_SD_LOG, estimated_parameters

ESTIMATED = ("baseline_alc_per_uL", "death_max_per_day", "egress_per_day_ln")
DAYS = np.array([0, 7, 14, 28, 42, 56, 84], dtype=float)


def flat(text: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(text.split())


def synthetic_patient(ighv: str, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Data simulated from parameters drawn from the priors, with the stated log-normal noise."""
    rng = np.random.default_rng(seed)
    truth = {p.id: p.prior_median * math.exp(0.7 * p.prior_sd_log * rng.standard_normal())
             for p in estimated_parameters(ESTIMATED, ighv)}
    out = FitEngine("420 mg qd", ighv, days=DAYS[-1]).simulate(truth, DAYS, ["alc_per_uL", "ln_volume_cm3"])
    assert out.ok
    table = pd.DataFrame({"day": DAYS})
    for obs in ("alc_per_uL", "ln_volume_cm3"):
        table[obs] = out.values[obs] * np.exp(NOISE_SD_LOG[obs] * rng.standard_normal(DAYS.size))
    table.loc[[1, 2, 5], "ln_volume_cm3"] = np.nan  # CT less often than blood counts
    return table, truth


@pytest.fixture(scope="module")
def fits():
    results = []
    for ighv, seed in (("U", 11), ("M", 12)):
        table, truth = synthetic_patient(ighv, seed)
        data = make_patient_data(table, regimen="420 mg qd", ighv=ighv, patient_id=f"synthetic_{ighv}")
        res = fit_patient(data, estimated=ESTIMATED, n_starts=2, uncertainty="laplace", n_band=6, seed=seed)
        results.append((res, truth))
    return results


def test_truth_recovered_inside_95pct_intervals(fits):
    inside = total = 0
    for res, truth in fits:
        est = res.estimates.set_index("parameterId")
        for pid, value in truth.items():
            total += 1
            inside += est.loc[pid, "ci_low"] <= value <= est.loc[pid, "ci_high"]
    assert inside >= total - 1, f"truth inside the 95% interval for only {inside}/{total}"


def test_data_narrow_the_baseline_count_beyond_its_prior(fits):
    for res, truth in fits:
        row = res.estimates.set_index("parameterId").loc["baseline_alc_per_uL"]
        assert row["identifiable"]
        assert (row["ci_high"] / row["ci_low"]) < 0.5 * (row["prior_high"] / row["prior_low"])
        assert abs(math.log(row["estimate"] / truth["baseline_alc_per_uL"])) < 0.3


def test_result_tables_are_complete(fits):
    res, _ = fits[0]
    assert list(res.estimates["parameterId"]) == list(ESTIMATED)
    assert (res.estimates["ci_low"] <= res.estimates["estimate"]).all()
    assert (res.estimates["estimate"] <= res.estimates["ci_high"]).all()
    assert set(res.quantities["quantity"]) == set(QUANTITY_INFO)
    q = res.quantities.set_index("quantity")
    assert q.loc["redistributed_fraction_pct", "estimate"] > 0
    assert len(res.starts) == 2 and {"fval", "failed", "converged"} <= set(res.starts.columns)
    assert res.starts["converged"].any()
    b = res.band
    assert set(b["observable"]) == {"alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3", "mrd_blood"}
    assert b["day"].max() >= 365.25
    assert (b["param_low"] <= b["param_high"]).all()
    assert res.metadata["seed"] == 11 and res.metadata["fixed_parameters"]
    assert "birth_niche_bcr_per_day" in res.summary()


def test_clinical_quantities_from_a_known_course():
    days = np.arange(0.0, 400.0)
    alc = np.where(days < 20, 50000 + 1000 * days, 70000 * np.exp(-(days - 20) / 30))
    traj = {
        "alc_per_uL": alc,
        "ln_volume_cm3": 200 * np.exp(-days / 100),
        "death_rate_blood_pct_per_day": np.full_like(days, 1.5),
        "death_rate_tissue_pct_per_day": np.where(days <= 180, 3.0, 9.0),
        "cum_net_efflux": np.minimum(days, 30.0),
        "cells_tissue": np.full_like(days, 120.0),
    }
    assert set(traj) <= set(PREDICTED)
    q = clinical_quantities(traj, days)
    assert q["death_rate_blood_pct_per_day"] == pytest.approx(1.5)
    assert q["death_rate_tissue_pct_per_day"] == pytest.approx(3.0)
    assert q["redistributed_fraction_pct"] == pytest.approx(25.0)
    expected_day = 20 + math.ceil(30 * math.log(70000 / 4000))
    assert q["alc_normalisation_day"] == expected_day
    assert q["ln_volume_6mo_cm3"] == pytest.approx(200 * math.exp(-182.625 / 100), rel=1e-3)
    traj["alc_per_uL"] = np.full_like(days, 9000.0)
    assert math.isinf(clinical_quantities(traj, days)["alc_normalisation_day"])


def test_cli_fit_with_mcmc_writes_complete_output(tmp_path):
    table, _ = synthetic_patient("U", 5)
    csv = tmp_path / "patient.csv"
    table.to_csv(csv, index=False)
    out = tmp_path / "fit"
    res = CliRunner().invoke(app, [
        "fit", str(csv), "--regimen", "420 mg qd", "--ighv", "U", "--out", str(out), "--starts", "2",
        "--estimate", "baseline_alc_per_uL,death_max_per_day", "--uncertainty", "mcmc", "--samples", "60",
        "--band", "40", "--start-date", "2024-01-15",
    ])
    assert res.exit_code == 0, res.output
    for name in ("estimates.csv", "quantities.csv", "prediction_band.csv", "starts.csv", "fit.png", "summary.txt"):
        assert (out / name).exists(), name
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["uncertainty"] == "mcmc" and meta["mcmc"]["n_samples"] == 60
    assert meta["estimated_parameters"] == ["baseline_alc_per_uL", "death_max_per_day"]
    est = pd.read_csv(out / "estimates.csv")
    assert (est["ci_low"] < est["ci_high"]).all()
    assert "alc_normalisation_day" in flat(res.output)
    norm_day = pd.read_csv(out / "quantities.csv").set_index("quantity").loc["alc_normalisation_day", "estimate"]
    if math.isfinite(norm_day):
        assert meta["alc_normalisation_date"] > "2024-01-15"
        assert "predicted date of ALC normalisation" in flat(res.output)
    else:
        assert "alc_normalisation_date" not in meta


def test_cli_fit_refuses_unknown_parameter_and_bad_options(tmp_path):
    table, _ = synthetic_patient("M", 6)
    csv = tmp_path / "patient.csv"
    table.to_csv(csv, index=False)
    r = CliRunner().invoke(app, ["fit", str(csv), "--estimate", "nope", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "nope" in flat(r.output) and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["fit", str(csv), "--estimate", "birth_niche_bcr_per_day", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "not separable" in flat(r.output)
    r = CliRunner().invoke(app, ["fit", str(csv), "--ighv", "X", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--ighv" in flat(r.output)
    assert not (tmp_path / "o" / "metadata.json").exists()


def test_failed_starts_are_reported_and_all_failed_is_an_error(monkeypatch, tmp_path):
    from cllsim.fit._problem import FitProblem

    table, _ = synthetic_patient("U", 7)
    data = make_patient_data(table, ighv="U")
    monkeypatch.setattr(FitProblem, "data_residuals", lambda self, x: None)  # nothing can be simulated
    with pytest.raises(RuntimeError, match="every optimizer start failed"):
        fit_patient(data, estimated=("baseline_alc_per_uL",), n_starts=2, uncertainty="laplace", n_band=2)
    csv = tmp_path / "p.csv"
    table.to_csv(csv, index=False)
    r = CliRunner().invoke(app, ["fit", str(csv), "--estimate", "baseline_alc_per_uL", "--starts", "1",
                                 "--uncertainty", "laplace", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "every optimizer start failed" in flat(r.output)
    assert not (tmp_path / "o" / "metadata.json").exists()


def test_unknown_ighv_estimates_bcr_strength_with_a_prior_spanning_both(monkeypatch):
    from cllsim.fit._problem import estimated_parameters
    from cllsim.model import ighv_conditions

    (p,) = estimated_parameters(["bcr_strength"], None)
    u, m = ighv_conditions()["U"]["bcr_strength"], ighv_conditions()["M"]["bcr_strength"]
    lo, hi = p.prior_interval()
    assert lo < min(u, m) and max(u, m) < hi
    (pu,) = estimated_parameters(["bcr_strength"], "U")
    assert pu.prior_median == u and pu.prior_sd_log < p.prior_sd_log


def test_profile_intervals_agree_with_laplace_on_a_near_gaussian_posterior():
    days = np.array([0.0, 3.0, 7.0, 14.0, 21.0, 28.0])
    truth = {"baseline_alc_per_uL": 60000.0, "death_max_per_day": 0.22}
    out = FitEngine("420 mg qd", "U", days=28).simulate(truth, days, ["alc_per_uL"])
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"day": days, "alc_per_uL": out.values["alc_per_uL"] * np.exp(0.15 * rng.standard_normal(6))})
    data = make_patient_data(table, ighv="U")
    res = fit_patient(data, estimated=tuple(truth), n_starts=1, n_band=2, uncertainty="profile")
    prof = res.estimates.set_index("parameterId")
    assert res.metadata["profiles"]["points_per_profile"][0] > 3
    for pid in truth:
        w_prof = math.log(prof.loc[pid, "ci_high"] / prof.loc[pid, "ci_low"])
        w_lap = math.log(prof.loc[pid, "ci_high_laplace"] / prof.loc[pid, "ci_low_laplace"])
        assert w_prof == pytest.approx(w_lap, rel=0.3)
        assert prof.loc[pid, "ci_low"] < prof.loc[pid, "estimate"] < prof.loc[pid, "ci_high"]

"""Several patients from one file: each fitted to its own folder, a summary with intervals and flags."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.fit import FitEngine, fit_patients, read_patients
from cllsim.fit._problem import NOISE_SD_LOG

ESTIMATED = ("baseline_alc_per_uL", "death_max_per_day")
DAYS = np.array([0, 7, 14, 28, 42, 56, 84], dtype=float)
#: Patient 2's ALC on day 42 is multiplied by this (an outlier of ~10 noise SDs).
OUTLIER = 5.0
FAST = {"estimated": ESTIMATED, "n_starts": 1, "uncertainty": "laplace", "n_band": 8, "seed": 1}


def flat(text: str) -> str:
    return " ".join(text.split())


def simulated(ighv: str, baseline: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """ALC and node volume on DAYS of a patient on 420 mg qd, with the noise model's log-normal error."""
    rng = np.random.default_rng(seed)
    out = FitEngine("420 mg qd", ighv, days=DAYS[-1]).simulate({"baseline_alc_per_uL": baseline}, DAYS,
                                                               ["alc_per_uL", "ln_volume_cm3"])
    assert out.ok
    alc = out.values["alc_per_uL"] * np.exp(NOISE_SD_LOG["alc_per_uL"] * rng.standard_normal(DAYS.size))
    ln = out.values["ln_volume_cm3"] * np.exp(NOISE_SD_LOG["ln_volume_cm3"] * rng.standard_normal(DAYS.size))
    return alc, ln


TRUTH = {"1": ("U", 60000.0, 1), "2": ("M", 35000.0, 2)}


def nonmem_text() -> str:
    """Two patients as a NONMEM dataset: TIME in h; patient 2 starts 48 h into the file's clock."""
    rows = ["ID,TIME,DV,CMT,MDV,EVID,AMT,II,ADDL,WT"]
    for pid, (ighv, baseline, seed) in TRUTH.items():
        t0 = 0.0 if pid == "1" else 48.0
        rows.append(f"{pid},{t0:g},.,1,1,1,420,24,450,75")  # daily doses beyond the prediction horizon
        alc, ln = simulated(ighv, baseline, seed)
        if pid == "2":
            alc[4] *= OUTLIER
        for d, a, v in zip(DAYS, alc, ln, strict=True):
            rows.append(f"{pid},{t0 + 24 * d:g},{a:.0f},1,0,0,.,.,.,75")
            if d in (0, 28, 84):
                rows.append(f"{pid},{t0 + 24 * d:g},{v:.1f},2,0,0,.,.,.,75")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    (folder / "data.csv").write_text(nonmem_text())
    patients = read_patients(folder / "data.csv", ighv="U")
    summary = fit_patients(patients.patients, folder / "out", workers=1, **FAST)
    return folder / "out", summary, patients


def test_nonmem_patients_are_fitted_each_into_its_own_folder(fitted):
    out, summary, patients = fitted
    assert [p.dosing for p in patients] == ["dose records", "dose records"]
    assert list(summary["id"]) == ["1", "2"] and list(summary["status"]) == ["fitted", "fitted"]
    for pid in ("1", "2"):
        assert (out / pid / "metadata.json").exists() and (out / pid / "fit.png").exists()
        meta = json.loads((out / pid / "metadata.json").read_text())
        assert meta["dosing"] == "dose records" and meta["patient_id"] == pid
    on_disk = pd.read_csv(out / "summary.csv", dtype={"id": str})
    assert list(on_disk["id"]) == ["1", "2"]
    # estimates with 95% intervals, in the summary; the baseline count recovered for each patient
    for r in on_disk.itertuples():
        truth = TRUTH[r.id][1]
        assert r.baseline_alc_per_uL_ci_low <= r.baseline_alc_per_uL <= r.baseline_alc_per_uL_ci_high
        assert abs(math.log(r.baseline_alc_per_uL / truth)) < 0.3, (r.id, r.baseline_alc_per_uL, truth)
        assert r.death_max_per_day_ci_low < r.death_max_per_day_ci_high
    long = pd.read_csv(out / "estimates.csv", dtype={"id": str})
    assert sorted(set(long["id"])) == ["1", "2"] and set(long["parameterId"]) >= set(ESTIMATED)
    top = json.loads((out / "metadata.json").read_text())
    assert top["patients"] == 2 and top["fitted"] == 2 and top["failed"] == {}


def test_observation_outside_the_prediction_interval_is_flagged(fitted):
    out, summary, _ = fitted
    s = summary.set_index("id")
    assert "alc_per_uL@day42" in s.loc["2", "outside_pi"].split(";")
    assert s.loc["1", "n_outside_pi"] <= 1  # no outlier put in: about 1 in 20 may fall outside by chance
    obs = pd.read_csv(out / "2" / "observations.csv")
    row = obs[(obs["day"] == 42) & (obs["observable"] == "alc_per_uL")].iloc[0]
    assert bool(row["outside_pi"]) and row["value"] > row["pi_high"]
    # the prediction interval holds the parameter band and is wider where there is a noise model
    assert (obs["pi_low"] <= obs["param_low"] * (1 + 1e-9)).all()
    assert (obs["pi_high"] >= obs["param_high"] * (1 - 1e-9)).all()
    # at least the residual noise alone: 95% of a log-normal error spans 2 x 1.96 SDs of the log
    noise_width = 2 * 1.96 * obs["observable"].map(NOISE_SD_LOG)
    assert (np.log(obs["pi_high"] / obs["pi_low"]) > 0.8 * noise_width).all()
    assert "outside the 95% prediction interval" in (out / "2" / "summary.txt").read_text()
    band = pd.read_csv(out / "2" / "prediction_band.csv")
    mrd = band[band["observable"] == "mrd_blood"]
    assert not mrd["has_noise_model"].any() and np.allclose(mrd["pi_low"], mrd["param_low"])


def test_one_failing_patient_does_not_lose_the_other(tmp_path, monkeypatch):
    import cllsim.fit._multi as multi
    from cllsim.fit import fit_patient

    table = pd.DataFrame({"id": ["A"] * 7 + ["B"] * 7, "day": np.concatenate([DAYS, DAYS]),
                          "alc_per_uL": np.concatenate([simulated("U", 60000.0, 5)[0], simulated("U", 40000.0, 6)[0]]),
                          "ighv": "U"})
    csv = tmp_path / "two.csv"
    table.to_csv(csv, index=False)
    seen: dict[str, object] = {}
    calls: list[str] = []

    def flaky(data, **kwargs):
        calls.append(data.patient_id)
        if data.patient_id == "B":
            # while B runs, A is published and the run is not marked complete
            seen["summary"] = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("id")["status"].to_dict()
            seen["marker"] = (tmp_path / "out" / "metadata.json").exists()
            raise RuntimeError("every optimizer start failed: the data cannot be fitted by this model")
        result = fit_patient(data, **kwargs)
        seen["result"] = result
        return result

    monkeypatch.setattr(multi, "fit_patient", flaky)
    args = ["fit", str(csv), "--out", str(tmp_path / "out"), "--workers", "1", "--starts", "1",
            "--uncertainty", "laplace", "--estimate", "baseline_alc_per_uL", "--band", "40"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "1 of 2 patients could not be fitted (B)" in flat(r.output) and "Traceback" not in r.output
    assert seen["summary"] == {"A": "fitted", "B": "pending"} and seen["marker"] is False
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("id")
    assert summary.loc["A", "status"] == "fitted" and summary.loc["B", "status"] == "failed"
    assert "every optimizer start failed" in summary.loc["B", "error"]
    assert (tmp_path / "out" / "A" / "metadata.json").exists() and not (tmp_path / "out" / "B").exists()
    top = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert list(top["failed"]) == ["B"] and top["fitted"] == 1
    # a rerun resumes: A is read back, only B is tried again; other settings would refit A
    calls.clear()
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and calls == ["B"], (calls, r.output)
    again = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("id")
    assert again.loc["A", "baseline_alc_per_uL"] == pytest.approx(summary.loc["A", "baseline_alc_per_uL"], rel=1e-12)
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["resumed"] == ["A"]
    a = read_patients(csv).patients[0]
    assert multi.fit_key(a, {"n_band": 40}) == multi.fit_key(a, {"n_band": 40})
    assert multi.fit_key(a, {"n_band": 40}) != multi.fit_key(a, {"n_band": 41})
    # the figure labels both bands
    fig = seen["result"].plot()  # type: ignore[attr-defined]
    labels = {t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()}
    assert "95% parameter band" in labels and "95% prediction interval (with residual noise)" in labels


def test_patient_ids_that_would_share_a_folder_are_refused(tmp_path):
    from cllsim.fit import make_patient_data

    tab = pd.DataFrame({"day": DAYS[:3], "alc_per_uL": [5e4, 8e4, 6e4]})
    a, b = (make_patient_data(tab, patient_id=i) for i in ("p1", "P1"))
    with pytest.raises(ValueError, match="would share an output folder"):
        fit_patients([a, b], tmp_path / "o")
    with pytest.raises(ValueError, match="name of a summary file"):
        fit_patients([make_patient_data(tab, patient_id="summary.csv")], tmp_path / "o")


@pytest.mark.slow
def test_cli_fits_a_dated_multi_patient_file_in_two_worker_processes(tmp_path):
    rows = []
    for pid, (ighv, baseline, seed) in TRUTH.items():
        alc, _ = simulated(ighv, baseline, seed)
        for d, a in zip(DAYS, alc, strict=True):
            date = (pd.Timestamp("2024-01-15") + pd.Timedelta(days=float(d))).date().isoformat()
            rows.append({"id": f"P{pid}", "date": date, "alc_per_uL": round(a), "ighv": ighv})
    csv = tmp_path / "dated.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["fit", str(csv), "--out", str(out), "--workers", "2", "--starts", "2",
                                 "--uncertainty", "laplace", "--estimate", ",".join(ESTIMATED), "--band", "40",
                                 "--first-dose", "2024-01-15"])
    assert r.exit_code == 0, r.output
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["status"]) == ["fitted", "fitted"]
    assert json.loads((out / "metadata.json").read_text())["execution"] == "ProcessExecutor(2 workers)"
    meta = json.loads((out / "P1" / "metadata.json").read_text())
    assert meta["first_dose"] == "2024-01-15"
    r = CliRunner().invoke(app, ["fit", str(csv), "--out", str(tmp_path / "o2"), "--workers", "1"])
    assert r.exit_code == 2 and "--first-dose" in flat(r.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cmt", "1=alc"], "--cmt: cmt map entry '1=alc': 'alc' is not a measured observable"),
        (["--time-unit", "weeks"], "--time-unit must be h or day"),
        (["--first-dose", "15/01/2024"], "--first-dose must be YYYY-MM-DD"),
        (["--first-dose", "2024-01-15", "--start-date", "2024-01-16"], "older name of --first-dose"),
    ],
)
def test_fit_data_options_are_refused_in_one_line(tmp_path, args, message):
    csv = tmp_path / "p.csv"
    csv.write_text("day,alc_per_uL\n0,52000\n7,81000\n28,64000\n")
    r = CliRunner().invoke(app, ["fit", str(csv), "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 2 and message in flat(r.output), r.output
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()


def test_cli_refuses_a_malformed_multi_patient_file_naming_patient_line_and_column(tmp_path):
    csv = tmp_path / "many.csv"
    csv.write_text("id,day,alc_per_uL\nA,0,52000\nA,7,81000\nA,28,64000\nB,0,30000\nB,7,3O000\nB,28,20000\n")
    r = CliRunner().invoke(app, ["fit", str(csv), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert r.exit_code == 2 and "line 6: alc_per_uL '3O000' is not a number" in flat(r.output), r.output
    assert not (tmp_path / "o").exists()  # nothing fitted, not even patient A

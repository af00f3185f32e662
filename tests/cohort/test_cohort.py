"""Virtual cohorts: population sampling, iwCLL endpoints, resumable runs, engines, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.cohort import CohortSpec, kaplan_meier, patient_endpoints, run_cohort, sample_chunk
from cllsim.model import load_table


def test_population_is_reproducible_and_inside_bounds():
    spec = CohortSpec(n=500, chunk_size=250, ighv_u_fraction=0.55, seed=7)
    a, b = sample_chunk(spec, 1), sample_chunk(spec, 1)
    assert all(np.array_equal(a.values[k], b.values[k]) for k in a.values)
    assert np.array_equal(a.ighv, b.ighv)
    other = sample_chunk(spec.model_copy(update={"seed": 8}), 1)
    assert not np.array_equal(a.values["baseline_alc_per_uL"], other.values["baseline_alc_per_uL"])
    rows = load_table().rows
    for pid in a.varied:
        assert np.all(a.values[pid] >= rows[pid].lowerBound) and np.all(a.values[pid] <= rows[pid].upperBound)
    assert "baseline_alc_per_uL" in a.varied and "ibrutinib_cl_L_per_h" in a.varied
    both = np.concatenate([sample_chunk(spec, 0).ighv, a.ighv])
    assert abs(np.mean(both == "U") - 0.55) < 0.06
    # M-CLL patients carry the M condition's weaker BCR signaling (ighv.tsv), before variability
    assert np.median(a.values["bcr_strength"][a.ighv == "M"]) < np.median(a.values["bcr_strength"][a.ighv == "U"])


def test_iwcll_endpoint_definitions():
    days = np.arange(0.0, 400.0)
    n = 4
    alc = np.full((n, days.size), 20_000.0)
    # 0: +60% and > 5,000/uL from day 10 to day 99, then below baseline -> lymphocytosis that resolves
    alc[0, 10:100] = 32_000.0
    alc[0, 100:] = 15_000.0
    # 1: +40% only -> no lymphocytosis (P4 needs >= 50%); then halved from baseline
    alc[1, 10:30] = 28_000.0
    alc[1, 30:] = 8_000.0
    # 2: +60% but stays < 5,000/uL -> no lymphocytosis
    alc[2] = 3_000.0
    alc[2, 5:] = 4_800.0
    # 3: lymphocytosis never resolves -> censored at the end of follow-up
    alc[3, 3:] = 40_000.0
    ln = np.full((n, days.size), 100.0)
    ln[:, 50:] = 40.0  # >= 50% nodal decrease from day 50
    spleen = np.full((n, days.size), 400.0)
    spleen[:, 50:] = 280.0  # enlargement 200 -> 80 cm3 above normal
    ends = patient_endpoints(days, alc, ln, spleen, np.full(n, 200.0))
    assert list(ends["lymphocytosis"]) == [True, False, False, True]
    assert ends.loc[0, "lymphocytosis_onset_day"] == 10 and ends.loc[0, "lymphocytosis_resolution_day"] == 100
    assert ends.loc[0, "lymphocytosis_duration_day"] == 90 and ends.loc[0, "time_to_peak_day"] == 10
    assert not ends.loc[3, "lymphocytosis_resolved"] and ends.loc[3, "lymphocytosis_duration_day"] == 399 - 3
    assert ends.loc[2, "alc_normalisation_day"] == 1  # 3,000/uL < 4,000/uL on the first day of treatment
    assert np.isnan(ends.loc[0, "alc_normalisation_day"])
    assert list(ends["nodal_response_c2"]) == [1.0] * 4
    # at cycle 2 (day 56): patient 0 still has lymphocytosis -> PR-L; patient 1's ALC is halved -> PR;
    # patient 2's ALC rose (4,800 > 4,000/uL) -> PR-L
    assert ends.loc[0, "pr_l_c2"] == 1.0 and ends.loc[0, "pr_c2"] == 0.0
    assert ends.loc[1, "pr_c2"] == 1.0 and ends.loc[1, "pr_l_c2"] == 0.0
    assert ends.loc[2, "pr_l_c2"] == 1.0
    # at cycle 6 patient 0's ALC (15,000) is not halved from 20,000 -> still PR-L
    assert ends.loc[0, "pr_l_c6"] == 1.0 and ends.loc[1, "pr_c6"] == 1.0


def test_kaplan_meier_matches_hand_computation():
    t, s = kaplan_meier(np.array([2.0, 3.0, 3.0, 5.0, 8.0]), np.array([True, True, False, True, False]))
    # at 2: 4/5; at 3: one event among 4 at risk -> 4/5*3/4; at 5: one among 2 -> *1/2
    assert np.allclose(t, [0, 2, 3, 5]) and np.allclose(s, [1, 0.8, 0.6, 0.3])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cllsim.cli import app; app()", *args]


def test_cohort_cli_resumes_after_sigkill(tmp_path):
    out = tmp_path / "trial"
    args = _cli("cohort", "--n", "16", "--chunk-size", "4", "--days", "10", "--seed", "3", "--workers", "1",
                "--out", str(out), "--ighv-u-fraction", "0.5")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "chunks" / "patients-00000.parquet"
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert first.exists(), "no chunk was written before the deadline"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "metadata.json").exists()
    killed_with = sorted(p.name for p in (out / "chunks").glob("patients-*.parquet"))
    assert 1 <= len(killed_with) < 4, killed_with
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    patients = pd.read_parquet(out / "patients.parquet")
    assert sorted(patients["id"]) == [f"p{i:07d}" for i in range(16)]
    traj = pd.concat([pd.read_parquet(p) for p in sorted((out / "chunks").glob("trajectories-*.parquet"))])
    n_obs = traj["observable"].nunique()
    assert n_obs > 5 and len(traj) == 16 * 11 * n_obs and not traj.duplicated(["id", "time", "observable"]).any()
    for name in ("summary.csv", "bands.csv", "alc_tissue_bands.png", "lymphocytosis_resolution_km.png"):
        assert (out / name).stat().st_size > 0
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    assert summary.loc["n_patients", "overall"] == 16
    # the chunks written before the kill were reused, not recomputed
    import json

    assert json.loads((out / "metadata.json").read_text())["resumed_chunks"] == len(killed_with)


def test_dask_local_cluster_gives_results_identical_to_serial(tmp_path):
    """A LocalCluster reached through ``--scheduler`` (as an existing cluster would be) matches serial."""
    from dask.distributed import LocalCluster

    spec = CohortSpec(n=6, chunk_size=3, days=5, seed=5)
    serial = run_cohort(spec, tmp_path / "serial", progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = CliRunner().invoke(app, [
            "cohort", "--n", "6", "--chunk-size", "3", "--days", "5", "--seed", "5", "--ighv-u-fraction", "0.55",
            "--rtol", str(spec.rtol), "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask"),
        ])
        assert result.exit_code == 0, result.output
    dask_patients = pd.read_parquet(tmp_path / "dask" / "patients.parquet")
    pd.testing.assert_frame_equal(serial.patients, dask_patients)
    dask_traj = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "dask" / "chunks").glob("traj*.parquet"))])
    pd.testing.assert_frame_equal(
        serial.trajectories().sort_values(["id", "observable", "time"], ignore_index=True),
        dask_traj.sort_values(["id", "observable", "time"], ignore_index=True),
    )
    import json

    assert "DaskExecutor(tcp://" in json.loads((tmp_path / "dask" / "metadata.json").read_text())["execution"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ighv-u-fraction", "1.5"], "--ighv-u-fraction"),
        (["--n", "0"], "--n"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "either --workers or --scheduler"),
        (["--regimen", "420 mg sometimes"], "cannot parse regimen"),
        (["--rtol", "-1"], "rtol"),
    ],
)
def test_cohort_cli_rejects_bad_input(tmp_path, args, message):
    result = CliRunner().invoke(app, ["cohort", "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_cohort_cli_uses_the_spec_default_tolerances_unless_told(tmp_path):
    import json

    for extra, rtol in (([], CohortSpec.model_fields["rtol"].default), (["--rtol", "3e-5"], 3e-5)):
        out = tmp_path / f"run{len(extra)}"
        result = CliRunner().invoke(app, ["cohort", "--n", "2", "--days", "2", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        spec = json.loads((out / "cohort.json").read_text())["spec"]
        assert spec["rtol"] == pytest.approx(rtol) and spec["atol"] == pytest.approx(rtol * 1e-4)


def test_resume_refuses_a_different_cohort(tmp_path):
    out = tmp_path / "trial"
    run_cohort(CohortSpec(n=2, chunk_size=2, days=2, seed=1), out, progress=False)
    result = CliRunner().invoke(app, ["cohort", "--n", "2", "--chunk-size", "2", "--days", "2", "--seed", "2",
                                      "--out", str(out)])
    assert result.exit_code == 2 and "another cohort" in result.output
    assert Path(out / "chunks" / "patients-00000.parquet").exists()


def test_resolution_km_figure_labels_groups_and_says_when_there_is_nothing_to_show():
    import warnings

    from cllsim.cohort._plots import plot_resolution_km

    meta = {"spec": CohortSpec(n=4).model_dump(), "version": "test"}
    patients = pd.DataFrame({
        "status": ["success"] * 4, "ighv": ["U", "U", "M", "M"], "lymphocytosis": [1, 1, 1, 0],
        "lymphocytosis_duration_day": [30.0, 60.0, 45.0, np.nan], "lymphocytosis_resolved": [True, False, True, False],
    })
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_resolution_km(patients, meta)
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert labels == ["U-CLL (n = 2)", "M-CLL (n = 1)"]
        empty = plot_resolution_km(patients.assign(lymphocytosis=0), meta)
    assert empty.axes[0].get_legend() is None
    assert any("no evaluable patient" in t.get_text() for t in empty.axes[0].texts)

"""Global sensitivity: known answers (synthetic functions and a model output of one parameter), failure
handling, resumable chunks, executors, convergence on the model, and the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from cllsim import SpecError
from cllsim.analysis import (
    AnalysisMismatchError,
    InfeasibleSampleError,
    Sensitivity,
    SensitivitySpec,
    factor_values,
    parse_output,
)
from cllsim.cli import app
from cllsim.cohort import CohortSpec, sample_chunk
from cllsim.model import load_table

# three linear-scale rows whose bounds are mapped onto the synthetic functions' inputs
LIN = ["body_weight_kg", "bcr_strength", "baseline_bm_infiltration_pct"]


def _unit(values, pid):
    row = load_table().rows[pid]
    return (np.asarray(values[pid]) - row.lowerBound) / (row.upperBound - row.lowerBound)


def ishigami(values, spec):
    """Ishigami function (a = 7, b = 0.1) of the three LIN rows mapped onto [-pi, pi]."""
    x = [-np.pi + 2 * np.pi * _unit(values, pid) for pid in LIN]
    return np.sin(x[0]) + 7 * np.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * np.sin(x[0])


def linear(values, spec):
    """3 u0 + u1 (+ 0 u2) of the quantiles: Morris elementary effects are exactly 3, 1 and 0."""
    return 3 * _unit(values, LIN[0]) + _unit(values, LIN[1])


def _population_quantile(values, pid):
    """Inverse of the population mapping (truncated log-normal CDF) for the U-CLL patient."""
    from scipy.special import ndtr

    row = load_table().rows[pid]
    a = (np.log(row.lowerBound) - np.log(row.nominalValue)) / row.iivSD
    b = (np.log(row.upperBound) - np.log(row.nominalValue)) / row.iivSD
    z = np.log(np.asarray(values[pid]) / row.nominalValue) / row.iivSD
    return (ndtr(z) - ndtr(a)) / (ndtr(b) - ndtr(a))


def linear_in_population_quantiles(values, spec):
    return 3 * _population_quantile(values, LIN[0]) + _population_quantile(values, LIN[1])


def failing_linear(values, spec):
    """``linear`` with a failure wherever u2 > 0.9 (about 10% of rows)."""
    y = linear(values, spec)
    return np.where(_unit(values, LIN[2]) > 0.9, np.nan, y)


def _index(df, output, parameter, index):
    row = df[(df["output"] == output) & (df["parameter"] == parameter) & (df["index"] == index)]
    assert len(row) == 1
    return row.iloc[0]


def test_ishigami_indices_match_their_analytic_values():
    # Ishigami & Homma (1990); analytic indices e.g. Saltelli et al., Global Sensitivity Analysis (2008)
    var = 0.5 + 7**2 / 8 + 0.1 * np.pi**4 / 5 + 0.1**2 * np.pi**8 / 18
    v1 = 0.5 * (1 + 0.1 * np.pi**4 / 5) ** 2
    v2 = 7**2 / 8
    v13 = 0.1**2 * np.pi**8 * (1 / 18 - 1 / 50)
    expected = {"S1": [v1 / var, v2 / var, 0.0], "ST": [(v1 + v13) / var, v2 / var, v13 / var]}
    sa = Sensitivity(LIN, ["alc_per_uL@1"], distribution="bounds").sample_sobol(2048, seed=1)
    df = sa.evaluate(evaluator=ishigami).analyze_sobol(num_resamples=100).to_df()
    for index, values in expected.items():
        for pid, want in zip(LIN, values, strict=True):
            r = _index(df, "alc_per_uL@1", pid, index)
            half = (r.ci_high - r.ci_low) / 2
            assert abs(r.value - want) <= max(2 * half, 0.02), (pid, index, r.value, want)


def test_morris_effects_of_a_linear_function_are_its_coefficients():
    sa = Sensitivity(LIN, ["alc_per_uL@1"], distribution="bounds").sample_morris(20, seed=3)
    df = sa.evaluate(evaluator=linear).analyze_morris().to_df()
    for pid, coef in zip(LIN, (3.0, 1.0, 0.0), strict=True):
        assert _index(df, "alc_per_uL@1", pid, "mu_star").value == pytest.approx(coef, abs=1e-9)
        assert _index(df, "alc_per_uL@1", pid, "sigma").value == pytest.approx(0.0, abs=1e-9)


def test_morris_on_the_population_distribution_stays_off_the_bounds_and_keeps_per_quantile_effects():
    sa = Sensitivity(LIN, ["alc_per_uL@1"]).sample_morris(20, seed=3)
    rows = load_table().rows
    for pid, v in sa.sample.items():
        assert (v > rows[pid].lowerBound).all() and (v < rows[pid].upperBound).all()
    assert sorted(np.unique(np.round(sa._s.quantiles, 12))) == [0.125, 0.375, 0.625, 0.875]
    df = sa.evaluate(evaluator=linear_in_population_quantiles).analyze_morris().to_df()
    for pid, coef in zip(LIN, (3.0, 1.0, 0.0), strict=True):
        assert _index(df, "alc_per_uL@1", pid, "mu_star").value == pytest.approx(coef, abs=1e-6)


def test_plasma_drug_depends_on_clearance_only_among_clearance_and_cell_parameters():
    # plasma drug at 12 h is set by PK alone: ST ~ 1 for clearance, ~ 0 for the cell-kinetic rows
    params = ["ibrutinib_cl_L_per_h", "bcr_strength", "death_max_per_day", "baseline_alc_per_uL"]
    sa = Sensitivity(params, ["drug_plasma_ng_per_mL@0.5", "alc_per_uL@28"]).sample_sobol(64)
    # ~6% of population draws have no untreated steady state since the marginated pool (it doubles the
    # deaths inside the vessels), so up to ~30% of the Saltelli groups can contain one
    df = sa.evaluate().analyze_sobol(max_dropped_fraction=0.35).to_df()
    cl = _index(df, "drug_plasma_ng_per_mL@0.5", "ibrutinib_cl_L_per_h", "ST")
    assert cl.ci_low <= 1.0 <= cl.ci_high and cl.value > 0.8
    for pid in params[1:]:
        assert abs(_index(df, "drug_plasma_ng_per_mL@0.5", pid, "ST").value) < 1e-6
    # ... and the ALC at day 28 does not depend on it (it is mostly the baseline ALC)
    assert _index(df, "alc_per_uL@28", "ibrutinib_cl_L_per_h", "ST").value < 0.05
    assert _index(df, "alc_per_uL@28", "baseline_alc_per_uL", "ST").value > 0.5
    # a few population draws (high baseline ALC with fast blood death) have no untreated steady state:
    # their Saltelli groups are dropped and counted
    groups = {row // (len(params) + 2) for row in sa.failures()["row"]}
    assert (df["n_dropped"] == len(groups)).all() and (df["n_groups"] + df["n_dropped"] == 64).all()
    assert set(df["output_unit"]) == {"ng/mL", "1/uL"}


@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_intervals_are_reproducible_for_every_seed(seed):
    sa = Sensitivity(LIN, ["alc_per_uL@1"]).sample_sobol(32).evaluate(evaluator=ishigami)
    first = sa.analyze_sobol(seed=seed).to_df()
    pd.testing.assert_frame_equal(first, sa.analyze_sobol(seed=seed).to_df())
    assert not first["ci_low"].equals(sa.analyze_sobol(seed=seed + 1).to_df()["ci_low"])


def test_population_distribution_is_the_cohorts_between_patient_distribution():
    spec = CohortSpec(n=3000, ighv_u_fraction=1.0, seed=4, chunk_size=3000)
    cohort = sample_chunk(spec, 0).values
    rows = load_table().rows
    rng = np.random.default_rng(5)
    for pid in ("body_weight_kg", "baseline_alc_per_uL", "death_detached_tissue_per_day"):
        row = rows[pid]
        ours = factor_values(rng.random(3000), row.lowerBound, row.upperBound, row.parameterScale, "population",
                             row.nominalValue, row.iivSD)
        assert stats.ks_2samp(ours, cohort[pid]).pvalue > 0.001, pid


def test_bounds_distribution_is_uniform_on_the_rows_scale():
    u = np.array([0.0, 0.5, 1.0])
    assert factor_values(u, 10, 1000, "log10", "bounds", 1, 0) == pytest.approx([10, 100, 1000])
    assert factor_values(u, 10, 1000, "lin", "bounds", 1, 0) == pytest.approx([10, 505, 1000])


def test_failed_evaluations_drop_whole_groups_and_are_reported():
    sa = Sensitivity(LIN, ["alc_per_uL@1"], distribution="bounds").sample_morris(40, seed=2)
    sa.evaluate(evaluator=failing_linear)
    failed = sa.failures()
    assert len(failed) > 0 and set(failed["status"]) == {"nonfinite_output"}
    assert (failed["baseline_bm_infiltration_pct"] > 1 + 0.9 * 94).all()
    with pytest.raises(InfeasibleSampleError, match="trajectories contain a failed evaluation"):
        sa.analyze_morris(max_dropped_fraction=0.0)
    df = sa.analyze_morris(max_dropped_fraction=1.0).to_df()
    r = _index(df, "alc_per_uL@1", LIN[0], "mu_star")
    assert r.n_dropped > 0 and r.n_groups + r.n_dropped == 40
    assert r.value == pytest.approx(3.0, abs=1e-9)  # the kept trajectories still give the exact effect


def test_infeasible_baselines_of_the_model_are_reported_and_refused_by_default():
    params = ["baseline_alc_per_uL", "egress_per_day_ln", "detach_per_day_ln", "birth_niche_bcr_per_day"]
    sa = Sensitivity(params, ["alc_per_uL@1"], distribution="bounds").sample_sobol(8).evaluate()
    failed = sa.failures()
    assert "infeasible_baseline" in set(failed["status"]) and (failed["detail"] != "").all()
    with pytest.raises(InfeasibleSampleError, match="Saltelli groups"):
        sa.analyze_sobol()
    df = sa.analyze_sobol(max_dropped_fraction=1.0).to_df()
    assert (df["n_dropped"] > 0).all() and (df["n_groups"] + df["n_dropped"] == 8).all()


def test_a_rerun_resumes_from_the_chunks_on_disk(tmp_path):
    out = tmp_path / "sa"
    first = Sensitivity(LIN, ["alc_per_uL@1"]).sample_sobol(16).evaluate(out=out, chunk_size=20, evaluator=linear)
    files = sorted((out / "chunks").glob("outputs-*.parquet"))
    assert len(files) == 4  # 16 * (3 + 2) = 80 rows
    files[2].unlink()
    mtimes = {f.name: f.stat().st_mtime_ns for f in files if f.exists()}
    again = Sensitivity(LIN, ["alc_per_uL@1"]).sample_sobol(16).evaluate(out=out, chunk_size=20, evaluator=linear)
    assert again.metadata()["resumed_chunks"] == 3
    assert {f: (out / "chunks" / f).stat().st_mtime_ns for f in mtimes} == mtimes  # not rewritten
    np.testing.assert_array_equal(first.outputs["alc_per_uL@1"], again.outputs["alc_per_uL@1"])


def test_a_folder_of_another_analysis_or_a_foreign_chunk_is_refused(tmp_path):
    out = tmp_path / "sa"
    Sensitivity(LIN, ["alc_per_uL@1"]).sample_sobol(8).evaluate(out=out, chunk_size=20, evaluator=linear)
    with pytest.raises(AnalysisMismatchError, match="another sensitivity analysis"):
        Sensitivity(LIN, ["alc_per_uL@1"]).sample_sobol(8, seed=9).evaluate(out=out, evaluator=linear)
    other = tmp_path / "other"
    Sensitivity(LIN, ["alc_per_uL@1"]).sample_sobol(8, seed=9).evaluate(out=other, chunk_size=20, evaluator=linear)
    (out / "chunks" / "outputs-00001.parquet").write_bytes((other / "chunks" / "outputs-00001.parquet").read_bytes())
    with pytest.raises(AnalysisMismatchError, match="does not belong to this analysis"):
        Sensitivity(LIN, ["alc_per_uL@1"]).sample_sobol(8).evaluate(out=out, chunk_size=20, evaluator=linear)


def test_worker_processes_give_the_same_outputs_as_serial():
    def run(workers):
        sa = Sensitivity(["bcr_strength", "death_max_per_day"], ["alc_per_uL@2"]).sample_sobol(4)
        return sa.evaluate(workers=workers, chunk_size=6).outputs

    pd.testing.assert_frame_equal(run(1), run(2))


def test_a_dask_cluster_gives_the_indices_of_a_serial_run(tmp_path):
    from dask.distributed import LocalCluster

    args = ["sensitivity", "--n", "4", "--parameters", "bcr_strength,death_max_per_day", "--output", "alc_per_uL@3",
            "--chunk-size", "4"]
    assert CliRunner().invoke(app, [*args, "--workers", "1", "--out", str(tmp_path / "serial")]).exit_code == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        res = CliRunner().invoke(app, [*args, "--scheduler", address, "--out", str(tmp_path / "dask")])
        assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "serial" / "indices.csv"),
                                  pd.read_csv(tmp_path / "dask" / "indices.csv"))
    assert "DaskExecutor(tcp://" in json.loads((tmp_path / "dask" / "metadata.json").read_text())["execution"]


def test_indices_on_the_model_are_stable_within_their_cis_when_n_doubles():
    params = ["baseline_alc_per_uL", "bcr_strength", "death_max_per_day"]
    frames = []
    for n in (64, 128):
        sa = Sensitivity(params, ["alc_per_uL@28"], log10_outputs=True).sample_sobol(n, seed=0)
        frames.append(sa.evaluate().analyze_sobol(num_resamples=200, max_dropped_fraction=0.35).to_df()
                      .set_index(["parameter", "index"]))
    small, large = frames
    half = lambda df: (df["ci_high"] - df["ci_low"]) / 2  # noqa: E731
    diff = (small["value"] - large["value"]).abs()
    assert (diff <= half(small) + half(large)).all(), pd.concat([small["value"], large["value"], diff], axis=1)
    assert (half(large) <= half(small) * 1.2).all()  # intervals do not widen with more samples


@pytest.mark.slow
def test_default_question_converges_when_n_doubles():
    frames = []
    for n in (64, 128):
        sa = Sensitivity(log10_outputs=True).sample_sobol(n, seed=0)
        frames.append(sa.evaluate(workers=2).analyze_sobol().to_df().set_index(["output", "parameter", "index"]))
    small, large = frames
    half = lambda df: (df["ci_high"] - df["ci_low"]) / 2  # noqa: E731
    assert ((small["value"] - large["value"]).abs() <= half(small) + half(large)).mean() > 0.95


def test_figures_are_figures_with_one_axis_per_observable_and_output():
    sa = Sensitivity(LIN, ["alc_per_uL@1,28,180", "cells_tissue_1e9@365"]).sample_sobol(8)
    sa.evaluate(evaluator=lambda v, s: np.column_stack([linear(v, s)] * 4)).analyze_sobol()
    over_time, bars = sa.plot()
    assert sum(ax.get_visible() for ax in over_time.axes) == 2
    assert sum(ax.get_visible() for ax in bars.axes) == 4
    lines = over_time.axes[0].get_lines()
    assert any(list(line.get_xdata()) == [1.0, 28.0, 180.0] for line in lines)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"outputs": ["alc_per_uL"]}, "OBSERVABLE@DAY"),
        ({"outputs": ["alc_per_uL@-1"]}, "day > 0"),
        ({"outputs": ["no_such@1"]}, "unknown observable"),
        ({"parameters": ["bcr_strenght"]}, "did you mean 'bcr_strength'"),
        ({"parameters": ["ibrutinib_lag_h"]}, "no between-patient variability"),
        ({"regimen": "banana"}, "regimen"),
        ({"ighv": "X"}, "IGHV"),
    ],
)
def test_invalid_questions_are_input_errors(kwargs, message):
    with pytest.raises(SpecError, match=message):
        SensitivitySpec(**kwargs)


def test_outputs_with_several_days_expand():
    spec = SensitivitySpec(outputs=["alc_per_uL@1,28", "cells_tissue_1e9@365.0"])
    assert spec.outputs == ("alc_per_uL@1", "alc_per_uL@28", "cells_tissue_1e9@365")
    assert parse_output("alc_per_uL@0.5") == ("alc_per_uL", 0.5)
    assert len(SensitivitySpec().factors()) == sum(r.iivSD > 0 for r in load_table().rows.values())


def test_cli_writes_indices_figures_and_marker_and_resumes(tmp_path):
    out = tmp_path / "sa"
    args = ["sensitivity", "--n", "4", "--parameters", "bcr_strength,death_max_per_day", "--output", "alc_per_uL@1,2",
            "--out", str(out), "--workers", "1", "--chunk-size", "8"]
    runner = CliRunner()
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"indices.csv", "failures.csv", "samples.parquet", "indices_over_time.png", "indices_bars.png",
            "metadata.json", "sensitivity.json", "chunks"} <= names
    df = pd.read_csv(out / "indices.csv")
    assert set(df["index"]) == {"S1", "ST"} and set(df["output"]) == {"alc_per_uL@1", "alc_per_uL@2"}
    assert json.loads((out / "metadata.json").read_text())["resumed_chunks"] == 0
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metadata.json").read_text())["resumed_chunks"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "fast"], "--method must be sobol or morris"),
        (["--n", "6"], "power of 2"),
        (["--parameters", "nope"], "unknown parameter 'nope'"),
        (["--output", "alc@2"], "unknown observable"),
        (["--distribution", "normal"], "--distribution"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    res = CliRunner().invoke(app, ["sensitivity", "--out", str(tmp_path / "x"), "--workers", "1", *args])
    assert res.exit_code == 2, res.output
    assert message in res.stderr and res.stderr.startswith("error:") and res.stderr.count("\n") == 1


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_answer(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import cllsim

    out = tmp_path / "killed"
    args = ["sensitivity", "--n", "16", "--parameters", "bcr_strength,death_max_per_day", "--output",
            "alc_per_uL@120", "--chunk-size", "4", "--workers", "1", "--out", str(out)]
    src = str(Path(cllsim.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "cllsim.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while len(list((out / "chunks").glob("outputs-*.parquet"))) < 2 and proc.poll() is None:
        assert time.monotonic() < deadline, "no chunk written in time"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / "chunks").glob("outputs-*.parquet")))
    assert 2 <= done < 16 and not (out / "metadata.json").exists()
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metadata.json").read_text())["resumed_chunks"] >= done
    whole = Sensitivity(["bcr_strength", "death_max_per_day"], ["alc_per_uL@120"]).sample_sobol(16).evaluate()
    pd.testing.assert_frame_equal(pd.read_csv(out / "indices.csv"),
                                  pd.read_csv(io.StringIO(whole.analyze_sobol().to_df().to_csv(index=False))))

"""Cohort data in and results out: tidy chunk files, supplied populations, redraws to n evaluable, covariates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cllsim import SpecError
from cllsim.cli import app
from cllsim.cohort import (
    COVARIATES,
    BaselineDrawError,
    CohortMismatchError,
    CohortSpec,
    PopulationError,
    read_population,
    run_cohort,
    sample_chunk,
    sample_patients,
    write_outputs,
    write_population,
)
from cllsim.model import PATIENT, load_table
from cllsim.simulate import observables

# seed 0 with 30 patients: 4 first draws have no feasible untreated baseline (measured)
REDRAWN = CohortSpec(n=30, chunk_size=30, days=2, seed=0)


def test_chunk_trajectories_are_tidy_with_the_observables_units(tmp_path):
    spec = CohortSpec(n=3, chunk_size=2, days=3, seed=5)
    result = run_cohort(spec, tmp_path / "c", progress=False)
    path = tmp_path / "c" / "chunks" / "trajectories-00000.parquet"
    tidy = pd.read_parquet(path)
    assert list(tidy.columns) == ["id", "time", "observable", "value", "unit"]
    units = {o.id: o.unit for o in observables(PATIENT)}
    pairs = tidy[["observable", "unit"]].drop_duplicates().astype(str)
    assert len(pairs) == tidy["observable"].nunique() >= 10
    assert all(units[o] == u for o, u in zip(pairs["observable"], pairs["unit"], strict=True))
    assert sorted(tidy["id"].astype(str).unique()) == ["p0000000", "p0000001"]
    np.testing.assert_array_equal(np.unique(tidy["time"]), [0.0, 1.0, 2.0, 3.0])  # days
    assert json.loads(pq.read_schema(path).metadata[b"cllsim"])["layout"] == "tidy-1"
    # the wide view is the same numbers, one column per observable
    wide = result.trajectories(wide=True)
    alc = tidy[tidy["observable"] == "alc_per_uL"].sort_values(["id", "time"])["value"].to_numpy()
    np.testing.assert_array_equal(wide[wide["id"].isin(["p0000000", "p0000001"])]["alc_per_uL"].to_numpy(), alc)
    assert set(result.trajectories(["mrd_blood"])["observable"].astype(str)) == {"mrd_blood"}


def test_a_folder_of_the_wide_layout_is_refused_with_a_clear_message(tmp_path):
    out = tmp_path / "old"
    spec = CohortSpec(n=2, days=2)
    run_cohort(spec, out, progress=False)
    manifest = json.loads((out / "cohort.json").read_text())
    del manifest["layout"]  # as earlier versions wrote it
    (out / "cohort.json").write_text(json.dumps(manifest))
    with pytest.raises(CohortMismatchError, match="earlier cllsim.*wide trajectory files.*new --out"):
        run_cohort(spec, out, progress=False)


def test_infeasible_baselines_are_redrawn_to_exactly_n_evaluable_whatever_the_chunking(tmp_path):
    first = sample_chunk(REDRAWN, 0)
    whole = run_cohort(REDRAWN, tmp_path / "one", progress=False)
    split = run_cohort(REDRAWN.model_copy(update={"chunk_size": 7}), tmp_path / "five", progress=False)
    for res in (whole, split):
        assert (res.patients["status"] == "success").all() and len(res.patients) == REDRAWN.n
    redrawn = whole.patients["baseline_redraws"].to_numpy() > 0
    assert redrawn.sum() >= 3  # seed 0 draws 4 infeasible baselines
    assert whole.metadata["baseline_redraws"] == whole.patients["baseline_redraws"].sum()
    assert whole.summary.loc["n_baseline_redraws", "overall"] == whole.metadata["baseline_redraws"]
    # patients drawn feasible the first time keep their draw; the redrawn ones got new values, same IGHV
    w = whole.patients["body_weight_kg"].to_numpy()
    np.testing.assert_array_equal(w[~redrawn], first.values["body_weight_kg"][~redrawn])
    assert not np.any(w[redrawn] == first.values["body_weight_kg"][redrawn])
    np.testing.assert_array_equal(whole.patients["ighv"], first.ighv)
    pd.testing.assert_frame_equal(whole.patients.drop(columns="chunk"), split.patients.drop(columns="chunk"))
    key = ["id", "observable", "time"]
    pd.testing.assert_frame_equal(
        whole.trajectories().astype({"id": str, "observable": str, "unit": str}).sort_values(key, ignore_index=True),
        split.trajectories().astype({"id": str, "observable": str, "unit": str}).sort_values(key, ignore_index=True),
    )


def test_patients_do_not_depend_on_the_chunk_size_across_draw_blocks():
    spec = CohortSpec(n=4500, chunk_size=2000, seed=3, days=10)
    across = sample_patients(spec, 1990, 2010)
    a, b = sample_chunk(spec, 0), sample_chunk(spec, 1)
    for pid in ("baseline_alc_per_uL", "ibrutinib_cl_L_per_h"):
        np.testing.assert_array_equal(across.values[pid], np.concatenate([a.values[pid][-10:], b.values[pid][:10]]))
    small = sample_chunk(spec.model_copy(update={"chunk_size": 7}), 285)  # patients 1995..2001
    np.testing.assert_array_equal(small.values["body_weight_kg"], across.values["body_weight_kg"][5:12])


def test_a_patient_infeasible_at_every_draw_is_an_error_and_solver_failures_are_not_redrawn(monkeypatch):
    import cllsim.cohort._run as run

    real = run._simulate

    def infeasible_first(spec, pop, index=None):
        out = real(spec, pop, index)
        if index is None:  # patient 0 always, patient 1 a solver failure
            out["status"][0], out["status"][1] = "infeasible_baseline", "solver_failure"
        elif 0 in index:
            out["status"][list(index).index(0)] = "infeasible_baseline"
        return out

    monkeypatch.setattr(run, "_simulate", infeasible_first)
    with pytest.raises(BaselineDrawError, match="patient p0000000 .*no feasible untreated baseline in 10 draws"):
        run.simulate_chunk(CohortSpec(n=3, days=2), 0)

    def solver_failure(spec, pop, index=None):
        out = real(spec, pop, index)
        out["status"][1] = "solver_failure"
        return out

    monkeypatch.setattr(run, "_simulate", solver_failure)
    _, patients = run.simulate_chunk(CohortSpec(n=3, days=2, seed=5), 0)
    assert list(patients["status"]) == ["success", "solver_failure", "success"]
    assert patients["baseline_redraws"].sum() == 0


def test_a_written_population_fed_back_gives_identical_results(tmp_path):
    sampled = run_cohort(REDRAWN, tmp_path / "sampled", progress=False)
    write_outputs(sampled)
    pop_csv = tmp_path / "sampled" / "population.csv"
    pop = read_population(pop_csv)
    assert pop.spec.n == REDRAWN.n and set(COVARIATES) <= set(pop.parameters)
    supplied = run_cohort(CohortSpec(population=pop_csv, days=REDRAWN.days, chunk_size=8), tmp_path / "again",
                          progress=False)
    assert supplied.metadata["population"] == "supplied" and supplied.metadata["baseline_redraws"] == 0
    assert json.loads((tmp_path / "again" / "cohort.json").read_text())["spec"]["population"]["n"] == REDRAWN.n
    drop = ["chunk", "n_steps", "baseline_redraws"]
    left, right = sampled.patients.drop(columns=drop), supplied.patients.drop(columns=drop)
    pd.testing.assert_frame_equal(left[right.columns], right, check_exact=False, rtol=1e-9)
    key = ["id", "observable", "time"]
    pd.testing.assert_frame_equal(
        sampled.trajectories().astype({"id": str}).sort_values(key, ignore_index=True)[["id", "time", "value"]],
        supplied.trajectories().astype({"id": str}).sort_values(key, ignore_index=True)[["id", "time", "value"]],
        check_exact=False, rtol=1e-9,
    )


def test_a_supplied_patient_takes_nominal_values_for_what_the_file_leaves_out(tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text("# two patients\nid,ighv,body_weight_kg,bcr_strength\nA,U,60,\nB,m,95.5,0.5\n")
    spec = CohortSpec(population=path, days=2)
    assert spec.n == 2
    chunk = sample_chunk(spec, 0)
    rows = load_table().rows
    assert list(chunk.ids) == ["A", "B"] and list(chunk.ighv) == ["U", "M"]
    np.testing.assert_array_equal(chunk.values["body_weight_kg"], [60.0, 95.5])
    # an empty cell is the IGHV-conditioned nominal value (U: 1.0), a given one is used
    np.testing.assert_array_equal(chunk.values["bcr_strength"], [1.0, 0.5])
    assert chunk.values["baseline_alc_per_uL"][0] == rows["baseline_alc_per_uL"].nominalValue
    with pytest.raises(SpecError, match="n is 3 but the population has 2 patients"):
        CohortSpec(population=path, n=3)
    path.write_text("id,ighv\nA,U\nB,M\nC,U\n")  # changed after the spec was made
    with pytest.raises(SpecError, match="changed since the cohort was set up"):
        run_cohort(spec, tmp_path / "out", progress=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,ighv,body_weigth_kg\nA,U,70\n",
         "column 3 'body_weigth_kg' is not a parameter id.*did you mean 'body_weight_kg'"),
        ("id,ighv,body_weight_kg\nA,U,70\nB,M,250\n",
         "line 3, column 'body_weight_kg': 250 is above the upper bound 200 kg"),
        ("id,ighv,baseline_alc_per_uL\nA,U,lots\n", "line 2, column 'baseline_alc_per_uL': 'lots' is not a number"),
        ("id,ighv,body_weight_kg\nA,U,inf\n", "line 2, column 'body_weight_kg': 'inf' is not finite"),
        ("id,ighv\n# a comment\nA,U\nA,M\n", "line 4, column 'id': 'A' repeats the id of line 3"),
        ("id,ighv\nA,X\n", "line 2, column 'ighv': 'X' is not U or M"),
        ("id,body_weight_kg\nA,70\n", "no 'ighv' column"),
        ("", "is empty"),
        ("# nothing\n\n", "is empty"),
        ("id,ighv\n", "no patient line"),
    ],
)
def test_a_bad_population_file_names_its_line_and_column(tmp_path, text, message):
    path = tmp_path / "pop.csv"
    path.write_text(text)
    with pytest.raises(PopulationError, match=message):
        read_population(path)


def test_a_population_file_over_10_mb_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"id,ighv\n" + b"x" * 10_000_001)
    with pytest.raises(PopulationError, match="more than the limit of 10,000,000"):
        read_population(path)


def test_write_population_refuses_columns_that_are_not_parameters(tmp_path):
    df = pd.DataFrame({"id": ["a"], "ighv": ["U"], "body_weight_kg": [70.0]})
    path = write_population(df, tmp_path / "p.csv")
    assert read_population(path).table["body_weight_kg"].tolist() == [70.0]
    with pytest.raises(SpecError, match="not parameter ids"):
        write_population(df.assign(status="success"), tmp_path / "q.csv", parameters=["status"])


def test_covariate_distributions_in_the_spec_set_the_drawn_covariates():
    default = CohortSpec(n=2000)
    assert default.body_weight_kg.median == load_table().rows["body_weight_kg"].nominalValue
    light = CohortSpec(n=2000, body_weight_kg={"median": 60.0, "sd_log": 0.1}, ighv_u_fraction=0.2,
                       baseline_ln_volume_cm3={"median": 50.0, "sd_log": 0.3})
    a, b = sample_chunk(default, 0), sample_chunk(light, 0)
    assert np.median(a.values["body_weight_kg"]) == pytest.approx(80.4, rel=0.03)
    assert np.median(b.values["body_weight_kg"]) == pytest.approx(60.0, rel=0.02)
    assert np.std(np.log(b.values["body_weight_kg"])) == pytest.approx(0.1, rel=0.1)
    assert np.median(b.values["baseline_ln_volume_cm3"]) == pytest.approx(50.0, rel=0.05)
    assert np.mean(b.ighv == "U") == pytest.approx(0.2, abs=0.03)
    # untouched covariates keep today's draws
    np.testing.assert_array_equal(a.values["baseline_spleen_volume_cm3"] > 0, True)
    dumped = light.model_dump()
    assert dumped["body_weight_kg"] == {"median": 60.0, "sd_log": 0.1}
    assert dumped["baseline_alc_per_uL"]["sd_log"] == load_table().rows["baseline_alc_per_uL"].iivSD
    legacy = CohortSpec(n=3, baseline_alc_median_per_uL=20000.0)
    assert legacy.baseline_alc_per_uL.median == 20000.0
    with pytest.raises(SpecError, match="body_weight_kg: median"):
        CohortSpec(n=3, body_weight_kg={"median": -1.0, "sd_log": 0.1})


def test_max_doses_raises_the_regimen_dose_limit():
    with pytest.raises(SpecError, match="more than the limit of 100,000"):
        CohortSpec(n=2, days=3650, regimen="1 mg q0.25h")
    spec = CohortSpec(n=2, days=3650, regimen="1 mg q0.25h", max_doses=400_000, chunk_size=1)
    assert spec.parsed_regimen().max_doses == 400_000


def test_cohort_cli_runs_a_population_file_and_reports_the_redraws(tmp_path):
    pop = tmp_path / "pop.csv"
    pop.write_text("id,ighv,body_weight_kg\npt1,U,70\npt2,M,90\n")
    res = CliRunner().invoke(app, ["cohort", "--population", str(pop), "--days", "2", "--workers", "1",
                                   "--out", str(tmp_path / "pop_out")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "2 patients from" in text and "(not redrawn)" in text
    assert list(pd.read_parquet(tmp_path / "pop_out" / "patients.parquet")["id"]) == ["pt1", "pt2"]
    res = CliRunner().invoke(app, ["cohort", "--n", "3", "--days", "2", "--workers", "1", "--covariate",
                                   "body_weight_kg=60:0.1", "--out", str(tmp_path / "drawn")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "baseline redraws" in text and "body_weight_kg median 60 sd_log 0.1" in text
    spec = json.loads((tmp_path / "drawn" / "cohort.json").read_text())["spec"]
    assert spec["body_weight_kg"] == {"median": 60.0, "sd_log": 0.1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--population", "{dir}/missing.csv"], "file not found"),
        (["--population", "{dir}/bad.csv"], "line 2, column 'ighv'"),
        (["--population", "{dir}/bad.csv", "--covariate", "body_weight_kg=70"], "one or the other"),
        (["--covariate", "body_weigth=70"], "did you mean 'body_weight_kg'"),
        (["--covariate", "body_weight_kg=heavy"], "must be numbers"),
        (["--covariate", "body_weight_kg=-3"], "body_weight_kg: median"),
        (["--max-doses", "0"], "--max-doses must be >= 1"),
        (["--regimen", "1 mg q0.001h"], "--max-doses"),
    ],
)
def test_cohort_cli_exits_2_on_bad_population_or_covariates(tmp_path, args, message):
    (tmp_path / "bad.csv").write_text("id,ighv\nA,Q\n")
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    res = CliRunner().invoke(app, ["cohort", "--days", "30", "--out", str(tmp_path / "x"), *args])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()) and "Traceback" not in res.output
    assert not Path(tmp_path / "x").exists()


def test_a_supplied_patient_with_an_infeasible_baseline_is_reported_not_redrawn(tmp_path):
    from cllsim.cohort._run import _simulate

    first = sample_chunk(REDRAWN, 0)
    status = _simulate(REDRAWN, first)["status"]
    bad, good = int(np.flatnonzero(status == "infeasible_baseline")[0]), int(np.flatnonzero(status == "success")[0])
    rows = pd.DataFrame({"id": first.ids[[bad, good]], "ighv": first.ighv[[bad, good]],
                         **{pid: first.values[pid][[bad, good]] for pid in first.varied}})
    path = write_population(rows, tmp_path / "pop.csv")
    result = run_cohort(CohortSpec(population=path, days=2), tmp_path / "out", progress=False)
    assert list(result.patients["status"]) == ["infeasible_baseline", "success"]
    assert result.metadata["baseline_redraws"] == 0
    assert result.summary.loc["n_not_evaluable", "overall"] == 1


def test_cohort_cli_reads_a_spec_file_and_the_options_given_override_it(tmp_path):
    first = tmp_path / "first"
    res = CliRunner().invoke(app, ["cohort", "--n", "2", "--days", "2", "--seed", "4", "--workers", "1",
                                   "--covariate", "body_weight_kg=60:0.1", "--out", str(first)])
    assert res.exit_code == 0, res.output
    again = tmp_path / "again"
    res = CliRunner().invoke(app, ["cohort", "--spec", str(first / "cohort.json"), "--regimen", "280 mg qd",
                                   "--workers", "1", "--out", str(again)])
    assert res.exit_code == 0, res.output
    old = json.loads((first / "cohort.json").read_text())["spec"]
    new = json.loads((again / "cohort.json").read_text())["spec"]
    assert new["regimen"] == "280 mg qd" and old["regimen"] == "420 mg qd"
    assert {k: v for k, v in new.items() if k != "regimen"} == {k: v for k, v in old.items() if k != "regimen"}
    bad = tmp_path / "bad.json"
    for text, message in (("[1]", "expected a JSON object"), ("{", "is not JSON"), ('{"n": 2, "wieght": 1}', "wieght")):
        bad.write_text(text)
        res = CliRunner().invoke(app, ["cohort", "--spec", str(bad), "--out", str(tmp_path / "x")])
        assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output

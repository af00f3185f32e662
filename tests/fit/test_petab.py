"""PEtab export: built with the petab library, refused when petab's lint fails, loads in petab and pyPESTO."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.fit import DEFAULT_ESTIMATED, NOISE_SD_LOG, PetabLintError, lint_petab, write_petab
from cllsim.fit._petab import FILES

PATIENT_CSV = "day,alc_per_uL,ln_volume_cm3\n0,52000,210\n7,81000,\n28,64000,120\n84,21000,60\n"


def petablint(yaml_path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("petablint") or str(Path(sys.executable).with_name("petablint"))
    return subprocess.run([exe, "-v", str(yaml_path)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("petab")
    csv = tmp / "patient.csv"
    csv.write_text(PATIENT_CSV)
    out = tmp / "problem"
    res = CliRunner().invoke(app, ["export", "petab", str(out), "--data", str(csv), "--ighv", "M"])
    assert res.exit_code == 0, res.output
    return out


def test_petablint_passes(exported):
    res = petablint(exported / "problem.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "completed successfully" in res.stdout + res.stderr


def test_petablint_catches_a_broken_problem(exported, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    par = pd.read_csv(broken / "parameters.tsv", sep="\t")
    par = par[par["parameterId"] != "sigma_log_alc"]  # noise parameter used by an observable
    par.to_csv(broken / "parameters.tsv", sep="\t", index=False)
    assert petablint(broken / "problem.yaml").returncode != 0


def test_exported_problem_loads_in_petab_and_lints_clean(exported):
    import petab.v1 as petab

    problem = petab.Problem.from_yaml(exported / "problem.yaml")
    assert petab.lint_problem(problem) is False  # False: no errors
    assert sorted(p.name for p in exported.iterdir()) == sorted([*FILES, "README.txt"])
    assert problem.parameter_df.index.name == petab.C.PARAMETER_ID
    assert set(problem.x_free_ids) == set(DEFAULT_ESTIMATED)


def test_a_broken_table_is_refused_and_nothing_written(exported, tmp_path):
    import petab.v1 as petab

    problem = petab.Problem.from_yaml(exported / "problem.yaml")
    problem.parameter_df = problem.parameter_df.drop("sigma_log_alc")  # noise parameter of an observable
    assert any("sigma_log_alc" in m for m in lint_petab(problem))
    out = tmp_path / "out"
    with pytest.raises(PetabLintError, match="sigma_log_alc") as info:
        write_petab(problem, out, name="patient X")
    assert "'patient X'" in str(info.value)
    assert not out.exists()  # no folder that looks like an export


def test_a_table_petab_cannot_read_is_refused(exported, tmp_path):
    import petab.v1 as petab

    problem = petab.Problem.from_yaml(exported / "problem.yaml")
    problem.measurement_df.loc[0, petab.C.MEASUREMENT] = -5.0  # log-normal noise needs positive data
    with pytest.raises(PetabLintError, match="positive"):
        write_petab(problem, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_problem_petab_rejects(tmp_path, monkeypatch):
    from cllsim.fit import _petab

    real = _petab.petab_tables

    def broken(*args, **kwargs):
        tables = real(*args, **kwargs)
        par = tables["parameters"]
        tables["parameters"] = par[par["parameterId"] != "sigma_log_alc"]
        return tables

    monkeypatch.setattr(_petab, "petab_tables", broken)
    csv = tmp_path / "patient.csv"
    csv.write_text(PATIENT_CSV)
    out = tmp_path / "problem"
    res = CliRunner().invoke(app, ["export", "petab", str(out), "--data", str(csv), "--ighv", "M"])
    assert res.exit_code == 1, res.output
    assert "fails petab's lint" in res.output and "sigma_log_alc" in res.output
    assert not out.exists()


def test_pypesto_builds_the_objective_from_the_export(exported):
    """pyPESTO's PEtab importer (libRoadRunner simulator) builds the patient's objective."""
    pytest.importorskip("pypesto.petab")
    import numpy as np
    import petab.v1 as petab
    from pypesto.petab import PetabImporter

    problem = petab.Problem.from_yaml(exported / "problem.yaml")
    pp = PetabImporter(problem, simulator_type="roadrunner").create_problem()
    assert [pp.x_names[i] for i in pp.x_free_indices] == problem.x_free_ids
    assert np.isfinite(float(pp.objective(np.asarray(problem.x_nominal_free_scaled))))


@pytest.mark.slow
def test_pypesto_objective_of_the_example_is_minimal_at_nominal(tmp_path):
    """At the nominal parameters the noise-free example data leave only the normalising terms of
    -ln L: the SBML, simulated by pyPESTO, reproduces the fit engine's course."""
    pytest.importorskip("pypesto.petab")
    import numpy as np
    import petab.v1 as petab
    from pypesto.petab import PetabImporter

    from cllsim.fit import export_petab

    export_petab(tmp_path / "ex", regimen="420 mg qd", ighv="U")
    problem = petab.Problem.from_yaml(tmp_path / "ex" / "problem.yaml")
    pp = PetabImporter(problem, simulator_type="roadrunner").create_problem()
    x0 = np.asarray(problem.x_nominal_free_scaled)
    f0 = float(pp.objective(x0))
    # -ln L with zero residuals: sum ln(sqrt(2 pi) sigma y) over data + sum ln(sqrt(2 pi) sd) over priors
    m = problem.measurement_df.merge(problem.observable_df, left_on="observableId", right_index=True)
    sigma = problem.parameter_df.loc[m["noiseFormula"], "nominalValue"].to_numpy()
    est = problem.parameter_df[problem.parameter_df["estimate"] == 1]
    sd = np.array([float(s.split(";")[1]) for s in est["objectivePriorParameters"]])
    expected = np.sum(np.log(np.sqrt(2 * np.pi) * sigma * m["measurement"].to_numpy()))
    expected += np.sum(np.log(np.sqrt(2 * np.pi) * sd))
    assert abs(f0 - expected) < 0.05, (f0, expected)
    shifted = x0.copy()
    shifted[problem.x_free_ids.index("death_max_per_day")] += 0.3
    assert float(pp.objective(shifted)) > f0 + 0.05


def test_tables_carry_data_priors_and_noise(exported):
    meas = pd.read_csv(exported / "measurements.tsv", sep="\t")
    alc = meas[meas["observableId"] == "obs_alc_per_uL"].sort_values("time")
    assert list(alc["time"]) == [0.0, 7 * 24.0, 28 * 24.0, 84 * 24.0]  # model time is hours
    assert list(alc["measurement"]) == [52000, 81000, 64000, 21000]
    assert len(meas) == 4 + 3  # ALC plus the non-empty node volumes
    obs = pd.read_csv(exported / "observables.tsv", sep="\t").set_index("observableId")
    assert set(obs.index) == {"obs_alc_per_uL", "obs_ln_volume_cm3"}  # spleen not measured
    assert (obs["observableTransformation"] == "log").all()
    par = pd.read_csv(exported / "parameters.tsv", sep="\t").set_index("parameterId")
    assert par.loc["sigma_log_alc", "nominalValue"] == NOISE_SD_LOG["alc_per_uL"]
    est = par[par["estimate"] == 1]
    assert set(est.index) == set(DEFAULT_ESTIMATED)
    assert (est["objectivePriorType"] == "parameterScaleNormal").all()
    # priors are centred on the table's nominal values; IGHV M values come from ighv.tsv
    from cllsim.model import ighv_conditions, load_table

    nominal = load_table().values()
    mu, sd = (float(v) for v in est.loc["death_max_per_day", "objectivePriorParameters"].split(";"))
    assert math.isclose(math.exp(mu), nominal["death_max_per_day"], rel_tol=1e-9) and sd > 0
    assert par.loc["bcr_strength", "nominalValue"] == ighv_conditions()["M"]["bcr_strength"]
    assert (est["lowerBound"] < est["nominalValue"]).all() and (est["nominalValue"] < est["upperBound"]).all()


def test_export_without_data_uses_example_measurements():
    from cllsim.fit._petab import EXAMPLE_DAYS, petab_tables

    tables = petab_tables("420 mg qd", "U", data=None)
    meas = tables["measurements"]
    assert set(meas["observableId"]) == {"obs_alc_per_uL", "obs_ln_volume_cm3", "obs_spleen_volume_cm3"}
    assert sorted(set(meas["time"])) == [d * 24.0 for d in EXAMPLE_DAYS]
    assert len(tables["observables"]) == 3


def test_unknown_ighv_export_estimates_bcr_strength():
    from cllsim.fit._petab import petab_tables

    par = petab_tables("420 mg qd", None, data=None)["parameters"].set_index("parameterId")
    assert par.loc["bcr_strength", "estimate"] == 1
    assert par.loc["bcr_strength", "objectivePriorType"] == "parameterScaleNormal"

"""PEtab export passes petablint and carries the fit's priors and noise model (deliverable 2)."""

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
from cllsim.fit import DEFAULT_ESTIMATED, NOISE_SD_LOG

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

"""Exported SBML: libSBML-consistent, and reproduced by a fresh libRoadRunner without cllsim."""

import numpy as np
import pytest
import roadrunner
from typer.testing import CliRunner

import cllsim
from cllsim.cli import app
from cllsim.model import PATIENT
from cllsim.model._sbml import sbml_errors
from cllsim.simulate import observables


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("sbml") / "patient.xml"
    res = CliRunner().invoke(app, ["export", "sbml", str(path), "--ighv", "M", "--regimen", "420 mg qd",
                                   "--days", "60"])
    assert res.exit_code == 0, res.output
    return path


def test_exported_sbml_has_no_consistency_errors(exported):
    assert sbml_errors(exported.read_text()) == []


def test_fresh_roadrunner_reproduces_cllsim(exported):
    days = np.arange(0, 61.0)
    ours = cllsim.simulate("420 mg qd", cllsim.Patient(ighv="M"), days=60, times=days).raise_for_status()
    # independent: plain libRoadRunner on the file, no cllsim code in the loop
    rr = roadrunner.RoadRunner(str(exported))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    variables = [o.variable for o in observables(PATIENT)]
    out = rr.simulate(times=days * 24.0, selections=["time", *variables])
    for i, obs in enumerate(observables(PATIENT)):
        theirs = np.asarray(out[:, i + 1])
        if obs.per_baseline:
            theirs = theirs / theirs[0]
        mine = ours[obs.id].to_numpy()
        scale = np.maximum(np.abs(theirs), 1e-9 * np.max(np.abs(theirs)) + 1e-300)
        assert np.max(np.abs(mine - theirs) / scale) < 1e-6, obs.id


def test_exported_model_contains_every_dose(exported):
    text = exported.read_text()
    assert text.count('id="dose') == 2 * 60

"""The fit's multistart and profiles run as tasks of the shared executors: same answer in any of them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.execution import ProcessExecutor, SerialExecutor
from cllsim.fit import FitEngine, fit_patient, make_patient_data
from cllsim.fit._problem import NOISE_SD_LOG, estimated_parameters

ESTIMATED = ("baseline_alc_per_uL", "death_max_per_day")
DAYS = np.array([0, 7, 14, 28, 42, 56, 84], dtype=float)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    truth = {p.id: p.prior_median * math.exp(0.5 * p.prior_sd_log * rng.standard_normal())
             for p in estimated_parameters(ESTIMATED, "U")}
    out = FitEngine("420 mg qd", "U", days=DAYS[-1]).simulate(truth, DAYS, ["alc_per_uL"])
    alc = out.values["alc_per_uL"] * np.exp(NOISE_SD_LOG["alc_per_uL"] * rng.standard_normal(DAYS.size))
    return make_patient_data(pd.DataFrame({"day": DAYS, "alc_per_uL": alc}), ighv="U", patient_id="workers")


def test_starts_and_profiles_in_worker_processes_match_the_serial_fit(data):
    kwargs = {"estimated": ESTIMATED, "n_starts": 2, "uncertainty": "profile", "n_band": 2, "seed": 3}
    serial = fit_patient(data, **kwargs)
    with ProcessExecutor(2) as ex:
        parallel = fit_patient(data, executor=ex, **kwargs)
        assert len(ex.worker_pids()) == 2  # the one executor served the starts and the profiles
    cols = ["start", "fval", "exitflag", "n_evaluations", "failed", "converged"]
    pd.testing.assert_frame_equal(serial.starts[cols], parallel.starts[cols])
    pd.testing.assert_frame_equal(serial.estimates, parallel.estimates)
    assert serial.metadata["execution"] == "SerialExecutor"
    assert parallel.metadata["execution"] == "ProcessExecutor(2 workers)"
    # simulations in the workers are counted; the only difference is this process's residual cache,
    # which in the serial fit may already hold the point a batch ended on (one saved simulation per batch)
    assert 0 <= parallel.metadata["n_simulations"] - serial.metadata["n_simulations"] <= 2
    assert parallel.metadata["profiles"] == serial.metadata["profiles"]


def test_an_executor_given_by_the_caller_is_left_open(data):
    ex = SerialExecutor()
    closed = []
    ex.close = lambda: closed.append(True)  # type: ignore[method-assign]
    fit_patient(data, estimated=ESTIMATED[:1], n_starts=1, uncertainty="laplace", n_band=2, executor=ex)
    assert closed == []


def test_n_procs_is_a_deprecated_alias_of_workers(data):
    with pytest.warns(DeprecationWarning, match="workers="):
        res = fit_patient(data, estimated=ESTIMATED[:1], n_starts=1, uncertainty="laplace", n_band=2, n_procs=1)
    assert res.metadata["execution"] == "SerialExecutor"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be >= 1"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "either --workers or --scheduler"),
        (["--workers", "1", "--procs", "1"], "--workers only"),
        (["--procs", "-1"], "--procs must be >= 0"),
    ],
)
def test_fit_worker_options_are_refused_in_one_line(tmp_path, data, args, message):
    csv = tmp_path / "p.csv"
    data.table[["day", "alc_per_uL"]].to_csv(csv, index=False)
    r = CliRunner().invoke(app, ["fit", str(csv), "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 2 and message in " ".join(r.output.split()), r.output
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()

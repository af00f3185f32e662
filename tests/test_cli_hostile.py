"""The command line under hostile input and faults (issue 13): work and memory bounded up front,
one-line refusals with exit code 2 and no output left behind, OS errors as input errors,
non-finite numbers refused, nonsense warned about."""

import errno
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cllsim.cli import app

runner = CliRunner()

DENSE = "420 mg q0.001h"  # 480,000 doses in 20 days: exhausted 6 GB before the limit


def refused(args: list[str], message: str, *, out: Path | None = None, seconds: float = 20.0) -> str:
    """Run ``args``: exit 2, ``message`` in a single line on stderr, no traceback, quickly, nothing left at ``out``."""
    start = time.perf_counter()
    res = runner.invoke(app, args)
    took = time.perf_counter() - start
    assert res.exit_code == 2, res.output
    assert message in res.stderr, res.stderr
    assert res.stderr.startswith("error:") and res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.output and "Usage:" not in res.output
    assert took < seconds, f"refusal took {took:.1f} s"
    if out is not None:
        assert not out.exists(), f"refusal left {sorted(p.name for p in out.iterdir())}"
    return res.stderr


def patient_csv(tmp_path: Path, last_day: str = "28") -> Path:
    path = tmp_path / "patient.csv"
    path.write_text(f"day,alc_per_uL\n0,52000\n7,81000\n{last_day},64000\n")
    return path


# ---- click's own usage errors: one line, not usage + hint + error
@pytest.mark.parametrize(
    "args, message",
    [
        (["simulate", "--days", "abc"], "Invalid value for '--days'"),
        (["cohort", "--n", "x"], "Invalid value for '--n'"),
        (["simulate", "--bogus"], "No such option: --bogus"),
        (["nosuch"], "No such command 'nosuch'"),
        (["export", "sbml"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line(args, message):
    assert "--help" in refused(args, message)


# ---- non-finite numbers in any numeric option
@pytest.mark.parametrize(
    "args, flag",
    [
        (["cohort", "--n", "3", "--baseline-alc", "inf"], "--baseline-alc"),
        (["cohort", "--n", "3", "--baseline-alc-sd-log", "nan"], "--baseline-alc-sd-log"),
        (["cohort", "--n", "3", "--rtol", "nan"], "--rtol"),
        (["cohort", "--n", "3", "--ighv-u-fraction", "nan"], "--ighv-u-fraction"),
        (["simulate", "--days", "inf"], "--days"),
        (["export", "sbml", "m.xml", "--days", "nan"], "--days"),
    ],
)
def test_non_finite_numeric_options_are_refused(tmp_path, monkeypatch, args, flag):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    refused([*args, "--out", str(out)] if args[0] != "export" else args, f"{flag} must be a finite number",
            out=out)
    assert not (tmp_path / "m.xml").exists() and not (tmp_path / "cohort_out").exists()


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_set_values_are_refused(tmp_path, value):
    refused(["simulate", "--set", f"body_weight_kg={value}", "--out", str(tmp_path / "o")],
            "must be a finite number", out=tmp_path / "o")


# ---- resource limits
def test_dense_regimens_are_refused_before_any_work(tmp_path):
    out = tmp_path / "o"
    for args in (
        ["simulate", "--regimen", DENSE, "--days", "20", "--out", str(out)],
        ["export", "sbml", str(out / "m.xml"), "--regimen", DENSE, "--days", "20"],
        ["export", "petab", str(out), "--regimen", DENSE],
        ["fit", str(patient_csv(tmp_path)), "--regimen", DENSE, "--out", str(out)],
    ):
        refused(args, "more than the limit of 100,000", out=out)


def test_the_dose_limit_can_be_set(tmp_path):
    out = tmp_path / "o"
    refused(["simulate", "--days", "30", "--max-doses", "10", "--out", str(out)], "30 doses in 30 days", out=out)
    refused(["export", "sbml", str(out / "m.xml"), "--days", "30", "--max-doses", "10"], "limit of 10", out=out)
    refused(["simulate", "--max-doses", "0", "--out", str(out)], "--max-doses must be >= 1", out=out)


@pytest.mark.parametrize("days", ["1e7", "1e5", "36501"])
def test_days_beyond_a_century_are_refused(tmp_path, days):
    out = tmp_path / "o"
    refused(["simulate", "--days", days, "--out", str(out)], "at most 36500 (100 years)", out=out)
    refused(["export", "sbml", str(out / "m.xml"), "--days", days], "at most 36500", out=out)
    refused(["cohort", "--days", days, "--n", "3", "--out", str(out)], "days", out=out)


def test_patient_days_beyond_a_century_are_refused(tmp_path):
    data = patient_csv(tmp_path, last_day="10000000")
    out = tmp_path / "o"
    refused(["fit", str(data), "--out", str(out)], "day 1e+07 is more than 36500 days", out=out)
    refused(["export", "petab", str(out), "--data", str(data)], "day 1e+07", out=out)


def test_a_huge_cohort_is_refused_with_its_cost_unless_forced(tmp_path):
    out = tmp_path / "c"
    from cllsim.cohort._run import CPU_SECONDS_PER_PATIENT_YEAR

    hours = 10**7 * 2 * CPU_SECONDS_PER_PATIENT_YEAR * 365 / 365.25 / 3600
    message = refused(["cohort", "--n", str(10**7), "--days", "730", "--out", str(out)], "CPU-hours", out=out,
                      seconds=5)
    assert f"about {hours:,.0f} CPU-hours" in message and "--force" in message
    # --force does not lift the ceiling on the number of patients (ids, task lists, files)
    for extra in ([], ["--force"]):
        refused(["cohort", "--n", str(10**12), *extra, "--out", str(out)], "less than or equal to 100000000",
                out=out, seconds=5)


def test_a_cohort_larger_than_the_free_disk_is_refused(tmp_path, monkeypatch):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    out = tmp_path / "c"
    refused(["cohort", "--n", "3", "--days", "10", "--out", str(out)], "GB free", out=out)


def test_a_chunk_too_large_for_memory_is_refused(tmp_path):
    from cllsim.cohort._population import MAX_CHUNK_PATIENT_DAYS

    out = tmp_path / "c"
    refused(["cohort", "--n", "100000", "--chunk-size", "100000", "--days", "3650", "--out", str(out)],
            f"give a chunk size of at most {MAX_CHUNK_PATIENT_DAYS // 3652:,}", out=out)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--baseline-alc-sd-log", "100"], "at the bounds"),
        (["--baseline-alc", "1e9"], "at the bounds"),
        (["--baseline-alc", "1e9", "--baseline-alc-sd-log", "0"], "at the bounds"),
    ],
)
def test_spreads_that_would_clip_every_draw_are_refused(tmp_path, args, message):
    out = tmp_path / "c"
    refused(["cohort", "--n", "3", *args, "--out", str(out)], message, out=out)


def test_a_band_too_small_for_a_95_percent_interval_is_refused(tmp_path):
    out = tmp_path / "f"
    refused(["fit", str(patient_csv(tmp_path)), "--band", "2", "--out", str(out)], "--band must be >= 40", out=out)


def test_a_hash_inside_a_cell_is_not_a_comment(tmp_path):
    data = tmp_path / "p.csv"
    data.write_text("day,alc_per_uL\n# visits\n0,52000\n7,70013#x\n28,64000\n")
    refused(["fit", str(data), "--out", str(tmp_path / "f")], "'70013#x' is not a number", out=tmp_path / "f")


def test_a_huge_cell_is_echoed_short(tmp_path):
    data = tmp_path / "p.csv"
    data.write_text("day,alc_per_uL\n0,52000\n7," + "9x" * 500_000 + "\n28,64000\n")
    message = refused(["fit", str(data), "--out", str(tmp_path / "f")], "1,000,000 characters")
    assert len(message) < 500


# ---- OS errors are input errors
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_simulate_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "write_text", _no_space)
    out = tmp_path / "o"
    refused(["simulate", "--days", "2", "--out", str(out)], "No space left on device", out=out, seconds=120)


def test_simulate_refuses_a_folder_where_metadata_must_go(tmp_path):
    out = tmp_path / "o"
    (out / "metadata.json").mkdir(parents=True)
    (out / "metadata.json" / "x").write_text("in the way")
    refused(["simulate", "--days", "2", "--out", str(out)], "cannot write to output folder", seconds=120)
    assert (out / "metadata.json").is_dir() and not (out / "simulation.csv").exists()


def test_cohort_on_a_full_disk_is_one_line_and_writes_no_marker(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setattr(pd.DataFrame, "to_parquet", _no_space)
    out = tmp_path / "c"
    refused(["cohort", "--n", "3", "--days", "5", "--workers", "1", "--out", str(out)], "No space left",
            seconds=120)
    assert not (out / "metadata.json").exists()


def test_cohort_refuses_a_folder_where_metadata_must_go(tmp_path):
    out = tmp_path / "c"
    (out / "metadata.json").mkdir(parents=True)
    (out / "metadata.json" / "x").write_text("in the way")
    refused(["cohort", "--n", "3", "--days", "5", "--workers", "1", "--out", str(out)], "cannot write to",
            seconds=120)
    assert (out / "metadata.json").is_dir()


# ---- warnings for nonsense that is still a valid request
def test_simulate_warns_of_per_kg_and_out_of_window_doses(tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["simulate", "--regimen", "25 mg/kg qd from day 5", "--days", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "warning: no dose" in res.stderr
    warnings = json.loads((out / "metadata.json").read_text())["warnings"]
    assert any("mg/kg" in w for w in warnings) and any("no dose" in w for w in warnings)


def test_a_table_export_into_a_missing_folder_says_why(tmp_path):
    message = refused(["parameters", "--out", str(tmp_path / "no" / "such" / "p.tsv")], "cannot write")
    assert "None" not in message and "directory" in message.lower()

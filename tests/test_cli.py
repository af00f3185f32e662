"""The command line: outputs; bad input giving one line and exit code 2; failures exit code 1."""

import json
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

import cllsim
from cllsim.cli import app

runner = CliRunner()


def test_simulate_writes_tidy_tables_panel_and_metadata(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "--ighv", "M", "--regimen", "420 mg qd", "--days", "30", "--out", str(out)])
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert names == {"simulation.parquet", "simulation.csv", "panel.png", "metadata.json"}
    csv = pd.read_csv(out / "simulation.csv")
    assert list(csv.columns) == ["id", "time", "observable", "value", "unit"]
    assert pd.read_parquet(out / "simulation.parquet").shape == csv.shape
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["ighv"] == "M" and meta["days"] == 30 and meta["status"] == "success"
    assert (out / "panel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--regimen", "banana"], "unknown drug 'banana'"),
        (["--regimen", "42 bananas qd"], "cannot parse regimen"),
        (["--regimen", "-420 mg qd"], "dose must be positive"),
        (["--days", "0"], "--days must be > 0"),
        (["--days", "-5"], "--days must be > 0"),
        (["--ighv", "X"], "--ighv must be U or M"),
        (["--set", "bcr_strength=99"], "outside bounds"),
        (["--set", "no_such_param=1"], "unknown parameter 'no_such_param'"),
        (["--set", "bcr_strength"], "PARAM=VALUE"),
    ],
)
def test_bad_input_gives_message_and_exit_2(tmp_path, args, message):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "--out", str(out), *args])
    assert res.exit_code == 2
    assert message in res.stderr
    assert res.stderr.startswith("error:") and res.stderr.count("\n") == 1  # one line
    assert "Traceback" not in res.output
    assert not (out / "metadata.json").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", "--days", "2", "--set", "body_weight=60"],
        ["export", "sbml", "model.xml", "--days", "2", "--set", "body_weight=60"],
        ["reproduce", "--only", "F4", "--set", "body_weight=60"],
    ],
)
def test_unknown_parameter_suggests_the_closest_id(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "unknown parameter 'body_weight'; did you mean 'body_weight_kg'?" in res.stderr
    assert res.stderr.count("\n") == 1


def test_invalid_spec_is_one_line_without_pydantic_internals(tmp_path):
    res = runner.invoke(app, ["cohort", "--n", "3", "--chunk-size", "0", "--out", str(tmp_path / "c")])
    assert res.exit_code == 2
    assert "chunk_size: Input should be greater than 0 (got 0)" in res.stderr
    assert res.stderr.count("\n") == 1
    for internal in ("pydantic", "For further information", "validation error for", "input_value"):
        assert internal not in res.output


def _fail_with(monkeypatch, exc: Exception) -> None:
    """Make the simulate command's engine call raise ``exc`` (as an engine bug or failure would)."""

    def broken(*args, **kwargs):
        raise exc

    # ``cllsim.simulate`` is the function; the command imports it from the subpackage
    monkeypatch.setattr(sys.modules["cllsim.simulate"], "simulate", broken)


@pytest.mark.parametrize(
    "exc, kind",
    [
        (cllsim.SolverError("CVODE stopped at t = 12 h"), "the model failed (SolverError)"),
        (KeyError("cells_blood"), "internal error (KeyError)"),
        (ValueError("a bare ValueError is a bug, not bad input"), "internal error (ValueError)"),
    ],
)
def test_model_errors_and_bugs_exit_1_in_one_line(tmp_path, monkeypatch, exc, kind):
    monkeypatch.delenv("CLLSIM_DEBUG", raising=False)
    _fail_with(monkeypatch, exc)
    res = runner.invoke(app, ["simulate", "--days", "2", "--out", str(tmp_path / "run")])
    assert res.exit_code == 1  # not 2: the user's input was fine
    assert kind in res.stderr and "CLLSIM_DEBUG=1" in res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output


def test_debug_environment_variable_lets_the_traceback_through(tmp_path, monkeypatch):
    monkeypatch.setenv("CLLSIM_DEBUG", "1")
    failure = cllsim.SolverError("CVODE stopped")
    _fail_with(monkeypatch, failure)
    res = runner.invoke(app, ["simulate", "--days", "2", "--out", str(tmp_path / "run")])
    assert res.exit_code == 1 and res.exception is failure


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"cllsim {cllsim.__version__}"


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = runner.invoke(app, ["simulate", "--days", "2", "--out", str(blocker / "sub")])
    assert res.exit_code == 2
    assert "cannot write to output folder" in res.output


def test_parameters_table_export(tmp_path):
    res = runner.invoke(app, ["parameters", "--out", str(tmp_path / "p.tsv")])
    assert res.exit_code == 0
    df = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert {"parameterId", "unit", "source", "nominalValue"} <= set(df.columns)


def test_observables_lists_the_registry_with_units(tmp_path):
    """`cllsim observables` writes exactly the registry of the host, with units and normalisation."""
    import csv

    from cllsim.simulate import observables

    out = tmp_path / "obs.csv"
    res = runner.invoke(app, ["observables", "--host", "xenograft", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == [o.id for o in observables("xenograft")]
    assert all(r["unit"] for r in rows)
    assert {r["id"] for r in rows if r["normalisation"]} == {o.id for o in observables("xenograft") if o.per_baseline}
    assert "ln_volume_cm3" not in {r["id"] for r in rows}  # xenografts have no lymph-node pool
    bad = runner.invoke(app, ["observables", "--host", "dog"])
    assert bad.exit_code == 2 and "unknown host" in bad.output
    # per-drug read-outs of a combination, ids in full on a narrow terminal
    both = runner.invoke(app, ["observables", "--drug", "ibrutinib,venetoclax"], env={"COLUMNS": "80"})
    assert both.exit_code == 0, both.output
    assert "venetoclax_bcl2_occupancy_pct" in both.output and "ibrutinib_btk_occupancy_pct" in both.output


def test_parameters_per_host_drug_and_ighv_with_full_ids(tmp_path):
    """`cllsim parameters --host --drug --ighv --format csv` writes the table `--set` needs, ids never cut."""
    from cllsim.model import ighv_conditions, load_table

    out = tmp_path / "m.csv"
    res = runner.invoke(app, ["parameters", "--host", "tcl1", "--ighv", "M", "--format", "csv", "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, index_col=0)
    expected = load_table(host="tcl1").with_values(ighv_conditions()["M"], what="M").to_df()
    assert list(df.index) == list(expected.index)
    assert df.loc["bcr_strength", "nominalValue"] == pytest.approx(expected.loc["bcr_strength", "nominalValue"])
    assert df.loc["body_weight_kg", "nominalValue"] == pytest.approx(0.025)  # the mouse table, not the patient's
    wide = runner.invoke(app, ["parameters", "--drug", "acalabrutinib"], env={"COLUMNS": "60"})
    assert wide.exit_code == 0
    longest = max(load_table(drug="acalabrutinib").rows, key=len)
    assert longest in wide.output  # the longest id is printed whole even on a narrow terminal
    refusals = ((["--host", "dog"], "unknown host"), (["--ighv", "X"], "U or M"), (["--format", "xml"], "format"))
    for args, word in refusals:
        bad = runner.invoke(app, ["parameters", *args])
        assert bad.exit_code == 2 and word in bad.output


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--times", "0.5, 1,1.75"], [0.5, 1.0, 1.75]),
        (["--step", "0.25"], [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]),
    ],
)
def test_simulate_times_and_step_give_exactly_those_times(tmp_path, args, expected):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "--days", "2", "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    times = sorted(pd.read_csv(out / "simulation.csv")["time"].unique())
    assert times == pytest.approx(expected)


@pytest.mark.parametrize("command", [["simulate"], ["cohort", "--n", "2"]])
@pytest.mark.parametrize(
    "args, message",
    [
        (["--times", "-1,1"], "--times: times must not be negative"),
        (["--times", "0,5"], "beyond the simulated"),
        (["--times", "0,2,1"], "must increase"),
        (["--times", "0,one"], "is not a number"),
        (["--step", "0"], "--step: step must be a positive"),
        (["--step", "-0.5"], "step must be a positive"),
    ],
)
def test_bad_output_grids_are_one_line_errors(tmp_path, command, args, message):
    out = tmp_path / "run"
    res = runner.invoke(app, [*command, "--days", "3", "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert res.stderr.startswith("error:") and res.stderr.count("\n") == 1
    assert not (out / "metadata.json").exists()

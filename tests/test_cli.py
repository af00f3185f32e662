"""The command line: outputs, and bad input giving a message and exit code 2."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

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
        (["--regimen", "banana"], "cannot parse regimen"),
        (["--regimen", "-420 mg qd"], "dose must be positive"),
        (["--days", "0"], "--days must be > 0"),
        (["--days", "-5"], "--days must be > 0"),
        (["--ighv", "X"], "--ighv must be U or M"),
        (["--set", "bcr_strength=99"], "outside bounds"),
        (["--set", "no_such_param=1"], "unknown parameter id"),
        (["--set", "bcr_strength"], "PARAM=VALUE"),
    ],
)
def test_bad_input_gives_message_and_exit_2(tmp_path, args, message):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "--out", str(out), *args])
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert not (out / "metadata.json").exists()


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

"""Dosing as data in simulations: an event table and the regimen text it came from give identical results."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cllsim
from cllsim.cli import app
from cllsim.drugs import DoseRecords, parse_regimen, read_dose_records

runner = CliRunner()
DAYS = 8.0
GRID = {"days": DAYS, "step": 0.25}


@pytest.mark.parametrize("engine", ["reference", "cohort"])
def test_regimen_and_its_event_table_give_identical_simulations(engine):
    reg = parse_regimen("420 mg qd x 3, hold 2 d, 280 mg twice daily")
    text = cllsim.simulate(reg, engine=engine, **GRID)
    records = reg.to_records(DAYS * 24.0)
    table = cllsim.simulate(doses=records, engine=engine, **GRID)
    back = cllsim.simulate(records.to_regimen().describe(), engine=engine, **GRID)  # table -> regimen text
    assert text.ok and table.ok and back.ok
    assert np.array_equal(text.data["value"].to_numpy(), table.data["value"].to_numpy())
    assert np.array_equal(text.data["value"].to_numpy(), back.data["value"].to_numpy())
    # the dosing really matters: a different table gives a different drug course
    other = cllsim.simulate(doses=DoseRecords.from_rows([{"time_h": 0.0, "amount": 420.0}]), engine=engine, **GRID)
    assert not np.array_equal(text.data["value"].to_numpy(), other.data["value"].to_numpy())


def test_a_dose_history_from_csv_equals_the_hand_written_regimen(tmp_path):
    # 420 mg daily on days 0-4, day 5 missed, then 280 mg daily from day 6 (NONMEM columns, an observation row)
    path = tmp_path / "doses.csv"
    path.write_text("ID,TIME,AMT,II,ADDL,EVID,DV\n7,0,420,24,4,1,.\n7,30,.,.,.,0,61000\n7,144,280,24,3,1,.\n")
    from_csv = cllsim.simulate(doses=path, **GRID)
    by_hand = cllsim.simulate("420 mg qd x 5; hold 1 d; 280 mg qd", **GRID)
    assert np.array_equal(from_csv.data["value"].to_numpy(), by_hand.data["value"].to_numpy())
    # and back: the table as regimen text is the hand-written regimen
    assert read_dose_records(path).to_regimen().describe() == "420 mg qd x 5; hold 1 d; 280 mg qd x 4"
    meta = from_csv.metadata["doses"]
    assert (meta["n_rows"], meta["n_doses"], meta["source"]) == (2, 7, str(path))
    assert meta["records"][1] == {"time_h": 144.0, "amount": 280.0, "amount_unit": "mg", "ii_h": 24.0, "addl": 3}
    assert meta["sha256"] == read_dose_records(path).sha256()
    assert "doses" not in by_hand.metadata


def test_doses_are_refused_with_a_regimen_and_rows_naming_a_drug_are_its_course():
    table = DoseRecords.from_rows([{"time_h": 0.0, "amount": 100.0, "ii_h": 12.0, "addl": 3, "drug": "acalabrutinib"}])
    with pytest.raises(cllsim.InputError, match="either regimen or doses"):
        cllsim.simulate("420 mg qd", doses=table, days=1)
    grid = {"days": 3.0, "step": 0.25}
    tagged = cllsim.simulate(doses=table, **grid)
    written = cllsim.simulate("acalabrutinib 100 mg bid x 4", **grid)
    assert np.array_equal(tagged.data["value"].to_numpy(), written.data["value"].to_numpy())
    with pytest.raises(cllsim.InputError, match="unknown drug 'acalabrutinb'; did you mean 'acalabrutinib'"):
        cllsim.simulate(doses=DoseRecords.from_rows([{"time_h": 0.0, "amount": 1.0, "drug": "acalabrutinb"}]), days=1)
    with pytest.raises(cllsim.InputError, match=r"doses in 1 days, more than the limit of 3"):
        cllsim.simulate(doses=DoseRecords.from_rows([{"time_h": 0, "amount": 1, "ii_h": 1, "addl": 9}]),
                        days=1, max_doses=3)


def test_cli_simulates_a_dose_table(tmp_path):
    doses = tmp_path / "doses.csv"
    doses.write_text("day,amt,ii,addl\n0,420,24,2\n4,280,24,1\n")
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "--doses", str(doses), "--days", "6", "--step", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["doses"]["n_doses"] == 5 and meta["doses"]["n_rows"] == 2
    expected = cllsim.simulate("420 mg qd x 3; hold 1 d; 280 mg qd", days=6, step=1, engine="roadrunner")
    got = pd.read_csv(out / "simulation.csv")
    assert np.allclose(got["value"].to_numpy(), expected.data["value"].to_numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "args, text, message",
    [
        (["--regimen", "420 mg qd"], "day,amt\n0,420\n", "give either --regimen or --doses"),
        ([], "day,amt\n0,420\n1,x\n", "line 3, column 'amt': 'x' is not a number"),
        ([], "ID,TIME,AMT\n1,0,420\n2,0,420\n", "2 patients in column 'ID'"),
        (["--doses-id", "3"], "ID,TIME,AMT\n1,0,420\n2,0,420\n", "no row with ID = '3'"),
        ([], "when,amt\n0,420\n", "no time column"),
    ],
)
def test_cli_refuses_bad_dose_tables_in_one_line(tmp_path, args, text, message):
    doses = tmp_path / "doses.csv"
    doses.write_text(text)
    res = runner.invoke(app, ["simulate", "--doses", str(doses), "--days", "2", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_doses_id_selects_one_patient(tmp_path):
    doses = tmp_path / "doses.csv"
    doses.write_text("ID,TIME,AMT\n1,0,420\n2,0,140\n")
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "--doses", str(doses), "--doses-id", "2", "--days", "1", "--step", "0.5",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metadata.json").read_text())["doses"]["records"][0]["amount"] == 140.0
    res = runner.invoke(app, ["simulate", "--doses-id", "2", "--days", "1", "--out", str(out)])
    assert res.exit_code == 2 and "--doses-id needs --doses" in res.output

"""Dosing as data: event tables (DoseRecords) from Python and CSV, NONMEM columns, refusals naming row and column."""

import pandas as pd
import pytest

from cllsim.drugs import (
    MAX_DOSES,
    DoseRecord,
    DoseRecords,
    DoseTableError,
    RegimenError,
    dose_inputs,
    parse_regimen,
    read_dose_records,
    regimen_warnings,
    split_dose_records,
)
from cllsim.model import load_table


def write(tmp_path, text, name="doses.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text",
    ["420 mg qd", "560 mg qd x 3; hold 2 d; 280 mg bid x 2", "25 mg/kg qd x 2 fasted from day 3",
     "420 mg q7h", "420 mg qd x 3; 100 mg bid", "none", "420 mg once from day 2", "0.1 mg q0.3h x 7; 5 mg qw"],
)
@pytest.mark.parametrize("until_h", [0.0, 1.0, 24.0, 84.0, 24 * 100.0])
def test_regimen_to_records_gives_the_same_doses_bit_for_bit(text, until_h):
    reg = parse_regimen(text)
    records = reg.to_records(until_h)
    assert records == DoseRecords.from_regimen(reg, until_h)
    assert records.doses(until_h, 0.025) == reg.doses(until_h, 0.025)
    assert records.n_doses(until_h) == reg.n_doses(until_h) == len(reg.doses(until_h))
    assert (records.food, records.max_doses) == (reg.food, reg.max_doses)
    assert records.per_kg == (reg.per_kg and reg.n_doses(until_h) > 0)
    values = load_table().values()
    assert dose_inputs(records, values, until_h) == dose_inputs(reg, values, until_h)


def test_table_from_python_rows_is_sorted_and_expands_addl():
    table = DoseRecords.from_rows([
        {"time_h": 48.0, "amount": 280.0},
        {"time_h": 0.0, "amount": 420.0, "ii_h": 12.0, "addl": 2},
    ])
    assert [r.time_h for r in table.records] == [0.0, 48.0]
    assert table.doses(until_h=100) == [(0.0, 420.0), (12.0, 420.0), (24.0, 420.0), (48.0, 280.0)]
    assert table.doses(until_h=20) == [(0.0, 420.0), (12.0, 420.0)]
    assert table.n_doses(until_h=20) == 2 and not table.is_untreated
    assert DoseRecords().is_untreated and DoseRecords().doses(100) == []


def test_per_row_food_sets_each_dose_input():
    values = load_table().values()
    table = DoseRecords.from_rows([{"time_h": 0, "amount": 420, "food": "fasted"}, {"time_h": 24, "amount": 420}])
    (t0, d0, a0), (t1, d1, a1) = dose_inputs(table, values, until_h=48)
    assert (d0, a0) == (values["pk_d1_fasted_h"], 420.0)
    assert d1 == values["pk_d1_fed_h"] and a1 == pytest.approx(420 / values["pk_frel_fasted_vs_fed"])


def test_csv_with_day_column_missed_dose_and_dose_change(tmp_path):
    path = write(tmp_path, "# patient 7\nday,amt,ii,addl\n0,420,24,4\n6,280,24,2\n")
    table = read_dose_records(path)
    assert [t / 24 for t, _ in table.doses(until_h=24 * 30)] == [0, 1, 2, 3, 4, 6, 7, 8]
    assert [a for _, a in table.doses(until_h=24 * 30)] == [420] * 5 + [280] * 3
    assert table.text == str(path)
    # the same history written as regimen text
    assert table.doses(24 * 30) == parse_regimen("420 mg qd x 5; hold 1 d; 280 mg qd x 3").doses(24 * 30)


def test_nonmem_dataset_columns_and_ids(tmp_path):
    path = write(tmp_path, (
        "ID,TIME,AMT,II,ADDL,EVID,MDV,DV,CMT,WT\n"
        "1,0,420,24,1,1,1,.,1,80\n"
        "1,12,.,.,.,0,0,5.3,2,80\n"
        "2,0,0.14,,,1,1,.,1,70\n"
        "2,24,140,12,1,1,1,.,1,70\n"
    ))
    with pytest.raises(DoseTableError, match=r"2 patients in column 'ID' \(1, 2\); pass id="):
        read_dose_records(path)
    one = read_dose_records(path, id=1)
    assert one.doses(until_h=100) == [(0.0, 420.0), (24.0, 420.0)]  # the EVID 0 row is skipped
    both = split_dose_records(path)
    assert list(both) == ["1", "2"] and both["1"] == one
    assert both["2"].doses(100) == [(0.0, 0.14), (24.0, 140.0), (36.0, 140.0)]
    with pytest.raises(DoseTableError, match="no row with ID = '3'"):
        read_dose_records(path, id=3)


def test_units_grams_and_per_kg(tmp_path):
    table = read_dose_records(write(tmp_path, "time_h,amt,unit\n0,0.42,g\n24,25,mg/kg\n48,100,\n"))
    assert table.doses(until_h=100, body_weight_kg=0.02) == [(0.0, 420.0), (24.0, 0.5), (48.0, 100.0)]
    assert table.per_kg


def test_frame_input_and_round_trip_through_csv(tmp_path):
    frame = pd.DataFrame({"time_d": [0.0, 10.0], "AMT": [420, 280], "II": [24, 12], "ADDL": [9, 5],
                          "drug": ["Ibrutinib", ""], "food": ["", "fasted"]})
    table = read_dose_records(frame)
    assert table.drugs == ("ibrutinib", None)
    assert table.for_drug("IBRUTINIB").n_doses(1e6) == 10 and table.for_drug(None).n_doses(1e6) == 6
    table.to_csv(tmp_path / "out.csv")
    again = read_dose_records(tmp_path / "out.csv")
    assert again.records == table.records
    assert again.sha256() == table.sha256() and len(table.sha256()) == 64
    meta = table.metadata(until_h=24 * 11)
    assert (meta["n_rows"], meta["n_doses"]) == (2, 12) and meta["records"][0]["amount"] == 420


@pytest.mark.parametrize(
    "text, message",
    [
        ("time_h,amt\n0,420\n-24,420\n", r"line 3, column 'time_h': '-24' is not a time >= 0"),
        ("TIME,AMT\n0,420\n24,abc\n", r"line 3, column 'AMT': 'abc' is not a number"),
        ("TIME,AMT\n0,420\n24,\n", r"line 3, column 'AMT': value missing"),
        ("TIME,AMT\n0,420\n24,-5\n", r"line 3, column 'AMT': '-5' is not a dose > 0"),
        ("TIME,AMT\n0,0\n", r"line 2, column 'AMT': '0' is not a dose > 0 \(a missed dose is a row left out\)"),
        ("TIME,AMT,ADDL\n0,420,3\n", r"line 2, column 'ADDL': addl = 3 additional doses need an interval ii > 0"),
        ("TIME,AMT,II,ADDL\n0,420,24,2.5\n", r"line 2, column 'ADDL': 2.5 is not a whole number"),
        ("TIME,AMT,II\n0,420,-24\n", r"line 2, column 'II': '-24' is not an interval >= 0 h"),
        ("TIME,AMT,EVID\n0,420,1\n24,420,4\n", r"line 3, column 'EVID': EVID 4 is not supported"),
        ("TIME,AMT,SS,II\n0,420,1,24\n", r"line 2, column 'SS': steady-state records"),
        ("TIME,AMT,RATE\n0,420,10\n", r"line 2, column 'RATE': infusions"),
        ("TIME,AMT\n0,420\n0,420\n", r"line 3 repeats line 2 exactly"),
        ("TIME,AMT,unit\n0,420,ug\n", r"line 2, column 'unit': unknown unit 'ug'"),
        ("TIME,AMT,food\n0,420,lunch\n", r"line 2, column 'food': 'lunch' is not fed or fasted"),
        ("TIME,AMT\n0,inf\n", r"line 2, column 'AMT': 'inf' is not a finite number"),
        ("# a comment\n\nTIME,AMT\n0,420\n#x\n24,x\n", r"line 6, column 'AMT'"),  # file line numbers
        ("AMT,II\n420,24\n", "no time column; give time_h"),
        ("time_h,day,amt\n0,0,420\n", "two time columns"),
        ("time_h,ii\n0,24\n", "no amount column; give amt"),
        ("time_h,amt,adl\n0,420,3\n", r"unknown column 'adl'; did you mean 'addl'\?"),
        ("time_h,AMT,amt\n0,420,420\n", "column 'amt' given twice"),
        ("", "empty file"),
        ('time_h,amt\n0,"420\n', "cannot be read as CSV"),
    ],
)
def test_malformed_files_are_refused_naming_row_and_column(tmp_path, text, message):
    with pytest.raises(DoseTableError, match=message) as info:
        read_dose_records(write(tmp_path, text))
    text_of = str(info.value)
    assert "\n" not in text_of and "pydantic" not in text_of and "http" not in text_of
    assert isinstance(info.value, RegimenError)  # an InputError: exit code 2 on the command line


def test_frame_errors_name_the_row_index():
    with pytest.raises(DoseTableError, match=r"row 7, column 'AMT': 'x' is not a number"):
        read_dose_records(pd.DataFrame({"TIME": [0, 24], "AMT": [420, "x"]}, index=[3, 7]))
    with pytest.raises(DoseTableError, match="row 1: amount"):
        DoseRecords.from_rows([{"time_h": 0, "amount": 1}, {"time_h": 1, "amount": -1}])
    with pytest.raises(DoseTableError, match="a CSV path or a DataFrame"):
        read_dose_records(42)  # type: ignore[arg-type]


def test_missing_and_oversized_files_are_refused(tmp_path, monkeypatch):
    with pytest.raises(DoseTableError, match="file not found"):
        read_dose_records(tmp_path / "nope.csv")
    from cllsim.drugs import _records

    monkeypatch.setattr(_records, "MAX_FILE_BYTES", 10)
    with pytest.raises(DoseTableError, match="bytes is more than a dose table"):
        read_dose_records(write(tmp_path, "time_h,amt\n0,420\n"))


def test_dose_limit_applies_to_tables():
    table = DoseRecords.from_rows([{"time_h": 0, "amount": 1, "ii_h": 0.001, "addl": 10**9}])
    assert table.n_doses(20 * 24.0) == 480_000 > MAX_DOSES
    with pytest.raises(DoseTableError, match=r"480,000 doses in 20 days.*limit of 100,000"):
        table.doses(20 * 24.0)
    assert table.with_max_doses(500_000).check_dose_count(20 * 24.0) == 480_000
    with pytest.raises(DoseTableError, match="max_doses must be a positive integer"):
        table.with_max_doses(0)


def test_warnings_for_tables():
    table = DoseRecords.from_rows([{"time_h": 0, "amount": 600}, {"time_h": 12, "amount": 600},
                                   {"time_h": 48, "amount": 5, "amount_unit": "mg/kg"}])
    found = regimen_warnings(table, until_h=100, body_weight_kg=80)
    assert any("1200 mg on day 0 is above" in w for w in found)
    assert any("5 mg/kg is dosing per body weight" in w and "400 mg per dose" in w for w in found)
    assert regimen_warnings(table, until_h=100, human=False) == []
    late = regimen_warnings(DoseRecords.from_rows([{"time_h": 500, "amount": 420}]), until_h=100)
    assert late and "no dose of" in late[0]
    assert isinstance(table.records[0], DoseRecord) and "600 mg at 0 h" in table.describe()

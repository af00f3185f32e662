"""Dosing as data: event tables (DoseRecords) from Python and CSV, NONMEM columns, refusals naming row and column."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cllsim.drugs import (
    MAX_DOSES,
    DoseRecord,
    DoseRecords,
    DoseTableError,
    RegimenError,
    Therapy,
    get_drug,
    parse_regimen,
    read_dose_records,
    regimen_warnings,
    split_dose_records,
)
from cllsim.model import load_table
from cllsim.simulate import DoseSchedule, schedule_parameter_ids


def schedule(dosing, until_h, drug="ibrutinib"):
    """The engine's dose changes (time, input, delta) of ``dosing`` for the packaged patient."""
    values = load_table(drug=drug).values()
    dosing_values = {k: np.array([values[k]]) for k in schedule_parameter_ids([drug])}
    return DoseSchedule.of(Therapy.of(dosing, drug), dosing_values, 1, until_h).changes[0]


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
    assert schedule(records, until_h) == schedule(reg, until_h)  # the engine's dose changes, exactly


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
    assert table.doses_by_food(48) == [("fasted", [(0.0, 420.0)]), ("fed", [(24.0, 420.0)])]
    ibrutinib = get_drug("ibrutinib")
    (fasted,) = ibrutinib.dose_inputs([(0.0, 420.0)], "fasted", values)
    (fed,) = ibrutinib.dose_inputs([(24.0, 420.0)], "fed", values)
    assert fasted[1] == values["ibrutinib_d1_fasted_h"] and fed[1] == values["ibrutinib_d1_fed_h"]
    # the engine doses each row under its own food state: the same as the two regimens together
    mixed = schedule(table, 48.0)
    assert sorted(mixed, key=lambda c: (c.time_h, c.delta)) == sorted(
        schedule(parse_regimen("420 mg once fasted"), 48.0) + schedule(parse_regimen("420 mg once from day 1"), 48.0),
        key=lambda c: (c.time_h, c.delta))


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


def test_nonmem_without_evid_observation_rows_and_observation_only_ids(tmp_path):
    path = write(tmp_path, "ID,TIME,AMT,DV\n1,0,420,.\n1,4,.,5.1\n1,24,0,4.9\n2,0,.,3.0\n")
    tables = split_dose_records(path)
    assert tables["1"].doses(until_h=100) == [(0.0, 420.0)] and tables["2"].is_untreated
    with pytest.raises(DoseTableError, match=r"line 3, column 'AMT': value missing"):
        read_dose_records(write(tmp_path, "TIME,AMT\n0,420\n4,.\n", "plain.csv"))  # no DV: a dose table
    with pytest.raises(DoseTableError, match="no ID column to split by"):
        split_dose_records(pd.DataFrame({"TIME": [0], "AMT": [420]}))


def test_nonmem_time_wins_over_study_day_and_covariates_are_ignored(tmp_path):
    path = write(tmp_path, "ID,DATE,TIME,DAY,NTIME,AMT,SEX,LNDV\n"
                           "1,2024-01-01,0,1,0,420,1,.\n1,2024-01-02,24,2,24,420,1,.\n")
    assert read_dose_records(path).doses(until_h=100) == [(0.0, 420.0), (24.0, 420.0)]


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
        ("AMT,II\n420,24\n", r"no time column \(columns: .AMT., .II.\); give time_h"),
        ("time_h,time_d,amt\n0,0,420\n", "two time columns"),
        ("when,amt\n0,420\n", r"no time column \(columns: 'when', 'amt'\)"),
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


_cells = st.one_of(
    st.integers(-5, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", ".", "NA", "1e400", "x", "mg", "g", "mg/kg", "fed", "fasted", "0", "1", "24", "-1", '"']),
)
_headers = st.lists(
    st.sampled_from(["time_h", "TIME", "day", "amt", "AMT", "unit", "ii", "II", "addl", "ADDL", "evid", "EVID",
                     "ID", "ss", "rate", "drug", "food", "dv", "adl", "tme", ""]),
    min_size=1, max_size=6,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(_headers, st.lists(st.lists(_cells, min_size=1, max_size=6), max_size=5))
def test_any_csv_gives_a_table_or_one_line_dose_table_error(tmp_path_factory, header, rows):
    path = tmp_path_factory.mktemp("fuzz") / "doses.csv"
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    try:
        table = read_dose_records(path)
    except DoseTableError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600 and "pydantic" not in str(exc)
        return
    until_h = 24 * 30.0
    if table.n_doses(until_h) <= table.max_doses:
        doses = table.doses(until_h)
        assert len(doses) == table.n_doses(until_h)
        assert all(0 <= t < until_h and a > 0 for t, a in doses) and doses == sorted(doses, key=lambda d: d[0])


@pytest.mark.parametrize(
    "text",
    ["420 mg qd x 3; hold 2 d; 280 mg bid x 5", "25 mg/kg qd x 2 fasted from day 3", "420 mg once from day 2",
     "420 mg q7h x 9; 100 mg qw x 3", "0.1 mg q0.3h x 7; hold 0.3 d; 5 mg qw x 2", "none"],
)
def test_table_back_to_regimen_text_gives_the_same_doses(text):
    reg = parse_regimen(text)
    table = reg.to_records(24 * 100.0)
    back = table.to_regimen()
    assert back.doses(24 * 100.0) == reg.doses(24 * 100.0) and back.food == reg.food
    assert parse_regimen(back.describe()).doses(24 * 100.0) == reg.doses(24 * 100.0)


def test_a_dose_by_dose_listing_reads_as_regimen_text():
    listing = read_dose_records(pd.DataFrame({"day": [0, 1, 2, 3, 4, 6, 7, 8, 9], "amt": [420] * 5 + [280] * 4}))
    assert listing.to_regimen().describe() == "420 mg qd x 5; hold 1 d; 280 mg qd x 4"
    overlapping = DoseRecords.from_rows([{"time_h": 0, "amount": 1, "ii_h": 24, "addl": 3},
                                         {"time_h": 30, "amount": 1}])
    with pytest.raises(DoseTableError, match="doses at 30 h overlap the doses before"):
        overlapping.to_regimen()
    with pytest.raises(DoseTableError, match="several food states"):
        DoseRecords.from_rows([{"time_h": 0, "amount": 1, "food": "fasted"}, {"time_h": 24, "amount": 1}]).to_regimen()


def test_a_table_is_a_therapy_with_one_course_per_drug():
    from cllsim.drugs import parse_therapy, therapy_warnings

    table = DoseRecords.from_rows([
        {"time_h": 0, "amount": 420, "ii_h": 24, "addl": 27},
        {"time_h": 672, "amount": 420, "ii_h": 24, "addl": 9, "drug": "ibrutinib"},
        {"time_h": 672, "amount": 400, "ii_h": 24, "addl": 9, "drug": "Venetoclax"},
    ])
    therapy = parse_therapy(table, "ibrutinib")
    assert [c.drug for c in therapy.courses] == ["ibrutinib", "venetoclax"]
    assert therapy.courses[0].regimen.n_doses(1e6) == 38 and therapy.courses[1].regimen.n_doses(1e6) == 10
    assert therapy.n_doses(1e6) == 48
    assert therapy.describe() == ("ibrutinib 420 mg at 0 h, +27 every 24 h; 420 mg at 672 h, +9 every 24 h"
                                  " + venetoclax 400 mg at 672 h, +9 every 24 h")
    (ramp,) = [w for w in therapy_warnings(therapy, 24 * 60.0) if "ramp-up" in w]
    assert ramp.startswith("venetoclax starts at 400 mg without the ramp-up")
    only = parse_therapy(table.for_drug(None), "acalabrutinib")  # untagged rows are the given drug's
    assert [c.drug for c in only.courses] == ["acalabrutinib"]

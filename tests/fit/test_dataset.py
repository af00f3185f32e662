"""Patient files with several patients, calendar dates and NONMEM-style datasets; malformed files refused."""

from __future__ import annotations

import datetime as dt

import pytest

from cllsim.drugs import DoseRecords
from cllsim.fit import DEFAULT_CMT, PatientDataError, parse_cmt, read_patient_csv, read_patients


def write(tmp_path, text: str, name: str = "data.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def refused(tmp_path, text: str, **kw) -> str:
    with pytest.raises(PatientDataError) as exc:
        read_patients(write(tmp_path, text), **kw)
    return str(exc.value)


MULTI = """id,day,alc_per_uL,ln_volume_cm3,ighv
A,0,52000,210,U
A,7,81000,,U
# a comment line

A,28,64000,120,U
B,0,30000,,M
B,14,50000,,
B,28,20000,,
"""


def test_id_column_gives_one_patient_each_with_its_ighv(tmp_path):
    ps = read_patients(write(tmp_path, MULTI), ighv=None)
    assert ps.ids == ["A", "B"] and ps.by_id and ps.layout == "table"
    a, b = ps.patients
    assert list(a.table["day"]) == [0, 7, 28] and a.ighv == "U"
    assert list(b.table["alc_per_uL"]) == [30000, 50000, 20000] and b.ighv == "M"
    assert a.table["ln_volume_cm3"].iloc[2] == 120


def test_existing_refusals_name_patient_line_and_column_in_a_multi_patient_file(tmp_path):
    # line numbers are the file's: the comment and blank lines (4, 5) are counted
    msg = refused(tmp_path, MULTI.replace("B,14,50000", "B,14,-5"))
    assert "patient B: line 8: alc_per_uL must not be negative" in msg
    msg = refused(tmp_path, MULTI.replace("A,28,64000", "A,7,64000"))
    assert "patient A: line 6: duplicate day 7 (also on line 3)" in msg
    msg = refused(tmp_path, MULTI.replace("30000", "30").replace("50000", "50").replace("20000", "20"))
    assert "patient B:" in msg and "x10^9/L" in msg
    assert "line 3: alc_per_uL 'lots' is not a number" in refused(tmp_path, MULTI.replace("81000", "lots"))


def test_bad_ids_and_inconsistent_ighv_are_refused_with_their_line(tmp_path):
    msg = refused(tmp_path, MULTI.replace("B,0,", "../etc,0,"))
    assert "line 7: id '../etc' must be letters, digits" in msg
    assert "line 3: id is empty" in refused(tmp_path, MULTI.replace("A,7,", ",7,"))
    msg = refused(tmp_path, MULTI.replace("A,7,81000,,U", "A,7,81000,,M"))
    assert "line 3: ighv M differs from U on line 2 for patient A" in msg
    assert "line 2: ighv 'X' must be U or M" in refused(tmp_path, MULTI.replace("210,U", "210,X"))
    assert "differs from the IGHV status given (M)" in refused(tmp_path, MULTI, ighv="M")


def test_read_patient_csv_needs_one_patient(tmp_path):
    with pytest.raises(PatientDataError, match="holds 2 patients"):
        read_patient_csv(write(tmp_path, MULTI))


DATED = "date,alc_per_uL\n2024-01-15,52000\n2024-01-22,81000\n2024-02-12T12:00,64000\n"


def test_date_column_becomes_days_since_the_first_dose(tmp_path):
    d = read_patient_csv(write(tmp_path, DATED), first_dose="2024-01-15")
    assert list(d.table["day"]) == [0, 7, 28.5]
    assert d.first_dose == dt.date(2024, 1, 15)


def test_date_column_refusals_name_line_and_column(tmp_path):
    assert "column 'date' needs the date of the first dose" in refused(tmp_path, DATED)
    msg = refused(tmp_path, DATED.replace("2024-01-22", "22/01/2024"), first_dose="2024-01-15")
    assert "line 3: date '22/01/2024' is not a date (YYYY-MM-DD)" in msg
    msg = refused(tmp_path, DATED, first_dose="2024-01-20")
    assert "line 2: date 2024-01-15 is before the first dose (2024-01-20)" in msg
    assert "either a 'day' or a 'date' column" in refused(tmp_path, "day,date,alc_per_uL\n0,2024-01-01,5e4\n")


NONMEM = """ID,TIME,DV,CMT,MDV,EVID,AMT,II,ADDL,WT
1,0,.,1,1,1,420,24,27,70
1,0,52000,1,0,0,.,.,.,70
1,0,210,2,0,0,.,.,.,70
1,168,81000,1,0,0,.,.,.,70
1,672,64000,1,0,0,.,.,.,70
1,672,.,1,1,1,280,24,100,70
1,672,150,2,0,0,.,.,.,70
2,24,.,1,1,1,420,24,60,80
2,24,30000,1,0,0,.,.,.,80
2,360,50000,1,0,0,.,.,.,80
2,696,20000,1,0,0,.,.,.,80
2,696,500,3,0,0,.,.,.,80
"""


def test_nonmem_dataset_is_split_by_id_with_its_doses_as_the_regimen(tmp_path):
    ps = read_patients(write(tmp_path, NONMEM), regimen="560 mg qd")
    assert ps.layout == "nonmem" and ps.ids == ["1", "2"]
    assert any("'WT'" in n for n in ps.notes)  # covariates are ignored, and said so
    p1, p2 = ps.patients
    assert p1.dosing == "dose records"
    assert list(p1.table["day"]) == [0, 7, 28]
    assert list(p1.table["ln_volume_cm3"].dropna()) == [210, 150]
    assert isinstance(p1.regimen, DoseRecords)
    doses = p1.regimen.doses(2000 * 24.0)
    assert len(doses) == 28 + 101  # ADDL 27 and 100 additional doses, nothing after the last record
    assert doses[0] == (0.0, 420.0) and doses[27] == (27 * 24.0, 420.0) and doses[28] == (672.0, 280.0)
    assert doses[-1][0] == pytest.approx(672.0 + 100 * 24.0)
    # overlapping records add up, as in NONMEM
    ps = read_patients(write(tmp_path, NONMEM.replace("1,672,.,1,1,1,280", "1,600,.,1,1,1,280")))
    assert len(ps.patients[0].regimen.doses(2000 * 24.0)) == 28 + 101
    # patient 2's first dose (TIME 24 h) is its day 0; CMT 3 is the spleen volume
    assert list(p2.table["day"]) == [0, 14, 28]
    assert p2.table["spleen_volume_cm3"].iloc[2] == 500
    assert p2.regimen.doses(10_000.0)[0] == (0.0, 420.0)


def test_nonmem_without_dose_records_uses_the_regimen_and_dvid_wins_over_cmt(tmp_path):
    text = "ID,TIME,DV,CMT,DVID\n7,0,52000,9,1\n7,7,81000,9,1\n7,28,64000,9,1\n7,28,100,9,2\n"
    (p,) = read_patients(write(tmp_path, text), regimen="420 mg qd", time_unit="day").patients
    assert p.dosing == "regimen" and p.regimen.describe() == "420 mg qd"
    assert list(p.table["day"]) == [0, 7, 28] and p.table["ln_volume_cm3"].iloc[2] == 100
    # codes mapped otherwise
    text = "ID,TIME,DV,CMT\n7,0,52000,4\n7,168,81000,4\n7,672,64000,4\n"
    (p,) = read_patients(write(tmp_path, text), cmt="4=alc_per_uL").patients
    assert list(p.table["day"]) == [0, 7, 28]


def test_nonmem_dates_take_day_0_from_the_first_dose_record(tmp_path):
    text = ("ID,DATE,DV,DVID,EVID,AMT,II,ADDL\n"
            "5,2024-03-01T08:00,.,.,1,420,24,200\n5,2024-03-01T08:00,52000,1,0,.,.,.\n"
            "5,2024-03-08T08:00,81000,1,0,.,.,.\n5,2024-03-29T20:00,64000,1,0,.,.,.\n")
    (p,) = read_patients(write(tmp_path, text)).patients
    assert p.first_dose == dt.date(2024, 3, 1)
    assert list(p.table["day"]) == [0, 7, 28.5]
    assert "differs from the first dose date given" in refused(tmp_path, text, first_dose="2024-02-01")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("1,168,81000,1,0", "1,168,81000,5,0"), "line 5: CMT 5 is not a known observation type"),
        (("1,168,81000,", "1,168,high,"), "line 5: DV 'high' is not a number"),
        (("1,168,81000,1,0,0", "1,168,.,1,0,0"), "line 5: DV is empty on an observation row"),
        (("1,0,.,1,1,1,420,24,27", "1,0,.,1,1,4,420,24,27"), "line 2: EVID 4 (reset and dose) is not supported"),
        (("1,0,.,1,1,1,420,24,27", "1,0,.,1,1,1,420,0,27"), "line 2: ADDL 27 needs II > 0"),
        (("1,0,.,1,1,1,420,24,27", "1,0,.,1,1,1,-420,24,27"), "line 2: AMT must be a dose > 0"),
        (("1,0,.,1,1,1,420,24,27", "1,0,.,1,1,1,420,24,2.5"), "line 2: ADDL must be a whole number"),
        (("1,0,.,1,1,1,420,24,27", "1,0,.,1,1,1,420,24,27,70,1"),
         "line 2: 12 cells, more than the 10 columns of the header"),
        (("1,672,64000,1,0", "1,168,64000,1,0"),
         "patient 1: line 6: second alc_per_uL value on day 7 (also on line 5)"),
        (("2,24,30000,1,0", "2,0,30000,1,0"), "patient 2: line 10: observation TIME is before the patient's first "
                                              "dose (line 9)"),
        (("1,168,81000,1,0", "1,168,-81000,1,0"), "patient 1: line 5: alc_per_uL must not be negative"),
        (("2,360,50000", "2/x,360,50000"), "line 11: ID '2/x' must be letters, digits"),
        (("1,168,81000", "1,1 week,81000"), "line 5: TIME '1 week' is not a number"),
    ],
)
def test_malformed_nonmem_rows_are_refused_naming_line_and_column(tmp_path, change, message):
    old, new = change
    assert old in NONMEM
    msg = refused(tmp_path, NONMEM.replace(old, new, 1))
    assert message in msg, msg


def test_nonmem_header_problems(tmp_path):
    assert "missing required column ID" in refused(tmp_path, "TIME,DV\n0,5\n")
    assert "missing required column TIME (or DATE)" in refused(tmp_path, "ID,DV\n1,5\n")
    assert "either a TIME column" in refused(tmp_path, "ID,TIME,DATE,DV\n1,0,2024-01-01,5\n")
    assert "column TIME appears more than once" in refused(tmp_path, "ID,TIME,time,DV\n1,0,0,5\n")


def test_cmt_map_parsing():
    assert parse_cmt(None) == DEFAULT_CMT
    assert parse_cmt(" 4=alc_per_uL, 5 = spleen_volume_cm3") == {4: "alc_per_uL", 5: "spleen_volume_cm3"}
    for bad, message in (("1=alc", "not a measured observable"), ("x=alc_per_uL", "integer code"),
                         ("1", "code=observable"), ("1=alc_per_uL,1=ln_volume_cm3", "twice"), (",", "empty")):
        with pytest.raises(ValueError, match=message):
            parse_cmt(bad)


def test_too_many_issues_are_cut_with_a_count(tmp_path):
    rows = "".join(f"1,{i},bad{i},1\n" for i in range(40))
    msg = refused(tmp_path, "ID,TIME,DV,CMT\n" + rows)
    assert "... and 20 more" in msg and "line 2: DV 'bad0'" in msg


def test_shipped_nonmem_example_is_valid_and_matches_its_script(tmp_path):
    """examples/patients_nonmem.csv reads cleanly and is what examples/make_synthetic_nonmem.py writes."""
    import runpy
    import shutil
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    ps = read_patients(examples / "patients_nonmem.csv")
    assert ps.ids == ["101", "102"] and all(p.dosing == "dose records" for p in ps)
    assert [p.ighv for p in ps] == ["U", "M"]
    interrupted = ps.patients[1].regimen.daily_doses_mg(400 * 24.0)
    assert interrupted[55] == 420 and 58 not in interrupted and interrupted[63] == 280
    shutil.copy(examples / "make_synthetic_nonmem.py", tmp_path)
    runpy.run_path(str(tmp_path / "make_synthetic_nonmem.py"), run_name="__main__")
    assert (tmp_path / "patients_nonmem.csv").read_text() == (examples / "patients_nonmem.csv").read_text()

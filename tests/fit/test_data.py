"""Patient CSV import: accepted format and every refusal rule (issue 4, deliverable 1)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.fit import PatientDataError, make_patient_data, read_patient_csv


def write(tmp_path, text: str, name: str = "p.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = "day,alc_per_uL,ln_volume_cm3,spleen_volume_cm3\n28,64000,120,\n0,52000,210,480\n7,81000,,\n56,30000,,300\n"


def test_valid_csv_is_read_sorted_with_empty_cells(tmp_path):
    d = read_patient_csv(write(tmp_path, GOOD), regimen="420 mg qd", ighv="m-cll")
    assert list(d.table["day"]) == [0, 7, 28, 56]
    assert d.ighv == "M"
    assert d.patient_id == "p"
    assert math.isnan(d.table.loc[1, "ln_volume_cm3"])
    assert d.observed == ("alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3")
    m = d.measurements()
    assert len(m) == 4 + 2 + 2
    assert d.last_day == 56


def test_optional_columns_may_be_absent_and_thousands_separators(tmp_path):
    d = read_patient_csv(write(tmp_path, 'day,alc_per_uL\n0,"52,000"\n7,81000\n28,40000\n'))
    assert d.observed == ("alc_per_uL",)
    assert d.table["alc_per_uL"].iloc[0] == 52000


def refused(tmp_path, text: str, **kw) -> str:
    with pytest.raises(PatientDataError) as exc:
        read_patient_csv(write(tmp_path, text), **kw)
    return str(exc.value)


def test_missing_required_column_named_with_hint(tmp_path):
    msg = refused(tmp_path, "day,alc\n0,52000\n7,81000\n28,40000\n")
    assert "missing required column 'alc_per_uL'" in msg and "found 'alc'" in msg
    msg = refused(tmp_path, "alc_per_uL\n52000\n81000\n40000\n")
    assert "missing required column 'day'" in msg


def test_unknown_column_refused(tmp_path):
    assert "unknown column 'cd19'" in refused(tmp_path, "day,alc_per_uL,cd19\n0,52000,1\n7,81000,1\n28,4e4,1\n")


def test_non_numeric_value_names_line_and_column(tmp_path):
    msg = refused(tmp_path, "day,alc_per_uL\n0,52000\n7,high\n28,40000\n")
    assert "line 3: alc_per_uL 'high' is not a number" in msg


def test_negative_values_refused(tmp_path):
    assert "line 3: alc_per_uL must not be negative" in refused(tmp_path, "day,alc_per_uL\n0,52000\n7,-5\n28,4e4\n")
    assert "day must be >= 0" in refused(tmp_path, "day,alc_per_uL\n-7,52000\n7,81000\n28,4e4\n")
    assert "ln_volume_cm3 must not be negative" in refused(
        tmp_path, "day,alc_per_uL,ln_volume_cm3\n0,52000,-1\n7,81000,\n28,4e4,\n"
    )


def test_duplicate_days_refused(tmp_path):
    msg = refused(tmp_path, "day,alc_per_uL\n0,52000\n7,81000\n7,80000\n28,4e4\n")
    assert "line 4: duplicate day 7 (also on line 3)" in msg


@pytest.mark.parametrize(
    "text, unit",
    [
        ("day,alc_per_uL\n0,52\n7,81.5\n28,40\n", "x10^9/L"),
        ("day,alc_per_uL\n0,5.2e10\n7,8.1e10\n28,4e10\n", "per litre"),
        ("day,alc_per_uL,ln_volume_cm3\n0,52000,210000\n7,81000,\n28,40000,\n", "mm3"),
        ("day,alc_per_uL,spleen_volume_cm3\n0,52000,0.45\n7,81000,\n28,40000,0.3\n", "litres"),
    ],
)
def test_wrong_units_detected_and_named(tmp_path, text, unit):
    assert unit in refused(tmp_path, text)


def test_plausible_units_pass_the_unit_screen(tmp_path):
    # boundary cases that are real CLL values in the right units
    d = read_patient_csv(write(tmp_path, "day,alc_per_uL,spleen_volume_cm3\n0,1200\n7,4e5,2500\n28,9000,\n"))
    assert d.table["alc_per_uL"].max() == 4e5


def test_too_few_counts_and_bad_ighv_and_untreated(tmp_path):
    assert "at least 3 alc_per_uL" in refused(tmp_path, "day,alc_per_uL\n0,52000\n7,81000\n")
    assert "IGHV" in refused(tmp_path, GOOD, ighv="X")
    assert "regimen is 'none'" in refused(tmp_path, GOOD, regimen="none")


def test_in_memory_table_is_validated():
    tab = pd.DataFrame({"day": [0.0, 7.0, 28.0], "alc_per_uL": [5e4, np.nan, 3e4]})
    with pytest.raises(PatientDataError, match="at least 3"):
        make_patient_data(tab)


def test_cli_refuses_bad_csv_with_one_line_and_no_output(tmp_path):
    csv = write(tmp_path, "day,alc_per_uL\n0,52\n7,81\n28,40\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["fit", str(csv), "--out", str(out)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "x10^9/L" in " ".join(res.output.split())  # rich wraps long lines
    assert not (out / "metadata.json").exists()
    res = CliRunner().invoke(app, ["fit", str(tmp_path / "missing.csv"), "--out", str(out)])
    assert res.exit_code == 2 and "file not found" in " ".join(res.output.split())


def test_named_parameter_subsets():
    from cllsim.fit import DEFAULT_ESTIMATED, EXTENDED_ESTIMATED, parse_subset

    assert parse_subset(None) == DEFAULT_ESTIMATED
    assert parse_subset("Extended") == EXTENDED_ESTIMATED
    assert set(DEFAULT_ESTIMATED) < set(EXTENDED_ESTIMATED)
    assert parse_subset(" a, b ") == ("a", "b")
    with pytest.raises(ValueError, match="twice"):
        parse_subset("a,a")
    with pytest.raises(ValueError, match="no parameter"):
        parse_subset(",")


def test_patient_data_errors_are_input_errors_and_an_unknown_estimate_suggests_the_id():
    import cllsim
    from cllsim.fit import PatientDataError, estimated_parameters

    assert issubclass(PatientDataError, cllsim.PatientDataError)
    with pytest.raises(cllsim.ParameterError, match="unknown parameter 'bcr_strenght'; did you mean 'bcr_strength'"):
        estimated_parameters(["bcr_strenght"], "U")


def test_shipped_example_patient_is_valid_and_matches_its_script(tmp_path):
    """examples/patient_synthetic.csv reads cleanly and is what examples/make_synthetic_patient.py writes."""
    import runpy
    import shutil
    from pathlib import Path

    from cllsim.fit import read_patient_csv

    examples = Path(__file__).resolve().parents[2] / "examples"
    data = read_patient_csv(examples / "patient_synthetic.csv", regimen="420 mg qd", ighv="U")
    assert data.last_day == 168 and set(data.observed) == {"alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3"}
    shutil.copy(examples / "make_synthetic_patient.py", tmp_path)
    runpy.run_path(str(tmp_path / "make_synthetic_patient.py"), run_name="__main__")
    assert (tmp_path / "patient_synthetic.csv").read_text() == (examples / "patient_synthetic.csv").read_text()

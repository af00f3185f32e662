"""Patient CSVs under hostile input (issue 13): '#' only comments whole lines, days bounded,
huge cells and files refused without echoing them whole."""

from __future__ import annotations

import pandas as pd
import pytest

from cllsim.fit import PatientDataError, make_patient_data, read_patient_csv
from cllsim.fit._data import MAX_FILE_BYTES


def refused(tmp_path, text: str) -> str:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(PatientDataError) as exc:
        read_patient_csv(path)
    return str(exc.value)


def test_whole_line_comments_are_still_comments(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("# exported from the clinic\nday,alc_per_uL\n0,52000\n  # a visit left out\n7,81000\n28,64000\n")
    assert list(read_patient_csv(path).table["alc_per_uL"]) == [52000, 81000, 64000]


@pytest.mark.parametrize("cell", ["70013#x", "70013 # checked", "#70013"])
def test_a_hash_inside_a_cell_is_refused_not_truncated(tmp_path, cell):
    message = refused(tmp_path, f"day,alc_per_uL\n0,52000\n7,{cell}\n28,64000\n")
    assert "is not a number" in message and "comment only at the start of a line" in message


def test_days_beyond_a_century_are_refused(tmp_path):
    message = refused(tmp_path, "day,alc_per_uL\n0,52000\n7,81000\n10000000,64000\n")
    assert "day 1e+07 is more than 36500 days" in message
    with pytest.raises(PatientDataError, match="more than 36500 days"):
        make_patient_data(pd.DataFrame({"day": [0.0, 7.0, 4e4], "alc_per_uL": [5e4, 8e4, 6e4]}))


def test_huge_cells_and_column_names_are_echoed_short(tmp_path):
    message = refused(tmp_path, "day,alc_per_uL\n0,52000\n7," + "x" * 100_000 + "\n28,64000\n")
    assert "100,000 characters" in message and len(message) < 300
    message = refused(tmp_path, "day,alc_per_uL," + "c" * 100_000 + "\n0,52000,1\n7,81000,1\n28,64000,1\n")
    assert "100,000 characters" in message and len(message) < 400


def test_a_file_too_large_for_one_patient_is_refused_unread(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w") as fh:
        fh.write("day,alc_per_uL\n")
        fh.seek(MAX_FILE_BYTES + 10)
        fh.write("\n")
    with pytest.raises(PatientDataError, match="is not one patient's visits"):
        read_patient_csv(path)

"""The parameters table: every row has unit, bounds, source; bad tables are refused by row."""

from pathlib import Path

import pandas as pd
import pytest

from cllsim.model import ParameterTableError, ighv_conditions, load_table, model_parameter_ids
from cllsim.model._parameters import default_table_paths


@pytest.fixture()
def table_files(tmp_path: Path) -> list[Path]:
    """Copies of the packaged tables that a test may break."""
    out = []
    for p in default_table_paths():
        dst = tmp_path / p.name
        dst.write_text(p.read_text())
        out.append(dst)
    return out


def _edit(path: Path, fn) -> None:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(path, sep="\t", index=False)


def test_packaged_table_is_complete_and_sourced():
    table = load_table()
    df = table.to_df()
    assert set(df.index) == set(model_parameter_ids())
    assert (df["unit"].str.len() > 0).all()
    assert (df["source"].str.len() > 1).all()
    assert ((df.lowerBound <= df.nominalValue) & (df.nominalValue <= df.upperBound)).all()


def test_ighv_conditions_within_bounds_and_u_stronger():
    table = load_table()
    for ighv, values in ighv_conditions().items():
        table.with_values(values, what=ighv)  # raises if outside bounds
    # K7: BCR signalling capacity U-CLL > M-CLL
    assert ighv_conditions()["U"]["bcr_strength"] > ighv_conditions()["M"]["bcr_strength"]


def test_unknown_id_is_refused_naming_row(table_files):
    def add(df):
        row = df.iloc[0].copy()
        row["parameterId"] = "warp_drive_per_day"
        return pd.concat([df, row.to_frame().T], ignore_index=True)

    _edit(table_files[0], add)
    with pytest.raises(ParameterTableError, match="warp_drive_per_day.*unknown parameterId"):
        load_table(table_files)


def test_missing_unit_is_refused_naming_row(table_files):
    def blank(df):
        df.loc[df.parameterId == "cxcr4_kd_nM", "unit"] = ""
        return df

    _edit(table_files[0], blank)
    with pytest.raises(ParameterTableError, match=r"line \d+ \(cxcr4_kd_nM\): unit"):
        load_table(table_files)


def test_value_outside_bounds_is_refused_naming_row(table_files):
    def out_of_bounds(df):
        df.loc[df.parameterId == "blood_volume_L", "nominalValue"] = "50"
        return df

    _edit(table_files[0], out_of_bounds)
    with pytest.raises(ParameterTableError, match=r"blood_volume_L.*outside bounds"):
        load_table(table_files)


def test_duplicate_is_refused_naming_row(table_files):
    def dup(df):
        return pd.concat([df, df[df.parameterId == "ibrutinib_fu"]], ignore_index=True)

    _edit(table_files[1], dup)
    with pytest.raises(ParameterTableError, match=r"\(ibrutinib_fu\): duplicate parameterId"):
        load_table(table_files)


def test_non_numeric_value_and_missing_row_are_refused(table_files):
    def garble(df):
        df.loc[df.parameterId == "ibrutinib_cl_L_per_h", "nominalValue"] = "fast"
        return df[df.parameterId != "ibrutinib_lag_h"]

    _edit(table_files[1], garble)
    with pytest.raises(ParameterTableError) as info:
        load_table(table_files)
    text = str(info.value)
    assert "ibrutinib_cl_L_per_h" in text and "nominalValue" in text


def test_missing_row_is_refused(table_files):
    _edit(table_files[1], lambda df: df[df.parameterId != "ibrutinib_lag_h"])
    with pytest.raises(ParameterTableError, match="no row for model parameter 'ibrutinib_lag_h'"):
        load_table(table_files)


def test_log_scale_needs_positive_lower_bound(table_files):
    def bad_scale(df):
        df.loc[df.parameterId == "ibrutinib_ka_per_h", "lowerBound"] = "0"
        return df

    _edit(table_files[1], bad_scale)
    with pytest.raises(ParameterTableError, match="ibrutinib_ka_per_h.*positive lowerBound"):
        load_table(table_files)


def test_unreadable_table_gives_clear_error(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ParameterTableError, match="bad.tsv"):
        load_table([bad])


def test_override_outside_bounds_names_parameter():
    with pytest.raises(ParameterTableError, match="bcr_strength.*outside bounds"):
        load_table().with_values({"bcr_strength": 10.0})


def test_errors_are_parameter_errors_of_the_input_branch():
    import cllsim

    assert issubclass(ParameterTableError, cllsim.ParameterError)
    assert issubclass(ParameterTableError, cllsim.InputError)
    assert not issubclass(ParameterTableError, cllsim.ModelError)


def test_unknown_override_suggests_the_closest_id_in_one_line():
    with pytest.raises(ParameterTableError) as info:
        load_table().with_values({"body_weight": 60.0}, what="--set")
    assert str(info.value) == (
        "invalid parameter values: --set: unknown parameter 'body_weight'; did you mean 'body_weight_kg'?"
    )
    with pytest.raises(ParameterTableError) as info:  # nothing close: no suggestion
        load_table().with_values({"warp_drive_per_day": 1.0})
    assert "did you mean" not in str(info.value)


def test_misspelt_table_row_suggests_the_model_id(table_files):
    _edit(table_files[0], lambda df: df.replace({"parameterId": {"body_weight_kg": "body_weigth_kg"}}))
    with pytest.raises(ParameterTableError, match="body_weigth_kg.*unknown parameterId.*did you mean 'body_weight_kg'"):
        load_table(table_files)


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_a_non_finite_between_patient_sd_is_refused(table_files, value):
    def infinite(df):
        df.loc[df.parameterId == "baseline_alc_per_uL", "iivSD"] = value
        return df

    _edit(table_files[0], infinite)
    with pytest.raises(ParameterTableError, match=r"baseline_alc_per_uL.*iivSD"):
        load_table(table_files)


def test_a_negative_physical_quantity_is_refused(table_files):
    def negative(df):
        row = df.parameterId == "body_weight_kg"
        df.loc[row, ["lowerBound", "nominalValue"]] = ["-100", "-5"]
        return df

    path = next(p for p in table_files if "body_weight_kg" in p.read_text())
    _edit(path, negative)
    with pytest.raises(ParameterTableError, match=r"body_weight_kg.*negative; kg cannot be below 0"):
        load_table(table_files)

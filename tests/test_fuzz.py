"""Fuzzing the user-facing inputs (issue 13, deliverable 9): the regimen parser, the patient CSV
reader, parameter tables and overrides, and CLI options.

Each property asserts the same contract: a clean result that satisfies the input's own rules,
or one of the project's :class:`cllsim.InputError` s; never any other exception (on the command
line: exit code 0 or 2 with one line, never 1). A last property runs random in-bounds parameter
sets through the cohort engine and checks that a success has no negative or non-finite cell
count or concentration.

The default suite runs :data:`FAST` (50 examples a property, seconds); the ``slow`` variants run
:data:`MANY`.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cllsim import InputError, ParameterError
from cllsim.cli import app
from cllsim.drugs import Regimen, RegimenError, parse_regimen, regimen_warnings
from cllsim.drugs._regimen import FREQUENCIES_H
from cllsim.fit import PatientDataError, read_patient_csv
from cllsim.model import load_table
from cllsim.model._parameters import default_table_paths
from cllsim.simulate._api import MAX_DAYS

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
MANY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# ---- strategies: mostly near the grammar, where the interesting mistakes are, plus any text
_numbers = st.one_of(
    st.integers(-10, 10**7).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-0", "1e400", "1" + "0" * 400, "0.0001", "1e-300", "nan", "inf", "", "٣", "4 2", "1,5"]),
)
_units = st.sampled_from(["mg", "mg/kg", "g", "", "MG", "mg/m2", "µg"])
_freqs = st.sampled_from([*FREQUENCIES_H, "once", "q0.001h", "q0h", "q1e5h", "q7h", "q0.5h", "x", "prn"])
_counts = st.one_of(st.just(""), st.integers(-3, 10**20).map(lambda n: f" x {n}"), st.just(" × 3"))
_dose = st.builds(lambda a, u, f, c: f"{a} {u} {f}{c}", _numbers, _units, _freqs, _counts)
_hold = st.builds(lambda d, w: f"{w} {d} d", _numbers, st.sampled_from(["hold", "pause", "interruption", "stop"]))
_qualifier = st.one_of(st.sampled_from([" fed", " fasted", " FED"]), _numbers.map(lambda d: f" from day {d}"))
_regimen_text = st.one_of(
    st.builds(
        lambda segs, quals: "; ".join(segs) + "".join(quals),
        st.lists(st.one_of(_dose, _hold), min_size=1, max_size=4),
        st.lists(_qualifier, max_size=3),
    ),
    st.sampled_from(["none", "untreated", "", "   ", ";", "0", "420 mg qd;;", "420mg qd"]),
    st.text(max_size=80),
)


def check_regimen(text: str, until_h: float) -> None:
    try:
        reg = parse_regimen(text)
    except InputError as exc:
        assert isinstance(exc, RegimenError) and "\n" not in str(exc) and len(str(exc)) < 600
        return
    assert isinstance(reg, Regimen)
    n = reg.n_doses(until_h)
    try:
        doses = reg.doses(until_h, body_weight_kg=80.0)
    except RegimenError as exc:
        assert n > reg.max_doses and "limit" in str(exc)
        return
    assert len(doses) == n
    assert all(math.isfinite(t) and 0 <= t < until_h and math.isfinite(a) and a > 0 for t, a in doses)
    assert [t for t, _ in doses] == sorted(t for t, _ in doses)
    regimen_warnings(reg, until_h)  # never raises on a valid regimen
    again = parse_regimen(reg.describe())  # the canonical form reads back to the same regimen
    assert (again.segments, again.food, again.start_day) == (reg.segments, reg.food, reg.start_day)


_until = st.floats(0.0, MAX_DAYS * 24.0)


@FAST
@given(_regimen_text, _until)
def test_regimen_parser_gives_a_regimen_or_a_regimen_error(text, until_h):
    check_regimen(text, until_h)


@pytest.mark.slow
@MANY
@given(_regimen_text, _until)
def test_regimen_parser_gives_a_regimen_or_a_regimen_error_many(text, until_h):
    check_regimen(text, until_h)


# ---- patient CSV
_columns = st.sampled_from(["day", "alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3", "alc", "time", "x", "", "day "])
_cell = st.one_of(
    st.integers(-10, 10**8).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "NA", "nd", "-", "70013#x", "#", '"52,000"', "1e7", "5e4", " 7", "1,2", '"', "\t"]),
    st.text(max_size=12),
)
_csv_text = st.one_of(
    st.builds(
        lambda header, rows, comment: comment + ",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n",
        st.lists(_columns, min_size=1, max_size=5),
        st.lists(st.lists(_cell, min_size=0, max_size=5), max_size=8),
        st.sampled_from(["", "# a comment\n", "\ufeff"]),
    ),
    st.text(max_size=200),
)
_good_rows = st.lists(
    st.tuples(st.floats(0, 2000).map(lambda d: f"{d:.1f}"), st.integers(1000, 10**6).map(str)), min_size=3, max_size=10
)


def check_csv(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "p.csv")
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            data = read_patient_csv(path)
        except InputError as exc:
            assert isinstance(exc, PatientDataError) and len(str(exc)) < 20_000
            return
    days = data.table["day"].to_numpy()
    alc = data.table["alc_per_uL"].to_numpy()
    assert np.all(np.isfinite(days)) and np.all(days >= 0) and np.all(days <= MAX_DAYS)
    assert np.all(np.diff(days) > 0)
    assert np.isfinite(alc).sum() >= 3 and np.all(alc[np.isfinite(alc)] > 0)
    for column in ("ln_volume_cm3", "spleen_volume_cm3"):
        values = data.table[column].to_numpy()
        assert np.all(values[np.isfinite(values)] > 0) and not np.any(np.isinf(values))


@FAST
@given(_csv_text)
def test_patient_csv_reader_gives_data_or_a_patient_data_error(text):
    check_csv(text)


@FAST
@given(_good_rows)
def test_well_formed_patient_csvs_are_read(rows):
    text = "day,alc_per_uL\n" + "\n".join(f"{d},{a}" for d, a in rows) + "\n"
    check_csv(text)
    if len({float(d) for d, _ in rows}) == len(rows):  # distinct visits in plausible units: accepted
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "p.csv")
            path.write_text(text)
            assert len(read_patient_csv(path).table) == len(rows)


@pytest.mark.slow
@MANY
@given(_csv_text)
def test_patient_csv_reader_gives_data_or_a_patient_data_error_many(text):
    check_csv(text)


# ---- parameter tables and overrides
_TABLES = {p.name: p.read_text() for p in default_table_paths()}
_ROW_IDS = sorted(load_table().rows)
_table_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "-1", "0", "1e400", "abc", "log", "lin", "log10", "nan", "inf", "-inf", "2", "x" * 500]),
    st.text(max_size=10),
)
_table_column = st.sampled_from(
    ["nominalValue", "lowerBound", "upperBound", "iivSD", "parameterScale", "estimate", "unit", "source", "parameterId"]
)


def check_table_edit(edits: list[tuple[str, str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, text in _TABLES.items():
            df = pd.read_csv(pd.io.common.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
            for pid, column, value in edits:
                df.loc[df["parameterId"] == pid, column] = value
            path = Path(tmp, name)
            df.to_csv(path, sep="\t", index=False)
            paths.append(path)
        try:
            table = load_table(paths)
        except InputError as exc:
            assert isinstance(exc, ParameterError)
            return
    for row in table.rows.values():
        assert all(math.isfinite(v) for v in (row.nominalValue, row.lowerBound, row.upperBound, row.iivSD))
        assert row.lowerBound <= row.nominalValue <= row.upperBound and row.iivSD >= 0
        assert row.lowerBound >= 0 or row.unit == "dimensionless"


@FAST
@given(st.lists(st.tuples(st.sampled_from(_ROW_IDS), _table_column, _table_cell), min_size=1, max_size=3))
def test_parameter_tables_load_valid_or_give_a_parameter_error(edits):
    check_table_edit(edits)


@pytest.mark.slow
@MANY
@given(st.lists(st.tuples(st.sampled_from(_ROW_IDS), _table_column, _table_cell), min_size=1, max_size=3))
def test_parameter_tables_load_valid_or_give_a_parameter_error_many(edits):
    check_table_edit(edits)


@FAST
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(_ROW_IDS), st.text(max_size=20)),
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.none()),
        max_size=4,
    )
)
def test_parameter_overrides_apply_or_give_a_parameter_error(overrides):
    table = load_table()
    try:
        changed = table.with_values(overrides)
    except InputError as exc:
        assert isinstance(exc, ParameterError)
        return
    for pid, row in changed.rows.items():
        assert math.isfinite(row.nominalValue) and row.lowerBound <= row.nominalValue <= row.upperBound, pid


# ---- CLI options: every refusal one line with exit 2; acceptance reaches the engine call
class Accepted(Exception):  # noqa: N818 - a signal, not an error
    """Raised in place of the engine call: the command accepted its options."""


def _accept(*args, **kwargs):
    raise Accepted


_option_value = st.one_of(
    _numbers,
    st.sampled_from(["U", "M", "m-cll", "X", "ibrutinib", "acalabrutinib", "aspirin", "none", "cohort", "jax",
                     "reference", "roadrunner", "laplace", "profile", "mcmc", "2024-01-01", "2024-13-01"]),
    _regimen_text,
    st.text(max_size=15),
)
_COMMAND_OPTIONS = {
    "simulate": ["--ighv", "--regimen", "--days", "--set", "--drug", "--engine", "--max-doses"],
    "cohort": ["--n", "--ighv-u-fraction", "--regimen", "--days", "--seed", "--chunk-size", "--rtol",
               "--baseline-alc", "--baseline-alc-sd-log", "--max-doses", "--covariate", "--population"],
    "fit": ["--regimen", "--ighv", "--starts", "--uncertainty", "--samples", "--band", "--seed", "--estimate",
            "--start-date", "--max-doses"],
}


@pytest.fixture()
def engines_replaced(monkeypatch, tmp_path):
    """Commands run their checks, then stop where the engine (or the fit, or the cohort) would start."""
    import cllsim.cohort._run
    import cllsim.fit._fit

    monkeypatch.setattr(sys.modules["cllsim.simulate"], "simulate", _accept)
    monkeypatch.setattr(cllsim.cohort._run, "run_cohort", _accept)
    monkeypatch.setattr(cllsim.fit._fit, "fit_patient", _accept)
    monkeypatch.delenv("CLLSIM_DEBUG", raising=False)
    data = tmp_path / "patient.csv"
    data.write_text("day,alc_per_uL\n0,52000\n7,81000\n28,64000\n")
    return tmp_path


def check_cli(folder: Path, command: str, options: list[tuple[str, str]]) -> None:
    args = [command] + ([str(folder / "patient.csv")] if command == "fit" else [])
    for flag, value in options:
        args += [flag, value]
    args += ["--out", str(folder / "out")] + (["--workers", "1"] if command != "simulate" else [])
    res = CliRunner().invoke(app, args)
    if res.exit_code == 2:
        assert res.stderr.startswith("error:") and res.stderr.count("\n") == 1, (args, res.stderr)
        assert len(res.stderr) < 1200 and "Traceback" not in res.output
        assert not (folder / "out" / "metadata.json").exists()
    else:
        # anything else must be the engine call reached: no bug and no model failure on the way
        assert res.exit_code == 1 and "(Accepted)" in res.stderr, (args, res.exit_code, res.output)


_cli_case = st.sampled_from(sorted(_COMMAND_OPTIONS)).flatmap(
    lambda cmd: st.tuples(
        st.just(cmd), st.lists(st.tuples(st.sampled_from(_COMMAND_OPTIONS[cmd]), _option_value), max_size=4)
    )
)


@settings(FAST, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_cli_case)
def test_cli_options_are_accepted_or_refused_in_one_line(engines_replaced, case):
    check_cli(engines_replaced, *case)


@pytest.mark.slow
@settings(MANY, max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_cli_case)
def test_cli_options_are_accepted_or_refused_in_one_line_many(engines_replaced, case):
    check_cli(engines_replaced, *case)


# ---- physical invariants of successful simulations (cohort engine, random in-bounds parameters)
#: Variables that are numbers of cells, volumes or concentrations: never negative, never non-finite.
CELLS_AND_CONCENTRATIONS = (
    "alc_per_uL", "cells_blood", "cells_tissue", "cells_total", "cells_ln", "cells_spleen", "cells_bm",
    "ln_volume_cm3", "spleen_volume_cm3", "drug_plasma_ng_per_mL", "drug_free_nM",
)
#: Receptor and BCL2 expression (model states relative to 1 = untreated expression).
EXPRESSIONS = (
    "cxcr4_surface_blood", "bcl2_blood", "cxcr4_surface_niche_ln", "bcl2_niche_ln",
    "cxcr4_surface_niche_spleen", "bcl2_niche_spleen", "cxcr4_surface_niche_bm", "bcl2_niche_bm",
)


def _successes(seed: int, n: int, variables: tuple[str, ...], days: float = 20.0):
    from cllsim.cohort._population import sample_within_bounds
    from cllsim.simulate import run_batch

    values = sample_within_bounds(n, seed)
    batch = run_batch("420 mg qd", values, np.arange(0.0, days + 1.0) * 24.0, list(variables), rtol=1e-5, atol=1e-9)
    return {v: batch.values[v][batch.ok] for v in variables}, int(batch.ok.sum())


def _violations(values: dict[str, np.ndarray]) -> list[str]:
    bad = []
    for name, v in values.items():
        scale = np.nanmax(np.abs(v), axis=1, keepdims=True) if v.size else 0.0
        # solver noise around zero is allowed: 1e-8 of the trajectory's own scale
        if not np.all(np.isfinite(v)) or np.any(v < -1e-8 * np.maximum(scale, 1e-12)):
            bad.append(f"{name} (min {np.nanmin(v):.3g})")
    return bad


@settings(max_examples=3, deadline=None, database=None)
@given(st.integers(0, 2**31 - 1))
def test_successful_cohort_runs_have_no_negative_cells_or_concentrations(seed):
    values, n_ok = _successes(seed, 8, CELLS_AND_CONCENTRATIONS)
    assume(n_ok > 0)  # about half of the random sets have a feasible baseline
    assert _violations(values) == [], f"seed {seed}: {n_ok} successes"


@settings(max_examples=3, deadline=None, database=None)
@given(st.integers(0, 2**31 - 1))
def test_successful_cohort_runs_have_no_negative_expression(seed):
    """Issue 13 item 2: the repression of CXCR4 expression is bounded, and the engines refuse any negative
    physical quantity, so a success never carries a negative CXCR4, pS339 or BCL2."""
    values, n_ok = _successes(seed, 8, EXPRESSIONS, days=60.0)
    assume(n_ok > 0)
    assert _violations(values) == [], f"seed {seed}: {n_ok} successes"


@pytest.mark.slow
@settings(max_examples=20, deadline=None, database=None)
@given(st.integers(0, 2**31 - 1))
def test_successful_cohort_runs_have_no_negative_cells_or_concentrations_many(seed):
    values, n_ok = _successes(seed, 50, CELLS_AND_CONCENTRATIONS, days=60.0)
    assume(n_ok > 0)
    assert _violations(values) == [], f"seed {seed}: {n_ok} successes"

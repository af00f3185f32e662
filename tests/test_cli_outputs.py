"""Output paths and output formats of the command line: an empty ``--out`` is refused everywhere,
JSON is strict (no NaN), and ``cllsim reproduce`` tells a failed check (1) from an internal error (3)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.execution import json_text

runner = CliRunner()


def _output_params() -> list[tuple[list[str], str, bool]]:
    """(command path, parameter name, is an option) of every output path the command line takes."""
    found = []

    def walk(cmd, path):
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])
        for p in getattr(cmd, "params", []):
            is_option = "--out" in getattr(p, "opts", ())
            if is_option or (p.param_type_name == "argument" and p.name in {"out", "file"}):
                found.append((path, p.name, is_option))

    walk(get_command(app), [])
    return found


OUTPUTS = _output_params()


def test_every_output_path_is_found():
    commands = {" ".join(path) for path, _, _ in OUTPUTS}
    assert {"simulate", "reproduce", "fit", "cohort", "sensitivity", "parameters", "observables",
            "export sbml", "export petab"} <= commands


@pytest.mark.parametrize("empty", ["", "  "])
@pytest.mark.parametrize("path, name, is_option", OUTPUTS, ids=[" ".join(o[0]) for o in OUTPUTS])
def test_an_empty_output_path_is_refused(tmp_path, monkeypatch, path, name, is_option, empty):
    monkeypatch.chdir(tmp_path)  # what an empty path would have written into
    (tmp_path / "patient.csv").write_text("day,alc_per_uL\n0,52000\n7,81000\n28,64000\n")
    args = [*path, "--out", empty] if is_option else [*path, empty]
    if path == ["fit"]:
        args.insert(1, "patient.csv")
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error:") and res.stderr.count("\n") == 1, res.stderr
    assert "must not be empty" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patient.csv"]  # nothing written here


def test_a_dot_still_means_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["observables", "--out", "./obs.csv"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "obs.csv").read_text().startswith("id,unit")


def test_json_text_writes_non_finite_numbers_as_null():
    obj = {"a": math.nan, "b": [1.0, math.inf, -math.inf], "c": np.float32("nan"), "d": np.array([1.5, np.nan]),
           "e": (np.float64(2.0), None), "f": "NaN", "g": 3, "h": True}
    text = json_text(obj)
    assert "NaN" not in text.replace('"NaN"', "") and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None, None], "c": None, "d": [1.5, None],
                                "e": [2.0, None], "f": "NaN", "g": 3, "h": True}
    # strict readers agree: parse_constant is only called for NaN/Infinity, which must not occur
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))


def test_simulate_metadata_is_strict_json(tmp_path, monkeypatch):
    from cllsim.simulate import _result

    real = _result.SimulationResult.provenance

    def with_nan(self):
        return {**real(self), "a_missing_number": math.nan}

    monkeypatch.setattr(_result.SimulationResult, "provenance", with_nan)
    out = tmp_path / "o"
    res = runner.invoke(app, ["simulate", "--days", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "metadata.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert meta["a_missing_number"] is None
    import pyarrow.parquet as pq

    embedded = pq.read_schema(out / "simulation.parquet").metadata[b"cllsim"].decode()
    assert json.loads(embedded, parse_constant=lambda c: pytest.fail(c))["a_missing_number"] is None


def test_reproduce_exits_3_on_an_internal_error(tmp_path, monkeypatch):
    from cllsim.experiments import get

    experiment = type(get("F4"))

    def broken(self, overrides=None):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(experiment, "run", broken)
    res = runner.invoke(app, ["reproduce", "--only", "F4", "--out", str(tmp_path / "o")])
    assert res.exit_code == 3, res.output
    assert "internal error (ZeroDivisionError): a bug" in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "o" / "report.html").exists()


def test_reproduce_help_documents_its_exit_codes():
    res = runner.invoke(app, ["reproduce", "--help"])
    text = " ".join(res.output.split())
    assert "1 a check fails" in text and "2 bad input" in text and "3 an internal error" in text


def test_other_commands_keep_exit_1_for_internal_errors(monkeypatch):
    from cllsim import cli

    def boom():
        raise ZeroDivisionError("a bug")

    with pytest.raises(typer.Exit) as info:
        cli.run_guarded(boom)
    assert info.value.exit_code == 1

"""The parameters table: PEtab-style rows with unit, bounds, scale, variability and source.

Validation follows libpetab's pattern: each rule is a small check returning issues that name
the row (file and line) and the rule; :func:`validate_table` runs them all and
:class:`ParameterTableError` reports every problem at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._errors import ParameterError
from .._validation import did_you_mean, validation_message
from ..drugs import DEFAULT_DRUG, DRUGS, drug_set, get_drug
from . import _columns as C
from ._antimony import antimony_model
from ._hosts import PATIENT, Host, get_host

IGHV = Literal["U", "M"]
SBML_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


#: Parameters that shape the dosing of any registered drug (see :func:`dosing_parameter_ids`).
DOSING_PARAMETER_IDS = frozenset().union(*(d.dosing_parameter_ids for d in DRUGS.values()))


def dosing_parameter_ids(drugs: str | Sequence[str] = DEFAULT_DRUG) -> frozenset[str]:
    """Parameters that shape the dosing of ``drugs`` (lag, input duration, bioavailability) rather than the ODEs."""
    return frozenset().union(*(get_drug(d).dosing_parameter_ids for d in drug_set(drugs)))


class ParameterRow(BaseModel):
    """One row of a parameters table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameterId: str
    parameterName: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    nominalValue: float
    lowerBound: float
    upperBound: float
    parameterScale: Literal["lin", "log", "log10"]
    estimate: int = Field(ge=0, le=1)
    iivSD: float = Field(ge=0, allow_inf_nan=False)
    source: str = Field(min_length=2)

    @field_validator("parameterId")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        if not SBML_ID.match(v):
            raise ValueError(f"{v!r} is not a valid identifier (letters, digits, underscore)")
        return v

    @field_validator("unit", "source", "parameterName")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip() or v.strip().lower() in {"nan", "none", "-"}:
            raise ValueError("must not be empty")
        return v.strip()

    @model_validator(mode="after")
    def _bounds(self) -> ParameterRow:
        vals = (self.nominalValue, self.lowerBound, self.upperBound)
        if not all(math.isfinite(v) for v in vals):
            raise ValueError("nominalValue and bounds must be finite numbers")
        if self.lowerBound > self.upperBound:
            raise ValueError(f"lowerBound {self.lowerBound} exceeds upperBound {self.upperBound}")
        if not self.lowerBound <= self.nominalValue <= self.upperBound:
            raise ValueError(
                f"nominalValue {self.nominalValue} outside bounds "
                f"[{self.lowerBound}, {self.upperBound}]"
            )
        if self.parameterScale != "lin" and self.lowerBound <= 0:
            raise ValueError(f"{self.parameterScale} scale needs a positive lowerBound")
        if self.lowerBound < 0 and self.unit != "dimensionless":
            # every quantity with a unit in the model is a rate, amount, volume, count or time
            raise ValueError(f"lowerBound {self.lowerBound:g} is negative; {self.unit} cannot be below 0")
        return self


class ParameterTableError(ParameterError):
    """A parameters table or parameter values that cannot be used; ``issues`` lists every problem found.

    The message is the heading and the issue on one line when there is one issue, else the
    heading and one issue per line.
    """

    def __init__(self, issues: list[str], heading: str = "invalid parameters table"):
        self.issues = issues
        self.heading = heading
        sep = " " if len(issues) == 1 else "\n  "
        super().__init__(f"{heading}:{sep}" + "\n  ".join(issues))


def unknown_parameter(pid: str, known: Iterable[str], what: str = "") -> str:
    """``"unknown parameter 'body_weight'; did you mean 'body_weight_kg'?"`` (the suggestion only when one is close).

    Parameters
    ----------
    pid
        The id that is not known.
    known
        The ids that are.
    what
        Where the id was given (e.g. ``"--set"``), put in front when given.
    """
    where = f"{what}: " if what else ""
    return f"{where}unknown parameter {pid!r}{did_you_mean(pid, known)}"


@dataclass(frozen=True)
class ParameterTable:
    """Validated parameter rows, keyed by id."""

    rows: Mapping[str, ParameterRow]

    def values(self) -> dict[str, float]:
        """Nominal values by id (table units)."""
        return {k: r.nominalValue for k, r in self.rows.items()}

    def to_df(self) -> pd.DataFrame:
        """The table as a DataFrame indexed by ``parameterId``."""
        return pd.DataFrame([r.model_dump() for r in self.rows.values()]).set_index(C.PARAMETER_ID)

    def with_values(self, overrides: Mapping[str, float], *, what: str = "override") -> ParameterTable:
        """Return a copy with nominal values replaced, each checked against its row's bounds."""
        issues = []
        rows = dict(self.rows)
        for pid, value in overrides.items():
            if pid not in rows:
                issues.append(unknown_parameter(pid, rows, what))
                continue
            try:
                rows[pid] = ParameterRow(**{**rows[pid].model_dump(), "nominalValue": float(value)})
            except ValidationError as exc:
                issues.append(f"{what} {pid}={value!r}: {validation_message(exc)}")
            except (TypeError, ValueError):
                issues.append(f"{what} {pid}={value!r}: not a number")
        if issues:
            raise ParameterTableError(issues, heading="invalid parameter values")
        return ParameterTable(rows)


def model_parameter_ids(host_id: str = PATIENT.id, drugs: str | Sequence[str] = DEFAULT_DRUG) -> frozenset[str]:
    """Ids the model of ``host_id`` with ``drugs`` needs from the parameters tables (ODE and dosing)."""
    return _model_parameter_ids(host_id, drug_set(drugs))


@cache
def _model_parameter_ids(host_id: str, drugs: tuple[str, ...]) -> frozenset[str]:
    text = antimony_model(get_host(host_id), {}, drugs=drugs)
    defined: set[str] = set()
    used: set[str] = set()
    statements = (
        part.strip() for raw in text.splitlines() for part in raw.split("//", 1)[0].split(";")
    )
    for line in statements:
        m = re.match(r"^(\w+)\s*(:=|'\s*=|=)\s*(.*)$", line)
        if not m:
            continue
        defined.add(m.group(1))
        used.update(re.findall(r"\b[A-Za-z_]\w*\b", m.group(3)))
    return frozenset((used - defined - {"time", "e"}) | dosing_parameter_ids(drugs))


def _check_columns(df: pd.DataFrame, where: str) -> list[str]:
    missing = [c for c in C.PARAMETER_COLUMNS if c not in df.columns]
    extra = [c for c in df.columns if c not in C.PARAMETER_COLUMNS]
    issues = [f"{where}: missing column {c!r}" for c in missing]
    issues += [f"{where}: unexpected column {c!r}" for c in extra]
    return issues


def _check_rows(df: pd.DataFrame, where: str) -> tuple[list[str], dict[str, ParameterRow]]:
    issues: list[str] = []
    rows: dict[str, ParameterRow] = {}
    for i, rec in enumerate(df.to_dict("records")):
        line = i + 2  # header is line 1
        pid = str(rec.get(C.PARAMETER_ID, "")).strip()
        try:
            row = ParameterRow.model_validate({k: _cell(v) for k, v in rec.items()})
        except ValidationError as exc:
            for e in exc.errors():
                col = ".".join(str(x) for x in e["loc"]) or "row"
                issues.append(f"{where} line {line} ({pid or '?'}): {col}: {e['msg']}")
            continue
        if row.parameterId in rows:
            issues.append(f"{where} line {line} ({pid}): duplicate parameterId")
            continue
        rows[row.parameterId] = row
    return issues, rows


def _cell(v: object) -> object:
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


def _check_known(rows: Iterable[str], known: frozenset[str], where: str) -> list[str]:
    return [
        f"{where} ({pid}): unknown parameterId, not used by the model{did_you_mean(pid, known)}"
        for pid in rows
        if pid not in known
    ]


def _check_complete(rows: Iterable[str], known: frozenset[str], where: str) -> list[str]:
    have = set(rows)
    return [f"{where}: no row for model parameter {pid!r}" for pid in sorted(known - have)]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a TSV parameters table without interpretation (strings kept as written)."""
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ParameterTableError([f"{path}: cannot be read as a tab-separated table ({exc})"]) from exc


def validate_table(
    frames: Mapping[str, pd.DataFrame], known: frozenset[str], *, complete: bool = True
) -> ParameterTable:
    """Run every check over one or more table fragments and return the merged table.

    Parameters
    ----------
    frames
        Table fragments by a name used in messages (file path).
    known
        Parameter ids the model uses; any other id is refused.
    complete
        Require a row for every known id.
    """
    issues: list[str] = []
    merged: dict[str, ParameterRow] = {}
    for where, df in frames.items():
        col_issues = _check_columns(df, where)
        if col_issues:
            issues += col_issues
            continue
        row_issues, rows = _check_rows(df, where)
        issues += row_issues
        issues += _check_known(rows, known, where)
        for pid in rows:
            if pid in merged:
                issues.append(f"{where} ({pid}): duplicate parameterId across tables")
        merged.update(rows)
    if complete and not issues:
        issues += _check_complete(merged, known, "parameters")
    if issues:
        raise ParameterTableError(issues)
    return ParameterTable(merged)


def _data_path(name: str) -> Path:
    return Path(str(resources.files("cllsim.model") / "data" / name))


def default_table_paths(host: Host | str = PATIENT, drug: str | Sequence[str] = DEFAULT_DRUG) -> list[Path]:
    """Packaged tables making up the full parameter set for ``host`` and the drug(s) ``drug``.

    Raises
    ------
    SpecError
        For an unknown drug, or a drug without published PK in the host's species.
    """
    host = get_host(host)
    species = host.extra.get("species", "human" if host.id == "patient" else "mouse")
    return [_data_path("parameters.tsv"), *(get_drug(d).table_path(species) for d in drug_set(drug))]


def load_table(
    paths: Iterable[str | Path] | None = None,
    *,
    host: Host | str = PATIENT,
    drug: str | Sequence[str] = DEFAULT_DRUG,
) -> ParameterTable:
    """Load and validate the parameters table(s) for ``host``.

    Parameters
    ----------
    paths
        TSV files; default: the packaged model and drug tables.
    host, drug
        Used for the default paths and to know which ids the model needs; ``drug`` is a drug
        id or the drugs of a therapy (each has its own table).
    """
    host = get_host(host)
    paths = list(paths) if paths is not None else default_table_paths(host, drug)
    frames = {str(p): read_table(p) for p in paths}
    drugs = drug_set(drug)
    known = model_parameter_ids(host.id, drugs)
    # a host's own tissues (e.g. the mouse peritoneum) have rows only in its override table,
    # so completeness is checked after the overrides are merged; rows of patient tissues the
    # host lacks (e.g. lymph nodes of an NSG mouse) are dropped
    base_known = known | model_parameter_ids(PATIENT.id, drugs) if host.parameter_overrides else known
    table = validate_table(frames, base_known, complete=not host.parameter_overrides)
    if host.parameter_overrides:
        over = read_table(_data_path(f"{host.parameter_overrides}.tsv"))
        issues = _check_columns(over, host.parameter_overrides)
        if issues:
            raise ParameterTableError(issues)
        row_issues, rows = _check_rows(over, host.parameter_overrides)
        row_issues += _check_known(rows, known, host.parameter_overrides)
        if row_issues:
            raise ParameterTableError(row_issues)
        merged = {k: r for k, r in table.rows.items() if k in known}
        merged.update(rows)
        issues = _check_complete(merged, known, "parameters")
        if issues:
            raise ParameterTableError(issues)
        table = ParameterTable(merged)
    return table


@cache
def ighv_conditions() -> dict[str, dict[str, float]]:
    """IGHV-specific parameter values (PEtab condition style): ``{"U": {id: value}, ...}``."""
    df = pd.read_csv(_data_path("ighv.tsv"), sep="\t")
    out: dict[str, dict[str, float]] = {"U": {}, "M": {}}
    for rec in df.to_dict("records"):
        out[rec[C.CONDITION_ID]][rec[C.TARGET_ID]] = float(rec[C.TARGET_VALUE])
    return out


def parameter_hash(values: Mapping[str, float]) -> str:
    """Stable short hash of a parameter set (for result metadata and caches)."""
    blob = json.dumps({k: float(values[k]) for k in sorted(values)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

"""Patient files as pharmacometricians keep them: several patients, calendar dates, NONMEM datasets.

Two layouts are read (:func:`read_patients`), told apart by the header:

*Visit table* (the single-patient CSV of :mod:`cllsim.fit._data`, extended): one row per visit,
``day`` (days since the first dose) or ``date`` (``YYYY-MM-DD``, day 0 = ``first_dose``),
``alc_per_uL`` and optionally ``ln_volume_cm3``, ``spleen_volume_cm3``; an ``id`` column for
several patients and an ``ighv`` column (``U``/``M``, empty when unknown) for per-patient IGHV
status.

*NONMEM-style dataset* (a ``DV`` column; column names case-insensitive): one row per record,
``ID``, ``TIME`` (since the first dose, in ``time_unit``: hours by default, as in NONMEM PK
datasets) or ``DATE`` (ISO date or date-time), ``DV`` (the measured value, in the units of the
observable it is mapped to), ``CMT`` or ``DVID`` (the observation type: :data:`DEFAULT_CMT`
unless ``cmt`` maps the codes otherwise; ``DVID`` wins when both are given), ``MDV``, ``EVID``,
``AMT`` (dose, mg), ``II`` (dosing interval, in ``time_unit``), ``ADDL`` (additional doses)
and optionally ``IGHV``. ``EVID`` 0 rows with ``MDV`` 0 are observations, ``EVID`` 1 rows are
doses (when ``EVID`` is absent: rows with ``AMT`` > 0); other columns (covariates) are ignored
and listed in the notes. Dose records replace the ``regimen``: day 0 is the patient's first
dose, and the patient takes exactly the recorded doses (none after the last record).

Every problem is reported with the file line it is on (the header is line 1) and the column.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .._errors import InputError, shorten
from ..drugs import DoseRecord, DoseRecords, Regimen, parse_regimen
from ._data import (
    ALC,
    DATE,
    DAY,
    ID_COLUMN,
    IGHV_COLUMN,
    LN_VOLUME,
    MEASURED,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SPLEEN_VOLUME,
    PatientData,
    PatientDataError,
    _number,
    _parse_cells,
    check_columns,
    make_patient_data,
    read_raw_csv,
)

#: Observation-type codes (``CMT`` or ``DVID``) of a NONMEM dataset and the observable each means.
DEFAULT_CMT: dict[int, str] = {1: ALC, 2: LN_VOLUME, 3: SPLEEN_VOLUME}
#: Units of ``TIME`` and ``II`` in a NONMEM dataset: days per unit.
TIME_UNITS: dict[str, float] = {"h": 1.0 / 24.0, "hours": 1.0 / 24.0, "d": 1.0, "day": 1.0, "days": 1.0}
#: NONMEM columns the reader uses (upper case).
NONMEM_COLUMNS = ("ID", "TIME", "DATE", "DV", "MDV", "EVID", "AMT", "II", "ADDL", "CMT", "DVID", "RATE", "SS", "IGHV")
#: Most issues listed in one error (a broken export can have thousands).
MAX_ISSUES = 20

# ids become output folder names: no path separators, no hidden or relative names
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class PatientSet:
    """The patients of one file, validated.

    Attributes
    ----------
    patients
        One :class:`PatientData` per patient, in the order of first appearance in the file.
    source
        The file, for messages.
    layout
        ``"table"`` (visit table) or ``"nonmem"`` (NONMEM-style records).
    notes
        What the reader did that the user should know (ignored columns, dose records used).
    by_id
        Whether the file names its patients (an ``id`` column, or ``ID`` of a NONMEM dataset):
        ``cllsim fit`` then writes one folder per patient, even for one patient.
    """

    patients: tuple[PatientData, ...]
    source: str
    layout: Literal["table", "nonmem"] = "table"
    notes: tuple[str, ...] = field(default=())
    by_id: bool = False

    def __len__(self) -> int:
        return len(self.patients)

    def __iter__(self) -> Iterator[PatientData]:
        return iter(self.patients)

    @property
    def ids(self) -> list[str]:
        return [p.patient_id for p in self.patients]

    @property
    def multi(self) -> bool:
        """Whether the file holds more than one patient."""
        return len(self.patients) > 1


def parse_cmt(text: str | Mapping[int, str] | None) -> dict[int, str]:
    """Observation-type map from ``"1=alc_per_uL,2=ln_volume_cm3"`` (``None``: :data:`DEFAULT_CMT`).

    Raises
    ------
    InputError
        Naming the entry that is not ``code=observable`` with an integer code and a measured
        observable.
    """
    if text is None:
        return dict(DEFAULT_CMT)
    items = text.items() if isinstance(text, Mapping) else (
        tuple(part.split("=", 1)) if "=" in part else (part, None)
        for part in (p.strip() for p in text.split(",")) if part)
    out: dict[int, str] = {}
    for code, obs in items:
        entry = f"{code}={obs}" if obs is not None else str(code)
        try:
            number = float(str(code).strip())
        except ValueError:
            number = math.nan
        if obs is None or not number.is_integer():
            raise InputError(f"cmt map entry {shorten(entry)} must be code=observable with an integer code, "
                             "e.g. 1=alc_per_uL")
        obs = str(obs).strip()
        if obs not in MEASURED:
            raise InputError(f"cmt map entry {shorten(entry)}: {shorten(obs)} is not a measured observable; "
                             f"use one of {', '.join(MEASURED)}")
        if int(number) in out:
            raise InputError(f"cmt map gives code {int(number)} twice")
        out[int(number)] = obs
    if not out:
        raise InputError("empty cmt map; give e.g. 1=alc_per_uL,2=ln_volume_cm3")
    return out


def _first_dose_date(value: _dt.date | str | None) -> _dt.date | None:
    if value is None or isinstance(value, _dt.date):
        return value.date() if isinstance(value, _dt.datetime) else value
    try:
        return _dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"first dose date must be YYYY-MM-DD, got {shorten(value)}") from None


def _datetime(text: str) -> _dt.datetime | None:
    try:
        value = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.replace(tzinfo=None)


def _days_between(later: _dt.datetime, earlier: _dt.datetime) -> float:
    return (later - earlier).total_seconds() / 86400.0


def _check_id(text: str, line: int, column: str) -> str | None:
    """Issue with a patient id (it becomes a folder name), or None."""
    if text == "":
        return f"line {line}: {column} is empty"
    if not _ID.match(text):
        return (f"line {line}: {column} {shorten(text)} must be letters, digits, '.', '_' or '-' "
                "(at most 64, starting with a letter or digit): it names the patient's output folder")
    return None


def _norm_ighv(text: str) -> str | None:
    v = text.strip().upper().removesuffix("-CLL")
    return None if v in {"", "UNKNOWN", "?", "NA", "."} else v


class _Issues(list[str]):
    def raise_if_any(self, source: str) -> None:
        if self:
            shown = list(self[:MAX_ISSUES])
            if len(self) > MAX_ISSUES:
                shown.append(f"... and {len(self) - MAX_ISSUES} more")
            raise PatientDataError(shown, source)


def _ighv_for(pid: str, cells: list[tuple[str, int]], option: str | None, column: str,
              issues: list[str]) -> str | None:
    """One patient's IGHV status from the file's column (``cells``: value and line) and the option."""
    seen: tuple[str, int] | None = None
    for cell, line in cells:
        v = _norm_ighv(cell)
        if v is None:
            continue
        if v not in {"U", "M"}:
            issues.append(f"line {line}: {column} {shorten(cell.strip())} must be U or M (empty when unknown)")
            return None
        if seen is not None and v != seen[0]:
            issues.append(f"line {line}: {column} {v} differs from {seen[0]} on line {seen[1]} for patient {pid}")
            return None
        seen = seen or (v, line)
    opt = _norm_ighv(option) if option is not None else None
    if seen is not None and opt is not None and opt != seen[0]:
        issues.append(f"line {seen[1]}: {column} {seen[0]} of patient {pid} differs from the IGHV status given ({opt})")
    return seen[0] if seen is not None else option


def read_patients(
    path: str | Path,
    *,
    regimen: Regimen | str = "420 mg qd",
    ighv: str | None = None,
    first_dose: _dt.date | str | None = None,
    cmt: str | Mapping[int, str] | None = None,
    time_unit: str = "h",
) -> PatientSet:
    """Read and validate a file of one or more patients (visit table or NONMEM-style dataset).

    Parameters
    ----------
    path
        CSV file; the layouts are described in the module docstring.
    regimen
        Regimen of every patient without dose records (day 0 = first dose).
    ighv
        IGHV status (``"U"``, ``"M"``, ``None``: unknown) of patients without one in the file.
    first_dose
        Date of the first dose (``datetime.date`` or ``YYYY-MM-DD``): day 0 of dates in a file
        without dose records; dates the predictions.
    cmt
        Observation-type codes of a NONMEM dataset (mapping or ``"1=alc_per_uL,..."``;
        default :data:`DEFAULT_CMT`).
    time_unit
        Unit of a NONMEM dataset's ``TIME`` and ``II``: ``"h"`` (default) or ``"day"``.

    Returns
    -------
    PatientSet

    Raises
    ------
    PatientDataError
        Listing the problems found (at most :data:`MAX_ISSUES`), each naming its line and column,
        and for a file of several patients the patient.
    """
    raw, lines, source = read_raw_csv(path)
    fd = _first_dose_date(first_dose)
    if time_unit not in TIME_UNITS:
        raise InputError(f"time unit must be h or day, got {shorten(time_unit)}")
    if isinstance(regimen, str):
        regimen = parse_regimen(regimen)
    if any(c.upper() == "DV" for c in raw.columns):
        return _nonmem(raw, lines, source, regimen, ighv, fd, parse_cmt(cmt), TIME_UNITS[time_unit])
    return _table(raw, lines, source, regimen, ighv, fd, Path(path).stem)


def _table(raw: pd.DataFrame, lines: list[int], source: str, regimen: Regimen, ighv: str | None,
           first_dose: _dt.date | None, stem: str) -> PatientSet:
    issues = _Issues(check_columns(list(raw.columns), file_columns=True))
    issues.raise_if_any(source)
    multi = ID_COLUMN in raw.columns
    ids = [str(c).strip() for c in raw[ID_COLUMN]] if multi else [stem] * len(raw)
    if multi:
        issues += [m for x, line in zip(ids, lines, strict=True) if (m := _check_id(x, line, ID_COLUMN))]
    table, cell_issues = _parse_cells(raw, lines)
    issues += cell_issues
    if DATE in raw.columns:
        if first_dose is None:
            issues.append(f"column {DATE!r} needs the date of the first dose (day 0): give --first-dose YYYY-MM-DD")
        else:
            origin = _dt.datetime.combine(first_dose, _dt.time())
            for i, (cell, line) in enumerate(zip(raw[DATE], lines, strict=True)):
                when = _datetime(str(cell))
                if str(cell).strip() == "":
                    issues.append(f"line {line}: {DATE} is empty")
                elif when is None:
                    issues.append(f"line {line}: {DATE} {shorten(str(cell).strip())} is not a date (YYYY-MM-DD)")
                elif when < origin:
                    issues.append(f"line {line}: {DATE} {str(cell).strip()} is before the first dose "
                                  f"({first_dose.isoformat()})")
                else:
                    table.loc[i, DAY] = _days_between(when, origin)
    issues.raise_if_any(source)
    patients = []
    for pid in dict.fromkeys(ids):
        rows = [i for i, x in enumerate(ids) if x == pid]
        sub_lines = [lines[i] for i in rows]
        ighv_cells = [(str(raw[IGHV_COLUMN].iloc[i]), lines[i]) for i in rows] if IGHV_COLUMN in raw.columns else []
        status = _ighv_for(pid, ighv_cells, ighv, IGHV_COLUMN, issues)
        try:
            patients.append(make_patient_data(
                table.iloc[rows][[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]].reset_index(drop=True), regimen=regimen,
                ighv=status, patient_id=pid, source=source, first_dose=first_dose, lines=sub_lines))
        except PatientDataError as exc:
            issues += [f"patient {pid}: {i}" if multi else i for i in exc.issues]
    issues.raise_if_any(source)
    return PatientSet(tuple(patients), source, "table", by_id=multi)


@dataclass(frozen=True)
class _Dose:
    time: float  # TIME units, or days since the origin for DATE
    when: _dt.datetime | None
    amount_mg: float
    interval: float  # TIME units
    addl: int
    line: int


@dataclass(frozen=True)
class _Obs:
    time: float
    when: _dt.datetime | None
    observable: str
    value: float
    line: int


def _nonmem(raw: pd.DataFrame, lines: list[int], source: str, regimen: Regimen, ighv: str | None,
            first_dose: _dt.date | None, cmt: dict[int, str], days_per_unit: float) -> PatientSet:
    issues = _Issues()
    upper = [c.upper() for c in raw.columns]
    for c in sorted({c for c in upper if upper.count(c) > 1}):
        issues.append(f"column {c} appears more than once")
    col = {c.upper(): c for c in raw.columns}
    for req in ("ID", "DV"):
        if req not in col:
            issues.append(f"missing required column {req} (NONMEM-style dataset: a DV column was found)")
    if ("TIME" in col) == ("DATE" in col):
        issues.append("give either a TIME column (since the first dose) or a DATE column (YYYY-MM-DD), "
                      "not both" if "TIME" in col else "missing required column TIME (or DATE)")
    issues.raise_if_any(source)
    ignored = [c for c in raw.columns if c.upper() not in NONMEM_COLUMNS]
    notes = [f"ignored columns (not used by the fit): {', '.join(shorten(c) for c in ignored)}"] if ignored else []
    code_col = "DVID" if "DVID" in col else ("CMT" if "CMT" in col else None)
    if code_col is None:
        notes.append(f"no CMT or DVID column: every observation is read as {ALC}")
    use_date = "DATE" in col

    def cell(name: str, i: int) -> str:
        return str(raw[col[name]].iloc[i]).strip() if name in col else ""

    def num(name: str, i: int, line: int) -> float | None:
        """The cell as a number; None when empty; NaN (with an issue) when not a number."""
        v = _number(cell(name, i))
        if v is not None and not math.isfinite(v):
            issues.append(f"line {line}: {name} {shorten(cell(name, i))} is not a number")
        return v

    doses: dict[str, list[_Dose]] = {}
    observations: dict[str, list[_Obs]] = {}
    ighv_cells: dict[str, list[tuple[str, int]]] = {}
    ids: list[str] = []
    for i, line in enumerate(lines):
        pid = cell("ID", i)
        if (problem := _check_id(pid, line, "ID")) is not None:
            issues.append(problem)
            continue
        ids.append(pid)
        if "IGHV" in col:
            ighv_cells.setdefault(pid, []).append((cell("IGHV", i), line))
        amt = num("AMT", i, line)
        evid_v = num("EVID", i, line)
        if evid_v is None:
            evid_v = 1.0 if amt is not None and amt > 0 else 0.0
        if not math.isfinite(evid_v):
            continue
        if evid_v not in (0.0, 1.0, 2.0):
            what = {3.0: "reset", 4.0: "reset and dose"}.get(evid_v, "unknown")
            issues.append(f"line {line}: EVID {evid_v:g} ({what}) is not supported: use 0 (observation), "
                          "1 (dose) or 2 (other)")
            continue
        if use_date:
            text = cell("DATE", i)
            when = _datetime(text)
            if when is None:
                issues.append(f"line {line}: DATE {shorten(text)} is not a date (YYYY-MM-DD)"
                              if text else f"line {line}: DATE is empty")
                continue
            t = math.nan
        else:
            when = None
            tv = num("TIME", i, line)
            if tv is None:
                issues.append(f"line {line}: TIME is empty")
                continue
            if not math.isfinite(tv):
                continue
            t = tv
        if evid_v == 1.0:
            for name, what in (("RATE", "infusions"), ("SS", "steady-state dose records")):
                v = num(name, i, line)
                if v is not None and math.isfinite(v) and v != 0:
                    issues.append(f"line {line}: {name} {v:g} is not supported ({what}): oral doses from the first one")
            ii = num("II", i, line)
            addl = num("ADDL", i, line)
            if amt is None or not math.isfinite(amt) or amt <= 0:
                if amt is None or math.isfinite(amt):
                    issues.append(f"line {line}: AMT must be a dose > 0 (mg) on a dose record (EVID 1), "
                                  f"got {'nothing' if amt is None else f'{amt:g}'}")
                continue
            ii = 0.0 if ii is None else ii
            addl = 0.0 if addl is None else addl
            if not (math.isfinite(ii) and math.isfinite(addl)):
                continue
            if ii < 0:
                issues.append(f"line {line}: II must be >= 0, got {ii:g}")
                continue
            if addl < 0 or not addl.is_integer():
                issues.append(f"line {line}: ADDL must be a whole number >= 0, got {addl:g}")
                continue
            if addl > 0 and ii <= 0:
                issues.append(f"line {line}: ADDL {addl:g} needs II > 0 (the interval of the additional doses)")
                continue
            doses.setdefault(pid, []).append(_Dose(t, when, amt, ii, int(addl), line))
            continue
        mdv = num("MDV", i, line)
        if evid_v == 2.0 or (mdv is not None and mdv != 0):
            continue
        if code_col is None:
            observable = ALC
        else:
            code = num(code_col, i, line)
            if code is None:
                issues.append(f"line {line}: {code_col} is empty on an observation row (EVID 0, MDV 0)")
                continue
            if not math.isfinite(code):
                continue
            if not code.is_integer() or int(code) not in cmt:
                mapping = ", ".join(f"{k}={v}" for k, v in sorted(cmt.items()))
                issues.append(f"line {line}: {code_col} {code:g} is not a known observation type ({mapping}); "
                              f"map it with --cmt {code:g}=<observable>, or set MDV 1 to skip the row")
                continue
            observable = cmt[int(code)]
        dv = num("DV", i, line)
        if dv is None:
            issues.append(f"line {line}: DV is empty on an observation row (set MDV 1 to skip it)")
            continue
        if not math.isfinite(dv):
            continue
        observations.setdefault(pid, []).append(_Obs(t, when, observable, dv, line))
    issues.raise_if_any(source)
    multi = len(dict.fromkeys(ids)) > 1
    patients = []
    for pid in dict.fromkeys(ids):
        prefix = f"patient {pid}: " if multi else ""
        status = _ighv_for(pid, ighv_cells.get(pid, []), ighv, "IGHV", issues)
        try:
            patients.append(_nonmem_patient(pid, doses.get(pid, []), observations.get(pid, []), regimen, status,
                                            first_dose, days_per_unit, use_date, source))
        except PatientDataError as exc:
            issues += [prefix + i for i in exc.issues]
    issues.raise_if_any(source)
    return PatientSet(tuple(patients), source, "nonmem", tuple(notes), by_id=True)


def _nonmem_patient(pid: str, doses: list[_Dose], observations: list[_Obs], regimen: Regimen, ighv: str | None,
                    first_dose: _dt.date | None, days_per_unit: float, use_date: bool, source: str) -> PatientData:
    issues = _Issues()
    doses = sorted(doses, key=lambda d: d.when if use_date else d.time)  # type: ignore[arg-type, return-value]
    day_of: dict[int, float] = {}  # line -> days since the first dose
    dosing = "regimen"
    if use_date:
        if doses:
            origin = doses[0].when
            assert origin is not None
            if first_dose is not None and first_dose != origin.date():
                issues.append(f"line {doses[0].line}: the first dose record ({origin.date().isoformat()}) differs "
                              f"from the first dose date given ({first_dose.isoformat()})")
            first_dose = origin.date()
        elif first_dose is None:
            raise PatientDataError(["no dose records to date the first dose: give --first-dose YYYY-MM-DD"], source)
        else:
            origin = _dt.datetime.combine(first_dose, _dt.time())
        records: list[_Dose | _Obs] = [*doses, *observations]
        for rec in records:
            assert rec.when is not None
            day_of[rec.line] = _days_between(rec.when, origin)
    else:
        t0 = doses[0].time if doses else 0.0
        records = [*doses, *observations]
        for rec in records:
            day_of[rec.line] = (rec.time - t0) * days_per_unit
    first = f" (line {doses[0].line})" if doses else ""
    for ob in observations:
        if day_of[ob.line] < 0:
            issues.append(f"line {ob.line}: observation {'DATE' if use_date else 'TIME'} is before the patient's "
                          f"first dose{first}; the fit starts at the first dose")
    dosing_: Regimen | DoseRecords = regimen
    if doses:
        # the engines take an event table where they take a regimen: the doses exactly as recorded
        dosing_ = _records_from_doses(doses, day_of, days_per_unit, regimen.max_doses, regimen.food)
        dosing = "dose records"
    issues.raise_if_any(source)
    rows: dict[float, dict[str, float]] = {}
    first_line: dict[float, int] = {}
    where: dict[tuple[float, str], int] = {}
    for ob in sorted(observations, key=lambda o: (day_of[o.line], o.line)):
        d = day_of[ob.line]
        if (d, ob.observable) in where:
            issues.append(f"line {ob.line}: second {ob.observable} value on day {d:g} (also on line "
                          f"{where[(d, ob.observable)]}); merge them into one")
            continue
        where[(d, ob.observable)] = ob.line
        rows.setdefault(d, {})[ob.observable] = ob.value
        first_line.setdefault(d, ob.line)
    issues.raise_if_any(source)
    table = pd.DataFrame([{DAY: d, **{c: vals.get(c, np.nan) for c in MEASURED}} for d, vals in rows.items()],
                         columns=[DAY, *MEASURED])
    return make_patient_data(table, regimen=dosing_, ighv=ighv, patient_id=pid, source=source,
                             first_dose=first_dose, dosing=dosing, lines=[first_line[d] for d in rows])


def _records_from_doses(doses: list[_Dose], day_of: dict[int, float], days_per_unit: float, max_doses: int,
                        food: Literal["fed", "fasted"]) -> DoseRecords:
    """The recorded doses as an event table (time since the first dose, h): nothing after the last."""
    records = [DoseRecord(time_h=day_of[d.line] * 24.0, amount=d.amount_mg, ii_h=d.interval * days_per_unit * 24.0,
                          addl=d.addl) for d in doses]
    n = sum(d.addl + 1 for d in doses)
    return DoseRecords(records=tuple(records), food=food, text=f"{len(doses)} dose records",
                       max_doses=max(max_doses, n))

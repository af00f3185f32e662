"""Dosing as data: an event table of doses, read from Python or a CSV (NONMEM conventions accepted).

A :class:`DoseRecords` table is what a real dose history looks like: one row per dose, or per run
of equal doses (``addl`` additional doses every ``ii_h`` hours after the first), so missed doses,
holds and dose changes are rows left out or rows with other amounts. It offers the interface the
engines use on a :class:`~cllsim.drugs.Regimen` (``doses``, ``n_doses``, ``check_dose_count``,
``describe``, ``food``), so either drives a simulation::

    time_h,amt,ii,addl
    0,420,24,27         # 420 mg daily, days 0-27
    720,280,24,59       # two days missed, then 280 mg daily from day 30

Columns of a CSV (names are case-insensitive; see ``docs/regimens.md``):

* time: ``time_h`` (h), ``time_d`` or ``day`` (days), or NONMEM ``TIME`` (h); exactly one.
* ``amt``/``AMT`` (or ``amount``): dose, in ``unit`` (``mg``, ``mg/kg`` or ``g``; default mg).
* ``ii``/``II``/``ii_h``: interval between the additional doses, h.
* ``addl``/``ADDL``: number of additional doses (needs ``ii > 0``).
* ``evid``/``EVID``: 1 = dose; 0 = observation (the row is skipped); others are refused.
* ``drug``: the drug's name (empty = the simulation's drug); ``food``: ``fed``/``fasted``.
* ``ID``: patient identifier: a file with several patients needs ``id=`` (or
  :func:`split_dose_records`).
* NONMEM ``SS`` and ``RATE`` must be 0 (steady-state and infusion records are not oral doses);
  ``CMT``, ``MDV``, ``DV`` and other columns are ignored, except names that look like a
  misspelt known column, which are refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import ConfigDict, Field, field_validator, model_validator

from .._errors import RegimenError, shorten
from .._validation import InputModel, did_you_mean
from ._regimen import MAX_DOSES, DoseBlock, Regimen

#: Largest dose CSV read, bytes (as for patient files): years of daily doses take a few kB.
MAX_FILE_BYTES = 10_000_000
#: Most rows one table may have (each row is at least one dose).
MAX_ROWS = MAX_DOSES

#: Units of the ``unit`` column and the factor to the stored unit (``g`` is stored as mg).
_UNITS: dict[str, tuple[Literal["mg", "mg/kg"], float]] = {
    "mg": ("mg", 1.0), "g": ("mg", 1000.0), "mg/kg": ("mg/kg", 1.0),
}
#: NONMEM-style missing value.
_MISSING = {"", ".", "na", "nan"}


class DoseTableError(RegimenError):
    """A dose table (event records) that cannot be used; the message names the row and column."""


class DoseRecord(InputModel):
    """One dose (or a run of equal doses) of an event table.

    Attributes
    ----------
    time_h
        Time of the (first) dose, h after the start of the simulation.
    amount
        Dose per administration, in ``amount_unit``.
    amount_unit
        ``"mg"`` or ``"mg/kg"`` (multiplied by body weight).
    ii_h
        Interval between the additional doses, h (NONMEM ``II``).
    addl
        Number of additional doses after the first (NONMEM ``ADDL``).
    drug
        Name of the drug (lower case); ``None`` = the drug of the simulation.
    food
        ``"fed"`` or ``"fasted"`` for this dose; ``None`` = the table's :attr:`DoseRecords.food`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = DoseTableError
    time_h: float = Field(ge=0, allow_inf_nan=False)
    amount: float = Field(gt=0, allow_inf_nan=False)
    amount_unit: Literal["mg", "mg/kg"] = "mg"
    ii_h: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    addl: int = Field(default=0, ge=0)
    drug: str | None = None
    food: Literal["fed", "fasted"] | None = None

    @field_validator("drug")
    @classmethod
    def _drug_name(cls, v: str | None) -> str | None:
        if v is None:
            return None
        name = " ".join(v.split()).lower()
        return name or None

    @model_validator(mode="after")
    def _addl_needs_ii(self) -> DoseRecord:
        if self.addl > 0 and self.ii_h <= 0:
            raise ValueError(f"addl = {self.addl} additional doses need an interval ii > 0 h")
        return self

    def count(self, until_h: float) -> int:
        """Doses of this row before (excluding) ``until_h``, counted without listing them."""
        if self.time_h >= until_h:
            return 0
        if self.addl == 0:
            return 1
        ratio = (until_h - self.time_h) / self.ii_h
        return min(self.addl + 1, math.ceil(ratio) if math.isfinite(ratio) else self.addl + 1)

    def describe(self) -> str:
        """``"420 mg at 0 h, +27 every 24 h"`` (drug and food when given)."""
        text = f"{self.amount:g} {self.amount_unit}"
        if self.drug:
            text = f"{self.drug} {text}"
        text += f" at {self.time_h:g} h"
        if self.addl:
            text += f", +{self.addl} every {self.ii_h:g} h"
        if self.food:
            text += f" {self.food}"
        return text


class DoseRecords(InputModel):
    """An event table of oral doses, with the interface of a :class:`~cllsim.drugs.Regimen`.

    Attributes
    ----------
    records
        The rows, sorted by time (stable: rows at the same time keep their order).
    food
        Food state of rows that give none (``"fed"``, the default, or ``"fasted"``).
    text
        Where the table came from (file name), for messages and metadata.
    max_doses
        Most doses a simulation may expand the table to (see :meth:`with_max_doses`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = DoseTableError
    records: tuple[DoseRecord, ...] = ()
    food: Literal["fed", "fasted"] = "fed"
    text: str | None = None
    max_doses: int = Field(default=MAX_DOSES, ge=1)

    @field_validator("records")
    @classmethod
    def _sorted(cls, v: tuple[DoseRecord, ...]) -> tuple[DoseRecord, ...]:
        if len(v) > MAX_ROWS:
            raise ValueError(f"{len(v):,} rows is more than {MAX_ROWS:,} in one dose table")
        return tuple(sorted(v, key=lambda r: r.time_h))

    # ---- construction
    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, Any]], *, food: Literal["fed", "fasted"] = "fed", text: str | None = None
    ) -> DoseRecords:
        """A table from mappings with the :class:`DoseRecord` field names; errors name the row (from 0)."""
        records = []
        for i, row in enumerate(rows):
            try:
                records.append(row if isinstance(row, DoseRecord) else DoseRecord(**dict(row)))
            except DoseTableError as exc:
                raise DoseTableError(f"row {i}: {exc}") from None
            if len(records) > MAX_ROWS:
                raise DoseTableError(f"more than {MAX_ROWS:,} rows in one dose table")
        return cls(records=tuple(records), food=food, text=text)

    @classmethod
    def from_regimen(cls, regimen: Regimen, until_h: float) -> DoseRecords:
        """The doses of ``regimen`` before ``until_h`` as rows (one per dosing block); same doses, same food."""
        return regimen.to_records(until_h)

    # ---- the Regimen interface used by the engines
    @property
    def is_untreated(self) -> bool:
        return not self.records

    @property
    def per_kg(self) -> bool:
        """Whether any dose is given per kg of body weight."""
        return any(r.amount_unit == "mg/kg" for r in self.records)

    @property
    def drugs(self) -> tuple[str | None, ...]:
        """The drug names used, in order of first appearance (``None`` = the simulation's drug)."""
        return tuple(dict.fromkeys(r.drug for r in self.records))

    def for_drug(self, name: str | None) -> DoseRecords:
        """The rows of drug ``name`` only (``None``: the untagged rows)."""
        key = None if name is None else " ".join(name.split()).lower()
        return self.model_copy(update={"records": tuple(r for r in self.records if r.drug == key)})

    def n_doses(self, until_h: float) -> int:
        """Number of doses before (excluding) ``until_h``, counted without listing them."""
        return sum(r.count(until_h) for r in self.records)

    def with_max_doses(self, max_doses: int) -> DoseRecords:
        """This table with another dose limit per simulation."""
        if isinstance(max_doses, bool) or not isinstance(max_doses, int) or max_doses < 1:
            raise DoseTableError(f"max_doses must be a positive integer, got {shorten(max_doses)}")
        return self.model_copy(update={"max_doses": int(max_doses)})

    def check_dose_count(self, until_h: float) -> int:
        """The number of doses before ``until_h``; :class:`DoseTableError` when above :attr:`max_doses`."""
        n = self.n_doses(until_h)
        if n > self.max_doses:
            raise DoseTableError(
                f"dose table {shorten(self.describe())} gives {n:,} doses in {until_h / 24:g} days, more than the "
                f"limit of {self.max_doses:,} per simulation; check ii and addl, or raise the limit "
                "(max_doses= in Python, --max-doses on the command line)"
            )
        return n

    def dose_list(self, until_h: float, body_weight_kg: float = 80.4) -> list[tuple[float, float, str]]:
        """Each dose before ``until_h``: ``(time_h, amount_mg, food)``, sorted by time."""
        self.check_dose_count(until_h)
        out: list[tuple[float, float, str]] = []
        for r in self.records:
            amount = r.amount * (body_weight_kg if r.amount_unit == "mg/kg" else 1.0)
            food = r.food or self.food
            # start + k * interval, as Regimen.doses: the same doses give the same times
            out += [(r.time_h + k * r.ii_h, amount, food) for k in range(r.count(until_h))]
        out.sort(key=lambda d: d[0])
        return out

    def doses(self, until_h: float, body_weight_kg: float = 80.4) -> list[tuple[float, float]]:
        """Dose times and amounts up to (excluding) ``until_h``, sorted by time.

        Returns
        -------
        list of (time_h, amount_mg)

        Raises
        ------
        DoseTableError
            When there would be more than :attr:`max_doses` doses (checked before listing any).
        """
        return [(t, a) for t, a, _ in self.dose_list(until_h, body_weight_kg)]

    def daily_doses_mg(self, until_h: float, body_weight_kg: float = 80.4) -> dict[int, float]:
        """Total dose per calendar day (day index from 0 -> mg) before ``until_h``."""
        out: dict[int, float] = {}
        for t, a in self.doses(until_h, body_weight_kg):
            out[int(t // 24.0)] = out.get(int(t // 24.0), 0.0) + a
        return out

    def describe(self) -> str:
        """A short text: the rows (the first few of a long table) and the number of rows."""
        if self.is_untreated:
            return "no doses"
        rows = [r.describe() for r in self.records[:4]]
        more = f"; ... ({len(self.records):,} rows)" if len(self.records) > 4 else ""
        fasted = " (fasted)" if self.food == "fasted" else ""
        return "; ".join(rows) + more + fasted

    # ---- data out
    def to_frame(self) -> pd.DataFrame:
        """The rows as a table: ``time_h, amt, unit, ii_h, addl, drug, food``."""
        cols = ["time_h", "amt", "unit", "ii_h", "addl", "drug", "food"]
        return pd.DataFrame(
            [[r.time_h, r.amount, r.amount_unit, r.ii_h, r.addl, r.drug or "", r.food or ""] for r in self.records],
            columns=cols,
        )

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the rows as a CSV that :func:`read_dose_records` reads back to this table."""
        self.to_frame().to_csv(path, index=False)

    def table(self) -> list[dict[str, Any]]:
        """The rows as plain dictionaries (for metadata)."""
        return [r.model_dump(exclude_none=True) for r in self.records]

    def sha256(self) -> str:
        """Hash of the rows and the default food (identical tables, identical hash)."""
        payload = json.dumps({"food": self.food, "records": self.table()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def metadata(self, until_h: float) -> dict[str, Any]:
        """What a result records about the table: rows, doses in the window, hash, the rows themselves."""
        return {
            "source": self.text,
            "n_rows": len(self.records),
            "n_doses": self.n_doses(until_h),
            "sha256": self.sha256(),
            "food": self.food,
            "records": self.table(),
        }


def regimen_to_records(regimen: Regimen, until_h: float) -> DoseRecords:
    """The doses of ``regimen`` before ``until_h`` as one row per dosing block (see :meth:`Regimen.to_records`)."""
    records = [
        DoseRecord(time_h=start_h, amount=seg.amount, amount_unit=seg.amount_unit,
                   ii_h=seg.interval_h if count > 1 else 0.0, addl=count - 1)
        for seg, start_h, count in regimen._blocks(until_h)
        if count > 0 and isinstance(seg, DoseBlock)
    ]
    return DoseRecords(records=tuple(records), food=regimen.food, text=regimen.describe(),
                       max_doses=regimen.max_doses)


# ---- reading tables
_TIME_COLUMNS = {"time_h": 1.0, "time": 1.0, "time_d": 24.0, "time_day": 24.0, "day": 24.0, "days": 24.0}
_AMOUNT_COLUMNS = ("amt", "amount", "amount_mg", "dose", "dose_mg")
_II_COLUMNS = ("ii", "ii_h")
_KNOWN = (*_TIME_COLUMNS, *_AMOUNT_COLUMNS, *_II_COLUMNS, "addl", "evid", "unit", "drug", "food", "id",
          "ss", "rate", "cmt", "mdv", "dv")


def read_dose_records(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    id: str | int | None = None,  # noqa: A002 - the NONMEM column's name
    food: Literal["fed", "fasted"] = "fed",
    max_doses: int | None = None,
) -> DoseRecords:
    """Read an event table of doses from a CSV file or a DataFrame.

    Parameters
    ----------
    source
        Path of a CSV file (at most :data:`MAX_FILE_BYTES`; whole-line ``#`` comments allowed) or a
        DataFrame, with the columns of the module docstring.
    id
        With an ``ID`` column holding several patients: the patient to read (compared as text).
    food
        Food state of rows without a ``food`` value.
    max_doses
        Dose limit per simulation (default :data:`~cllsim.drugs.MAX_DOSES`).

    Returns
    -------
    DoseRecords
        Sorted by time; observation rows (``EVID`` 0) left out.

    Raises
    ------
    DoseTableError
        Naming the line (CSV; the header is line 1) or row (DataFrame, by index) and the column of
        the first problems found.
    """
    frame, where, label = _load(source)
    return _records_of(frame, where, label, id=id, food=food, max_doses=max_doses)


def split_dose_records(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    food: Literal["fed", "fasted"] = "fed",
    max_doses: int | None = None,
) -> dict[str, DoseRecords]:
    """Read a table with an ``ID`` column (a NONMEM dataset): one :class:`DoseRecords` per ID, in file order.

    IDs are kept as text (``"1"``, ``"P-07"``); an ID with observation rows only gets an empty table.
    Arguments and errors as for :func:`read_dose_records`.
    """
    frame, where, label = _load(source)
    id_col = _column_map(frame, label).get("id")
    if id_col is None:
        raise DoseTableError(f"{label}: no ID column to split by; use read_dose_records for one patient")
    ids = list(dict.fromkeys(_id_text(v) for v in frame[id_col]))
    return {i: _records_of(frame, where, label, id=i, food=food, max_doses=max_doses) for i in ids}


def _load(source: str | os.PathLike[str] | pd.DataFrame) -> tuple[pd.DataFrame, list[str], str]:
    """The table as text cells, where each row is (``"line 5"`` / ``"row 3"``) and a label for messages."""
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        frame.columns = [str(c).strip() for c in frame.columns]
        frame = frame.astype(object).where(frame.notna(), "")
        frame = frame.map(lambda v: v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v))
        return frame.reset_index(drop=True), [f"row {i}" for i in source.index], "dose table"
    if not isinstance(source, str | os.PathLike):
        raise DoseTableError(f"a dose table is a CSV path or a DataFrame, got {type(source).__name__}")
    path = Path(source)
    label = str(path) if len(str(path)) <= 200 else str(path)[:200] + "..."
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DoseTableError(f"{label}: {size:,} bytes is more than a dose table (at most {MAX_FILE_BYTES:,})")
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DoseTableError(f"{label}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DoseTableError(f"{label}: cannot be read ({shorten(' '.join(str(exc).split()), 200)})") from None
    # whole-line comments only, and the line number of each data row kept for messages
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise DoseTableError(f"{label}: empty file; expected a header such as 'time_h,amt,ii,addl'")
    try:
        frame = pd.read_csv(io.StringIO("\n".join(line for _, line in lines)), dtype=str, keep_default_na=False,
                            skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DoseTableError(f"{label}: cannot be read as CSV ({shorten(' '.join(str(exc).split()), 200)})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, [f"line {n}" for n, _ in lines[1:]], label


def _column_map(frame: pd.DataFrame, label: str) -> dict[str, str]:
    """Known column (lower-case name) -> the column's name in the file; refuses duplicates and near-misses."""
    out: dict[str, str] = {}
    for col in frame.columns:
        key = col.lower()
        if key in out:
            raise DoseTableError(f"{label}: column {col!r} given twice ({out[key]!r} and {col!r})")
        if key in _KNOWN:
            out[key] = col
        elif hint := did_you_mean(key, _KNOWN):
            raise DoseTableError(f"{label}: unknown column {shorten(col)}{hint}")
    return out


def _records_of(
    frame: pd.DataFrame, where: list[str], label: str, *, id: str | int | None,  # noqa: A002
    food: Literal["fed", "fasted"], max_doses: int | None,
) -> DoseRecords:
    cols = _column_map(frame, label)
    times = [c for c in _TIME_COLUMNS if c in cols]
    if len(times) != 1:
        given = " and ".join(repr(cols[c]) for c in times)
        raise DoseTableError(
            f"{label}: " + (f"two time columns ({given}); give one" if times else
                            "no time column; give time_h (h), time_d or day (days), or NONMEM TIME (h)")
        )
    amounts = [c for c in _AMOUNT_COLUMNS if c in cols]
    if len(amounts) != 1:
        raise DoseTableError(f"{label}: " + ("two amount columns; give one" if amounts else
                                             "no amount column; give amt (with unit mg, g or mg/kg; default mg)"))
    iis = [c for c in _II_COLUMNS if c in cols]
    if len(iis) > 1:
        raise DoseTableError(f"{label}: two interval columns ({cols['ii']!r} and {cols['ii_h']!r}); give one")
    scale = _TIME_COLUMNS[times[0]]
    rows: Sequence[int] = range(len(frame))
    if "id" in cols:
        ids = [_id_text(v) for v in frame[cols["id"]]]
        distinct = list(dict.fromkeys(ids))
        if id is None:
            if len(distinct) > 1:
                shown = ", ".join(distinct[:3]) + (", ..." if len(distinct) > 3 else "")
                raise DoseTableError(
                    f"{label}: {len(distinct)} patients in column {cols['id']!r} ({shown}); pass id= "
                    "(--doses-id on the command line) or split the table with split_dose_records"
                )
        else:
            rows = [i for i in rows if ids[i] == _id_text(id)]
            if not rows:
                raise DoseTableError(f"{label}: no row with {cols['id']} = {shorten(str(id))}")
    elif id is not None:
        raise DoseTableError(f"{label}: id={shorten(str(id))} given but the table has no ID column")

    def cell(i: int, key: str) -> str:
        return str(frame.iat[i, frame.columns.get_loc(cols[key])]).strip() if key in cols else ""

    def number(i: int, key: str, *, default: float | None = None) -> float:
        raw = cell(i, key)
        if raw.lower() in _MISSING:
            if default is None:
                raise DoseTableError(f"{label}: {where[i]}, column {cols[key]!r}: value missing")
            return default
        try:
            value = float(raw)
        except ValueError:
            raise DoseTableError(f"{label}: {where[i]}, column {cols[key]!r}: {shorten(raw)} is not a number") from None
        if not math.isfinite(value):
            raise DoseTableError(f"{label}: {where[i]}, column {cols[key]!r}: {shorten(raw)} is not a finite number")
        return value

    records: list[DoseRecord] = []
    seen: dict[tuple[Any, ...], str] = {}
    for i in rows:
        if "evid" in cols:
            evid = number(i, "evid")
            if evid == 0:
                continue  # an observation row: the fit reads those
            if evid != 1:
                raise DoseTableError(
                    f"{label}: {where[i]}, column {cols['evid']!r}: EVID {evid:g} is not supported "
                    "(1 = dose, 0 = observation; resets and other events have no meaning here)"
                )
        for key, what in (("ss", "steady-state records (SS)"), ("rate", "infusions (RATE)")):
            if key in cols and number(i, key, default=0.0) != 0:
                raise DoseTableError(
                    f"{label}: {where[i]}, column {cols[key]!r}: {what} are not supported; "
                    "give the oral doses as rows (time, amt, ii, addl)"
                )
        t = number(i, times[0]) * scale
        amount = number(i, amounts[0])
        unit_raw = cell(i, "unit").lower() or "mg"
        if unit_raw not in _UNITS:
            raise DoseTableError(
                f"{label}: {where[i]}, column {cols['unit']!r}: unknown unit {shorten(unit_raw)}; use mg, g or mg/kg"
            )
        unit, factor = _UNITS[unit_raw]
        ii = number(i, iis[0], default=0.0) if iis else 0.0
        addl_value = number(i, "addl", default=0.0) if "addl" in cols else 0.0
        if addl_value != int(addl_value):
            raise DoseTableError(f"{label}: {where[i]}, column {cols['addl']!r}: {addl_value:g} is not a whole number")
        food_raw = cell(i, "food").lower()
        if food_raw not in ("", "fed", "fasted"):
            raise DoseTableError(
                f"{label}: {where[i]}, column {cols['food']!r}: {shorten(food_raw)} is not fed or fasted"
            )
        for value, key, what in ((t, times[0], "a time >= 0"), (amount, amounts[0], "a dose > 0"),
                                 (ii, iis[0] if iis else "", "an interval >= 0 h"),
                                 (addl_value, "addl", "a number of doses >= 0")):
            if value < 0 or (value == 0 and key == amounts[0]):
                raw = cell(i, key)
                hint = " (a missed dose is a row left out)" if key == amounts[0] and value == 0 else ""
                raise DoseTableError(f"{label}: {where[i]}, column {cols[key]!r}: {shorten(raw)} is not {what}{hint}")
        fields: dict[str, Any] = {
            "time_h": t, "amount": amount * factor, "amount_unit": unit, "ii_h": ii, "addl": int(addl_value),
            "drug": cell(i, "drug") or None, "food": food_raw or None,
        }
        try:
            record = DoseRecord(**fields)
        except DoseTableError as exc:
            problem = _with_column(str(exc), cols, times[0], amounts[0], iis)
            raise DoseTableError(f"{label}: {where[i]}, {problem}") from None
        row_key = tuple(fields.values())
        if row_key in seen:
            raise DoseTableError(
                f"{label}: {where[i]} repeats {seen[row_key]} exactly; two doses at one time are one row with "
                "their sum (or remove the duplicate)"
            )
        seen[row_key] = where[i]
        records.append(record)
        if len(records) > MAX_ROWS:
            raise DoseTableError(f"{label}: more than {MAX_ROWS:,} dose rows")
    table = DoseRecords(records=tuple(records), food=food, text=label)
    return table if max_doses is None else table.with_max_doses(max_doses)


def _id_text(value: object) -> str:
    """An ID as text, ``1``, ``1.0`` and ``"1"`` alike (NONMEM IDs are numbers; a DataFrame may hold floats)."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _with_column(message: str, cols: Mapping[str, str], time_key: str, amount_key: str, iis: Sequence[str]) -> str:
    """A :class:`DoseRecord` field error with the file's column name (``amount: ...`` -> ``column 'AMT': ...``)."""
    names = {"time_h": cols[time_key], "amount": cols[amount_key], "addl": cols.get("addl", "addl"),
             "ii_h": cols[iis[0]] if iis else "ii"}
    field, sep, rest = message.partition(": ")
    if sep and field in names:
        return f"column {names[field]!r}: {rest}"
    if "additional doses need an interval" in message:
        return f"column {names['addl']!r}: {message}"
    return message

"""Patient data in: serial lymphocyte counts and CT volumes from a CSV, validated.

The CSV has one row per visit::

    day,alc_per_uL,ln_volume_cm3,spleen_volume_cm3
    0,52000,210,480
    7,81000,,
    28,64000,120,

``day`` (days since the first dose, >= 0) and ``alc_per_uL`` (absolute lymphocyte count per µL)
are required columns; ``ln_volume_cm3`` (summed CT volume of the lymph nodes) and
``spleen_volume_cm3`` (CT spleen volume) are optional. Cells may be empty. A line starting
with ``#`` is a comment; a ``#`` anywhere else is part of its cell (and so not a number). Every problem found is
reported with the row it is on (CSV line numbers count the header as line 1), and values that look
like the wrong unit are refused with the unit they seem to be in.
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .._errors import PatientDataError as _PatientDataError
from .._errors import shorten
from ..drugs import DoseRecords, Regimen, parse_regimen
from ..simulate import MAX_DAYS

DAY = "day"
ALC = "alc_per_uL"
LN_VOLUME = "ln_volume_cm3"
SPLEEN_VOLUME = "spleen_volume_cm3"
REQUIRED_COLUMNS = (DAY, ALC)
OPTIONAL_COLUMNS = (LN_VOLUME, SPLEEN_VOLUME)
#: Measured observables, in the order used everywhere in the fit package.
MEASURED = (ALC, LN_VOLUME, SPLEEN_VOLUME)

#: Fewest ALC values a fit can use (baseline, rise, fall).
MIN_ALC_VALUES = 3

# Unit screens. An ALC in CLL is 1e3-1e6 per µL; the same count in 1e9/L (= 1e3/µL) reads 1-1000,
# and in cells/L or cells/mL it reads above 1e7. Lymph-node volumes above 2e4 cm3 exceed any body
# and are mm3; spleens below 20 "cm3" are smaller than any spleen and are litres.
_ALC_PER_UL_MAX = 5e6
_ALC_SMALL = 1000.0
_LN_MAX_CM3 = 2e4
_SPLEEN_MIN_CM3 = 20.0
_SPLEEN_MAX_CM3 = 2e4

#: Largest patient CSV read, bytes: years of weekly visits take a few kB.
MAX_FILE_BYTES = 10_000_000

_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d*)?$")

# columns people write instead of the required ones, with the unit they imply
_ALIASES: dict[str, str] = {
    "alc": "ALC of unstated unit",
    "alc_10e9_per_l": "1e9/L",
    "alc_x10e9_per_l": "1e9/L",
    "alc_1e9_per_l": "1e9/L",
    "alc_g_per_l": "1e9/L",
    "alc_per_l": "/L",
    "lymphocytes": "ALC of unstated unit",
    "time": "time",
    "days": "time",
    "time_days": "time",
}


class PatientDataError(_PatientDataError):
    """Patient data that cannot be used; ``issues`` lists every problem found, one per line."""

    def __init__(self, issues: list[str], source: str = "patient data"):
        self.issues = issues
        self.source = source
        super().__init__(f"{source}: " + "; ".join(issues))


@dataclass(frozen=True)
class PatientData:
    """One patient's validated serial measurements.

    Attributes
    ----------
    table
        Columns ``day`` (days since the first dose), ``alc_per_uL`` (1/µL), ``ln_volume_cm3``
        and ``spleen_volume_cm3`` (cm3); NaN where not measured; sorted by day.
    regimen
        The BTK-inhibitor regimen the patient took (day 0 = first dose): a
        :class:`~cllsim.drugs.Regimen`, or the doses as recorded (:class:`~cllsim.drugs.DoseRecords`).
    ighv
        ``"U"``, ``"M"``, or ``None`` when unknown.
    patient_id
        Identifier carried into results.
    source
        Where the data came from (file path), for messages and metadata.
    first_dose
        Calendar date of day 0 (the first dose) when known (a ``date`` column, dated dose
        records or ``--first-dose``); dates the predictions.
    dosing
        Where the regimen came from: ``"regimen"`` (given) or ``"dose records"`` (the file's
        NONMEM dose rows).
    """

    table: pd.DataFrame
    regimen: Regimen | DoseRecords
    ighv: Literal["U", "M"] | None = None
    patient_id: str = "patient"
    source: str = "patient data"
    first_dose: _dt.date | None = None
    dosing: str = "regimen"

    def __post_init__(self) -> None:
        issues = check_table(self.table)
        if issues:
            raise PatientDataError(issues, self.source)

    @property
    def observed(self) -> tuple[str, ...]:
        """Measured observables with at least one value."""
        return tuple(c for c in MEASURED if c in self.table and self.table[c].notna().any())

    @property
    def last_day(self) -> float:
        return float(self.table[DAY].max())

    def measurements(self) -> pd.DataFrame:
        """Long table: ``day, observable, value`` (one row per measured value)."""
        long = self.table.melt(id_vars=[DAY], value_vars=list(self.observed), var_name="observable")
        return long.dropna(subset=["value"]).sort_values([DAY, "observable"]).reset_index(drop=True)

    def to_df(self) -> pd.DataFrame:
        """The validated table (a copy)."""
        return self.table.copy()


def _number(raw: object) -> float | None:
    """Parse one cell: ``None`` if empty, NaN if not a number."""
    if raw is None:
        return None
    text = str(raw).strip()
    # "." is NONMEM's missing value
    if text == "" or text.lower() in {"na", "nan", "n/a", "nd", "-", "."}:
        return None
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    try:
        return float(text)
    except ValueError:
        return math.nan


#: Columns of a patient file besides the measurements: patient id, calendar date, IGHV status.
ID_COLUMN = "id"
DATE = "date"
IGHV_COLUMN = "ighv"
FILE_COLUMNS = (ID_COLUMN, DATE, IGHV_COLUMN)


def check_columns(columns: list[str], *, file_columns: bool = False) -> list[str]:
    """Issues with the header: missing required columns, unknown or duplicate columns.

    With ``file_columns``, the columns of a file (``id``, ``date`` instead of ``day``, ``ighv``)
    are allowed too.
    """
    issues = []
    norm = [c.strip() for c in columns]
    for c in sorted({c for c in norm if norm.count(c) > 1}):
        issues.append(f"column {shorten(c)} appears more than once")
    has_date = file_columns and DATE in norm
    if has_date and DAY in norm:
        issues.append(f"give either a {DAY!r} or a {DATE!r} column, not both")
    for req in REQUIRED_COLUMNS:
        if req == DAY and has_date:
            continue
        if req not in norm:
            hint = [c for c in norm if c.lower() in _ALIASES and _ALIASES[c.lower()] != "time"] if req == ALC else []
            hint = hint or ([c for c in norm if _ALIASES.get(c.lower()) == "time"] if req == DAY else [])
            extra = f" (found {shorten(hint[0])}: rename it to {req!r}" if hint else ""
            if hint and req == ALC:
                extra += " and give counts per µL)"
            elif hint:
                extra += ", days since the first dose)"
            elif req == DAY and file_columns:
                extra = f" (or {DATE!r}, YYYY-MM-DD, with the date of the first dose)"
            issues.append(f"missing required column {req!r}{extra}")
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS) | (set(FILE_COLUMNS) if file_columns else set())
    for c in norm:
        if c not in known and c.lower() not in _ALIASES:
            allowed = REQUIRED_COLUMNS + OPTIONAL_COLUMNS + (FILE_COLUMNS if file_columns else ())
            issues.append(f"unknown column {shorten(c)}; allowed: {', '.join(allowed)}")
    return issues


def _parse_cells(raw: pd.DataFrame, lines: Sequence[int] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Numeric table from string cells; issues name the CSV line (``lines``: of each row) and column."""
    issues = []
    lines = list(lines) if lines is not None else list(range(2, len(raw) + 2))
    cols = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in raw.columns]
    out = {c: np.full(len(raw), np.nan) for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
    for c in cols:
        for i, cell in enumerate(raw[c].tolist()):
            v = _number(cell)
            line = lines[i]
            if v is None:
                if c == DAY:
                    issues.append(f"line {line}: day is empty")
                continue
            if math.isnan(v) or math.isinf(v):
                hint = " (a '#' starts a comment only at the start of a line)" if "#" in str(cell) else ""
                issues.append(f"line {line}: {c} {shorten(str(cell).strip())} is not a number{hint}")
                continue
            out[c][i] = v
    return pd.DataFrame(out), issues


def check_table(table: pd.DataFrame, lines: Sequence[int] | None = None) -> list[str]:
    """Every rule a numeric patient table must satisfy, as a list of issues (empty if fine).

    ``lines`` gives the file line of each row for the messages (default: row i on line i + 2).
    """
    issues: list[str] = []
    line_of = np.asarray(lines, dtype=int) if lines is not None else np.arange(len(table)) + 2
    for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        if c not in table:
            issues.append(f"missing column {c!r}")
    if issues:
        return issues
    if len(table) == 0:
        return ["no data rows"]
    for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        vals = table[c].to_numpy(dtype=float)
        for line, v in zip(line_of, vals, strict=True):
            if np.isfinite(v) and v < 0:
                what = "day must be >= 0 (day 0 = first dose)" if c == DAY else f"{c} must not be negative"
                issues.append(f"line {line}: {what}, got {v:g}")
            elif c == DAY and v > MAX_DAYS:
                issues.append(f"line {line}: day {v:g} is more than {MAX_DAYS:g} days (100 years) after the first dose")
            elif c != DAY and np.isfinite(v) and v == 0:
                # the noise model is log-normal; a volume below CT detection is given as the limit
                issues.append(f"line {line}: {c} must be positive, got 0 (give the detection limit instead)")
    days = table[DAY].to_numpy(dtype=float)
    seen: dict[float, int] = {}
    for line, d in zip(line_of, days, strict=True):
        if not np.isfinite(d):
            continue
        if d in seen:
            issues.append(f"line {line}: duplicate day {d:g} (also on line {seen[d]}); merge the visits into one row")
        else:
            seen[d] = int(line)
    issues += _unit_issues(table)
    alc = table[ALC].to_numpy(dtype=float)
    n_alc = int(np.isfinite(alc).sum())
    if n_alc < MIN_ALC_VALUES:
        issues.append(f"need at least {MIN_ALC_VALUES} alc_per_uL values to fit, got {n_alc}")
    empty_rows = [
        int(line)
        for line, row in zip(line_of, table[list(MEASURED)].to_numpy(dtype=float), strict=True)
        if not np.isfinite(row).any()
    ]
    if empty_rows:
        issues.append(f"line {empty_rows[0]}: row has a day but no measurement")
    return issues


def _unit_issues(table: pd.DataFrame) -> list[str]:
    """Values whose magnitude says they are in another unit; each issue names that unit."""
    issues = []
    alc = table[ALC].to_numpy(dtype=float)
    alc = alc[np.isfinite(alc) & (alc > 0)]
    if alc.size:
        if np.max(alc) < _ALC_SMALL:
            issues.append(
                f"alc_per_uL values (max {np.max(alc):g}) look like x10^9/L (= x10^3/µL), not /µL: "
                "multiply by 1000"
            )
        elif np.max(alc) > _ALC_PER_UL_MAX:
            issues.append(
                f"alc_per_uL values (max {np.max(alc):.3g}) look like cells per litre or per mL, not /µL: "
                "divide by 1e6 (per L) or 1e3 (per mL)"
            )
    ln = table[LN_VOLUME].to_numpy(dtype=float)
    ln = ln[np.isfinite(ln)]
    if ln.size and np.max(ln) > _LN_MAX_CM3:
        issues.append(f"ln_volume_cm3 values (max {np.max(ln):.3g}) look like mm3, not cm3: divide by 1000")
    sp = table[SPLEEN_VOLUME].to_numpy(dtype=float)
    sp = sp[np.isfinite(sp) & (sp > 0)]
    if sp.size and np.max(sp) < _SPLEEN_MIN_CM3:
        issues.append(
            f"spleen_volume_cm3 values (max {np.max(sp):g}) look like litres (L), not cm3: multiply by 1000"
        )
    elif sp.size and np.max(sp) > _SPLEEN_MAX_CM3:
        issues.append(f"spleen_volume_cm3 values (max {np.max(sp):.3g}) look like mm3, not cm3: divide by 1000")
    return issues


def _cell_count(line: str) -> int:
    """Cells of one CSV line: commas outside double quotes, plus one."""
    if '"' not in line:
        return line.count(",") + 1
    count, quoted = 1, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            count += 1
    return count


def read_raw_csv(path: str | Path) -> tuple[pd.DataFrame, list[int], str]:
    """A CSV as string cells, the file line of each row (header = line 1) and the source label.

    Whole-line comments (``#``) and blank lines are skipped; line numbers stay those of the file.
    """
    path = Path(path)
    source = str(path) if len(str(path)) <= 200 else str(path)[:200] + "..."
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PatientDataError([f"{size:,} bytes is not one patient's visits (at most {MAX_FILE_BYTES:,})"], source)
        text = path.read_text(encoding="utf-8-sig")
        # whole-line comments only: pandas' comment= would also cut '70013#x' to 70013
        kept = [(i + 1, line) for i, line in enumerate(text.splitlines())
                if line.strip() and not line.lstrip().startswith("#")]
        # a row with more cells than the header would silently become pandas' index: refuse it
        # (each line on its own: a quote left open must not swallow the lines after it)
        # (comma counting outside quotes, not csv.reader: its field-size limit would refuse huge cells
        # that the reader below reports, shortened, as not a number)
        widths = [(n, _cell_count(line)) for n, line in kept]
        wrong = [(n, w) for n, w in widths[1:] if w > widths[0][1]]
        if widths and wrong:
            raise PatientDataError([f"line {n}: {w} cells, more than the {widths[0][1]} columns of the header"
                                    for n, w in wrong[:5]], source)
        raw = pd.read_csv(io.StringIO("\n".join(line for _, line in kept)), dtype=str, keep_default_na=False,
                          skipinitialspace=True, skip_blank_lines=False, index_col=False)
    except FileNotFoundError:
        raise PatientDataError(["file not found"], source) from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())
        reason = reason if len(reason) <= 200 else reason[:200] + "..."
        raise PatientDataError([f"cannot be read as CSV ({reason})"], source) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    lines = [n for n, _ in kept[1:]]
    if len(lines) != len(raw):  # a quoted cell spanning lines: fall back to row counting
        lines = list(range(2, len(raw) + 2))
    return raw, lines, source


def read_patient_csv(
    path: str | Path,
    *,
    regimen: Regimen | str = "420 mg qd",
    ighv: str | None = None,
    patient_id: str | None = None,
    first_dose: _dt.date | str | None = None,
) -> PatientData:
    """Read and validate one patient's CSV (see the module docstring for the format).

    Files with several patients (an ``id`` column) and NONMEM-style datasets are read by
    :func:`cllsim.fit.read_patients`; this reads the same formats and requires one patient.

    Parameters
    ----------
    path
        CSV file with columns ``day`` (or ``date``), ``alc_per_uL`` and optionally
        ``ln_volume_cm3``, ``spleen_volume_cm3``, ``id``, ``ighv``.
    regimen
        Regimen the patient took, day 0 = first dose (text form as in :func:`cllsim.parse_regimen`).
    ighv
        ``"U"``, ``"M"`` or ``None`` when unknown.
    patient_id
        Identifier for results; default: the ``id`` column, else the file name without extension.
    first_dose
        Date of the first dose (``datetime.date`` or ``YYYY-MM-DD``): day 0 of a ``date`` column.

    Raises
    ------
    PatientDataError
        Listing every problem with the file, each naming its line or column.
    """
    from ._dataset import read_patients

    patients = read_patients(path, regimen=regimen, ighv=ighv, first_dose=first_dose)
    if len(patients) != 1:
        ids = ", ".join(p.patient_id for p in patients.patients[:5])
        raise PatientDataError([f"holds {len(patients)} patients ({ids}{', ...' if len(patients) > 5 else ''}); "
                                "read it with read_patients (cllsim fit fits each)"], patients.source)
    data = patients.patients[0]
    if patient_id is not None and patient_id != data.patient_id:
        data = PatientData(data.table, data.regimen, data.ighv, patient_id, data.source, data.first_dose, data.dosing)
    return data


def make_patient_data(
    table: pd.DataFrame,
    *,
    regimen: Regimen | DoseRecords | str = "420 mg qd",
    ighv: str | None = None,
    patient_id: str = "patient",
    source: str = "patient data",
    first_dose: _dt.date | None = None,
    dosing: str = "regimen",
    lines: Sequence[int] | None = None,
) -> PatientData:
    """Validate an in-memory numeric table (same columns as the CSV) into :class:`PatientData`.

    ``lines`` (file line of each row) makes the messages name the lines of the file it came from;
    ``first_dose`` and ``dosing``: see :class:`PatientData`.
    """
    table = table.copy()
    for c in OPTIONAL_COLUMNS:
        if c not in table:
            table[c] = np.nan
    issues = check_columns([str(c) for c in table.columns])
    if issues:
        raise PatientDataError(issues, source)
    if ighv is not None:
        ighv = str(ighv).strip().upper().removesuffix("-CLL")
        if ighv in {"", "UNKNOWN", "?", "NA"}:
            ighv = None
        elif ighv not in {"U", "M"}:
            raise PatientDataError([f"IGHV status must be U or M (or unknown), got {shorten(ighv)}"], source)
    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    if reg.is_untreated:
        raise PatientDataError(["regimen is 'none': a fit needs the BTK-inhibitor regimen taken"], source)
    table = table[[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]].astype(float)
    issues = check_table(table, lines)
    if issues:
        raise PatientDataError(issues, source)
    table = table.sort_values(DAY).reset_index(drop=True)
    return PatientData(table, reg, ighv, patient_id, source, first_dose, dosing)  # type: ignore[arg-type]

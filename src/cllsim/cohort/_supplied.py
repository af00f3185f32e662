"""A supplied population: one patient per row of a CSV, instead of sampling.

Format (UTF-8, comma-separated, a ``#`` at the start of a line makes it a comment)::

    id,ighv,body_weight_kg,baseline_alc_per_uL,ibrutinib_cl_L_per_h
    pt-001,U,72.5,85000,
    pt-002,M,91,23000,1400

* ``id``: the patient's identifier in every output (unique, at most :data:`MAX_ID_CHARS` characters).
* ``ighv``: ``U`` (unmutated) or ``M`` (mutated), case-insensitive; it sets the IGHV condition
  values (``ighv.tsv``) of the parameters the file does not give.
* any other column: a parameter id of the patient table (covariates such as ``body_weight_kg``,
  ``baseline_alc_per_uL``, or any model parameter), in the table's unit, inside its bounds. An
  empty cell, or a parameter without a column, takes its nominal (IGHV-conditioned) value.

The file is read once when the spec is made (every problem named by line and column), its
SHA-256 goes into the spec (so a resumed run refuses a changed file), and each chunk reads it
again. :func:`write_population` writes the patients of a finished cohort in this format, so a
sampled cohort can be run again from its file (identical results).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import SpecError, shorten
from .._validation import did_you_mean
from ..model import ParameterTable, ighv_conditions, load_table
from ._population import PopulationChunk, SuppliedPopulation

#: Largest population file, bytes (100 000 patients with a dozen columns fit).
MAX_FILE_BYTES = 10_000_000
#: Longest patient id, characters.
MAX_ID_CHARS = 64
#: Problems listed in one message before the rest are counted.
MAX_ISSUES = 5
ID, IGHV = "id", "ighv"


class PopulationError(SpecError):
    """A population file that cannot be used; the message names each bad line and column."""

    def __init__(self, source: str, issues: list[str]):
        self.source, self.issues = source, issues
        more = f"; and {len(issues) - MAX_ISSUES} more" if len(issues) > MAX_ISSUES else ""
        super().__init__(f"population {source}: " + "; ".join(issues[:MAX_ISSUES]) + more)

    def __reduce__(self) -> tuple[type[PopulationError], tuple[str, list[str]]]:
        # raised in a worker process, it must unpickle with its two arguments
        return (type(self), (self.source, self.issues))


@dataclass(frozen=True)
class Population:
    """A validated population file.

    Attributes
    ----------
    table
        ``id``, ``ighv`` (``"U"``/``"M"``) and one float column per given parameter (table
        units; NaN where the cell was empty), in file order.
    spec
        What goes into a :class:`CohortSpec` (path, SHA-256, number of patients).
    """

    table: pd.DataFrame
    spec: SuppliedPopulation

    @property
    def parameters(self) -> tuple[str, ...]:
        """Parameter ids the file gives."""
        return tuple(c for c in self.table.columns if c not in (ID, IGHV))


def _source(path: Path) -> str:
    text = str(path)
    return repr(text if len(text) <= 200 else text[:200] + "...")


def read_population(path: str | Path, table: ParameterTable | None = None) -> Population:
    """Read and validate a population CSV (format in the module docstring).

    Parameters
    ----------
    path
        The CSV file.
    table
        Parameters table the values are checked against (default: the packaged patient table).

    Raises
    ------
    PopulationError
        Naming each problem by line and column: an unknown column (with the closest parameter id),
        a missing ``id`` or ``ighv`` column, a value that is not a number, outside the table's
        bounds or not finite, an IGHV status other than U/M, an empty or repeated id, an empty
        file, or one over :data:`MAX_FILE_BYTES`.
    """
    path = Path(path)
    source = _source(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PopulationError(source, [f"{size:,} bytes, more than the limit of {MAX_FILE_BYTES:,}"])
        data = path.read_bytes()
    except FileNotFoundError:
        raise PopulationError(source, ["file not found"]) from None
    except IsADirectoryError:
        raise PopulationError(source, ["is a folder, not a CSV file"]) from None
    except OSError as exc:
        raise PopulationError(source, [f"cannot be read ({exc.strerror or exc})"]) from None
    digest = hashlib.sha256(data).hexdigest()
    df = _parse(data, source, table or load_table())
    return Population(df, SuppliedPopulation(path=str(path.resolve()), sha256=digest, n=len(df)))


def _parse(data: bytes, source: str, table: ParameterTable) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PopulationError(source, ["is not UTF-8 text"]) from None
    # whole-line comments only (pandas' comment= would also cut a cell at a '#'); keep the line numbers
    kept = [(i + 1, line) for i, line in enumerate(text.splitlines())
            if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise PopulationError(source, ["is empty (a header line 'id,ighv,...' and one line per patient are needed)"])
    try:
        raw = pd.read_csv(io.StringIO("\n".join(line for _, line in kept)), dtype=str, keep_default_na=False,
                          skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = " ".join(str(exc).split())
        raise PopulationError(source, [f"cannot be read as CSV ({shorten(reason, 200)})"]) from None
    if len(raw) != len(kept) - 1:
        raise PopulationError(source, ["has a quoted cell across lines; give one patient per line"])
    lines = [n for n, _ in kept[1:]]
    raw.columns = [str(c).strip() for c in raw.columns]
    issues = []
    for col in (ID, IGHV):
        if col not in raw.columns:
            issues.append(f"no {col!r} column (columns: {shorten(', '.join(raw.columns))})")
    seen: set[str] = set()
    for j, col in enumerate(raw.columns):
        if col in seen:
            issues.append(f"column {shorten(col)} appears twice")
        seen.add(col)
        if col not in (ID, IGHV) and col not in table.rows:
            hint = did_you_mean(col, [*table.rows, ID, IGHV])
            issues.append(f"column {j + 1} {shorten(col)} is not a parameter id of the patient table{hint}")
    if issues:
        raise PopulationError(source, issues)
    if raw.empty:
        raise PopulationError(source, ["has a header but no patient line"])
    ids = raw[ID].str.strip()
    first_line: dict[str, int] = {}
    for line, pid in zip(lines, ids, strict=True):
        if not pid:
            issues.append(f"line {line}, column 'id': empty id")
        elif len(pid) > MAX_ID_CHARS:
            issues.append(f"line {line}, column 'id': {shorten(pid)} is longer than {MAX_ID_CHARS} characters")
        elif pid in first_line:
            issues.append(f"line {line}, column 'id': {shorten(pid)} repeats the id of line {first_line[pid]}")
        else:
            first_line[pid] = line
    ighv = raw[IGHV].str.strip().str.upper().str.removesuffix("-CLL")
    for line, g, given in zip(lines, ighv, raw[IGHV], strict=True):
        if g not in ("U", "M"):
            issues.append(f"line {line}, column 'ighv': {shorten(given)} is not U or M")
    out = pd.DataFrame({ID: ids, IGHV: ighv})
    for col in raw.columns:
        if col in (ID, IGHV):
            continue
        row = table.rows[col]
        cells = raw[col].str.strip()
        # Python's float() reads every repr exactly: a written population reads back bit for bit
        values = np.array([_number(c) for c in cells], dtype=float)
        for line, cell, v in zip(lines, cells, values, strict=True):
            where = f"line {line}, column {col!r}"
            if cell == "":
                continue
            if np.isnan(v) and cell.lower() != "nan":
                issues.append(f"{where}: {shorten(cell)} is not a number")
            elif not np.isfinite(v):
                issues.append(f"{where}: {shorten(cell)} is not finite")
            elif not row.lowerBound <= v <= row.upperBound:
                side = "below the lower" if v < row.lowerBound else "above the upper"
                bound = row.lowerBound if v < row.lowerBound else row.upperBound
                issues.append(f"{where}: {v:g} is {side} bound {bound:g} {row.unit}".rstrip())
        out[col] = values
    if issues:
        raise PopulationError(source, issues)
    return out


def _number(cell: str) -> float:
    """The cell as a float; NaN when empty or not a number (told apart by the caller)."""
    if not cell or "_" in cell:  # float() would read '1_000' as 1000
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        return float("nan")


@lru_cache(maxsize=2)
def _parsed(path: str, sha256: str) -> Population:
    return read_population(path)


#: (path, size, modification time) of files whose hash was checked, and that hash: a resumed cohort
#: verifies each chunk's ids, and must not hash a 10 MB file for every one.
_CHECKED: dict[tuple[str, int, int], str] = {}


def _load(path: str, sha256: str) -> Population:
    """The population file of a spec, refused if its content is no longer the one the spec was made with."""
    try:
        st = Path(path).stat()
        key = (path, st.st_size, st.st_mtime_ns)
        digest = _CHECKED.get(key) or hashlib.sha256(Path(path).read_bytes()).hexdigest()
        _CHECKED[key] = digest
    except OSError as exc:
        raise SpecError(f"population {_source(Path(path))} cannot be read ({exc.strerror or exc})") from None
    if digest != sha256:
        raise SpecError(
            f"population {_source(Path(path))} changed since the cohort was set up (its SHA-256 differs); "
            "restore it, or start a new --out folder with the new file"
        )
    return _parsed(path, sha256)


def supplied_chunk(spec: SuppliedPopulation, start: int, stop: int, table: ParameterTable | None = None
                   ) -> PopulationChunk:
    """Patients ``start``..``stop - 1`` of a population file: given values, the rest nominal (IGHV-conditioned)."""
    pop = _load(spec.path, spec.sha256)
    if len(pop.table) != spec.n:
        raise SpecError(f"population {_source(Path(spec.path))} has {len(pop.table)} patients, the spec {spec.n}")
    table = table or load_table()
    rows = pop.table.iloc[start:stop]
    is_u = rows[IGHV].to_numpy() == "U"
    cond = ighv_conditions()
    values: dict[str, np.ndarray] = {}
    for pid, row in table.rows.items():
        u_val, m_val = cond["U"].get(pid, row.nominalValue), cond["M"].get(pid, row.nominalValue)
        nominal = np.where(is_u, u_val, m_val).astype(float)
        if pid in rows:
            given = rows[pid].to_numpy(float)
            nominal = np.where(np.isnan(given), nominal, given)
        values[pid] = nominal
    return PopulationChunk(rows[ID].to_numpy(dtype=object).astype(str), np.where(is_u, "U", "M"), values,
                           pop.parameters, np.ones(stop - start, dtype=np.int64))


def population_ids(spec: SuppliedPopulation, start: int, stop: int) -> list[str]:
    """Ids of patients ``start``..``stop - 1`` of a population file."""
    return list(_load(spec.path, spec.sha256).table[ID].iloc[start:stop])


def write_population(patients: pd.DataFrame, path: str | Path, parameters: list[str] | None = None) -> Path:
    """Write patients (``id``, ``ighv`` and parameter columns) as a population CSV.

    Parameters
    ----------
    patients
        E.g. :attr:`CohortResult.patients`: its ``id``, ``ighv`` and every column that is a
        parameter id of the patient table are written (endpoints and status are left out).
    path
        The CSV to write.
    parameters
        Parameter columns to write (default: every parameter id among the columns).

    Returns
    -------
    Path
        ``path``. Floats are written with every digit (``repr``), so reading the file back gives
        the same values.
    """
    known = load_table().rows
    cols = parameters if parameters is not None else [c for c in patients.columns if c in known]
    unknown = [c for c in cols if c not in known]
    if unknown:
        raise SpecError(f"not parameter ids of the patient table: {shorten(', '.join(unknown))}")
    out = patients[[ID, IGHV, *cols]]
    path = Path(path)
    out.to_csv(path, index=False, float_format=None)
    return path

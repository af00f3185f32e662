"""Fit every patient of a file: one task per patient on an executor, one output folder each, a summary.

Each patient is one task of a :mod:`cllsim.execution` executor (its starts and profiles run
inside that task, serially), so ``workers`` processes fit ``workers`` patients at a time. A
patient whose fit fails is reported as failed in the summary; the others are fitted and kept.

Output folder (crash-safe, as every cllsim output): ``<out>/<id>/`` per patient (the files of
:meth:`FitResult.save`, each folder published when complete, ``metadata.json`` last);
``summary.csv`` (one row per patient, rewritten atomically as each finishes: ``status`` is
``pending`` until then), ``estimates.csv`` and ``observations.csv`` (all patients, long form,
with an ``id`` column), and ``metadata.json``, written last and only when every patient has
been attempted: its presence marks the whole run complete.

A rerun into the same folder resumes: a patient whose folder is complete and was fitted from the
same data, dosing, IGHV status, settings, parameters table and cllsim version (``fit_key`` in its
``metadata.json``) is read back instead of refitted; failed and unfinished patients are fitted.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from .._errors import InputError
from ..execution import (
    MARKER,
    Executor,
    invalidate,
    json_text,
    make_executor,
    staged_output,
    write_atomic,
    write_text_atomic,
)
from ..model import load_table, parameter_hash
from ._data import PatientData
from ._fit import FitResult, fit_patient

#: Names at the top of a multi-patient output folder (a patient id may not be one of them).
RESERVED_NAMES = ("summary.csv", "estimates.csv", "observations.csv", "metadata.json")


@dataclass(frozen=True)
class PatientFailure:
    """A patient whose fit failed: the id, the kind of error and its message."""

    patient_id: str
    kind: str
    message: str


@dataclass(frozen=True)
class _Stored:
    """A patient fitted by an earlier run into the same folder (read back, not refitted)."""

    row: dict[str, Any]
    estimates: pd.DataFrame
    observations: pd.DataFrame


#: File of a patient's folder with its row of the summary (read back on resume).
SUMMARY_ROW = "summary_row.json"


def fit_key(data: PatientData, fit_kwargs: dict[str, Any]) -> str:
    """Hash of what a patient's fit depends on: data, dosing, IGHV, settings, parameters, version."""
    table = fit_kwargs.get("table") or load_table()
    dosing = getattr(data.regimen, "sha256", None)
    payload = {
        "data": data.table.to_json(orient="split", double_precision=15),
        "dosing": dosing() if callable(dosing) else data.regimen.describe(),
        "ighv": data.ighv, "first_dose": str(data.first_dose), "version": __version__,
        "parameters": parameter_hash(table.values()),
        "settings": {k: repr(v) for k, v in sorted(fit_kwargs.items()) if k != "table"},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _read_back(folder: Path, key: str) -> _Stored | None:
    """The earlier fit in ``folder`` if it is complete and has ``key``; else None."""
    try:
        meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if meta.get("fit_key") != key:
            return None
        row = json.loads((folder / SUMMARY_ROW).read_text(encoding="utf-8"))
        return _Stored(row, pd.read_csv(folder / "estimates.csv"), pd.read_csv(folder / "observations.csv"))
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None


@dataclass(frozen=True, eq=False)
class _PatientTask:
    data: PatientData
    kwargs: tuple[tuple[str, Any], ...]

    def execute(self) -> FitResult | PatientFailure:
        try:
            return fit_patient(self.data, workers=1, progress=False, **dict(self.kwargs))
        except Exception as exc:  # noqa: BLE001 - one patient's failure must not lose the others
            kind = "input" if isinstance(exc, InputError | RuntimeError) else "internal"
            message = " ".join(str(exc).split()) or type(exc).__name__
            if kind == "internal":
                where = traceback.extract_tb(exc.__traceback__)[-1]
                message = f"{type(exc).__name__}: {message} (at {Path(where.filename).name}:{where.lineno})"
            return PatientFailure(self.data.patient_id, kind, message)


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    write_atomic(path, lambda p: df.to_csv(p, index=False))


def _check_ids(patients: Sequence[PatientData]) -> None:
    seen: dict[str, str] = {}
    for p in patients:
        key = p.patient_id.lower()  # case-insensitive file systems would merge 'a' and 'A'
        if key in seen:
            raise InputError(f"patient ids {seen[key]!r} and {p.patient_id!r} would share an output folder")
        if key in RESERVED_NAMES:
            raise InputError(f"patient id {p.patient_id!r} is the name of a summary file; rename the patient")
        seen[key] = p.patient_id


def _summary_row(data: PatientData, outcome: FitResult | PatientFailure | _Stored | None) -> dict[str, Any]:
    if isinstance(outcome, _Stored):
        return dict(outcome.row)
    row: dict[str, Any] = {"id": data.patient_id, "ighv": data.ighv or "unknown", "dosing": data.dosing,
                           "regimen": data.regimen.describe(), "n_measurements": len(data.measurements())}
    if outcome is None:
        return {**row, "status": "pending"}
    if isinstance(outcome, PatientFailure):
        return {**row, "status": "failed", "error": outcome.message}
    obs = outcome.observations
    outside = obs[obs["outside_pi"]]
    row.update({
        "status": "fitted", "error": "",
        "n_outside_pi": len(outside),
        "outside_pi": ";".join(f"{r.observable}@day{r.day:g}" for r in outside.itertuples()),
        "best_neg_log_posterior": outcome.metadata.get("best_neg_log_posterior"),
        "converged_starts": int(outcome.starts["converged"].sum()),
        "failed_starts": outcome.failed_starts,
        "not_identifiable": ";".join(outcome.non_identifiable),
    })
    for r in outcome.estimates.itertuples():
        row[r.parameterId] = r.estimate
        row[f"{r.parameterId}_ci_low"] = r.ci_low
        row[f"{r.parameterId}_ci_high"] = r.ci_high
    for r in outcome.quantities.itertuples():
        row[r.quantity] = r.estimate
        row[f"{r.quantity}_ci_low"] = r.ci_low
        row[f"{r.quantity}_ci_high"] = r.ci_high
    return row


def summary_table(patients: Sequence[PatientData],
                  outcomes: Sequence[FitResult | PatientFailure | _Stored | None]) -> pd.DataFrame:
    """One row per patient: status, error, flags, estimates and quantities with 95% intervals.

    Columns: ``id, status`` (``fitted``, ``failed``, ``pending``), ``error``, ``ighv``,
    ``dosing``, ``regimen``, ``n_measurements``, ``n_outside_pi`` and ``outside_pi``
    (measurements outside the 95% prediction interval, ``observable@dayD``, ``;``-separated),
    ``best_neg_log_posterior``, ``converged_starts``, ``failed_starts``, ``not_identifiable``;
    then for each estimated parameter and clinician quantity ``<name>``, ``<name>_ci_low``,
    ``<name>_ci_high`` (units of the parameters table and of ``quantities.csv``).
    """
    rows = [_summary_row(p, o) for p, o in zip(patients, outcomes, strict=True)]
    df = pd.DataFrame(rows)
    first = [c for c in ("id", "status", "error", "ighv", "dosing", "regimen", "n_measurements", "n_outside_pi",
                         "outside_pi", "best_neg_log_posterior", "converged_starts", "failed_starts",
                         "not_identifiable") if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]


def fit_patients(
    patients: Sequence[PatientData],
    out: str | Path,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
    progress: bool = False,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Fit each patient (:func:`fit_patient`) as one task, writing ``out/<id>/`` and the summary.

    Parameters
    ----------
    patients
        Validated patients (e.g. :func:`cllsim.fit.read_patients`); ids must differ (ignoring case).
    out
        Output folder (layout: see the module docstring).
    workers
        Local processes, each fitting one patient at a time; 1 fits them in this process;
        ``None``: one per usable core, at most one per patient.
    executor
        Run the patients' tasks on this executor instead (left open); excludes ``workers``.
    progress
        Show a progress bar over the patients.
    **fit_kwargs
        Passed to :func:`fit_patient` for every patient (``n_starts``, ``uncertainty``, ...).

    Returns
    -------
    pandas.DataFrame
        The summary (:func:`summary_table`), also in ``out/summary.csv``.
    """
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    patients = list(patients)
    if not patients:
        raise InputError("no patients to fit")
    _check_ids(patients)
    for bad in ("workers", "executor", "progress"):
        fit_kwargs.pop(bad, None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    invalidate(out)  # the run is complete only when its marker is written again, last
    keys = [fit_key(p, fit_kwargs) for p in patients]
    outcomes: list[FitResult | PatientFailure | _Stored | None] = [
        _read_back(out / p.patient_id, k) for p, k in zip(patients, keys, strict=True)]
    todo = [i for i, o in enumerate(outcomes) if o is None]
    t0 = time.perf_counter()

    def write_summary() -> pd.DataFrame:
        df = summary_table(patients, outcomes)
        _write_csv(out / "summary.csv", df)
        return df

    write_summary()
    tasks = [_PatientTask(patients[i], tuple(sorted(fit_kwargs.items()))) for i in todo]
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(make_executor(workers, n_tasks=max(1, len(tasks))))
        bar = stack.enter_context(Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                           TimeElapsedColumn(), disable=not progress))
        task = bar.add_task(f"patients ({executor.describe()})", total=len(patients),
                            completed=len(patients) - len(todo))
        try:
            for j, outcome in executor.execute_unordered(tasks):
                i = todo[j]
                if isinstance(outcome, FitResult):
                    try:
                        outcome.metadata["fit_key"] = keys[i]
                        with staged_output(out / patients[i].patient_id) as stage:
                            row = _summary_row(patients[i], outcome)
                            (stage / SUMMARY_ROW).write_text(json.dumps(row, default=str), encoding="utf-8")
                            outcome.save(stage)
                    except InputError as exc:
                        outcome = PatientFailure(patients[i].patient_id, "output", str(exc))
                outcomes[i] = outcome
                write_summary()
                bar.advance(task)
        except Exception as exc:  # noqa: BLE001 - e.g. a worker killed: keep what finished, say what did not
            message = f"not fitted: the executor stopped ({type(exc).__name__}: {' '.join(str(exc).split())})"
            outcomes = [o if o is not None else PatientFailure(p.patient_id, "internal", message)
                        for p, o in zip(patients, outcomes, strict=True)]
    summary = write_summary()
    done = [(p, o) for p, o in zip(patients, outcomes, strict=True) if isinstance(o, FitResult | _Stored)]
    if done:
        est = pd.concat([o.estimates.assign(id=p.patient_id) for p, o in done], ignore_index=True)
        obs = pd.concat([o.observations.assign(id=p.patient_id) for p, o in done], ignore_index=True)
        for name, df in (("estimates", est), ("observations", obs)):
            _write_csv(out / f"{name}.csv", df[["id", *[c for c in df.columns if c != "id"]]])
    metadata = {
        "cllsim_version": __version__,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "patients": len(patients),
        "fitted": len(done),
        "resumed": [p.patient_id for p, o in done if isinstance(o, _Stored)],
        "failed": {o.patient_id: o.message for o in outcomes if isinstance(o, PatientFailure)},
        "execution": executor.describe() if executor is not None else "",
        "fit_settings": {k: v for k, v in fit_kwargs.items() if k != "table"},
        "seconds_total": time.perf_counter() - t0,
    }
    write_text_atomic(out / "metadata.json", json_text(metadata))
    return summary

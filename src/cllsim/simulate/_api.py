"""One entry point: ``simulate(regimen, patient, days=...)`` (or ``simulate(doses=table, ...)``)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, field_validator

from .. import __version__
from .._errors import InputError, ParameterError, SpecError
from .._validation import InputModel
from ..drugs import (
    DEFAULT_DRUG,
    DoseRecords,
    Regimen,
    Therapy,
    drug_set,
    parse_therapy,
    read_dose_records,
    therapy_warnings,
)
from ..model import (
    CARRIED_STATES,
    PATIENT,
    C,
    Host,
    ParameterTable,
    antimony_model,
    antimony_to_sbml,
    get_host,
    ighv_conditions,
    load_table,
    parameter_hash,
    pools,
)
from ._engine import BatchTrajectory, DoseSchedule, Engine, dosing_event_lines, schedule_parameter_ids
from ._observables import Observable, observables, observe
from ._result import SimulationResult
from ._status import Status

#: Longest simulation, days (100 years): beyond any patient's treatment; longer horizons only
#: cost memory and minutes (1e5 days ran for minutes, 1e7 exhausted memory).
MAX_DAYS = 36_500.0
#: Most values (output times x observables) one :func:`simulate` returns: its tidy table takes
#: about 40 bytes a value, so this is about 400 MB.
MAX_OUTPUT_VALUES = 10_000_000

#: Engines selectable by name in :func:`simulate` (``"roadrunner"`` is the reference engine's old name).
ENGINE_NAMES = ("reference", "roadrunner", "cohort", "jax")


def make_engine(engine: str | Engine, *, rtol: float, atol: float) -> Engine:
    """The engine called ``engine`` at these tolerances (an :class:`Engine` instance is returned as is)."""
    if isinstance(engine, Engine):
        return engine
    if engine in ("reference", "roadrunner"):
        from ._roadrunner import ReferenceEngine

        return ReferenceEngine(rtol=rtol, atol=atol)
    if engine == "cohort":
        from ._vectorized import CohortEngine

        return CohortEngine(rtol=rtol, atol=atol)
    if engine == "jax":
        from ._jax import JaxEngine

        return JaxEngine(rtol=rtol, atol=atol)
    raise SpecError(f"unknown engine {engine!r}; available: {', '.join(ENGINE_NAMES)}")


class Patient(InputModel):
    """A patient (or animal): IGHV status and parameter values differing from the table.

    Attributes
    ----------
    id
        Identifier carried into results.
    ighv
        ``"U"`` (unmutated, stronger BCR signaling) or ``"M"`` (mutated).
    parameters
        Overrides of nominal table values, by parameter id, in table units; each is checked
        against the row's bounds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error: ClassVar[type[InputError]] = ParameterError
    id: str = "patient"
    ighv: str = "U"  # "U" or "M" (validated below; str so callers need not narrow to a Literal)
    parameters: dict[str, float] = Field(default_factory=dict)

    @field_validator("ighv", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip().upper().removesuffix("-CLL")
            if v not in {"U", "M"}:
                raise ValueError(f"IGHV status must be 'U' or 'M', got {v!r}")
        return v


@dataclass(frozen=True)
class PreparedModel:
    """A patient's model ready to run: SBML text and the values it was built from."""

    host: Host
    values: dict[str, float]
    regimen: Therapy
    days: float
    sbml: str
    antimony: str
    drug: str = DEFAULT_DRUG

    @property
    def drugs(self) -> tuple[str, ...]:
        """Drugs of the model (the therapy's, or :attr:`drug` when untreated)."""
        return model_drugs(self.regimen, self.drug)


def model_drugs(therapy: Therapy, drug: str | Sequence[str] = DEFAULT_DRUG) -> tuple[str, ...]:
    """Drugs a model of ``therapy`` is built with: ``drug`` first, then every drug the therapy gives."""
    return drug_set([*drug_set(drug), *therapy.drugs])


def patient_values(
    patient: Patient, host: Host | str = PATIENT, table: ParameterTable | None = None,
    drug: str | Sequence[str] = DEFAULT_DRUG,
) -> dict[str, float]:
    """Parameter values for ``patient``: table nominal, then IGHV condition, then overrides.

    ``drug`` is a drug id or the drugs of the model (each adds its table).
    """
    table = table or load_table(host=host, drug=drug)
    table = table.with_values(ighv_conditions()[patient.ighv], what=f"IGHV {patient.ighv}")
    table = table.with_values(patient.parameters, what=f"patient {patient.id!r}")
    return table.values()


def prepare(
    regimen: Therapy | Regimen | DoseRecords | str,
    patient: Patient | None = None,
    *,
    days: float,
    host: Host | str = PATIENT,
    table: ParameterTable | None = None,
    drug: str = DEFAULT_DRUG,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_doses: int | None = None,
) -> PreparedModel:
    """A self-contained SBML of one patient on one regimen, for export.

    The cell-carried states are put at their untreated steady state by the one template
    (:meth:`Engine.run` on the reference engine) and written as initial values; each dose is an
    SBML event at its exact time, so any SBML tool reproduces :func:`simulate`.
    """
    host = get_host(host)
    patient = patient or Patient()
    days = _check_days(days)
    therapy = _checked_therapy(regimen, days, max_doses, drug)
    if therapy.at_progression is not None:
        raise SpecError("an exported model cannot switch at progression (progression is read from the course); "
                        "export each phase, or run it with `cllsim cohort`/`cllsim compare`")
    drugs = model_drugs(therapy, drug)
    values = patient_values(patient, host, table, drugs)
    carried = [f"{x}_{p}" for x in CARRIED_STATES for p in pools(host)]
    start = make_engine("reference", rtol=rtol, atol=atol).run(host, values, "none", [0.0], carried, drug=drugs)
    if not start.ok[0]:
        raise Status(start.status[0]).error(f"patient {patient.id}: {start.detail[0]}")
    dosing = {k: np.array([values[k]]) for k in schedule_parameter_ids(drugs)}
    schedule = DoseSchedule.of(therapy, dosing, 1, days * 24.0)
    events = dosing_event_lines(schedule.changes[0])
    initial = {k: float(v[0, 0]) for k, v in start.values.items()}
    text = antimony_model(host, values, events, initial_states=initial, drugs=drugs)
    return PreparedModel(host, values, therapy, days, antimony_to_sbml(text), text, drug)


def _check_days(days: float) -> float:
    if isinstance(days, bool) or not isinstance(days, int | float) or not np.isfinite(days) or days <= 0:
        raise SpecError(f"days must be a positive number, got {days!r}")
    if days > MAX_DAYS:
        raise SpecError(f"days must be at most {MAX_DAYS:g} (100 years), got {days:g}")
    return float(days)


def _checked_therapy(
    regimen: Therapy | Regimen | DoseRecords | str, days: float, max_doses: int | None, drug: str = DEFAULT_DRUG
) -> Therapy:
    """The therapy, with its dose limit raised to ``max_doses`` if given, refused if it has too many doses."""
    therapy = parse_therapy(regimen, drug)
    if max_doses is not None:
        therapy = therapy.with_max_doses(max_doses)
    therapy.check_dose_count(days * 24.0)  # before anything is built or allocated
    return therapy


def host_regimen_warnings(
    therapy: Therapy | Regimen | DoseRecords | str, host: Host, days: float, values: dict[str, float],
    drug: str = DEFAULT_DRUG,
) -> list[str]:
    """:func:`cllsim.drugs.therapy_warnings` for ``host`` (per-kg and dose-ceiling checks in people only)."""
    therapy = parse_therapy(therapy, drug)
    human = host.extra.get("species", "human") == "human"
    return therapy_warnings(therapy, days * 24.0, human=human, body_weight_kg=values["body_weight_kg"])


#: Output steps tried after the first week, h, finest first: every one divides the 24 h of a
#: daily dosing cycle into at least two samples, so peaks and troughs stay visible.
DEFAULT_STEPS_H = (2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
#: Most output times the default grid has (100,000 times x the ~30 observables of a patient is
#: 3 million values, well within :data:`MAX_OUTPUT_VALUES`).
MAX_DEFAULT_TIMES = 100_000


def default_times(days: float) -> np.ndarray:
    """The default output grid, days: hourly for the first week, then every 2 h.

    Every 2 h resolves the peak and trough of each dosing interval of a daily or twice-daily
    regimen (a daily grid would read plasma drug at the same clock time every day, a constant
    trough). For very long horizons the step after the first week widens to the finest of
    :data:`DEFAULT_STEPS_H` (2 to 12 h) that keeps the grid within :data:`MAX_DEFAULT_TIMES`
    points; 100 years fits at 12 h.
    """
    fine = np.arange(0.0, min(days, 7.0), 1.0 / 24.0)
    if days <= 7.0:
        grid = fine
    else:
        later_h = (days - 7.0) * 24.0
        step_h = next((s for s in DEFAULT_STEPS_H if fine.size + later_h / s < MAX_DEFAULT_TIMES),
                      DEFAULT_STEPS_H[-1])
        # integer multiples of the step (not a float accumulation) so every point lands on the hour
        n_later = int(np.floor(later_h / step_h + 1e-9))
        grid = np.concatenate([fine, 7.0 + np.arange(n_later + 1) * step_h / 24.0])
    if grid[-1] < days - 1e-12:
        grid = np.append(grid, days)
    return grid


def output_times(days: float, times: Sequence[float] | None = None, step: float | None = None) -> np.ndarray:
    """The output grid, days: ``times`` as given, or every ``step`` days from 0, or the default.

    Parameters
    ----------
    days
        Simulated time, days; every output time lies within it.
    times
        Explicit output times, days: increasing, non-negative, at most ``days``.
    step
        Spacing of a regular grid, days (e.g. 0.125 for every 3 h); ``days`` itself is the last
        point even when it is not a multiple of ``step``.

    Returns
    -------
    numpy.ndarray
        Increasing output times, days (``times`` as given; the other grids start at 0).

    Raises
    ------
    cllsim.SpecError
        A negative, non-finite, repeated or out-of-order time, a time beyond ``days``, a step
        that is not positive, or both ``times`` and ``step``.
    """
    if times is not None and step is not None:
        raise SpecError("give output times or a step, not both")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int | float) or not np.isfinite(step) or step <= 0:
            raise SpecError(f"step must be a positive number of days, got {step!r}")
        if step > days:
            raise SpecError(f"step of {step:g} days is longer than the simulated {days:g} days")
        grid = np.arange(int(np.floor(days / step + 1e-9)) + 1) * float(step)
        return grid if grid[-1] >= days - 1e-9 else np.append(grid, days)
    if times is None:
        return default_times(days)
    try:
        grid = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise SpecError("times must be numbers of days") from None
    if grid.ndim != 1 or grid.size < 1:
        raise SpecError("times must be a non-empty list of days")
    if not np.all(np.isfinite(grid)):
        raise SpecError("times must be finite numbers of days")
    if grid[0] < 0:
        raise SpecError(f"times must not be negative, got {grid[grid < 0][0]:g}")
    if np.any(np.diff(grid) <= 0):
        i = int(np.argmax(np.diff(grid) <= 0))
        raise SpecError(f"times must increase: {grid[i]:g} is followed by {grid[i + 1]:g}")
    if grid[-1] > days + 1e-9:
        raise SpecError(f"times reach day {grid[-1]:g}, beyond the simulated {days:g} days")
    return grid


#: What ``doses=`` accepts: an event table, or a CSV path / DataFrame that :func:`cllsim.drugs.read_dose_records` reads.
DoseTable: TypeAlias = DoseRecords | str | os.PathLike[str] | pd.DataFrame


def simulate(
    regimen: Therapy | Regimen | DoseRecords | str | None = None,
    patient: Patient | None = None,
    *,
    days: float = 365.0,
    host: Host | str = PATIENT,
    times: Sequence[float] | None = None,
    step: float | None = None,
    table: ParameterTable | None = None,
    drug: str = DEFAULT_DRUG,
    engine: str | Engine = "reference",
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_doses: int | None = None,
    doses: DoseTable | None = None,
) -> SimulationResult:
    """Simulate one patient (or animal) on a regimen, or on a dose history given as data.

    Parameters
    ----------
    regimen
        :class:`~cllsim.drugs.Therapy`, :class:`~cllsim.drugs.Regimen` or their text form
        (``"420 mg qd"``, ``"acalabrutinib 100 mg bid"``, ``"ibrutinib 420 mg qd x 420 +
        venetoclax ramp-up; 400 mg qd x 301 from day 84"``, ``"none"``). A switch at progression
        (``"... until progression then ..."``) needs the course's progression; run it with
        :func:`cllsim.cohort.run_cohort` or ``cllsim compare``. Also a dose table
        (:class:`~cllsim.drugs.DoseRecords`). Default ``"420 mg qd"`` unless ``doses`` is given.
    patient
        IGHV status and parameter overrides; default: the typical U-CLL patient.
    days
        Simulated time after the start of treatment, days.
    host
        ``"patient"`` (default) or another registered host.
    times
        Output times, days (increasing, within ``days``); the result holds exactly these.
        Default: hourly for the first week, then every 2 h (:func:`default_times`), which
        resolves the peak and trough of every dosing interval of a daily regimen.
    step
        Instead of ``times``: a regular grid every ``step`` days (e.g. ``0.125``), ending at ``days``.
    table
        Parameters table; default: the packaged ones of the model's drugs.
    drug
        Drug of a regimen that names none (:data:`cllsim.drugs.DRUGS`).
    engine
        ``"reference"`` (default; libRoadRunner/CVODE, compiled once per host), ``"cohort"``
        (code generated from the same SBML, RODAS4, numba), ``"jax"`` (diffrax; optional extra),
        or an :class:`Engine` instance. All run the same template and agree to solver tolerance.
    rtol, atol
        Solver tolerances (relative; absolute in model units).
    max_doses
        Most doses the regimen may have within ``days`` (default
        :data:`cllsim.drugs.MAX_DOSES`); more is refused before anything is allocated.
    doses
        Instead of ``regimen``: the doses as an event table, a :class:`~cllsim.drugs.DoseRecords`
        or a CSV path or DataFrame read by :func:`cllsim.drugs.read_dose_records` (time, amt, ii,
        addl, drug; NONMEM ``TIME``/``AMT``/``II``/``ADDL``/``EVID`` accepted). Rows naming no
        drug are ``drug``'s; rows naming other drugs are their courses. The rows go into the
        metadata (``doses``: source, rows, doses, hash, the rows).

    Returns
    -------
    SimulationResult
        Tidy data (time in days) with metadata; check ``.status`` or call
        ``.raise_for_status()``. ``warnings`` also names what looks wrong in the regimen
        (no dose within ``days``, per-kg doses or a daily dose above any studied in people).

    Raises
    ------
    cllsim.BaselineError
        When the patient's baseline values cannot be an untreated steady state.
    """
    runner = make_engine(engine, rtol=rtol, atol=atol)
    host = get_host(host)
    patient = patient or Patient()
    days = _check_days(days)
    requested = output_times(days, times, step)
    # the engines integrate from the baseline at time 0; it is dropped again when not asked for
    grid = requested if requested[0] == 0 else np.insert(requested, 0, 0.0)
    if doses is not None:
        if regimen is not None:
            raise SpecError("give either regimen or doses (a dose table), not both")
        regimen = doses if isinstance(doses, DoseRecords) else read_dose_records(doses)
    records = regimen if isinstance(regimen, DoseRecords) else None
    therapy = _checked_therapy("420 mg qd" if regimen is None else regimen, days, max_doses, drug)
    if therapy.at_progression is not None:
        raise SpecError("a switch at progression needs the course's iwCLL progression: run it with "
                        "cllsim.cohort (or `cllsim compare`), which detects progression and switches")
    drugs = model_drugs(therapy, drug)
    values = patient_values(patient, host, table, drugs)
    obs = observables(host, drugs)
    if grid.size * len(obs) > MAX_OUTPUT_VALUES:
        raise SpecError(
            f"{grid.size:,} output times x {len(obs)} observables is more than {MAX_OUTPUT_VALUES:,} values; "
            "give fewer output times"
        )
    batch = runner.run(host, values, therapy, grid * 24.0, [o.variable for o in obs], drug=drugs)
    if batch.status[0] == Status.INFEASIBLE_BASELINE.value:
        raise Status.INFEASIBLE_BASELINE.error(f"patient {patient.id}: {batch.detail[0]}")
    result = make_result(batch, 0, host=host, patient=patient, regimen=therapy, days=days, drug=drug,
                         values=values, obs=obs, engine=runner)
    if requested[0] > 0:
        result = dataclasses.replace(result, data=result.data[result.data[C.TIME] > 0].reset_index(drop=True))
    if records is not None:
        meta = {**result.metadata, "doses": records.metadata(days * 24.0)}
        result = dataclasses.replace(result, metadata=meta)
    flagged = tuple(host_regimen_warnings(therapy, host, days, values))
    return dataclasses.replace(result, warnings=flagged + result.warnings) if flagged else result


def make_result(
    batch: BatchTrajectory,
    i: int,
    *,
    host: Host,
    patient: Patient,
    regimen: Therapy | Regimen,
    days: float,
    drug: str,
    values: dict[str, float],
    obs: Sequence[Observable],
    engine: Engine,
) -> SimulationResult:
    """The :class:`SimulationResult` of patient ``i`` of ``batch`` (observables normalised once, in :func:`observe`)."""
    status, detail = Status(batch.status[i]), str(batch.detail[i])
    therapy = parse_therapy(regimen, drug)
    t_days = batch.time_h / 24.0
    rows = observe(obs, {k: v[i : i + 1] for k, v in batch.values.items()})
    frames = [
        pd.DataFrame({C.ID: patient.id, C.TIME: t_days, C.OBSERVABLE: o.id, C.VALUE: rows[o.id][0], C.UNIT: o.unit})
        for o in obs
    ]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=C.RESULT_COLUMNS)
    if status is Status.NONFINITE:
        bad = [o.id for o in obs if not np.all(np.isfinite(rows[o.id][0]))]
        first = min(float(t_days[~np.isfinite(rows[o][0])][0]) for o in bad)
        detail = f"{', '.join(bad[:3])} not finite from day {first:g}"
    warnings = tuple(w for w in str(batch.warnings[i]).split("; ") if w) if len(batch.warnings) else ()
    metadata = {
        "cllsim_version": __version__,
        "engine": engine.name,
        "rtol": engine.rtol,
        "atol": engine.atol,
        "host": host.id,
        "patient_id": patient.id,
        "ighv": patient.ighv,
        "regimen": regimen.describe(),
        "drug": drug,
        "drugs": list(model_drugs(therapy, drug)),
        "food": {c.drug: c.regimen.food for c in therapy.courses},
        "days": days,
        "time_unit": "day",
        "parameter_hash": parameter_hash(values),
        "parameters": dict(values),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return SimulationResult(data, metadata, status, detail, {o.id: o.unit for o in obs}, warnings)

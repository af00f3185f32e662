"""One entry point: ``simulate(regimen, patient, days=...)``."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import __version__
from ..drugs import Regimen, dosing_events, parse_regimen
from ..model import _columns as C
from ..model._antimony import antimony_model
from ..model._hosts import PATIENT, Host, get_host
from ..model._parameters import ParameterTable, ighv_conditions, load_table, parameter_hash
from . import _roadrunner as rr_engine
from ._observables import observables
from ._result import SimulationResult, Status


class Patient(BaseModel):
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
    id: str = "patient"
    ighv: Literal["U", "M"] = "U"
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
    regimen: Regimen
    days: float
    sbml: str
    antimony: str
    drug: str = "ibrutinib"


def patient_values(
    patient: Patient, host: Host | str = PATIENT, table: ParameterTable | None = None,
    drug: str = "ibrutinib",
) -> dict[str, float]:
    """Parameter values for ``patient``: table nominal, then IGHV condition, then overrides."""
    table = table or load_table(host=host, drug=drug)
    table = table.with_values(ighv_conditions()[patient.ighv], what=f"IGHV {patient.ighv}")
    table = table.with_values(patient.parameters, what=f"patient {patient.id}")
    return table.values()


def prepare(
    regimen: Regimen | str,
    patient: Patient | None = None,
    *,
    days: float,
    host: Host | str = PATIENT,
    table: ParameterTable | None = None,
    drug: str = "ibrutinib",
    rtol: float = 1e-8,
    atol: float = 1e-12,
) -> PreparedModel:
    """Build the SBML of one patient on one regimen, equilibrated before treatment."""
    host = get_host(host)
    patient = patient or Patient()
    regimen = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    if not np.isfinite(days) or days <= 0:
        raise ValueError(f"days must be a positive number, got {days!r}")
    values = patient_values(patient, host, table, drug)
    carried = rr_engine.equilibrate_carried_states(host, values, rtol=rtol, atol=atol)
    events = dosing_events(regimen, values, until_h=days * 24.0)
    text = antimony_model(host, values, events, initial_states=carried)
    return PreparedModel(host, values, regimen, days, rr_engine.antimony_to_sbml(text), text, drug)


def default_times(days: float) -> np.ndarray:
    """Hourly for the first week (drug profile), then daily, in days."""
    fine = np.arange(0.0, min(days, 7.0), 1.0 / 24.0)
    coarse = np.arange(0.0, np.floor(days) + 1.0)
    grid = np.union1d(fine, coarse[coarse <= days])
    if grid[-1] < days:
        grid = np.append(grid, days)
    return grid


def simulate(
    regimen: Regimen | str = "420 mg qd",
    patient: Patient | None = None,
    *,
    days: float = 365.0,
    host: Host | str = PATIENT,
    times: Sequence[float] | None = None,
    table: ParameterTable | None = None,
    drug: str = "ibrutinib",
    engine: Literal["roadrunner", "cohort"] = "roadrunner",
    rtol: float = 1e-8,
    atol: float = 1e-12,
) -> SimulationResult:
    """Simulate one patient (or animal) on a regimen.

    Parameters
    ----------
    regimen
        :class:`~cllsim.drugs.Regimen` or its text form (``"420 mg qd"``, ``"none"``).
    patient
        IGHV status and parameter overrides; default: the typical U-CLL patient.
    days
        Simulated time after the start of treatment, days.
    host
        ``"patient"`` (default) or another registered host.
    times
        Output times in days (must start at 0); default: hourly for a week, then daily.
    table
        Parameters table; default: the packaged one.
    drug
        BTK inhibitor whose PK table is used.
    engine
        ``"roadrunner"``: the reference engine (libRoadRunner, CVODE). ``"cohort"``: the cohort
        engine (code generated from the same SBML, RODAS4, compiled with numba), much faster
        for long regimens and agreeing with the reference to solver tolerance.
    rtol, atol
        Solver tolerances (relative; absolute in model units).

    Returns
    -------
    SimulationResult
        Tidy data (time in days) with metadata; check ``.status`` or call
        ``.raise_for_status()``.
    """
    if engine not in ("roadrunner", "cohort"):
        raise ValueError(f"unknown engine {engine!r}; available: 'roadrunner', 'cohort'")
    patient = patient or Patient()
    if not np.isfinite(days) or days <= 0:
        raise ValueError(f"days must be a positive number, got {days!r}")
    grid = default_times(days) if times is None else np.asarray(times, dtype=float)
    if grid.ndim != 1 or grid.size < 2 or grid[0] != 0 or np.any(np.diff(grid) <= 0):
        raise ValueError("times must be increasing, start at 0 and have at least two points")
    if engine == "cohort":
        return _simulate_cohort_engine(regimen, patient, days, host, table, drug, grid, rtol, atol)
    model = prepare(
        regimen, patient, days=days, host=host, table=table, drug=drug, rtol=rtol, atol=atol
    )
    obs = observables(model.host)
    traj = rr_engine.run(model.sbml, grid * 24.0, [o.variable for o in obs], rtol=rtol, atol=atol)
    return make_result(model, patient, traj, obs, engine="roadrunner", rtol=rtol, atol=atol)


def _simulate_cohort_engine(regimen, patient, days, host, table, drug, grid, rtol, atol) -> SimulationResult:
    """:func:`simulate` on the cohort engine (one patient); same result type and baseline errors."""
    from ._vectorized import INFEASIBLE, run_batch

    host = get_host(host)
    regimen = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    values = patient_values(patient, host, table, drug)
    obs = observables(host)
    batch = run_batch(regimen, {k: np.array([v]) for k, v in values.items()}, grid * 24.0,
                      [o.variable for o in obs], host=host, rtol=rtol, atol=atol)
    if batch.status[0] == INFEASIBLE:
        raise rr_engine.BaselineError(f"patient {patient.id}: {batch.detail[0]}")
    traj = rr_engine.Trajectory(batch.time_h, {k: v[0] for k, v in batch.values.items()}, bool(batch.ok[0]),
                                str(batch.detail[0]))
    model = PreparedModel(host, values, regimen, days, sbml="", antimony="", drug=drug)
    return make_result(model, patient, traj, obs, engine="cohort", rtol=rtol, atol=atol)


def make_result(
    model: PreparedModel,
    patient: Patient,
    traj: rr_engine.Trajectory,
    obs: Sequence,
    *,
    engine: str,
    rtol: float,
    atol: float,
) -> SimulationResult:
    """Assemble a :class:`SimulationResult` from raw engine output."""
    status, detail = Status.SUCCESS, ""
    if not traj.ok:
        status, detail = Status.SOLVER_FAILURE, traj.detail
    frames = []
    t_days = traj.time_h / 24.0
    for o in obs:
        v = traj.values[o.variable]
        if o.per_baseline and v.size:
            v = v / v[0]
        if status is Status.SUCCESS and not np.all(np.isfinite(v)):
            bad = float(t_days[~np.isfinite(v)][0])
            status, detail = Status.NONFINITE, f"{o.id} is not finite from day {bad:g}"
        frames.append(
            pd.DataFrame(
                {C.ID: patient.id, C.TIME: t_days, C.OBSERVABLE: o.id, C.VALUE: v, C.UNIT: o.unit}
            )
        )
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=C.RESULT_COLUMNS)
    metadata = {
        "cllsim_version": __version__,
        "engine": engine,
        "rtol": rtol,
        "atol": atol,
        "host": model.host.id,
        "patient_id": patient.id,
        "ighv": patient.ighv,
        "regimen": model.regimen.describe(),
        "drug": model.drug,
        "food": model.regimen.food,
        "days": model.days,
        "time_unit": "day",
        "parameter_hash": parameter_hash(model.values),
        "parameters": dict(model.values),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return SimulationResult(data, metadata, status, detail, {o.id: o.unit for o in obs})


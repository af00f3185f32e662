"""In-vitro assays with the dynamic CXCR4 module (minutes to hours)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import __version__
from .._errors import SpecError
from ..model import CXCR4_MODEL_ID as MODEL_ID
from ..model import C, antimony_to_sbml, cxcr4_module, parameter_hash
from ._api import Patient, patient_values
from ._result import SimulationResult
from ._roadrunner import run_sbml
from ._status import Status

#: Untreated cells rest this long in medium without CXCL12 before an assay starts, h.
PREINCUBATION_H = 200.0

#: Assay conditions and their defaults (no CXCL12, no drug, full expression, 37 °C).
CONDITION_DEFAULTS: dict[str, float] = {
    "ligand_nM": 0.0,
    "medium_drug_nM": 0.0,
    "cxcr4_expression": 1.0,
    "temperature_block": 0.0,
    "inhibition_plcg2": 0.0,
    "inhibition_pkd1": 0.0,
    "inhibition_pim1": 0.0,
}

INVITRO_OBSERVABLES: dict[str, str] = {
    "cxcr4_surface_rel": "relative to untreated cell",
    "cxcr4_ps339_rel": "relative to untreated cell",
    "cxcr4_internal_rel": "relative to untreated surface",
    "cxcr4_bound_fraction": "fraction of surface receptor",
    "cxcr4_internalization_pct_per_min": "%/min of surface receptor",
    "cxcr4_surface_qss_rel": "relative to untreated cell",
    "cxcr4_ps339_qss_rel": "relative to untreated cell",
    "btk_occupancy_pct": "%",
    "pkd1_activity": "relative to untreated",
    "pim1_level": "relative to untreated",
    "cxcr4_function": "relative to untreated",
}


class AssayStep(BaseModel):
    """Set assay conditions at a time (minutes after the assay starts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    minute: float = Field(ge=0)
    set: dict[str, float]

    @field_validator("set")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - set(CONDITION_DEFAULTS)
        if unknown:
            raise SpecError(f"unknown assay conditions {sorted(unknown)}; use {sorted(CONDITION_DEFAULTS)}")
        for k, x in v.items():
            if not np.isfinite(x) or x < 0:
                raise SpecError(f"{k} must be a finite non-negative number, got {x}")
        return v


class Assay(BaseModel):
    """An in-vitro protocol: initial conditions, timed steps, duration.

    Attributes
    ----------
    conditions
        Conditions from the start of pre-incubation (e.g. ``{"medium_drug_nM": 1000}`` for cells
        cultured with drug, or ``{"inhibition_pim1": 0.9}``).
    pretreatment_min
        Minutes the ``conditions`` act before the assay starts (after a drug-free rest).
    steps
        Timed changes during the assay (CXCL12 addition, wash...).
    duration_min
        Assay length, minutes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    conditions: dict[str, float] = Field(default_factory=dict)
    pretreatment_min: float = Field(default=60.0, ge=0)
    steps: tuple[AssayStep, ...] = ()
    duration_min: float = Field(default=120.0, gt=0)

    @field_validator("conditions")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        return AssayStep._known(v)


def _event(name: str, t_h: float, assignments: Mapping[str, float]) -> str:
    body = "; ".join(f"{k} = {float(v)!r}" for k, v in assignments.items())
    return f"{name}: at time >= {t_h!r}, t0=false, persistent=true: {body}"


def simulate_assay(
    assay: Assay,
    patient: Patient | None = None,
    *,
    times_min: npt.ArrayLike | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-12,
) -> SimulationResult:
    """Run an in-vitro assay on CLL cells of ``patient`` with the dynamic CXCR4 module.

    Cells rest without CXCL12 or drug (``PREINCUBATION_H``), are pretreated with
    ``assay.conditions`` for ``assay.pretreatment_min``, then the assay runs.

    Returns
    -------
    SimulationResult
        Tidy data with time in minutes from the start of the assay.
    """
    patient = patient or Patient()
    values = {**patient_values(patient), **CONDITION_DEFAULTS}
    t_pre = PREINCUBATION_H
    t0 = t_pre + assay.pretreatment_min / 60.0
    events = []
    if assay.conditions:
        events.append(_event("pretreat", t_pre, assay.conditions))
    for i, step in enumerate(assay.steps):
        events.append(_event(f"step{i}", t0 + step.minute / 60.0, step.set))
    # resting cells start at the receptor steady state without ligand
    text = cxcr4_module(values, events)
    sbml = antimony_to_sbml(text)
    grid_min = (
        np.arange(0.0, assay.duration_min + 0.25, 0.5) if times_min is None else np.asarray(times_min)
    )
    times_h = np.concatenate([[0.0], t0 + grid_min / 60.0])
    out, failure = run_sbml(sbml, times_h, list(INVITRO_OBSERVABLES), rtol=rtol, atol=atol)
    status, detail = (Status.SUCCESS, "") if out is not None else (Status.SOLVER_FAILURE, failure)
    frames = []
    if out is not None:
        t_min = np.round((times_h[1:] - t0) * 60.0, 9)
        for k, (obs, unit) in enumerate(INVITRO_OBSERVABLES.items()):
            v = out[1:, k]
            if not np.all(np.isfinite(v)) and status is Status.SUCCESS:
                status, detail = Status.NONFINITE, f"{obs} is not finite"
            frames.append(
                pd.DataFrame(
                    {C.ID: patient.id, C.TIME: t_min, C.OBSERVABLE: obs, C.VALUE: v, C.UNIT: unit}
                )
            )
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=C.RESULT_COLUMNS)
    meta = {
        "cllsim_version": __version__,
        "engine": "reference",
        "model": MODEL_ID,
        "assay": assay.model_dump(),
        "ighv": patient.ighv,
        "patient_id": patient.id,
        "time_unit": "minute",
        "rtol": rtol,
        "atol": atol,
        "parameter_hash": parameter_hash(values),
        "parameters": values,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return SimulationResult(data, meta, status, detail, dict(INVITRO_OBSERVABLES))

"""Run many animals or patients of one protocol on one compiled model.

Every experiment simulates groups (vehicle and drug arms, virtual patients, xenograft cases)
that share a host and a regimen and differ only in parameter values. Building the SBML and
compiling it costs about a second; a simulation of a few weeks costs a fraction of that. A
:class:`GroupModel` therefore builds the model of a host and regimen once (from the same
declaration :func:`cllsim.model.antimony_model` that :func:`cllsim.simulate` uses) and runs
each member by setting its parameter values on the compiled model and re-evaluating initial
assignments. The pre-treatment equilibration of cell-carried states is done the same way on
a compiled copy with frozen populations (as in :func:`cllsim.simulate.prepare`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import roadrunner

from ..drugs import Regimen, dosing_events, parse_regimen
from ..model._antimony import CARRIED_STATES, antimony_model, pools
from ..model._hosts import Host, get_host
from ..model._parameters import DOSING_PARAMETER_IDS, ParameterTable, load_table
from ..simulate import Patient, patient_values
from ..simulate._roadrunner import (
    EQUILIBRATION_DAYS,
    antimony_to_sbml,
    check_baseline_rates,
)

# CVODE reports near-coincident event times as warnings; the results are unaffected.
roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)

#: Default solver tolerances for experiments (relative, absolute in model units). Experiments
#: read effects of tens of percent; 1e-7 keeps the numerical error far below that.
RTOL = 1e-7
ATOL = 1e-12


@dataclass(frozen=True)
class Run:
    """Output of one member: times (days) and the selected variables."""

    time_days: np.ndarray
    values: dict[str, np.ndarray]

    def __getitem__(self, variable: str) -> np.ndarray:
        return self.values[variable]

    def at(self, day: float, variable: str) -> float:
        """Value of ``variable`` at the output time nearest ``day``."""
        return float(self.values[variable][int(np.argmin(np.abs(self.time_days - day)))])


class GroupModel:
    """One host and regimen, compiled once, run for many parameter sets.

    Parameters
    ----------
    host
        Registered host id or :class:`~cllsim.model.Host`.
    regimen
        Regimen (or its text form) given to every member.
    days
        Simulated time after the start of treatment, days.
    table
        Parameters table; default: the packaged table of the host.
    """

    def __init__(
        self,
        host: Host | str,
        regimen: Regimen | str,
        days: float,
        table: ParameterTable | None = None,
        *,
        rtol: float = RTOL,
        atol: float = ATOL,
    ) -> None:
        self.host = get_host(host)
        self.regimen = parse_regimen(regimen) if isinstance(regimen, str) else regimen
        self.days = float(days)
        self.table = table or load_table(host=self.host)
        self.rtol, self.atol = rtol, atol
        self.template = patient_values(Patient(), self.host, self.table)
        self._carried = [f"{x}_{p}" for x in CARRIED_STATES for p in pools(self.host)]
        events = dosing_events(self.regimen, self.template, until_h=self.days * 24.0)
        start_values = dict.fromkeys(self._carried, 1.0)
        self._rr = roadrunner.RoadRunner(
            antimony_to_sbml(antimony_model(self.host, self.template, events, initial_states=start_values))
        )
        frozen = antimony_model(self.host, self.template).replace("cells_frozen = 0", "cells_frozen = 1")
        self._frozen = roadrunner.RoadRunner(antimony_to_sbml(frozen))
        for rr in (self._rr, self._frozen):
            integ = rr.integrator
            integ.relative_tolerance = rtol
            integ.absolute_tolerance = atol
            integ.maximum_num_steps = 200_000
            integ.setValue("stiff", True)

    def values_for(self, patient: Patient) -> dict[str, float]:
        """Parameter values of ``patient`` in this host (table, IGHV condition, overrides)."""
        return patient_values(patient, self.host, self.table)

    def _dosing_keys(self) -> set[str]:
        keys = set(DOSING_PARAMETER_IDS)
        if any(getattr(s, "amount_unit", "mg") == "mg/kg" for s in self.regimen.segments):
            keys.add("body_weight_kg")
        return keys

    def _apply(self, rr: roadrunner.RoadRunner, values: Mapping[str, float]) -> None:
        rr.resetAll()
        for pid, v in values.items():
            rr[pid] = float(v)

    def equilibrate(self, values: Mapping[str, float]) -> dict[str, float]:
        """Pre-treatment steady state of the cell-carried states (populations frozen)."""
        rr = self._frozen
        self._apply(rr, values)
        # re-evaluate initial assignments (carried states start at their targets)
        rr.reset()
        check_baseline_rates(rr, self.host)
        out = rr.simulate(0.0, EQUILIBRATION_DAYS * 24.0, 2, selections=self._carried)
        return {n: float(out[-1, i]) for i, n in enumerate(self._carried)}

    def run(
        self,
        patient: Patient | Mapping[str, float],
        times_days: Sequence[float],
        variables: Sequence[str],
        *,
        initial_state: Mapping[str, float] | None = None,
    ) -> Run:
        """Simulate one member.

        Parameters
        ----------
        patient
            A :class:`~cllsim.simulate.Patient` or a full set of parameter values.
        times_days
            Output times, days, starting at 0.
        variables
            Model variables to return (any SBML id: states, assignment rules, parameters).
        initial_state
            States set at time 0 after equilibration (e.g. labelled cells injected into blood,
            BTK occupied by in-vitro pretreatment).
        """
        values = self.values_for(patient) if isinstance(patient, Patient) else dict(patient)
        for key in self._dosing_keys():
            if abs(values[key] - self.template[key]) > 1e-12 * max(1.0, abs(self.template[key])):
                raise ValueError(
                    f"{key} differs from the compiled regimen's value; build a GroupModel for it"
                )
        carried = self.equilibrate(values)
        rr = self._rr
        self._apply(rr, values)
        rr.reset()
        # states are set at time 0 rather than through init(): changing an initial value
        # makes libRoadRunner regenerate the model, which costs ~1 s and reverts parameters
        for sid, v in carried.items():
            rr[sid] = v
        # the baseline trafficking rates were initialised from the provisional start values of the carried states;
        # put them at their balance values for the equilibrated ones (as prepare() does)
        for t in self.host.tissue_ids:
            for rate in ("homing", "binding"):
                rr[f"{rate}_per_day_{t}"] = float(rr[f"{rate}_balance_{t}"])
        for sid, v in (initial_state or {}).items():
            rr[sid] = float(v)
        times = np.asarray(times_days, dtype=float) * 24.0
        if times[0] != 0 or np.any(np.diff(times) <= 0):
            raise ValueError("times must start at 0 and increase")
        out = np.asarray(rr.simulate(times=times, selections=["time", *variables]))
        vals = {v: out[:, i + 1].copy() for i, v in enumerate(variables)}
        for v, arr in vals.items():
            if not np.all(np.isfinite(arr)):
                raise RuntimeError(f"{v} is not finite in the simulation of {self.host.id}")
        return Run(out[:, 0] / 24.0, vals)


def evaluate(model: GroupModel, state: Mapping[str, float], variables: Sequence[str],
             patient: Patient | None = None) -> dict[str, float]:
    """Values of assignment rules of ``model`` for ``patient`` with states set to ``state``.

    Used to read a cell's function (``homing_capacity``, ``adhesion_capacity``) from the
    model's own declaration for a given BTK/PKD1/PIM-1 state, e.g. of cells in an in-vitro assay.
    """
    rr = model._rr
    model._apply(rr, model.values_for(patient or Patient()))
    rr.reset()
    for sid, v in state.items():
        rr[sid] = float(v)
    return {v: float(rr[v]) for v in variables}


@cache
def shared_model(host: str, regimen: str, days: float) -> GroupModel:
    """A :class:`GroupModel` on the packaged table, built once per process and reused by the
    experiments that share a host, regimen and horizon."""
    return GroupModel(host, regimen, days)

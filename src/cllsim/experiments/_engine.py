"""Groups of animals or patients of one protocol, run through the one engine template.

Every experiment simulates groups (vehicle and drug arms, virtual patients, xenograft cases)
that share a host and a regimen and differ only in parameter values. A :class:`GroupModel` is
that protocol: it runs each member with :meth:`cllsim.simulate.Engine.run` on the reference
engine (libRoadRunner, compiled once per host), so members get the same equilibration, baseline
check and dosing as :func:`cllsim.simulate`. What is specific to experiments stays here: members
given as patients or as full parameter sets, states set at time 0 (labelled cells, pretreated
BTK), and reading the model's own rules at a chosen cell state (:func:`evaluate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from .._errors import SpecError
from ..drugs import Regimen, parse_regimen
from ..model import Host, ParameterTable, get_host, load_table
from ..simulate import FROZEN, Patient, ReferenceEngine, Status, patient_values

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
    """One host and regimen, run for many parameter sets.

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
        self.engine = ReferenceEngine(rtol=rtol, atol=atol)
        self.template = patient_values(Patient(), self.host, self.table)

    def values_for(self, patient: Patient) -> dict[str, float]:
        """Parameter values of ``patient`` in this host (table, IGHV condition, overrides)."""
        return patient_values(patient, self.host, self.table)

    def feasible(self, patient: Patient | Mapping[str, float]) -> bool:
        """Whether ``patient`` has a sustainable untreated baseline (equilibrated and checked, not treated)."""
        values = self.values_for(patient) if isinstance(patient, Patient) else dict(patient)
        return bool(self.engine.run(self.host, values, "none", [0.0], []).ok[0])

    def run(
        self,
        patient: Patient | Mapping[str, float],
        times_days: npt.ArrayLike,
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
            Output times, days, starting at 0, within the group's horizon.
        variables
            Model variables to return (any SBML id: states, assignment rules, parameters).
        initial_state
            States set at time 0 after equilibration (e.g. labelled cells injected into blood,
            BTK occupied by in-vitro pretreatment).

        Raises
        ------
        cllsim.BaselineError, cllsim.SolverError
            When the member cannot be simulated (the status's error).
        """
        values = self.values_for(patient) if isinstance(patient, Patient) else dict(patient)
        times = np.asarray(times_days, dtype=float)
        if times.size and times[-1] > self.days + 1e-9:
            raise SpecError(f"times beyond the group's horizon ({self.days:g} days)")
        batch = self.engine.run(self.host, values, self.regimen, times * 24.0, variables,
                                initial_state=initial_state)
        if not batch.ok[0]:
            raise Status(batch.status[0]).error(f"{self.host.id}: {batch.detail[0]}")
        return Run(batch.time_h / 24.0, {v: batch.values[v][0] for v in variables})


def evaluate(model: GroupModel, state: Mapping[str, float], variables: Sequence[str],
             patient: Patient | None = None) -> dict[str, float]:
    """Values of rules of ``model`` for ``patient`` with states set to ``state`` (the rest at their start values).

    Used to read a cell's function (``homing_capacity``, ``adhesion_capacity``) from the
    model's own declaration for a given BTK/PKD1/PIM-1 state, e.g. of cells in an in-vitro assay.
    """
    engine = model.engine
    compiled = engine.compile(model.host)
    values = model.values_for(patient or Patient())
    params = {k: np.array([values[k]]) for k in engine.parameter_ids(compiled) if k != FROZEN}
    params[FROZEN] = np.zeros(1)
    states = engine.initial(compiled, params)
    states.update({k: np.array([float(v)]) for k, v in state.items()})
    out = engine.evaluate(compiled, params, states, list(variables))
    return {v: float(out[v][0]) for v in variables}


@cache
def shared_model(host: str, regimen: str, days: float) -> GroupModel:
    """A :class:`GroupModel` on the packaged table, built once per process and reused by the
    experiments that share a host, regimen and horizon."""
    return GroupModel(host, regimen, days)

"""Repeated simulation of one patient for fitting, through the one engine template.

The fit's objective simulates the same patient (regimen, IGHV, horizon) for many parameter
vectors. :class:`FitEngine` holds the nominal values of that patient and runs each vector
through :meth:`cllsim.simulate.Engine.run` — the same equilibration, baseline check, dose
schedule and status as every other path — on the cohort engine (``"compiled"``, default: code
generated from the SBML, many vectors per call, used for the finite-difference Jacobian) or the
reference engine (``"roadrunner"``: libRoadRunner compiled once per host). What is specific to
fitting stays here: which parameters may vary, and output times given in days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .._errors import ParameterError, SpecError
from ..drugs import DoseRecords, Regimen, Therapy, parse_therapy
from ..model import DOSING_PARAMETER_IDS, PATIENT, Host, ParameterTable, get_host, unknown_parameter
from ..simulate import CohortEngine, Patient, ReferenceEngine, Status, model_drugs, patient_values

#: Parameters the engine refuses to vary: they shape the dose schedule or the doses themselves.
FIXED_BY_SCHEDULE = DOSING_PARAMETER_IDS | {"body_weight_kg"}

#: Backends of :class:`FitEngine` and the engine each runs on.
BACKENDS = ("compiled", "roadrunner")


class EngineError(ParameterError):
    """A parameter the fit engine cannot vary."""


@dataclass(frozen=True)
class EngineOutput:
    """Values of selected variables at output times (days) with the run's :class:`~cllsim.simulate.Status`."""

    time_days: np.ndarray
    values: dict[str, np.ndarray]
    status: Status
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCESS


class FitEngine:
    """One patient's model, re-simulated for many parameter vectors.

    Parameters
    ----------
    regimen
        Regimen or dose records (day 0 = first dose).
    ighv
        IGHV status setting the IGHV condition values (``ighv.tsv``).
    days
        Longest horizon that will be simulated, days.
    host, table, drug
        As in :func:`cllsim.simulate`.
    rtol, atol
        Solver tolerances (relative, absolute).
    backend
        ``"compiled"`` (cohort engine) or ``"roadrunner"`` (reference engine).
    """

    def __init__(
        self,
        regimen: Therapy | Regimen | DoseRecords | str,
        ighv: str = "U",
        days: float = 365.0,
        *,
        host: Host | str = PATIENT,
        table: ParameterTable | None = None,
        drug: str = "ibrutinib",
        rtol: float = 1e-8,
        atol: float = 1e-12,
        backend: str = "compiled",
    ):
        if backend not in BACKENDS:
            raise SpecError(f"backend must be 'compiled' or 'roadrunner', got {backend!r}")
        self.host = get_host(host)
        self.regimen = parse_therapy(regimen, drug)
        self.drugs = model_drugs(self.regimen, drug)
        self.ighv = ighv
        self.days = float(days)
        self.rtol, self.atol = rtol, atol
        self.backend = backend
        self.values = patient_values(Patient(ighv=ighv), self.host, table, self.drugs)
        self.engine = (CohortEngine(rtol=rtol, atol=atol, backend="compiled") if backend == "compiled"
                       else ReferenceEngine(rtol=rtol, atol=atol))

    def _check(self, parameters: Mapping[str, float]) -> None:
        for pid in parameters:
            if pid in FIXED_BY_SCHEDULE:
                raise EngineError(f"{pid} shapes the dose schedule and cannot be varied by the fit engine")
            if pid not in self.values:
                raise EngineError(unknown_parameter(pid, self.values))

    def _times(self, times_days: npt.ArrayLike) -> np.ndarray:
        times_h = np.asarray(times_days, dtype=float) * 24.0
        if times_h.ndim != 1 or times_h.size == 0 or times_h[0] < 0 or np.any(np.diff(times_h) < 0):
            raise SpecError("times must be non-negative and non-decreasing")
        if times_h[-1] > self.days * 24.0 + 1e-9:
            raise SpecError(f"times beyond the engine horizon ({self.days:g} days)")
        return times_h

    def simulate_many(
        self, parameter_sets: Sequence[Mapping[str, float]], times_days: npt.ArrayLike, variables: Sequence[str]
    ) -> list[EngineOutput]:
        """Simulate several parameter vectors (table units, overriding the nominal values) at once.

        Impossible baselines do not raise here: their output has status
        ``INFEASIBLE_BASELINE`` and the reason in ``detail``.
        """
        for parameters in parameter_sets:
            self._check(parameters)
        times_h = self._times(times_days)
        grid = np.unique(np.concatenate([[0.0], times_h]))
        where = np.searchsorted(grid, times_h)
        n = len(parameter_sets)
        table = {k: np.full(n, v) for k, v in self.values.items()}
        for i, parameters in enumerate(parameter_sets):
            for pid, value in parameters.items():
                table[pid][i] = float(value)
        batch = self.engine.run(self.host, table, self.regimen, grid, list(variables), drug=self.drugs)
        return [
            EngineOutput(times_h / 24.0, {v: batch.values[v][i, where] for v in variables}, Status(batch.status[i]),
                         str(batch.detail[i]))
            for i in range(n)
        ]

    def simulate(
        self, parameters: Mapping[str, float], times_days: npt.ArrayLike, variables: Sequence[str]
    ) -> EngineOutput:
        """Simulate with ``parameters`` (table units) overriding the IGHV-specific nominal values.

        Raises
        ------
        cllsim.BaselineError
            When the baseline values cannot be an untreated steady state.
        """
        out = self.simulate_many([parameters], times_days, variables)[0]
        if out.status is Status.INFEASIBLE_BASELINE:
            raise out.status.error(out.detail)
        return out

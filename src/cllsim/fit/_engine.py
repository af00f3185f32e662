"""Fast repeated simulation of one patient for fitting.

Why not :func:`cllsim.simulate` in the objective? Each call re-prepares the model (Antimony to
SBML, two compilations, ~1.5 s) and a year of daily dosing is 730 SBML events, whose trigger
handling costs CVODE ~1.5 s per simulated year. Two backends avoid that:

``"compiled"`` (default): the cohort engine's compiled backend (:mod:`cllsim.simulate._compiled`,
code generated from the same SBML), which also equilibrates the cell-carried states per
parameter vector and integrates many vectors in one call (:meth:`FitEngine.simulate_many`, used
for the finite-difference Jacobian). About 5-10x faster per evaluation than ``"roadrunner"``.

``"roadrunner"``: libRoadRunner, per patient (regimen, IGHV, horizon):

* the model is compiled **once**, without dosing events; the doses are applied as exact
  dose-to-dose segments: integrate to the next discontinuity, apply the same assignment the
  event would (from :func:`cllsim.drugs.dose_inputs`, the list the SBML events are built
  from, so the dosing logic is not restated), restart the integrator. Same equations, same discontinuities, ~6x faster;
* estimated parameters are set after ``resetAll()`` and a ``reset()`` then re-evaluates every
  initial assignment that depends on them (baseline cell numbers from the clinical baselines);
  ``setValue("init(p)")`` would do the same but costs ~0.5 s per call (measured);
* the cell-carried states (BCL2, CXCR4 expression) are re-equilibrated for each parameter
  vector exactly as :func:`cllsim.simulate._roadrunner.equilibrate_carried_states` does, by a
  frozen-cell run over negative time (no dose falls before day 0), so a parameter that moves
  the untreated steady state (IGHV BCR strength, trafficking rates) is handled correctly.

A test checks that this engine reproduces the reference engine for non-nominal parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import roadrunner

from ..drugs import Regimen, dose_inputs, parse_regimen
from ..model._antimony import antimony_model
from ..model._hosts import PATIENT, Host, get_host
from ..model._parameters import DOSING_PARAMETER_IDS, ParameterTable
from ..simulate import Patient, patient_values
from ..simulate import _roadrunner as rr_engine
from ..simulate._roadrunner import BaselineError

INFEASIBLE = "infeasible_baseline"

#: Parameters the engine refuses to vary: they shape the dose schedule or the doses themselves.
FIXED_BY_SCHEDULE = DOSING_PARAMETER_IDS | {"body_weight_kg"}


class EngineError(ValueError):
    """A parameter the fast engine cannot vary, or a schedule it cannot read."""


@dataclass(frozen=True)
class Breakpoint:
    """A discontinuity of the dosing input: at ``time_h``, add ``delta`` to ``variable``."""

    time_h: float
    variable: str
    delta: float


def dose_breakpoints(regimen: Regimen, values: Mapping[str, float], until_h: float) -> list[Breakpoint]:
    """Dosing discontinuities of ``regimen``: the assignments the reference engine's SBML events make."""
    out = []
    for t_on, d1, absorbed in dose_inputs(regimen, values, until_h):
        if d1 > 0:  # zero-order input switched on, then off (same floats as the event text)
            rate = absorbed / d1
            out.append(Breakpoint(t_on, "pk_input_mg_per_h", rate))
            out.append(Breakpoint(t_on + d1, "pk_input_mg_per_h", -rate))
        else:  # bolus into the depot
            out.append(Breakpoint(t_on, "drug_depot_mg", absorbed))
    return sorted(out, key=lambda b: b.time_h)


@dataclass(frozen=True)
class EngineOutput:
    """Values of selected variables at output times (days); ``ok`` False with ``detail`` on failure."""

    time_days: np.ndarray
    values: dict[str, np.ndarray]
    ok: bool
    detail: str = ""


class FitEngine:
    """One patient's compiled model, re-simulated for many parameter vectors.

    Parameters
    ----------
    regimen
        Regimen (day 0 = first dose).
    ighv
        IGHV status setting the IGHV condition values (``ighv.tsv``).
    days
        Longest horizon that will be simulated, days.
    host, table, drug
        As in :func:`cllsim.simulate`.
    rtol, atol
        Solver tolerances (relative, absolute).
    backend
        ``"compiled"`` (cohort engine, numba) or ``"roadrunner"`` (CVODE, doses as segments).
    """

    def __init__(
        self,
        regimen: Regimen | str,
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
        if backend not in ("compiled", "roadrunner"):
            raise ValueError(f"backend must be 'compiled' or 'roadrunner', got {backend!r}")
        self.host = get_host(host)
        self.regimen = parse_regimen(regimen) if isinstance(regimen, str) else regimen
        self.ighv = ighv
        self.days = float(days)
        self.rtol, self.atol = rtol, atol
        self.backend = backend
        self.values = patient_values(Patient(ighv=ighv), self.host, table, drug)
        self.breakpoints = dose_breakpoints(self.regimen, self.values, until_h=self.days * 24.0)
        self._bp_times = np.array([b.time_h for b in self.breakpoints])
        if backend == "roadrunner":
            self._build_roadrunner()

    def _build_roadrunner(self) -> None:
        rtol, atol = self.rtol, self.atol
        carried = rr_engine.equilibrate_carried_states(self.host, self.values, rtol=rtol, atol=atol)
        text = antimony_model(self.host, self.values, (), initial_states=carried)
        self.sbml = rr_engine.antimony_to_sbml(text)
        self.rr = roadrunner.RoadRunner(self.sbml)
        rr_engine.configure(self.rr, rtol, atol)

    def _check(self, parameters: Mapping[str, float]) -> None:
        for pid in parameters:
            if pid in FIXED_BY_SCHEDULE:
                raise EngineError(f"{pid} shapes the dose schedule and cannot be varied by the fit engine")
            if pid not in self.values:
                raise EngineError(f"unknown parameter {pid!r}")

    def _apply(self, parameters: Mapping[str, float]) -> None:
        rr = self.rr
        # resetAll restores event- and user-changed parameters (PITFALLS); the parameters are
        # set after it and reset() then re-evaluates the initial assignments that use them.
        rr.resetAll()
        for pid, value in parameters.items():
            rr[pid] = float(value)
        rr.reset()

    def _times(self, times_days: Sequence[float]) -> np.ndarray:
        times_h = np.asarray(times_days, dtype=float) * 24.0
        if times_h.ndim != 1 or times_h.size == 0 or times_h[0] < 0 or np.any(np.diff(times_h) < 0):
            raise ValueError("times must be non-negative and non-decreasing")
        if times_h[-1] > self.days * 24.0 + 1e-9:
            raise ValueError(f"times beyond the engine horizon ({self.days:g} days)")
        return times_h

    def simulate_many(
        self, parameter_sets: Sequence[Mapping[str, float]], times_days: Sequence[float], variables: Sequence[str]
    ) -> list[EngineOutput]:
        """Simulate several parameter vectors (table units, overriding the nominal values) at once.

        Impossible baselines do not raise here: their output has ``ok`` False and the reason in
        ``detail``.
        """
        for parameters in parameter_sets:
            self._check(parameters)
        times_h = self._times(times_days)
        if self.backend == "roadrunner":
            outs = []
            for parameters in parameter_sets:
                try:
                    outs.append(self.simulate(parameters, times_days, variables))
                except BaselineError as exc:
                    nan = {v: np.full(times_h.size, np.nan) for v in variables}
                    outs.append(EngineOutput(times_h / 24.0, nan, False, f"{INFEASIBLE}: {exc}"))
            return outs
        from ..simulate._vectorized import run_batch

        grid = np.unique(np.concatenate([[0.0], times_h]))
        where = np.searchsorted(grid, times_h)
        n = len(parameter_sets)
        table = {k: np.full(n, v) for k, v in self.values.items()}
        for i, parameters in enumerate(parameter_sets):
            for pid, value in parameters.items():
                table[pid][i] = float(value)
        batch = run_batch(self.regimen, table, grid, list(variables), host=self.host, rtol=self.rtol, atol=self.atol,
                          backend="compiled")
        outs = []
        for i in range(n):
            values = {v: batch.values[v][i, where] for v in variables}
            ok = bool(batch.status[i] == "success")
            detail = "" if ok else f"{batch.status[i]}: {batch.detail[i]}"
            outs.append(EngineOutput(times_h / 24.0, values, ok, detail))
        return outs

    def simulate(
        self, parameters: Mapping[str, float], times_days: Sequence[float], variables: Sequence[str]
    ) -> EngineOutput:
        """Simulate with ``parameters`` (table units) overriding the IGHV-specific nominal values.

        Raises
        ------
        cllsim.simulate._roadrunner.BaselineError
            When the baseline values cannot be an untreated steady state.
        """
        self._check(parameters)
        times_h = self._times(times_days)
        if self.backend == "compiled":
            out = self.simulate_many([parameters], times_days, variables)[0]
            if out.detail.startswith(INFEASIBLE):
                raise BaselineError(out.detail.split(": ", 1)[1])
            return out
        rr = self.rr
        self._apply(parameters)
        out = np.full((times_h.size, len(variables)), np.nan)
        try:
            rr_engine.check_baseline_rates(rr, self.host)
            rr["cells_frozen"] = 1.0
            eq_h = rr_engine.EQUILIBRATION_DAYS * 24.0
            rr.simulate(-eq_h, 0.0, 2)
            rr_engine.check_baseline_rates(rr, self.host)
            rr["cells_frozen"] = 0.0
            cur, k, n_bp = 0.0, 0, len(self.breakpoints)
            for i, t in enumerate(times_h):
                while k < n_bp and self._bp_times[k] <= t:
                    b = self.breakpoints[k]
                    if b.time_h > cur:
                        rr.oneStep(cur, b.time_h - cur, True)
                        cur = b.time_h
                    rr.model[b.variable] = rr.model[b.variable] + b.delta
                    k += 1
                if t > cur:
                    rr.oneStep(cur, t - cur, True)
                    cur = t
                out[i] = [rr[v] for v in variables]
        except RuntimeError as exc:
            return EngineOutput(times_h / 24.0, {v: out[:, j] for j, v in enumerate(variables)}, False, str(exc))
        values = {v: out[:, j] for j, v in enumerate(variables)}
        ok = bool(np.all(np.isfinite(out)))
        return EngineOutput(times_h / 24.0, values, ok, "" if ok else "non-finite values")

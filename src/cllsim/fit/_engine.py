"""Fast repeated simulation of one patient for fitting: one compiled model, doses as segments.

Why not :func:`cllsim.simulate` in the objective? Each call re-prepares the model (Antimony to
SBML, two compilations, ~1.5 s) and a year of daily dosing is 730 SBML events, whose trigger
handling costs CVODE ~1.5 s per simulated year. Here, per patient (regimen, IGHV, horizon):

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
        CVODE tolerances.
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
    ):
        self.host = get_host(host)
        self.regimen = parse_regimen(regimen) if isinstance(regimen, str) else regimen
        self.ighv = ighv
        self.days = float(days)
        self.rtol, self.atol = rtol, atol
        self.values = patient_values(Patient(ighv=ighv), self.host, table, drug)
        carried = rr_engine.equilibrate_carried_states(self.host, self.values, rtol=rtol, atol=atol)
        text = antimony_model(self.host, self.values, (), initial_states=carried)
        self.sbml = rr_engine.antimony_to_sbml(text)
        self.rr = roadrunner.RoadRunner(self.sbml)
        rr_engine.configure(self.rr, rtol, atol)
        self.breakpoints = dose_breakpoints(self.regimen, self.values, until_h=self.days * 24.0)
        self._bp_times = np.array([b.time_h for b in self.breakpoints])

    def _apply(self, parameters: Mapping[str, float]) -> None:
        rr = self.rr
        # resetAll restores event- and user-changed parameters (PITFALLS); the parameters are
        # set after it and reset() then re-evaluates the initial assignments that use them.
        rr.resetAll()
        for pid, value in parameters.items():
            if pid in FIXED_BY_SCHEDULE:
                raise EngineError(f"{pid} shapes the dose schedule and cannot be varied by the fit engine")
            if pid not in self.values:
                raise EngineError(f"unknown parameter {pid!r}")
            rr[pid] = float(value)
        rr.reset()

    def simulate(
        self, parameters: Mapping[str, float], times_days: Sequence[float], variables: Sequence[str]
    ) -> EngineOutput:
        """Simulate with ``parameters`` (table units) overriding the IGHV-specific nominal values.

        Raises
        ------
        cllsim.simulate._roadrunner.BaselineError
            When the baseline values cannot be an untreated steady state.
        """
        times_h = np.asarray(times_days, dtype=float) * 24.0
        if times_h.ndim != 1 or times_h.size == 0 or times_h[0] < 0 or np.any(np.diff(times_h) < 0):
            raise ValueError("times must be non-negative and non-decreasing")
        if times_h[-1] > self.days * 24.0 + 1e-9:
            raise ValueError(f"times beyond the engine horizon ({self.days:g} days)")
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

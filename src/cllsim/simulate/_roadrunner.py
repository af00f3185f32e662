"""Reference engine: libRoadRunner (CVODE) on the SBML generated from the declaration."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import roadrunner

from .._errors import BaselineError, ModelBuildError  # noqa: F401  (re-exported for callers)
from ..model._antimony import CARRIED_STATES, antimony_model, pools
from ..model._hosts import Host
from ..model._sbml import antimony_to_sbml

#: Days of frozen-population relaxation used to put cell-carried states at their
#: pre-treatment steady state (slowest relaxation is ~0.05/day at the table's lower bounds).
EQUILIBRATION_DAYS = 400.0

_CACHE_SIZE = 8
_cache: OrderedDict[str, roadrunner.RoadRunner] = OrderedDict()


def load_runner(sbml: str) -> roadrunner.RoadRunner:
    """Compile ``sbml`` (cached by text) and return a runner reset to its initial state."""
    rr = _cache.get(sbml)
    if rr is None:
        rr = roadrunner.RoadRunner(sbml)
        _cache[sbml] = rr
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(sbml)
    # resetAll: events change pk_input_mg_per_h, which reset() would not restore (PITFALLS.md)
    rr.resetAll()
    return rr


@dataclass(frozen=True)
class Trajectory:
    """Raw engine output: time (h) and the selected variables."""

    time_h: np.ndarray
    values: dict[str, np.ndarray]
    ok: bool
    detail: str = ""


def configure(rr: roadrunner.RoadRunner, rtol: float, atol: float, max_steps: int = 200_000) -> None:
    """CVODE settings: BDF (stiff), tolerances, step cap between output times."""
    integ = rr.integrator
    integ.relative_tolerance = rtol
    integ.absolute_tolerance = atol
    integ.maximum_num_steps = max_steps
    # a finite first step after each event keeps CVODE from restarting with h ~ 1e-15 and
    # printing "t + h = t" warnings (3.6 ms in model hours; CVODE adapts from there)
    integ.initial_time_step = 1e-6
    integ.setValue("stiff", True)


def run(
    sbml: str,
    times_h: Sequence[float],
    variables: Sequence[str],
    *,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_steps: int = 200_000,
) -> Trajectory:
    """Simulate ``sbml`` and return ``variables`` at ``times_h`` (first time must be 0).

    A solver failure is returned as ``ok=False`` with CVODE's message, never as NaNs.
    """
    rr = load_runner(sbml)
    configure(rr, rtol, atol, max_steps)
    times = np.asarray(times_h, dtype=float)
    try:
        out = rr.simulate(times=times, selections=["time", *variables])
    except RuntimeError as exc:
        return Trajectory(times[:0], {v: np.empty(0) for v in variables}, False, str(exc))
    arr = np.asarray(out)
    values = {v: arr[:, i + 1].copy() for i, v in enumerate(variables)}
    return Trajectory(arr[:, 0].copy(), values, True)


def equilibrate_carried_states(
    host: Host, values: Mapping[str, float], *, rtol: float = 1e-8, atol: float = 1e-12
) -> dict[str, float]:
    """Pre-treatment steady state of the cell-carried states with populations held fixed.

    The untreated model is run with ``cells_frozen = 1`` (cell numbers constant, trafficking
    fluxes still mixing BCL2 and CXCR4 expression between pools, baseline rates tracking their
    balance values) until the carried states settle, so that a simulation starts from the
    state of an untreated patient.
    """
    names = [f"{x}_{p}" for x in CARRIED_STATES for p in pools(host)]
    text = antimony_model(host, values).replace("cells_frozen = 0", "cells_frozen = 1")
    rr = load_runner(antimony_to_sbml(text))
    configure(rr, rtol, atol)
    check_baseline_rates(rr, host)
    try:
        out = rr.simulate(0.0, EQUILIBRATION_DAYS * 24.0, 2, selections=names)
    except RuntimeError as exc:
        raise RuntimeError(f"pre-treatment equilibration failed: {exc}") from exc
    check_baseline_rates(rr, host)
    return {n: float(out[-1, i]) for i, n in enumerate(names)}




def check_baseline_rates(rr: roadrunner.RoadRunner, host: Host) -> None:
    """Refuse baselines whose derived trafficking rates would be negative."""
    if rr["blood_replacement0"] <= 0 or any(rr[f"homing_per_day_{t}"] < 0 for t in host.tissue_ids):
        raise BaselineError(
            "baseline blood count cannot be sustained: CLL cells die in blood faster than "
            "tissues release them (raise egress_per_day_* or lower niche_fraction_*, or lower "
            "baseline_alc_per_uL)"
        )
    for t in host.tissue_ids:
        if rr[f"binding_balance_{t}"] < 0:
            raise BaselineError(
                f"niche pool of {t} grows faster than cells can detach or die at baseline: "
                f"raise detach_per_day_{t} or lower division rates"
            )

"""Reference engine: libRoadRunner (SUNDIALS CVODE, BDF) on the SBML generated from the declaration.

The SBML of a host is compiled **once per process** (per host and drug table); patients and
regimens only set parameter values and states on the compiled model. Doses are applied as exact
dose-to-dose segments (:class:`~cllsim.simulate.DoseSchedule`): integrate to the next change,
apply the same assignment an SBML dose event would make, restart CVODE. The exported SBML
(``cllsim export sbml``) carries the same doses as SBML events instead; a test checks that a plain
libRoadRunner run of that file reproduces this engine.

CVODE prints its warnings and errors from C straight to the process's stdout/stderr. They are
captured per patient (:func:`captured_c_output`) and returned as the run's warnings or failure
reason, never printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import roadrunner

from .._errors import SpecError
from ..drugs import DEFAULT_DRUG
from ..model import Host, antimony_model, antimony_to_sbml, load_table
from ._engine import DOSE_INPUT_SUFFIX as INPUT_SUFFIX
from ._engine import Engine, Integration

roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
roadrunner.Logger.disableConsoleLogging()

_capture_lock = threading.Lock()


@contextlib.contextmanager
def captured_c_output() -> Iterator[list[str]]:
    """Redirect the process's stdout and stderr file descriptors for the block; yield the lines written.

    The list is filled when the block exits. Python's own ``sys.stdout`` is flushed first so
    nothing of the caller's output is swallowed.
    """
    lines: list[str] = []
    with _capture_lock, tempfile.TemporaryFile(mode="w+b") as sink:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = []
        try:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            yield lines
        finally:
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            lines.extend(line for line in sink.read().decode(errors="replace").splitlines() if line.strip())


_SOURCE = re.compile(r"\[(?:WARNING|ERROR)\]\[rank \d+\]\[[^\]]*\]")


def summarize_solver_output(lines: Sequence[str]) -> str:
    """CVODE's lines in one short message (source paths dropped, repeats counted)."""
    counts: dict[str, int] = {}
    for line in lines:
        text = _SOURCE.sub("", line).strip()
        text = re.sub(r"\s+", " ", text)
        if text:
            counts[text] = counts.get(text, 0) + 1
    return "; ".join(text if k == 1 else f"{text} (x{k})" for text, k in counts.items())


def host_sbml(host: Host, drugs: tuple[str, ...] = (DEFAULT_DRUG,)) -> str:
    """SBML of ``host`` with ``drugs``, without doses, with the packaged parameter values (each run sets its own)."""
    return antimony_to_sbml(antimony_model(host, load_table(host=host, drug=drugs).values(), drugs=drugs))


class _Model:
    """A compiled runner with its index of global parameters (states are rate-rule parameters)."""

    def __init__(self, rr: roadrunner.RoadRunner) -> None:
        self.rr = rr
        ids = list(rr.model.getGlobalParameterIds())
        self.index = {pid: k for k, pid in enumerate(ids)}
        self.states = tuple(rr.getRateRuleIds())
        rules = {r for r in rr.getAssignmentRuleIds()}
        free = [p for p in ids if p not in rules and p not in self.states]
        #: dosing inputs (mg/h, by the id convention of the generated engines), off between doses
        self.inputs = tuple(p for p in free if p.endswith(INPUT_SUFFIX))
        self.parameters = tuple(p for p in free if p not in self.inputs)

    def set(self, names: Sequence[str], values: np.ndarray) -> None:
        idx = np.array([self.index[k] for k in names], dtype=np.int32)
        self.rr.model.setGlobalParameterValues(idx, np.asarray(values, dtype=float))

    def read(self, names: Sequence[str]) -> np.ndarray:
        rr = self.rr
        return np.array([rr[k] for k in names], dtype=float)


class ReferenceEngine(Engine):
    """libRoadRunner/CVODE, one patient at a time, each dose an exact restart.

    Parameters
    ----------
    rtol, atol, max_steps
        CVODE tolerances and its step limit between two stops.
    """

    name = "reference"

    def __init__(self, *, rtol: float = 1e-8, atol: float = 1e-12, max_steps: int = 200_000) -> None:
        super().__init__(rtol=rtol, atol=atol, max_steps=max_steps)

    def compile(self, host: Host, drugs: tuple[str, ...] = (DEFAULT_DRUG,)) -> _Model:
        return _model(host, drugs)

    def parameter_ids(self, model: _Model) -> tuple[str, ...]:
        return model.parameters

    def state_ids(self, model: _Model) -> tuple[str, ...]:
        return model.states

    def _configure(self, model: _Model) -> None:
        integ = model.rr.integrator
        integ.setValue("stiff", True)
        integ.relative_tolerance = self.rtol
        integ.absolute_tolerance = self.atol
        integ.maximum_num_steps = self.max_steps
        # CVODE estimates the first step after each restart itself: a fixed one (1e-6 h) failed
        # the error test right after the first dose in mice (fast absorption, 1e-5 cells scale)
        integ.initial_time_step = 0.0

    def _load(self, model: _Model, params: Mapping[str, np.ndarray], i: int,
              states: Mapping[str, np.ndarray] | None) -> None:
        names = list(params)
        model.set(names, np.array([params[k][i] for k in names]))
        if model.inputs:  # dosing inputs off: the schedule switches them on
            model.set(model.inputs, np.zeros(len(model.inputs)))
        # time 0, integrator cleared, initial assignments evaluated with the parameters just set
        model.rr.reset()
        if states is not None:
            model.set(list(states), np.array([states[s][i] for s in states]))

    def initial(self, model: _Model, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(next(iter(params.values())))
        out = np.empty((len(model.states), n))
        for i in range(n):
            self._load(model, params, i, None)
            out[:, i] = model.read(model.states)
        return {s: out[k] for k, s in enumerate(model.states)}

    def evaluate(self, model: _Model, params: Mapping[str, np.ndarray], states: Mapping[str, np.ndarray],
                 names: Sequence[str]) -> dict[str, np.ndarray]:
        n = len(next(iter(params.values()))) if params else 0
        out = np.empty((len(names), n))
        for i in range(n):
            self._load(model, params, i, states)
            out[:, i] = model.read(names)
        return {name: out[k] for k, name in enumerate(names)}

    def integrate(self, model, params, states, schedule, times_h, record) -> Integration:
        n = len(schedule)
        rr = model.rr
        targets = {*model.inputs, *model.states}
        distinct = {id(changes): changes for changes in schedule.changes}  # patients share their tuples
        for changes in distinct.values():
            bad = next((c.variable for c in changes if c.variable not in targets), None)
            if bad is not None:
                raise SpecError(f"a dose changes {bad!r}, which is neither a dosing input "
                                f"({', '.join(model.inputs) or 'none'}) nor a state of the model")
        self._configure(model)
        values = np.full((n, len(record), times_h.size), np.nan)
        failed = np.zeros(n, dtype=bool)
        fail_t = np.full(n, np.nan)
        steps = np.zeros(n, dtype=int)
        messages = np.full(n, "", dtype=object)
        for i in range(n):
            self._load(model, params, i, states)
            stops = sorted({*times_h.tolist(), *(c.time_h for c in schedule.changes[i] if c.time_h <= times_h[-1])})
            changes = [c for c in schedule.changes[i] if c.time_h <= times_h[-1]]
            out_at = {t: k for k, t in enumerate(times_h.tolist())}
            cur, k_change, restart = 0.0, 0, True
            with captured_c_output() as said:
                try:
                    for t in stops:
                        if t > cur:
                            rr.oneStep(cur, t - cur, restart)
                            cur, restart = t, False
                            steps[i] += 1
                        if t in out_at:
                            values[i, :, out_at[t]] = model.read(record)
                        while k_change < len(changes) and changes[k_change].time_h <= t:
                            c = changes[k_change]
                            rr[c.variable] = rr[c.variable] + c.delta
                            k_change += 1
                            restart = True
                except RuntimeError as exc:
                    failed[i], fail_t[i] = True, cur
                    said_exc = str(exc).split(";")[0]
                    messages[i] = said_exc
            text = summarize_solver_output(said)
            if text:
                messages[i] = f"{messages[i]}; {text}" if messages[i] else text
        return Integration({v: values[:, j, :] for j, v in enumerate(record)}, failed, fail_t, steps,
                           messages)


def _model(host: Host, drugs: tuple[str, ...] = (DEFAULT_DRUG,)) -> _Model:
    """The host's model compiled once per process (doses are not part of it; cached by SBML text)."""
    return _model_of(host_sbml(host, drugs))


@lru_cache(maxsize=8)
def _model_of(sbml: str) -> _Model:
    return _Model(roadrunner.RoadRunner(sbml))


@lru_cache(maxsize=8)
def _runner_for(sbml: str) -> roadrunner.RoadRunner:
    return roadrunner.RoadRunner(sbml)


def load_runner(sbml: str) -> roadrunner.RoadRunner:
    """``sbml`` compiled once per process (cached by text), reset to its initial state.

    For models other than the whole-body declaration (the in-vitro CXCR4 module) and for
    checking exported SBML; the whole-body model runs through :class:`ReferenceEngine`.
    """
    rr = _runner_for(sbml)
    # resetAll: SBML events may have changed parameters, which reset() would not restore
    rr.resetAll()
    return rr


def run_sbml(sbml: str, times_h: npt.ArrayLike, variables: Sequence[str], *, rtol: float = 1e-8,
             atol: float = 1e-12, max_steps: int = 200_000) -> tuple[np.ndarray | None, str]:
    """Simulate a stand-alone SBML model (its own events) at ``times_h``; CVODE's output captured.

    Returns
    -------
    values, message
        ``(T, len(variables))`` values and "" on success; ``None`` and the solver's reason on failure.
    """
    rr = load_runner(sbml)
    integ = rr.integrator
    integ.setValue("stiff", True)
    integ.relative_tolerance, integ.absolute_tolerance, integ.maximum_num_steps = rtol, atol, max_steps
    integ.initial_time_step = 0.0
    with captured_c_output() as said:
        try:
            out = np.asarray(rr.simulate(times=np.asarray(times_h, dtype=float), selections=list(variables)))
        except RuntimeError as exc:
            out, error = None, str(exc).split(";")[0]
        else:
            error = ""
    if out is None:
        text = summarize_solver_output(said)
        return None, f"{error}; {text}" if text else error
    return out, ""

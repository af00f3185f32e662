"""The one way the model is run: a template shared by every engine.

Every simulation, whatever engine integrates it and whoever asks (``simulate``, the in-silico
experiments, the fit, cohorts, exports), goes through :meth:`Engine.run`:

1. **build**: the engine compiles the declaration of the host (cached per host and drug set;
   doses are not part of the compiled model, so one build serves every regimen and patient);
2. **frozen start**: initial assignments evaluated with ``cells_frozen = 1`` (cell numbers held
   at their clinical baselines, cell-carried BCL2/CXCR4 expression at their targets);
3. **baseline check** (:func:`cllsim.model.baseline_problems`): values that no untreated steady
   state can sustain give :attr:`Status.INFEASIBLE_BASELINE`, and the patient is not integrated;
4. **equilibration**: the frozen model is integrated for :data:`EQUILIBRATION_DAYS` so that the
   carried states (and the baseline trafficking rates that track them) reach the untreated
   steady state; the end state is the treatment start, checked again;
5. **initial overrides** (e.g. labelled cells injected into blood at time 0);
6. **dose schedule**: each dose of each drug of the therapy (:meth:`cllsim.drugs.Drug.dose_inputs`)
   becomes exact changes of that drug's dosing input or depot at its time (:class:`DoseSchedule`);
7. **integration** through the schedule with ``cells_frozen = 0``;
8. **status**: one :class:`Status` per patient, with a reason.

An engine implements only the primitives (:meth:`Engine.compile`, :meth:`Engine.initial`,
:meth:`Engine.evaluate`, :meth:`Engine.integrate`); it never equilibrates, checks baselines or
applies doses on its own.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._errors import ParameterError, SpecError
from ..drugs import DEFAULT_DRUG, DoseRecords, Regimen, Therapy, drug_set, get_drug, parse_therapy
from ..model import Host, baseline_problems, baseline_rules, get_host, must_be_nonnegative
from ._status import Status

#: Days of frozen-population relaxation that put cell-carried states at their pre-treatment
#: steady state (the slowest relaxation is ~0.05/day at the table's lower bounds).
EQUILIBRATION_DAYS = 400.0

#: Most values (patients x output times x variables) one :meth:`Engine.run` records: 2 GB of
#: float64; a larger batch is refused before any allocation (split it, or record less).
MAX_BATCH_VALUES = 250_000_000

#: Parameter of the declaration that holds cell numbers fixed (pre-treatment equilibration).
FROZEN = "cells_frozen"

#: Every parameter whose id ends so is a drug's zero-order dosing input (mg/h), changed only by
#: the dose schedule (``<drug>_input_mg_per_h``).
DOSE_INPUT_SUFFIX = "_input_mg_per_h"

#: Patient parameter that per-kg doses are multiplied by (kg).
BODY_WEIGHT = "body_weight_kg"


def schedule_parameter_ids(drugs: Sequence[str]) -> tuple[str, ...]:
    """Parameters that shape the dose schedule of ``drugs`` (each dose's timing, duration, amount)."""
    ids = sorted(set().union(*(get_drug(d).dosing_parameter_ids for d in drugs)))
    return (*ids, BODY_WEIGHT)


@dataclass(frozen=True)
class DoseChange:
    """At ``time_h``, add ``delta`` to ``variable`` (a dosing input rate, or a depot state for a bolus)."""

    time_h: float
    variable: str
    delta: float


@dataclass(frozen=True)
class DoseSchedule:
    """Per patient, the exact changes of dosing inputs and depots of every drug, sorted by time."""

    changes: tuple[tuple[DoseChange, ...], ...]

    @classmethod
    def empty(cls, n: int) -> DoseSchedule:
        return cls(((),) * n)

    @classmethod
    def of(
        cls, therapy: Therapy | Sequence[Therapy], values: Mapping[str, np.ndarray], n: int, until_h: float
    ) -> DoseSchedule:
        """The schedule of ``therapy`` (one for all, or one per patient) for each of ``n`` patients.

        Only the first phase of a therapy is dosed (a switch at progression is applied by giving
        each patient the therapy that has it, see :func:`cllsim.drugs.switched_at`). Computed
        once per distinct therapy and dosing values.
        """
        therapies: list[Therapy] = [therapy] * n if isinstance(therapy, Therapy) else list(therapy)
        if len(therapies) != n:
            raise SpecError(f"{len(therapies)} therapies for {n} patients")
        cache: dict[tuple, tuple[DoseChange, ...]] = {}
        rows = []
        for i, th in enumerate(therapies):
            drugs = [c.drug for c in th.courses]
            per_kg = any(c.regimen.per_kg for c in th.courses)
            used = [k for k in schedule_parameter_ids(drugs) if k != BODY_WEIGHT or per_kg]
            key = (id(th), *(float(values[k][i]) for k in used))
            if key not in cache:
                vals = {k: float(values[k][i]) for k in schedule_parameter_ids(drugs)}
                cache[key] = _changes(th, vals, until_h)
            rows.append(cache[key])
        return cls(tuple(rows))

    def subset(self, index: np.ndarray) -> DoseSchedule:
        return DoseSchedule(tuple(self.changes[int(i)] for i in index))

    def __len__(self) -> int:
        return len(self.changes)


def _changes(therapy: Therapy, values: Mapping[str, float], until_h: float) -> tuple[DoseChange, ...]:
    out = []
    for course in therapy.courses:
        drug = get_drug(course.drug)
        # a dose table may give each dose its own food state; a regimen has one
        for food, doses in course.regimen.doses_by_food(until_h, values[BODY_WEIGHT]):
            for t_on, d1, amount in drug.dose_inputs(doses, food, values):
                if d1 > 0:  # zero-order input switched on, then off
                    rate = amount / d1
                    out += [DoseChange(t_on, drug.input_id, rate), DoseChange(t_on + d1, drug.input_id, -rate)]
                else:  # bolus into the depot
                    out.append(DoseChange(t_on, drug.depot_id, amount))
    return tuple(sorted(out, key=lambda c: c.time_h))


def dosing_event_lines(schedule: Sequence[DoseChange]) -> list[str]:
    """Antimony events applying ``schedule`` (one patient's changes) at their exact times, for export."""
    return [
        f"dose{k}: at time >= {c.time_h!r}, t0=false, persistent=true: {c.variable} = {c.variable} + {c.delta!r}"
        for k, c in enumerate(schedule)
    ]


@dataclass(frozen=True)
class Integration:
    """What an engine's :meth:`Engine.integrate` returns for ``n`` patients and ``T`` output times.

    Attributes
    ----------
    values
        Recorded variables, each ``(n, T)``; NaN from a failure on.
    failed
        Per patient, whether the solver stopped before the last output time.
    fail_time_h
        Time of the failure, h (NaN where none).
    steps
        Accepted steps per patient (or integrator calls between stops, for an engine that hides its steps).
    messages
        Per patient, what the solver said (warnings or the error), "" if nothing.
    """

    values: dict[str, np.ndarray]
    failed: np.ndarray
    fail_time_h: np.ndarray
    steps: np.ndarray
    messages: np.ndarray  # object array of str


@dataclass(frozen=True)
class BatchTrajectory:
    """Output of :meth:`Engine.run` for ``n`` patients.

    Attributes
    ----------
    time_h
        Output times, h, shape ``(T,)``.
    values
        Selected model variables, each of shape ``(n, T)``; rows of failed patients are NaN
        from the failure on (all NaN for an infeasible baseline).
    status
        :class:`Status` value per patient (strings, for tables; see :attr:`statuses`).
    detail
        Human-readable reason per patient (empty on success).
    n_steps
        Per patient, accepted solver steps of the treatment run (cohort and JAX engines) or integrator
        calls between stops (reference engine: CVODE's own steps are not exposed).
    warnings
        Per patient, solver messages that did not stop the run ("" if none).
    engine
        Name of the engine that integrated it.
    """

    time_h: np.ndarray
    values: dict[str, np.ndarray]
    status: np.ndarray
    detail: np.ndarray
    n_steps: np.ndarray
    warnings: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str))
    engine: str = ""

    @property
    def ok(self) -> np.ndarray:
        return self.status == Status.SUCCESS.value

    @property
    def statuses(self) -> list[Status]:
        return [Status(s) for s in self.status]

    def __len__(self) -> int:
        return len(self.status)


def parameter_batch(values: Mapping[str, Any], required: Sequence[str]) -> tuple[int, dict[str, np.ndarray]]:
    """Batch size and every given value as a float array of shape ``(n,)``; refuses missing ids."""
    shapes = [np.shape(v) for v in values.values()]
    try:
        n = int(np.broadcast_shapes(*shapes, (1,))[0])
    except ValueError as exc:
        raise SpecError(f"parameter arrays of different lengths: {sorted(set(shapes))}") from exc
    arr = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy() for k, v in values.items()}
    missing = sorted(p for p in required if p not in arr and p != FROZEN)
    if missing:
        raise ParameterError(f"missing parameter values: {', '.join(missing)}")
    return n, arr


def check_times(times_h: npt.ArrayLike) -> np.ndarray:
    """Output times (h) as an array; they must be finite, start at 0 and increase."""
    times = np.asarray(times_h, dtype=float)
    if times.ndim != 1 or times.size < 1 or not np.all(np.isfinite(times)) or times[0] != 0 or np.any(
        np.diff(times) <= 0
    ):
        raise SpecError("output times must be finite, start at 0 and increase")
    return times


def check_tolerances(rtol: float, atol: float, max_steps: int) -> None:
    """Refuse tolerances an engine cannot honour (before any cached solver is touched)."""
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(v, int | float) and np.isfinite(v) and 0 < v < 1):
            raise SpecError(f"{name} must be a number in (0, 1), got {v!r}")
    if not (isinstance(max_steps, int | np.integer) and max_steps > 0):
        raise SpecError(f"max_steps must be a positive integer, got {max_steps!r}")


def _take(d: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in d.items()}


class Engine(abc.ABC):
    """An integrator of the one declaration, run through the shared template :meth:`run`.

    Parameters
    ----------
    rtol, atol
        Relative and absolute solver tolerances (absolute in model units: 1e9 cells, mg, ...).
    max_steps
        Step limit before a patient is reported as a solver failure (the engine defines the
        scope: per run, or per segment between stops).
    """

    #: Name in results and metadata.
    name: ClassVar[str] = ""

    def __init__(self, *, rtol: float = 1e-8, atol: float = 1e-12, max_steps: int = 500_000) -> None:
        check_tolerances(rtol, atol, max_steps)
        self.rtol, self.atol, self.max_steps = float(rtol), float(atol), int(max_steps)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rtol={self.rtol:g}, atol={self.atol:g})"

    # ---- primitives: what an engine implements
    @abc.abstractmethod
    def compile(self, host: Host, drugs: tuple[str, ...] = (DEFAULT_DRUG,)) -> Any:
        """The compiled model of ``host`` with a PK block for each of ``drugs`` (cached by the engine)."""

    @abc.abstractmethod
    def parameter_ids(self, model: Any) -> tuple[str, ...]:
        """Parameters the compiled model reads (each needs a value per patient)."""

    @abc.abstractmethod
    def state_ids(self, model: Any) -> tuple[str, ...]:
        """The model's state variables."""

    @abc.abstractmethod
    def initial(self, model: Any, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Initial value of every state from the initial assignments, ``{state: (n,)}``."""

    @abc.abstractmethod
    def evaluate(
        self, model: Any, params: Mapping[str, np.ndarray], states: Mapping[str, np.ndarray], names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Values of ``names`` (rules, parameters, states) at ``states`` with inputs off, ``{name: (n,)}``."""

    @abc.abstractmethod
    def integrate(
        self,
        model: Any,
        params: Mapping[str, np.ndarray],
        states: Mapping[str, np.ndarray],
        schedule: DoseSchedule,
        times_h: np.ndarray,
        record: tuple[str, ...],
    ) -> Integration:
        """Integrate from ``states`` at time 0 (dosing inputs off) through ``schedule``, recording at ``times_h``.

        At a time that is both an output and a dose change, the output is recorded first.
        """

    # ---- the template: the same for every engine
    def run(
        self,
        host: Host | str,
        values: Mapping[str, Any],
        regimen: Therapy | Regimen | DoseRecords | str | Sequence[Therapy],
        times_h: npt.ArrayLike,
        variables: Sequence[str],
        *,
        initial_state: Mapping[str, Any] | None = None,
        drug: str | Sequence[str] = DEFAULT_DRUG,
    ) -> BatchTrajectory:
        """Simulate a batch of patients: equilibrate, check baselines, dose, integrate.

        Parameters
        ----------
        host
            Registered host id or :class:`~cllsim.model.Host`.
        values
            Every model parameter (table units): a scalar (shared) or an array of shape ``(n,)``.
        regimen
            Therapy, regimen, their text form or a dose table (:class:`~cllsim.drugs.DoseRecords`),
            the same for every patient, or one therapy per patient; day 0 = start of treatment.
        drug
            The drug of a regimen that names none, or the drugs the model is built with (every
            drug of the therapy is added); the first is the one ``drug_plasma_ng_per_mL`` reads.
        times_h
            Output times, h; finite, starting at 0 and increasing.
        variables
            Model variables (states, parameters or rules; SBML ids) to return.
        initial_state
            States set at time 0 after equilibration (scalars or ``(n,)`` arrays), e.g. labelled
            cells injected into blood or BTK occupied by an in-vitro pretreatment.

        Returns
        -------
        BatchTrajectory
            Variables ``(n, T)`` and one :class:`Status` per patient.
        """
        host = get_host(host)
        default = drug_set(drug)
        therapies: Therapy | list[Therapy]
        if isinstance(regimen, str | Regimen | Therapy | DoseRecords):
            therapies = parse_therapy(regimen, default[0])
            given_therapies = [therapies]
        else:
            given_therapies = [parse_therapy(t, default[0]) for t in regimen]
            therapies = given_therapies
        times = check_times(times_h)
        for th in {id(t): t for t in given_therapies}.values():
            th.check_dose_count(float(times[-1]))  # refuse millions of doses before equilibrating
        drugs = drug_set([*default, *(d for t in given_therapies for d in t.drugs)])
        model = self.compile(host, drugs)
        n, given = parameter_batch(values, (*self.parameter_ids(model), *schedule_parameter_ids(drugs)))
        if not isinstance(therapies, Therapy) and len(therapies) != n:
            raise SpecError(f"{len(therapies)} therapies given for {n} patients")
        n_values = n * times.size * len(set(variables))
        if n_values > MAX_BATCH_VALUES:
            raise SpecError(
                f"{n:,} patients x {times.size:,} output times x {len(set(variables))} variables is "
                f"{n_values:,} values, more than {MAX_BATCH_VALUES:,} in one run; split the batch or record less"
            )
        params = {k: given[k] for k in self.parameter_ids(model) if k != FROZEN}
        states = self.state_ids(model)
        overrides = dict(initial_state or {})
        unknown = sorted(set(overrides) - set(states))
        if unknown:
            raise SpecError(f"initial_state names no state of the model: {', '.join(unknown)}")
        names = tuple(dict.fromkeys(variables))
        status = np.full(n, Status.SUCCESS.value, dtype=object)
        detail = np.full(n, "", dtype=object)
        warnings = np.full(n, "", dtype=object)

        def fail(mask: np.ndarray, why: Status, reason: np.ndarray | str) -> None:
            mask = mask & (status == Status.SUCCESS.value)
            status[mask] = why.value
            detail[mask] = reason[mask] if isinstance(reason, np.ndarray) else reason

        rules = baseline_rules(host)
        frozen = {**params, FROZEN: np.ones(n)}
        start = self.initial(model, frozen)
        before = baseline_problems(host, self.evaluate(model, frozen, start, rules))
        fail(before != "", Status.INFEASIBLE_BASELINE, before)

        # pre-treatment equilibration of the feasible patients
        live = np.nonzero(status == Status.SUCCESS.value)[0]
        eq = self.integrate(model, _take(frozen, live), _take(start, live), DoseSchedule.empty(live.size),
                            np.array([0.0, EQUILIBRATION_DAYS * 24.0]), states)
        y0 = {s: np.full(n, np.nan) for s in states}
        for s in states:
            # changes below the absolute tolerance are solver noise (e.g. 1e-35 mg of a drug never
            # given), which made CVODE's error test fail at the first dose in mice
            end, begin = eq.values[s][:, -1], start[s][live]
            y0[s][live] = np.where(np.abs(end - begin) <= self.atol, begin, end)
        bad = np.zeros(n, dtype=bool)
        bad[live] = eq.failed | ~np.all([np.isfinite(eq.values[s][:, -1]) for s in states], axis=0)
        fail(bad, Status.SOLVER_FAILURE, "pre-treatment equilibration did not converge")

        treated = {**params, FROZEN: np.zeros(n)}
        live = np.nonzero(status == Status.SUCCESS.value)[0]
        after = np.full(n, "", dtype=object)
        after[live] = baseline_problems(host, self.evaluate(model, _take(treated, live), _take(y0, live), rules))
        fail(after != "", Status.INFEASIBLE_BASELINE, after)
        # an untreated steady state with a negative physical quantity (e.g. CXCR4 expression when
        # repression x BCR signal exceeds 1) is no steady state a patient can have
        negative, _, which = _negative_physical({s: y0[s][:, None] for s in states}, states, np.zeros(1))
        fail(negative, Status.INFEASIBLE_BASELINE,
             np.array([f"untreated steady state has {w.split(' at day')[0]}" for w in which], dtype=object))
        for s, v in overrides.items():
            y0[s] = np.where(np.isnan(y0[s]), np.nan, np.broadcast_to(np.asarray(v, dtype=float), (n,)))

        live = np.nonzero(status == Status.SUCCESS.value)[0]
        live_therapies = therapies if isinstance(therapies, Therapy) else [therapies[int(i)] for i in live]
        schedule = DoseSchedule.of(live_therapies, _take(given, live), live.size, times[-1])
        run = self.integrate(model, _take(treated, live), _take(y0, live), schedule, times, names)
        out = {v: np.full((n, times.size), np.nan) for v in names}
        for v in names:
            out[v][live] = run.values[v]
        steps = np.zeros(n, dtype=int)
        steps[live] = run.steps
        warnings[live] = run.messages
        failed = np.zeros(n, dtype=bool)
        failed[live] = run.failed
        why = np.full(n, "", dtype=object)
        for k, i in enumerate(live):
            if run.failed[k]:
                said = f": {run.messages[k]}" if run.messages[k] else ""
                why[i] = f"{self.name} solver stopped at day {run.fail_time_h[k] / 24:g}{said}"
                warnings[i] = ""
        fail(failed, Status.SOLVER_FAILURE, why)
        if names:
            finite = np.all([np.all(np.isfinite(out[v]), axis=1) for v in names], axis=0)
            fail(~finite, Status.NONFINITE, "the solution contains NaN or infinite values")
            fail(*_negative_physical(out, names, times))
        return BatchTrajectory(times, out, status.astype(str), detail.astype(str), steps, warnings.astype(str),
                               self.name)


#: A physical quantity counts as negative below ``-NEGATIVE_TOLERANCE x max(1, max |value|)``
#: (solver noise around zero, e.g. -1e-28 occupied BTK, is not a violation).
NEGATIVE_TOLERANCE = 1e-6


def _negative_physical(
    out: Mapping[str, np.ndarray], names: Sequence[str], times_h: np.ndarray
) -> tuple[np.ndarray, Status, np.ndarray]:
    """Patients whose recorded physical quantities go negative, with the first offender and day."""
    n = next(iter(out.values())).shape[0]
    bad = np.zeros(n, dtype=bool)
    why = np.full(n, "", dtype=object)
    for v in names:
        if not must_be_nonnegative(v):
            continue
        x = out[v]
        with np.errstate(invalid="ignore"):
            scale = np.maximum(1.0, np.nanmax(np.abs(x), axis=1, initial=0.0))
            neg = x < -NEGATIVE_TOLERANCE * scale[:, None]
        for i in np.nonzero(neg.any(axis=1) & ~bad)[0]:
            k = int(np.argmax(neg[i]))
            why[i] = f"{v} = {x[i, k]:.3g} at day {times_h[k] / 24:g}"
            bad[i] = True
    return bad, Status.INVARIANT_VIOLATION, why

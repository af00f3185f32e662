"""Optional cohort engine on JAX + diffrax, for GPUs (``pip install "cllsim[jax]"``).

The right-hand side is generated here, as a pure ``jax.numpy`` function, from the same SBML
that the NumPy cohort engine (:mod:`._vectorized`) and the reference engine run; nothing
restates an equation. Per-patient parameter derivation (static rules), initial states,
baseline checks and observables are evaluated with the NumPy code of :mod:`._codegen`; both
ODE solves, the pre-treatment equilibration and the treatment run, are done by diffrax
(``Kvaerno5``, an L-stable ESDIRK method of order 5, with a PID step-size controller),
``jax.vmap``-ed over patients and ``jax.jit``-compiled.

Dosing is piecewise constant: each patient's dose changes (from
:func:`cllsim.drugs.dose_inputs`, so lags and input durations may differ per patient) are
merged with the output times into one list of stops, exactly as the NumPy engine does, and a
``jax.lax.scan`` over the stops calls ``diffeqsolve`` once per segment with the inputs held
constant. A stop carries one change: a step of one drug's zero-order input rate, or a bolus
added to one state (e.g. that drug's depot); simultaneous changes are consecutive stops of
length zero. Outputs are the states at the stops, never interpolated.

Float64 is switched on (``jax_enable_x64``) when the engine is first used. Select the device
with the ``JAX_PLATFORMS`` environment variable (e.g. ``JAX_PLATFORMS=cuda``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sympy.printing.numpy import JaxPrinter

from ..drugs import Regimen
from ..model import PATIENT, Host, antimony_model, antimony_to_sbml, get_host
from ._codegen import CodegenError, PlainFloats, _closure, _deps, _topo, dosing_inputs, read_rules
from ._engine import BatchTrajectory, DoseSchedule, Integration
from ._vectorized import CohortEngine, _Schedule, _schedule

_INSTALL_HINT = 'the JAX engine needs the optional extra: pip install "cllsim[jax]"'


def _import_jax() -> tuple[Any, Any]:
    """Import ``jax`` and ``diffrax`` (float64 on), or raise an ImportError naming the extra."""
    try:
        import diffrax
        import jax
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(_INSTALL_HINT) from exc
    jax.config.update("jax_enable_x64", True)
    return jax, diffrax


class _Printer(PlainFloats, JaxPrinter):
    """``jax.numpy`` printer writing plain float literals."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "inline": True})


@dataclass(frozen=True)
class JaxRhs:
    """The rate rules of a model as one pure JAX function ``rhs(t, y, args)``.

    Attributes
    ----------
    states
        State ids, in the order of ``y`` (the same order as :class:`._codegen.CompiledModel`).
    inputs
        Ids of the piecewise-constant inputs, in the order of ``u``.
    reads
        Parameters and static rules that ``rhs`` reads from ``d``.
    source
        The generated Python source (for inspection).
    rhs
        ``rhs(t, y, (d, u))``: time derivatives, per hour, of the states ``y`` (shape
        ``(n_states,)``) for one patient; ``d`` maps the ids in ``reads`` to scalars, ``u``
        holds the inputs (shape ``(len(inputs),)``).
    """

    states: tuple[str, ...]
    inputs: tuple[str, ...]
    reads: tuple[str, ...]
    source: str
    rhs: Callable = field(repr=False)


def jax_rhs_source(sbml: str) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Generate the source of ``rhs(t, y, args)`` in ``jax.numpy`` from the rate rules of ``sbml``.

    Parameters
    ----------
    sbml
        SBML of a model made of parameters with assignment and rate rules.

    Returns
    -------
    tuple
        ``(source, states, inputs, reads)`` as described in :class:`JaxRhs`.
    """
    doc, symbols, assign, rates = read_rules(sbml, "JAX engine")
    model = doc.getModel()
    states = tuple(rates)
    inputs = dosing_inputs(model)
    order = _topo(assign, set())
    dynamic: set[str] = set()
    for k in order:
        if _deps(assign[k]) & (set(states) | set(inputs) | dynamic):
            dynamic.add(k)
    needed = _closure(set().union(*(_deps(e) for e in rates.values())), assign, dynamic)
    rules = [k for k in order if k in needed]
    used = set().union(*(_deps(e) for e in rates.values()), *(_deps(assign[k]) for k in rules))
    reads = tuple(sorted(used - set(states) - set(inputs) - dynamic))

    code = _Printer().doprint
    lines = ["def rhs(t, y, args):", "    d, u = args"]
    lines += [f"    {s} = y[{i}]" for i, s in enumerate(states) if s in used]
    lines += [f"    {k} = d[{k!r}]" for k in reads]
    lines += [f"    {k} = u[{i}]" for i, k in enumerate(inputs) if k in used]
    lines += [f"    {k} = {code(assign[k])}" for k in rules]
    lines.append("    return jax.numpy.stack([")
    lines += [f"        jax.numpy.asarray({code(rates[s])}, dtype=y.dtype)," for s in states]
    lines.append("    ])")
    return "\n".join(lines) + "\n", states, inputs, reads


@functools.lru_cache(maxsize=4)
def _compile_text(text: str) -> JaxRhs:
    jax, _ = _import_jax()
    sbml = antimony_to_sbml(text)
    source, states, inputs, reads = jax_rhs_source(sbml)
    namespace: dict[str, object] = {"jax": jax}
    exec(compile(source, f"<cllsim jax {hashlib.sha1(sbml.encode()).hexdigest()[:8]}>", "exec"), namespace)
    return JaxRhs(states, inputs, reads, source, namespace["rhs"])  # type: ignore[arg-type]


def compile_jax(host: Host | str = PATIENT) -> JaxRhs:
    """The right-hand side of ``host``'s declaration as a JAX function (cached by the declaration's text).

    Parameters
    ----------
    host
        Host whose declaration (without dosing events) is translated.

    Returns
    -------
    JaxRhs
        The generated function and its layout.
    """
    return _compile_text(antimony_model(get_host(host), {}))


@functools.lru_cache(maxsize=8)
def _solver(host_text: str, rtol: float, atol: float, max_steps: int) -> Callable:
    """Jitted, patient-vmapped solve through a schedule of stops (cached per model and numerics).

    The returned function takes ``(y0 (n, ns), d {id: (n,)}, u0 (n, k), stop_t (n, m),
    stop_target (n, m), stop_delta (n, m), stop_out (n, m), skip (n,), ys0 (n, T, ns))`` (targets
    coded as in ``._vectorized._Schedule``: input ``q < k``, state ``k + j``, -1 none) and returns
    ``(ys (n, T, ns), us (n, T, k), recorded (n, T), failed (n,), fail_t (n,), steps (n,))``.
    """
    jax, diffrax = _import_jax()
    jnp = jax.numpy
    model = _compile_text(host_text)
    term = diffrax.ODETerm(model.rhs)
    solver = diffrax.Kvaerno5()
    controller = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.3, icoeff=0.4)
    saveat = diffrax.SaveAt(t1=True)

    def one(y0, d, u0, stop_t, stop_target, stop_delta, stop_out, skip, ys0):
        n_out = ys0.shape[0]
        n_in = u0.shape[0]
        input_ids = jnp.arange(n_in)
        state_ids = jnp.arange(y0.shape[0]) + n_in

        def segment(carry, stop):
            y, t, u, failed, fail_t, steps, ys, us, rec = carry
            t_stop, target, delta, out = stop
            t1 = jnp.where(failed, t, t_stop)
            sol = diffrax.diffeqsolve(
                term, solver, t, t1, None, y, args=(d, u), saveat=saveat, stepsize_controller=controller,
                max_steps=max_steps, throw=False,
            )
            y1 = sol.ys[-1]
            ok = (sol.result == diffrax.RESULTS.successful) & jnp.all(jnp.isfinite(y1))
            fail_t = jnp.where(~failed & ~ok, t, fail_t)
            failed = failed | ~ok
            y = jnp.where(failed, y, y1)
            t = jnp.where(failed, t, t_stop)
            steps = steps + jnp.where(failed, 0, sol.stats["num_accepted_steps"])
            # record, then switch the input or add the bolus (the NumPy engine's order at a stop)
            hit = (out >= 0) & ~failed
            slot = jnp.clip(out, 0, n_out - 1)
            ys = ys.at[slot].set(jnp.where(hit, y, ys[slot]))
            us = us.at[slot].set(jnp.where(hit, u, us[slot]))
            rec = rec.at[slot].set(rec[slot] | hit)
            u = u + jnp.where(input_ids == target, delta, 0.0)
            y = y + jnp.where(state_ids == target, delta, 0.0)
            return (y, t, u, failed, fail_t, steps, ys, us, rec), None

        init = (
            y0, jnp.asarray(0.0, y0.dtype), u0, skip, jnp.asarray(jnp.nan, y0.dtype), jnp.asarray(0, jnp.int64),
            ys0, jnp.full((n_out, u0.shape[0]), jnp.nan, y0.dtype), jnp.zeros(n_out, bool),
        )
        (_, _, _, failed, fail_t, steps, ys, us, rec), _ = jax.lax.scan(
            segment, init, (stop_t, stop_target, stop_delta, stop_out)
        )
        return ys, us, rec, failed, fail_t, steps

    return jax.jit(jax.vmap(one))


def _solve(
    host_text: str,
    model: JaxRhs,
    y0: np.ndarray,
    d: Mapping[str, np.ndarray],
    sched: _Schedule,
    n_out: int,
    skip: np.ndarray,
    *,
    rtol: float,
    atol: float,
    max_steps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the jitted solve on NumPy inputs; returns NumPy arrays (see :func:`_solver`), states last axis."""
    jax, _ = _import_jax()
    n = y0.shape[1]
    missing = [k for k in model.reads if k not in d]
    if missing:
        raise CodegenError(f"derived parameters lack {', '.join(missing)}")
    dd = {k: jax.numpy.asarray(np.broadcast_to(np.asarray(d[k], float), (n,))) for k in model.reads}
    end = sched.t[:, :-1]  # the last column is the +inf sentinel
    last = np.where(np.isfinite(end), end, -np.inf).max(axis=1, keepdims=True)
    stop_t = np.where(np.isfinite(end), end, last)
    fn = _solver(host_text, float(rtol), float(atol), int(max_steps))
    out = fn(
        y0.T.copy(), dd, np.zeros((n, len(model.inputs))), stop_t, sched.target[:, :-1], sched.delta[:, :-1],
        sched.out[:, :-1], np.asarray(skip, bool), np.full((n, n_out, y0.shape[0]), np.nan),
    )
    return tuple(np.asarray(a) for a in out)  # type: ignore[return-value]


def _variables(
    cm: Any, names: tuple[str, ...], ys: np.ndarray, us: np.ndarray, rec: np.ndarray, d: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Variables ``names`` at the recorded outputs (``ys``: (n, T, ns)); NaN where nothing was recorded."""
    n, t_out, ns = ys.shape
    flat_d = {k: np.repeat(np.broadcast_to(np.asarray(v, float), (n,)), t_out) for k, v in d.items()}
    u = {k: us[:, :, i].reshape(-1) for i, k in enumerate(cm.inputs)}
    with np.errstate(all="ignore"):
        vals = cm.variables(names, ys.reshape(n * t_out, ns).T, flat_d, u)
    return {k: np.where(rec, np.asarray(vals[k], float).reshape(n, t_out), np.nan) for k in names}


class JaxEngine(CohortEngine):
    """diffrax on JAX (``Kvaerno5``, PID steps), ``vmap``-ed over patients; for GPUs.

    Parameter derivation, initial states and rule evaluation are the NumPy cohort engine's
    (generated from the same SBML); only the integration runs on JAX.

    Parameters
    ----------
    rtol, atol
        Tolerances of the PID step-size controller (and of the Newton iterations).
    max_steps
        Step limit per segment between two stops (dose changes and output times).

    Raises
    ------
    ImportError
        If ``jax`` or ``diffrax`` is missing (install the ``jax`` extra).
    """

    name = "jax"

    def __init__(self, *, rtol: float = 1e-8, atol: float = 1e-12, max_steps: int = 100_000) -> None:
        _import_jax()
        super().__init__(rtol=rtol, atol=atol, max_steps=max_steps, backend="numpy")

    def integrate(self, model, params, states, schedule: DoseSchedule, times_h, record) -> Integration:
        n = len(schedule)
        if n == 0:
            return super().integrate(model, params, states, schedule, times_h, record)
        host_text = _host_texts[model.source]
        jrhs = _compile_text(host_text)
        if jrhs.states != model.states or jrhs.inputs != model.inputs:
            raise CodegenError("the JAX and NumPy translations of the declaration disagree on states or inputs")
        d = model.derived(params)
        y0 = np.stack([np.asarray(states[s], dtype=float) for s in model.states])
        sched = _schedule(schedule, times_h, model.inputs, model.states)
        ys, us, rec, failed, fail_t, steps = _solve(
            host_text, jrhs, y0, d, sched, times_h.size, np.zeros(n, bool), rtol=self.rtol, atol=self.atol,
            max_steps=self.max_steps,
        )
        values = _variables(model, tuple(record), ys, us, rec, d)
        said = np.where(failed, "diffrax stopped (step limit or step-size collapse)", "").astype(object)
        return Integration(values, failed, fail_t, steps.astype(int), said)

    def compile(self, host: Host, drugs: tuple[str, ...] = ("ibrutinib",)):
        model = super().compile(host, drugs)
        _host_texts.setdefault(model.source, antimony_model(host, {}, drugs=drugs))
        return model


#: Declaration text of each compiled model (by generated source), for the JAX translation.
_host_texts: dict[str, str] = {}


def run_batch_jax(
    regimen: Regimen | str,
    values: Mapping[str, np.ndarray | float],
    times_h: npt.ArrayLike,
    variables: Sequence[str],
    *,
    host: Host | str = PATIENT,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_steps: int = 100_000,
    drug: str | Sequence[str] = "ibrutinib",
) -> BatchTrajectory:
    """:func:`cllsim.simulate.run_batch` on :class:`JaxEngine` (same arguments and result).

    Raises
    ------
    ImportError
        If ``jax`` or ``diffrax`` is missing (install the ``jax`` extra).
    """
    engine = JaxEngine(rtol=rtol, atol=atol, max_steps=max_steps)
    return engine.run(get_host(host), values, regimen, times_h, variables, drug=drug)

"""cllsim's engines against peer simulators on one exported SBML and one patient-year, in one run.

The patient is the typical U-CLL patient on ibrutinib 420 mg qd for 365 days, with daily outputs.
Its model is exported once (:func:`cllsim.simulate.prepare`, the SBML that ``cllsim export sbml``
writes: equilibrated start, 365 dose events, time in hours) and every peer solves that model:

* **truth**: libRoadRunner at rtol 1e-10 / atol 1e-14 on the exported SBML;
* **libroadrunner**: ``roadrunner.RoadRunner(sbml)`` compiled once (not timed), then
  ``resetAll()`` and ``simulate()`` per repetition, CVODE BDF as cllsim's reference engine sets it;
* **amici**: AMICI's import of the same SBML (optional: only when ``amici`` is importable; its
  compiled model module is kept in ``--amici-dir`` so that later runs skip its ~40 s build);
* **cohort-1** and **cohort-N**: :func:`cllsim.simulate.run_batch` (compiled numba backend) for
  that patient alone and for a batch of ``--batch`` copies of it (cost per patient). The cohort
  engine generates its code from the same model declaration and takes the patient's parameter
  values (it equilibrates and doses itself, as cohorts run it);
* **cllsim.simulate**: the public reference API, after one warm-up call. Each timed repetition
  simulates a fresh patient (``baseline_alc_per_uL`` nudged by 1e-9 relative, far below any
  error compared here), so that a cache of one identical call cannot hide per-patient build costs.

Each peer is run over a sweep of tolerances (atol = rtol x 1e-4 throughout, as the cohort and
reference defaults). For each point it prints the CPU time per patient-year (``time.process_time``
of this process, median of the repetitions; robust when cores are shared), the largest relative
error against the truth over all observables as ``cllsim.simulate`` reports them (the agreement
tests' metric, :func:`cllsim.simulate._compare.max_relative_difference`), and the cost ratio to
compiled-once libRoadRunner at the same tolerance. "Matched accuracy" picks, for each peer, the
loosest tolerance whose error, and that of every tighter swept tolerance, is at most
``--target-error`` (default 1e-5; errors are not monotonic in the tolerance, so one lucky loose
point does not count), and compares costs there.

Targets (issue 10; benchmarks, not tests), printed as PASS/FAIL:

* ``cllsim.simulate`` costs at most 1.5x compiled-once libRoadRunner at the same tolerance
  (every tolerance at which ``cllsim.simulate`` was run);
* the cohort engine (batch cost per patient) is at least 10x cheaper than AMICI at matched
  accuracy (SKIP when AMICI is not importable).

    python benchmarks/peers.py            # ~3 min on the 2-core development machine
    python benchmarks/peers.py --quick    # coarser sweep, fewer repetitions (~1 min)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

#: Tolerance of the truth run (libRoadRunner on the exported SBML).
TRUTH_RTOL, TRUTH_ATOL = 1e-10, 1e-14
#: atol = rtol x this, for every peer (the cohort and reference engines' own convention).
ATOL_PER_RTOL = 1e-4
#: ``cllsim.simulate``'s default relative tolerance (the one users get).
SIMULATE_DEFAULT_RTOL = 1e-8
FULL_SWEEP = (3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 1e-8)
QUICK_SWEEP = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
#: Targets of issue 10.
SIMULATE_OVER_ROADRUNNER_MAX = 1.5
AMICI_OVER_COHORT_MIN = 10.0

REGIMEN = "420 mg qd"
DAYS = 365
#: Parameter nudged per repetition of ``cllsim.simulate`` (relative step per repetition).
NUDGED_PARAMETER, NUDGE = "baseline_alc_per_uL", 1e-9

Outputs = dict[str, np.ndarray]  # observable id -> values at the daily output times


@dataclass
class Point:
    """One peer at one tolerance."""

    peer: str
    rtol: float
    atol: float
    cpu_ms: float | None = None  # CPU ms per patient-year, median over repetitions
    error: float | None = None  # max relative error vs the truth over all observables
    reps: int = 0
    failure: str = ""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="coarser sweep, fewer repetitions, smaller batch")
    ap.add_argument("--reps", type=int, default=None,
                    help="timed repetitions per point (default 3, --quick 2; cllsim.simulate: 3 / 1)")
    ap.add_argument("--batch", type=int, default=None,
                    help="patients in the cohort-engine batch (default 16, --quick 8)")
    ap.add_argument("--rtol", type=float, nargs="+", default=None,
                    help=f"tolerances to sweep (default {' '.join(f'{r:g}' for r in FULL_SWEEP)}; --quick "
                         f"{' '.join(f'{r:g}' for r in QUICK_SWEEP)})")
    ap.add_argument("--target-error", type=float, default=1e-5,
                    help="max relative error defining matched accuracy (default 1e-5)")
    ap.add_argument("--peers", nargs="+", default=["libroadrunner", "amici", "cohort", "simulate"],
                    choices=["libroadrunner", "amici", "cohort", "simulate"], help="peers to run (default: all)")
    ap.add_argument("--amici-dir", type=Path, default=None,
                    help="where AMICI's compiled model is kept (default ~/.cache/cllsim/benchmarks/amici-<sbml hash>)")
    ap.add_argument("--json", type=Path, default=None, help="also write every point and the verdicts here")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target FAILs")
    args = ap.parse_args(argv)
    if args.reps is None:
        args.reps = 2 if args.quick else 3
    if args.batch is None:
        args.batch = 8 if args.quick else 16
    if args.rtol is None:
        args.rtol = list(QUICK_SWEEP if args.quick else FULL_SWEEP)
    args.rtol = sorted(set(args.rtol), reverse=True)  # loose to tight
    if args.reps < 1 or args.batch < 1 or any(not 0 < r < 1 for r in args.rtol):
        ap.error("--reps and --batch must be >= 1 and every --rtol in (0, 1)")
    return args


# ---------------------------------------------------------------------------------------------
# the shared setup: exported SBML, observables, truth, comparison


@dataclass(frozen=True)
class Case:
    """The patient-year every peer solves."""

    sbml: str
    values: dict[str, float]  # every model parameter of the patient (table units)
    observables: list  # cllsim.simulate.Observable
    days: np.ndarray  # output times, days

    @property
    def times_h(self) -> np.ndarray:
        return self.days * 24.0

    @property
    def variables(self) -> list[str]:
        return list(dict.fromkeys(o.variable for o in self.observables))  # two observables may share one


def make_case() -> Case:
    """Export the typical U-CLL patient's model for a year of 420 mg qd."""
    from cllsim.simulate import Patient, observables, patient_values, prepare

    patient = Patient(ighv="U")
    model = prepare(REGIMEN, patient, days=DAYS)
    return Case(model.sbml, patient_values(patient), observables(model.host), np.arange(DAYS + 1.0))


def as_reported(case: Case, raw: Mapping[str, np.ndarray]) -> Outputs:
    """Model variables -> observables as ``cllsim.simulate`` reports them (per-baseline ones divided by t=0)."""
    out = {}
    for o in case.observables:
        v = np.asarray(raw[o.variable], dtype=float)
        out[o.id] = v / v[0] if o.per_baseline else v
    return out


def max_error(values: Outputs, truth: Outputs) -> float:
    """Largest relative error over every observable (the agreement tests' metric)."""
    from cllsim.simulate._compare import max_relative_difference

    worst = 0.0
    for key, ref in truth.items():
        v = values[key]
        if v.shape != ref.shape or not np.all(np.isfinite(v)):
            return float("inf")
        worst = max(worst, max_relative_difference(v, ref))
    return worst


def cpu_median(fn: Callable[[int], object], reps: int) -> tuple[float, object]:
    """Median CPU seconds of ``fn(i)`` for i = 1..reps (this process, all threads), and the first output."""
    spent, first = [], None
    for i in range(1, reps + 1):
        c0 = time.process_time()
        out = fn(i)
        spent.append(time.process_time() - c0)
        if i == 1:
            first = out
        del out  # let a large output go before the next repetition
    return statistics.median(spent), first


# ---------------------------------------------------------------------------------------------
# the peers: ``peer(rtol, atol)`` gives ``(run, convert)``; ``run(i)`` is what is timed (repetition
# i), ``convert`` turns its raw output into :data:`Outputs` for the error (not timed)

Runner = Callable[[float, float], tuple[Callable[[int], object], Callable[[object], Outputs]]]


def configure_cvode(rr, rtol: float, atol: float) -> None:
    """CVODE as cllsim's reference engine sets it: BDF, the tolerances, a finite first step after events."""
    integ = rr.integrator
    integ.relative_tolerance = rtol
    integ.absolute_tolerance = atol
    integ.maximum_num_steps = 200_000
    integ.initial_time_step = 1e-6  # h; keeps CVODE from restarting at h ~ 1e-15 after each dose
    integ.setValue("stiff", True)


def roadrunner_peer(case: Case) -> Runner:
    """libRoadRunner compiled once; each run is ``resetAll()`` (restores event-changed parameters) + simulate."""
    import roadrunner

    rr = roadrunner.RoadRunner(case.sbml)
    selections = ["time", *case.variables]

    def convert(out: object) -> Outputs:
        arr = np.asarray(out)
        return as_reported(case, {v: arr[:, i + 1] for i, v in enumerate(case.variables)})

    def at(rtol: float, atol: float):
        def run(_: int) -> object:
            rr.resetAll()
            configure_cvode(rr, rtol, atol)
            return rr.simulate(times=case.times_h, selections=selections)

        return run, convert

    return at


def cohort_peer(case: Case, batch: int) -> Runner:
    """:func:`cllsim.simulate.run_batch` (compiled backend) on ``batch`` copies of the patient."""
    from cllsim.simulate import run_batch

    values = {k: np.full(batch, v) for k, v in case.values.items()}

    def convert(b) -> Outputs:
        if not b.ok.all():
            raise RuntimeError(f"cohort engine: {b.status[~b.ok][0]} ({b.detail[~b.ok][0]})")
        for v in case.variables:  # copies of one patient: any difference would be an engine bug
            if not np.all(b.values[v] == b.values[v][:1]):
                raise RuntimeError(f"cohort engine: identical patients of one batch differ in {v}")
        return as_reported(case, {v: b.values[v][0] for v in case.variables})

    def at(rtol: float, atol: float):
        def run(_: int) -> object:
            return run_batch(REGIMEN, values, case.times_h, case.variables, rtol=rtol, atol=atol, backend="compiled")

        return run, convert

    return at


def simulate_peer(case: Case) -> Runner:
    """``cllsim.simulate`` (default engine); repetition i simulates the patient nudged by i x 1e-9."""
    from cllsim.simulate import Patient, simulate

    nominal = case.values[NUDGED_PARAMETER]

    def convert(result) -> Outputs:
        result.raise_for_status()
        wide = result.wide()
        return {o.id: wide[o.id].to_numpy(dtype=float) for o in case.observables}

    def at(rtol: float, atol: float):
        def run(i: int) -> object:
            patient = Patient(ighv="U", parameters={NUDGED_PARAMETER: nominal * (1.0 + i * NUDGE)} if i else {})
            return simulate(REGIMEN, patient, days=DAYS, times=case.days, rtol=rtol, atol=atol)

        return run, convert

    return at


def amici_available() -> bool:
    """Whether AMICI can be imported (it is optional: never a dependency of cllsim)."""
    try:
        import amici  # noqa: F401
    except ImportError:
        return False
    return True


def amici_peer(case: Case, folder: Path | None) -> Runner:
    """AMICI (1.x API) on the exported SBML; the compiled model module is reused from ``folder``."""
    from amici.importers.sbml import MeasurementChannel, SbmlImporter
    from amici.sim.sundials import import_model_module, run_simulation

    digest = hashlib.sha1(case.sbml.encode()).hexdigest()[:12]
    name = f"cllsim_peer_{digest}"
    if folder is None:
        folder = Path.home() / ".cache" / "cllsim" / "benchmarks" / f"amici-{digest}"
    folder = folder.expanduser()
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # AMICI runs its build tools (swig, cmake) from the interpreter's bin folder
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        c0 = time.perf_counter()
        SbmlImporter(case.sbml, from_file=False).sbml2amici(
            name, folder,
            observation_model=[MeasurementChannel(f"y_{v}", formula=v) for v in case.variables],
            generate_sensitivity_code=False, compute_conservation_laws=False, verbose=False,
        )
        (folder / ".complete").write_text("")
        print(f"  amici: model imported and compiled in {time.perf_counter() - c0:.0f} s (kept in {folder})",
              flush=True)
    model = import_model_module(name, folder).get_model()
    model.set_timepoints(case.times_h)

    def convert(rdata) -> Outputs:
        if rdata.status != 0:
            raise RuntimeError(f"amici: status {rdata.status}")
        y = np.asarray(rdata.y)
        return as_reported(case, {v: y[:, i] for i, v in enumerate(case.variables)})

    def at(rtol: float, atol: float):
        solver = model.create_solver()
        solver.set_relative_tolerance(rtol)
        solver.set_absolute_tolerance(atol)
        solver.set_max_steps(1_000_000)  # per output interval; the default fails on daily dosing

        def run(_: int) -> object:
            return run_simulation(model, solver)

        return run, convert

    return at


# ---------------------------------------------------------------------------------------------
# the sweep and the verdicts


def sweep(peer: str, runner: Runner, rtols: Sequence[float], reps: int, truth: Outputs, *,
          per_call: int = 1, warm: bool = False, warm_up_each: bool = False) -> list[Point]:
    """Run one peer over ``rtols`` (loose to tight): ``reps`` timed calls per tolerance.

    One untimed warm-up call comes before the first tolerance (compilation, caches), unless
    ``warm`` (another sweep of the same engine already ran), and before every tolerance with
    ``warm_up_each``. The error is measured on the warm-up's output where there is one, else on
    the first timed repetition's (converted outside the timing). ``per_call``: patient-years per
    call (the batch size), to report the cost per patient-year.
    """
    points = []
    for k, rtol in enumerate(rtols):
        point = Point(peer, rtol, rtol * ATOL_PER_RTOL)
        run, convert = runner(rtol, point.atol)
        try:
            warm_up = run(0) if warm_up_each or (k == 0 and not warm) else None
            seconds, first = cpu_median(run, reps)
            point.error = max_error(convert(first if warm_up is None else warm_up), truth)
            point.cpu_ms = seconds * 1e3 / per_call
            point.reps = reps
        except RuntimeError as exc:
            # a solver failure at this tolerance is a result, not a crash (RuntimeError covers
            # cllsim's ModelError branch and libRoadRunner's CVODE errors)
            point.failure = str(exc).splitlines()[0][:120]
        points.append(point)
        shown = f"{point.cpu_ms:9.1f} ms, error {point.error:.2e}" if point.cpu_ms is not None else point.failure
        print(f"  {peer:16s} rtol {rtol:7.1e}: {shown}", flush=True)
    return points


def matched(points: Sequence[Point], target_error: float) -> Point | None:
    """The loosest tolerance from which on every tighter swept tolerance also meets ``target_error``.

    Errors are not monotonic in the tolerance (a loose run can be lucky on this one patient), so
    a point counts only when the whole tail of the sweep below it meets the target. ``points``
    run loose to tight.
    """
    best = None
    for p in reversed(points):
        if p.cpu_ms is None or p.error is None or p.error > target_error:
            break
        best = p
    return best


def same_tolerance(points: Sequence[Point], rtol: float) -> Point | None:
    return next((p for p in points if p.cpu_ms is not None and np.isclose(p.rtol, rtol)), None)


def ratio(a: Point | None, b: Point | None) -> float | None:
    if a is None or b is None or not a.cpu_ms or not b.cpu_ms:
        return None
    return a.cpu_ms / b.cpu_ms


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def print_tables(results: dict[str, list[Point]], target_error: float) -> dict[str, Point | None]:
    """The sweep table and the matched-accuracy table; returns each peer's matched point."""
    rr = results.get("libroadrunner", [])
    print("\nsweep (CPU ms per patient-year, median; error: max relative vs truth over all observables)")
    print(f"{'peer':18s} {'rtol':>8s} {'atol':>8s} {'CPU ms':>10s} {'error':>9s} {'/ libRR same rtol':>18s}")
    for peer, points in results.items():
        for p in points:
            if p.cpu_ms is None:
                print(f"{peer:18s} {p.rtol:8.1e} {p.atol:8.1e} {'failed: ' + p.failure}")
                continue
            r = ratio(p, same_tolerance(rr, p.rtol))
            print(f"{peer:18s} {p.rtol:8.1e} {p.atol:8.1e} {p.cpu_ms:10.1f} {p.error:9.2e} {fmt(r, '18.2f')}")
    best = {peer: matched(points, target_error) for peer, points in results.items()}
    print(f"\nmatched accuracy (loosest swept tolerance with error <= {target_error:g} there and at every tighter one)")
    print(f"{'peer':18s} {'rtol':>8s} {'CPU ms':>10s} {'error':>9s} {'/ libRR matched':>16s} {'libRR / peer':>13s}")
    for peer, p in best.items():
        if p is None:
            print(f"{peer:18s} no swept tolerance reached the target error")
            continue
        r = ratio(p, best.get("libroadrunner"))
        inv = None if r is None else 1.0 / r
        print(f"{peer:18s} {p.rtol:8.1e} {p.cpu_ms:10.1f} {p.error:9.2e} {fmt(r, '16.2f')} {fmt(inv, '13.1f')}")
    return best


def verdicts(results: dict[str, list[Point]], best: dict[str, Point | None], amici_present: bool,
             batch_key: str) -> dict[str, str]:
    """PASS/FAIL/SKIP of the issue's two engine targets, printed with the numbers behind them."""
    out = {}
    rr = results.get("libroadrunner", [])
    sim = [p for p in results.get("cllsim.simulate", []) if p.cpu_ms is not None]
    pairs = [(p, same_tolerance(rr, p.rtol)) for p in sim]
    ratios = [(p.rtol, ratio(p, q)) for p, q in pairs if q is not None]
    if ratios:
        worst = max(r for _, r in ratios)
        out["simulate_vs_roadrunner"] = "PASS" if worst <= SIMULATE_OVER_ROADRUNNER_MAX else "FAIL"
        shown = ", ".join(f"{r:.2f}x at rtol {t:g}" for t, r in ratios)
        print(f"\ntarget: cllsim.simulate <= {SIMULATE_OVER_ROADRUNNER_MAX}x compiled-once libRoadRunner at the "
              f"same tolerance: {shown} -> {out['simulate_vs_roadrunner']}")
    else:
        out["simulate_vs_roadrunner"] = "SKIP"
        print("\ntarget: cllsim.simulate vs libRoadRunner: SKIP (not both run at a common tolerance)")
    cohort, amici = best.get(batch_key), best.get("amici")
    if not amici_present:
        out["cohort_vs_amici"] = "SKIP"
        print(f"target: cohort engine >= {AMICI_OVER_COHORT_MIN:g}x cheaper than AMICI: SKIP (amici not importable)")
    elif cohort is None or amici is None:
        out["cohort_vs_amici"] = "FAIL"
        print(f"target: cohort engine >= {AMICI_OVER_COHORT_MIN:g}x cheaper than AMICI: FAIL (a peer never "
              "reached the target error)")
    else:
        r = amici.cpu_ms / cohort.cpu_ms
        out["cohort_vs_amici"] = "PASS" if r >= AMICI_OVER_COHORT_MIN else "FAIL"
        one = best.get("cohort-1")
        alone = f"; one patient alone: {amici.cpu_ms / one.cpu_ms:.1f}x" if one else ""
        print(f"target: cohort engine >= {AMICI_OVER_COHORT_MIN:g}x cheaper than AMICI at matched accuracy: "
              f"{r:.1f}x (batch, per patient){alone} -> {out['cohort_vs_amici']}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import roadrunner

    c0 = time.perf_counter()
    case = make_case()
    print(f"typical U-CLL patient, {REGIMEN}, {DAYS} days, daily outputs; {len(case.observables)} observables; "
          f"exported SBML {len(case.sbml) / 1e3:.0f} kB (built in {time.perf_counter() - c0:.1f} s)", flush=True)
    truth_rr = roadrunner.RoadRunner(case.sbml)
    truth_rr.resetAll()
    configure_cvode(truth_rr, TRUTH_RTOL, TRUTH_ATOL)
    truth_rr.integrator.maximum_num_steps = 2_000_000
    out = np.asarray(truth_rr.simulate(times=case.times_h, selections=["time", *case.variables]))
    truth = as_reported(case, {v: out[:, i + 1] for i, v in enumerate(case.variables)})
    print(f"truth: libRoadRunner at rtol {TRUTH_RTOL:g} / atol {TRUTH_ATOL:g}", flush=True)

    results: dict[str, list[Point]] = {}
    if "libroadrunner" in args.peers:
        results["libroadrunner"] = sweep("libroadrunner", roadrunner_peer(case), args.rtol, args.reps, truth)
    amici_present = "amici" in args.peers and amici_available()
    if amici_present:
        results["amici"] = sweep("amici", amici_peer(case, args.amici_dir), args.rtol, args.reps, truth)
    elif "amici" in args.peers:
        print("  amici: not importable, skipped (optional: pip install amici)", flush=True)
    if "cohort" in args.peers:
        reps_one = max(args.reps, 5)  # one patient costs ~0.1 s: more repetitions for a stable median
        results["cohort-1"] = sweep("cohort-1", cohort_peer(case, 1), args.rtol, reps_one, truth)
        if args.batch > 1:
            # the engine is warm from the one-patient sweep: no warm-up batch (each costs ~1 s)
            results[f"cohort-{args.batch}"] = sweep(f"cohort-{args.batch}", cohort_peer(case, args.batch), args.rtol,
                                                    args.reps, truth, per_call=args.batch, warm=True)
    if "simulate" in args.peers:
        # at the tolerance matching libRoadRunner's accuracy and at the default (each call may be slow)
        rr_best = matched(results.get("libroadrunner", []), args.target_error)
        sim_rtols = sorted({SIMULATE_DEFAULT_RTOL, *([rr_best.rtol] if rr_best else [])}, reverse=True)
        # a warm-up call at each tolerance: the public API's "after the first call" (it also gives
        # the error of the exact, un-nudged patient)
        results["cllsim.simulate"] = sweep("cllsim.simulate", simulate_peer(case), sim_rtols,
                                           1 if args.quick else args.reps, truth, warm_up_each=True)

    best = print_tables(results, args.target_error)
    verdict = verdicts(results, best, amici_present, batch_key=f"cohort-{args.batch}")
    print(f"\nwhole run: {time.perf_counter() - c0:.0f} s wall")
    if args.json:
        args.json.write_text(json.dumps({
            "case": {"regimen": REGIMEN, "days": DAYS, "ighv": "U", "target_error": args.target_error,
                     "truth": {"rtol": TRUTH_RTOL, "atol": TRUTH_ATOL}, "batch": args.batch},
            "points": [asdict(p) for points in results.values() for p in points],
            "verdicts": verdict,
        }, indent=1))
    return 1 if args.strict and "FAIL" in verdict.values() else 0


if __name__ == "__main__":
    raise SystemExit(main())

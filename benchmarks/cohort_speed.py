"""Cohort engine vs reference engine on the same virtual patients, timed in one run.

The reference engine (libRoadRunner, one patient at a time, as ``cllsim.simulate`` runs it:
build the patient's SBML, equilibrate, simulate) is timed on the first ``--ref`` patients of the
cohort; the cohort engine on all ``--n`` patients, in chunks. Prints per-patient cost of each,
their ratio, patient-years per second, the projected time for 1e5 patient-years, and the peak
resident memory of this process. Costs are CPU seconds of this process (robust when the cores
are shared); wall-clock seconds are printed beside them. Several horizons (default one and five
years) are measured on the same patients and compared as patient-years per CPU second.

    python benchmarks/cohort_speed.py --n 10000 --days 365 1826 --ref 5
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from cllsim.cohort import CohortSpec, sample_chunk
from cllsim.simulate import Patient, run_batch, simulate


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 if sys.platform != "darwin" else rss / 1024.0**2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="patients for the cohort engine")
    ap.add_argument("--days", type=float, nargs="+", default=[365.0, 1826.0], help="horizon(s), days")
    ap.add_argument("--ref", type=int, default=5, help="patients for the reference engine (same first patients)")
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--rtol", type=float, default=CohortSpec.model_fields["rtol"].default,
                    help="cohort-engine relative tolerance (default: the cohort default)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rates = {}
    for days in args.days:
        rates[days] = horizon(args, days)
    if len(rates) > 1:
        first = next(iter(rates))
        for days, r in rates.items():
            print(f"{days:g} days: {r:.1f} patient-years per CPU s ({r / rates[first]:.2f}x the {first:g}-day rate)")
    print(f"peak resident memory: {peak_rss_mb():.0f} MB")


def horizon(args: argparse.Namespace, days: float) -> float:
    """Time both engines over ``days``; return the cohort engine's patient-years per CPU second."""
    spec = CohortSpec(n=args.n, chunk_size=args.chunk, days=days, seed=args.seed, rtol=args.rtol,
                      atol=args.rtol * 1e-4)
    times_day = np.arange(0.0, np.floor(days) + 1.0)
    variables = ["alc_per_uL", "cells_tissue", "ln_volume_cm3", "spleen_volume_cm3", "btk_occupancy_pct"]

    first = sample_chunk(spec, 0)
    t0, c0 = time.perf_counter(), time.process_time()
    ref_ok = 0
    for i in range(min(args.ref, len(first.ids))):
        over = {k: float(first.values[k][i]) for k in first.varied}
        res = simulate(spec.regimen, Patient(id=str(first.ids[i]), ighv=str(first.ighv[i]), parameters=over),
                       days=days, times=times_day)
        ref_ok += res.ok
    n_ref = max(1, min(args.ref, len(first.ids)))
    ref_s = (time.process_time() - c0) / n_ref
    print(f"reference engine: {ref_s:.3f} CPU s per patient ({(time.perf_counter() - t0) / n_ref:.3f} s wall; "
          f"{days:g} days; {ref_ok} ok)", flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    n_ok = 0
    steps_per_day: list[np.ndarray] = []
    for c in range(spec.n_chunks):
        pop = first if c == 0 else sample_chunk(spec, c)
        b = run_batch(spec.regimen, pop.values, times_day * 24.0, variables, rtol=spec.rtol, atol=spec.atol)
        n_ok += int(b.ok.sum())
        steps_per_day.append(b.n_steps[b.ok] / days)
        print(f"  cohort engine: {spec.chunk_range(c)[1]}/{args.n} patients, {time.perf_counter() - t0:.1f} s",
              flush=True)
    total = time.process_time() - c0
    wall = time.perf_counter() - t0
    per = total / args.n
    years = args.n * days / 365.0
    print(f"cohort engine: {per * 1e3:.2f} CPU ms per patient ({args.n} patients, {n_ok} ok, {total:.1f} CPU s, "
          f"{wall:.1f} s wall)")
    print(f"accepted steps per simulated day (median): {np.median(np.concatenate(steps_per_day)):.1f}")
    print(f"per-patient cost ratio (reference engine / cohort engine): {ref_s / per:.1f}")
    print(f"patient-years per CPU second: {years / total:.1f}; projected 1e5 patient-years: "
          f"{1e5 / (years / total):.0f} CPU s")
    return years / total


if __name__ == "__main__":
    main()

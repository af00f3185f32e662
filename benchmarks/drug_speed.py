"""Cohort-engine cost per drug, as a ratio to ibrutinib's measured in the same run.

Acalabrutinib and pirtobrutinib absorb through chains of transit compartments with one rate, so
their linear PK matrix is defective; the engine propagates it in closed form through a block
form with a matrix exponential per chain. Integrating those
states instead costs about 100x; this benchmark shows whether the closed form is in use. Each
regimen is run once untimed (compilation, caches), then ``--repeat`` times; CPU seconds of this
process are reported (robust when cores are shared), with accepted driven steps per day.

    python benchmarks/drug_speed.py --days 60 --backend compiled --n 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cllsim.simulate import CohortEngine, Patient, patient_values, run_batch, values_table

#: Regimens compared (the first is the reference of the ratios).
REGIMENS = {
    "ibrutinib": "ibrutinib 420 mg qd",
    "acalabrutinib": "acalabrutinib 100 mg bid",
    "pirtobrutinib": "pirtobrutinib 200 mg qd",
}


def time_drug(drug: str, regimen: str, days: float, backend: str, n: int, repeat: int) -> tuple[float, float]:
    """CPU seconds per run and accepted steps per patient-day of ``n`` identical typical patients."""
    values = values_table([patient_values(Patient(), drug=drug)] * n)
    times_h = np.arange(0.0, np.floor(days) + 1.0) * 24.0
    variables = ["alc_per_uL", "btk_occupancy_pct"]

    def once():
        return run_batch(regimen, values, times_h, variables, backend=backend, drug=drug)

    first = once()  # untimed: compiles the kernel (or loads it) and warms the caches
    if not first.ok.all():
        raise SystemExit(f"{drug}: the run failed")
    c0 = time.process_time()
    for _ in range(repeat):
        b = once()
    cpu = (time.process_time() - c0) / repeat
    return cpu, float(np.mean(b.n_steps)) / days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=60.0, help="horizon, days")
    ap.add_argument("--backend", choices=("compiled", "numpy"), default="compiled")
    ap.add_argument("--n", type=int, default=1, help="patients per run (identical typical patients)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per drug")
    ap.add_argument("--drugs", nargs="+", default=list(REGIMENS), choices=list(REGIMENS))
    args = ap.parse_args()
    CohortEngine(backend=args.backend)  # refuses a bad backend before any work
    drugs = ["ibrutinib", *[d for d in args.drugs if d != "ibrutinib"]]
    base = None
    for drug in drugs:
        cpu, steps = time_drug(drug, REGIMENS[drug], args.days, args.backend, args.n, args.repeat)
        base = base if base is not None else cpu
        print(f"{REGIMENS[drug]:<28s} {cpu:8.3f} CPU s per run ({args.n} patients, {args.days:g} days, "
              f"{args.backend}); {steps:6.1f} steps per day; {cpu / base:5.2f}x ibrutinib", flush=True)


if __name__ == "__main__":
    main()

"""Reference-engine cost per simulated patient-year, as ratios measured in one run.

Prints: compile time vs simulation time; the cost of daily dosing events (420 mg qd vs
untreated); the cost of agreement-grade tolerance (rtol 1e-8 vs 1e-6). Machines here are
shared and noisy, so only ratios measured side by side are meaningful.

Run: python benchmarks/reference_engine.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import roadrunner

from cllsim.simulate import Patient, ReferenceEngine, observables, patient_values, prepare


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    days = np.arange(0, 366.0) * 24.0
    treated = prepare("420 mg qd", days=365)
    variables = [o.variable for o in observables(treated.host)]
    values = patient_values(Patient())
    engine, loose = ReferenceEngine(rtol=1e-8, atol=1e-12), ReferenceEngine(rtol=1e-6, atol=1e-9)
    engine.run("patient", values, "none", [0.0], [])  # compile once, outside the timing

    t_compile = best_of(lambda: roadrunner.RoadRunner(treated.sbml), args.repeats)
    t_treated = best_of(lambda: engine.run("patient", values, "420 mg qd", days, variables), args.repeats)
    t_untreated = best_of(lambda: engine.run("patient", values, "none", days, variables), args.repeats)
    t_loose = best_of(lambda: loose.run("patient", values, "420 mg qd", days, variables), args.repeats)
    print(f"patient-year, 420 mg qd, rtol 1e-8: {t_treated * 1e3:8.1f} ms")
    print(f"compile / simulate                : {t_compile / t_treated:8.2f}")
    print(f"daily dosing / untreated          : {t_treated / t_untreated:8.2f}")
    print(f"rtol 1e-8 / rtol 1e-6             : {t_treated / t_loose:8.2f}")

if __name__ == "__main__":
    main()

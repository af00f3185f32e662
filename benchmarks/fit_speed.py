"""Speed benchmark: one patient, the extended 10-parameter subset, 20 starts (target <= 60 s).

Measures, in one process on this machine:

1. the cost of one objective evaluation with the fit engine (one compiled model, doses as
   segments) against the reference path (:func:`cllsim.simulate`: prepare + SBML dosing events),
   for the same patient and horizon, and the ratio between them;
2. the wall time of the multistart optimisation (``--starts``, default 20) and of the whole fit
   (uncertainty and prediction band included), with evaluations per start.

Usage::

    python benchmarks/fit_speed.py               # 20 starts on every core, profile uncertainty
    python benchmarks/fit_speed.py --starts 4    # quicker look
    python benchmarks/fit_speed.py --procs 1     # starts in this process only
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

TARGET_S = 60.0
ALC_DAYS = (0, 7, 14, 21, 28, 42, 56, 84, 112, 140, 168)
CT_DAYS = (0, 56, 168)


def patient_table() -> pd.DataFrame:
    """A typical U-CLL patient's course with log-normal noise (fixed seed)."""
    from cllsim.fit import FitEngine
    from cllsim.fit._problem import NOISE_SD_LOG

    days = np.union1d(ALC_DAYS, CT_DAYS).astype(float)
    obs = ["alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3"]
    truth = {"baseline_alc_per_uL": 70000.0, "death_max_per_day": 0.18, "egress_per_day_ln": 1.3}
    out = FitEngine("420 mg qd", "U", days=float(days[-1])).simulate(truth, days, obs)
    rng = np.random.default_rng(7)
    table = pd.DataFrame({"day": days})
    for o in obs:
        keep = np.isin(days, ALC_DAYS if o == "alc_per_uL" else CT_DAYS)
        table[o] = np.where(keep, out.values[o] * np.exp(NOISE_SD_LOG[o] * rng.standard_normal(days.size)), np.nan)
    if "ln_volume_cm3" in table:
        table.loc[table["ln_volume_cm3"] < 1.0, "ln_volume_cm3"] = np.nan
    return table


def main(argv: list[str] | None = None) -> int:
    import cllsim
    from cllsim.fit import FitProblem, fit_patient, make_patient_data
    from cllsim.fit._problem import parse_subset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--uncertainty", choices=["laplace", "mcmc", "profile"], default="profile")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--estimate", default="extended", help="default, extended or comma-separated ids")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1,
                    help="processes for the multistart (default: one per CPU core, as `cllsim fit`)")
    args = ap.parse_args(argv)

    data = make_patient_data(patient_table(), regimen="420 mg qd", ighv="U", patient_id="speed")
    days = list(data.table["day"])

    # 1. one evaluation: fit engine vs reference path
    t = time.perf_counter()
    estimated = parse_subset(args.estimate)
    problem = FitProblem(data, estimated, horizon_days=data.last_day)
    t_build = time.perf_counter() - t
    x = problem.x_prior()
    problem.residuals(x)
    reps = 5
    t = time.perf_counter()
    for k in range(reps):
        problem.residuals(x + 1e-3 * (k + 1))
    t_eval = (time.perf_counter() - t) / reps
    t = time.perf_counter()
    cllsim.simulate("420 mg qd", cllsim.Patient(ighv="U", parameters=problem.to_values(x)), days=data.last_day,
                    times=days, rtol=problem.rtol, atol=problem.atol)
    t_ref = time.perf_counter() - t
    print(f"data: {problem.n_data} values over {data.last_day:g} days; {len(problem.ids)} parameters")
    print(f"engine build {t_build:.2f} s (once per patient)")
    print(f"one evaluation: fit engine {t_eval * 1e3:.0f} ms; reference simulate {t_ref * 1e3:.0f} ms; "
          f"ratio {t_ref / t_eval:.1f}x")

    # 2. the fit
    t = time.perf_counter()
    res = fit_patient(data, estimated=estimated, n_starts=args.starts, uncertainty=args.uncertainty,
                      n_samples=args.samples, n_band=20, progress=True, workers=args.procs)
    total = time.perf_counter() - t
    opt = res.metadata["seconds_optimization"]
    print(res.starts[["start", "fval", "n_evaluations", "seconds", "failed", "converged"]].to_string(index=False))
    print(f"{args.starts} starts in {args.procs} process(es): optimisation {opt:.1f} s "
          f"({opt / args.starts:.1f} s/start, "
          f"{res.starts['n_evaluations'].mean():.0f} evaluations/start incl. FD Jacobians); whole fit {total:.1f} s")
    print(f"target: one patient, {len(problem.ids)} parameters, {args.starts} starts <= {TARGET_S:.0f} s: "
          f"{'MET' if opt <= TARGET_S else f'NOT MET ({opt / TARGET_S:.1f}x over)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

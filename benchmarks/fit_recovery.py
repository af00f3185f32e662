"""Recovery benchmark: fit synthetic patients simulated from known parameters.

Each synthetic patient gets an IGHV status (alternating U/M), true parameter values drawn from
the fit's priors (the table's between-patient log-normal spread), a realistic visit schedule
(blood counts every 1-8 weeks, CT of nodes and spleen at a few visits; nodes below 1 cm3 are not
measurable) and log-normal measurement noise at the SDs of the noise model. Each is fitted with
:func:`cllsim.fit.fit_patient`; the benchmark reports, per parameter and overall, how often the
truth lies inside the 95% interval. The target (issue 4) is >= 90%; the exit code is 1 below it.

``--early DAY`` (issue 11, item 9: forecasts from early data) fits only the visits up to ``DAY``
(e.g. 84: the first 12 weeks) and scores the held-back later observations of the same synthetic
patient at months 6, 12 and 24 (:data:`HELD_BACK_DAYS`): ALC and node volume with the noise
model's measurement error (nodes below 1 cm3 are not measurable and not scored), blood MRD as
simulated (the fit has no MRD noise model). Besides the estimated parameters, each synthetic
patient's persistence and resistance parameters are drawn from the population (as
:mod:`cllsim.cohort` samples), so the truth is not the nominal patient the fit assumes. Scores:
share of held-back observations inside the 95% interval of a new measurement
(``pi_low``-``pi_high`` of the band: the 95% prediction interval), target >= 80% (exit code 1 below it), and the median
absolute log error of the MAP forecast. ``--fixed-population`` keeps persistence and resistance
at nominal in the band, for comparison. Default there: 5 patients, Laplace uncertainty, 40 band
draws (about a minute on one core).

Measured (``--early 84 --patients 20``, seed 2024, 3 starts, Laplace; 18 of 20 truths simulable,
148 held-back observations): 89.2% inside the 95% prediction interval with population draws
(months 6/12/24: ALC 89/83/89%, node volume 100/85/89%, MRD 83/89/94%), 73.6% with persistence
and resistance fixed at nominal (MRD at month 24 44%, node volume 44%); median absolute log
error of the MAP forecast 0.25 (ALC 0.19, node volume 0.37, MRD 0.15; MRD at month 24 0.65).

Usage::

    python benchmarks/fit_recovery.py --patients 20 --starts 3 --procs 2      # profile intervals (default)
    python benchmarks/fit_recovery.py --patients 20 --uncertainty laplace --procs 2
    python benchmarks/fit_recovery.py --patients 20 --estimate extended
    python benchmarks/fit_recovery.py --patients 20 --estimate baseline_alc_per_uL,death_max_per_day
    python benchmarks/fit_recovery.py --early 84                                # forecasts months 6-24
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

ALC_DAYS = (0, 7, 14, 21, 28, 42, 56, 84, 112, 140, 168)
CT_DAYS = (0, 56, 168)
CT_DETECTION_CM3 = 1.0
TARGET_COVERAGE = 0.90
#: Forecast days scored in ``--early`` mode: months 6, 12 and 24 (whole days of the band grid).
HELD_BACK_DAYS = (183.0, 365.0, 730.0)
HELD_BACK_OBSERVABLES = ("alc_per_uL", "ln_volume_cm3", "mrd_blood")
TARGET_FORECAST_COVERAGE = 0.80


def synthetic_patient(index: int, seed: int, estimated: tuple[str, ...], alc_days, ct_days):
    """Data table, truth and IGHV of synthetic patient ``index``."""
    from cllsim.fit import FitEngine, estimated_parameters
    from cllsim.fit._problem import NOISE_SD_LOG

    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    ighv = "U" if index % 2 == 0 else "M"
    params = estimated_parameters(estimated, ighv)
    truth = {}
    for p in params:
        lo, hi = p.lower * 1.05, p.upper / 1.05
        truth[p.id] = float(np.clip(p.prior_median * math.exp(p.prior_sd_log * rng.standard_normal()), lo, hi))
    days = np.union1d(alc_days, ct_days).astype(float)
    engine = FitEngine("420 mg qd", ighv, days=float(days[-1]))
    obs = ["alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3"]
    out = engine.simulate(truth, days, obs)
    if not out.ok:
        return None
    table = pd.DataFrame({"day": days})
    for o in obs:
        noisy = out.values[o] * np.exp(NOISE_SD_LOG[o] * rng.standard_normal(days.size))
        keep = np.isin(days, alc_days if o == "alc_per_uL" else ct_days)
        if o == "ln_volume_cm3":
            keep &= noisy >= CT_DETECTION_CM3
        table[o] = np.where(keep, noisy, np.nan)
    table = table[table[obs].notna().any(axis=1)].reset_index(drop=True)
    return table, truth, ighv


def population_truth(ighv: str, rng: np.random.Generator) -> dict[str, float]:
    """One patient's persistence and resistance parameters, drawn as a cohort draws them."""
    from cllsim.cohort._population import draw_lognormal_within_bounds
    from cllsim.fit import FitEngine
    from cllsim.fit._fit import PERSISTENCE_RESISTANCE
    from cllsim.model import load_table

    rows = load_table().rows
    nominal = FitEngine("420 mg qd", ighv, days=1.0).values
    return {pid: float(draw_lognormal_within_bounds(np.array([nominal[pid]]), rows[pid].iivSD, rows[pid].lowerBound,
                                                    rows[pid].upperBound, rng)[0])
            for pid in PERSISTENCE_RESISTANCE if rows[pid].iivSD > 0}


def early_patient(index: int, seed: int, estimated: tuple[str, ...], early_day: float):
    """Fit data up to ``early_day``, held-back observations at :data:`HELD_BACK_DAYS`, IGHV."""
    from cllsim.fit import FitEngine, estimated_parameters
    from cllsim.fit._problem import NOISE_SD_LOG

    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 84]))
    ighv = "U" if index % 2 == 0 else "M"
    truth = {}
    for p in estimated_parameters(estimated, ighv):
        lo, hi = p.lower * 1.05, p.upper / 1.05
        truth[p.id] = float(np.clip(p.prior_median * math.exp(p.prior_sd_log * rng.standard_normal()), lo, hi))
    truth.update(population_truth(ighv, rng))
    alc_days = [d for d in ALC_DAYS if d <= early_day]
    ct_days = [d for d in CT_DAYS if d <= early_day]
    days = np.union1d(np.union1d(alc_days, ct_days), HELD_BACK_DAYS).astype(float)
    obs = ["alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3", "mrd_blood"]
    out = FitEngine("420 mg qd", ighv, days=float(days[-1])).simulate(truth, days, obs)
    if not out.ok:
        return None
    noisy = {o: out.values[o] * np.exp(NOISE_SD_LOG[o] * rng.standard_normal(days.size)) if o in NOISE_SD_LOG
             else out.values[o] for o in obs}
    table = pd.DataFrame({"day": days})
    for o in obs[:3]:
        keep = np.isin(days, alc_days if o == "alc_per_uL" else ct_days)
        if o == "ln_volume_cm3":
            keep &= noisy[o] >= CT_DETECTION_CM3
        table[o] = np.where(keep, noisy[o], np.nan)
    table = table[table[obs[:3]].notna().any(axis=1)].reset_index(drop=True)
    held = []
    for o in HELD_BACK_OBSERVABLES:
        for d in HELD_BACK_DAYS:
            value = float(noisy[o][np.searchsorted(days, d)])
            if o == "ln_volume_cm3" and value < CT_DETECTION_CM3:
                continue  # not measurable on CT
            held.append((o, d, value))
    return table, truth, ighv, held


def forecast_one(index: int, args: argparse.Namespace) -> list[dict]:
    from cllsim import BaselineError
    from cllsim.fit import fit_patient, make_patient_data
    from cllsim.fit._fit import PERSISTENCE_RESISTANCE

    estimated = tuple(args.estimate)
    try:
        made = early_patient(index, args.seed, estimated, args.early)
    except BaselineError:
        made = None
    if made is None:
        return [{"patient": index, "status": "truth not simulable"}]
    table, truth, ighv, held = made
    data = make_patient_data(table, regimen="420 mg qd", ighv=ighv, patient_id=f"synthetic_{index}")
    t0 = time.perf_counter()
    res = fit_patient(data, estimated=estimated, n_starts=args.starts, uncertainty=args.uncertainty,
                      n_samples=args.samples, n_band=args.band, seed=args.seed + index,
                      horizon_days=max(HELD_BACK_DAYS) + 1.0,
                      population_draws=None if args.fixed_population else PERSISTENCE_RESISTANCE)
    seconds = time.perf_counter() - t0
    band = res.band.set_index(["observable", "day"])
    rows = []
    for o, d, value in held:
        b = band.loc[(o, d)]
        rows.append({
            "patient": index, "ighv": ighv, "observable": o, "day": d, "observed": value, "map": b["map"],
            "pi_low": b["pi_low"], "pi_high": b["pi_high"],
            "inside": bool(b["pi_low"] <= value <= b["pi_high"]),
            "abs_log_error": abs(math.log(b["map"] / value)), "seconds": seconds, "status": "fitted",
            "population_drawn": b["population_drawn"],
        })
    return rows


def report_forecasts(df: pd.DataFrame, args: argparse.Namespace, console, seconds: float) -> int:
    fitted = df[df["status"] == "fitted"]
    if fitted.empty:
        console.print("no patient could be fitted")
        return 1
    per = fitted.groupby(["observable", "day"]).agg(n=("inside", "size"), inside=("inside", "mean"),
                                                   median_abs_log_error=("abs_log_error", "median"))
    console.print(per.to_string(float_format=lambda v: f"{v:.2f}"))
    overall = float(fitted["inside"].mean())
    by_obs = fitted.groupby("observable")["abs_log_error"].median()
    console.print(
        f"patients fitted: {fitted['patient'].nunique()}/{args.patients} on days 0-{args.early:g}; "
        f"uncertainty: {args.uncertainty}; band draws: {args.band}; held-back observations: {len(fitted)}; "
        f"persistence/resistance in the band: {'fixed at nominal' if args.fixed_population else 'population draws'}\n"
        f"inside the 95% prediction interval: {overall:.1%}\n"
        "median absolute log error of the MAP forecast: "
        + ", ".join(f"{o} {v:.2f}" for o, v in by_obs.items())
        + f" (all {fitted['abs_log_error'].median():.2f})\n"
        f"median fit time {fitted.groupby('patient')['seconds'].first().median():.1f} s; total {seconds:.0f} s; "
        f"table: {args.out}"
    )
    ok = overall >= TARGET_FORECAST_COVERAGE
    console.print(f"target >= {TARGET_FORECAST_COVERAGE:.0%}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def fit_one(index: int, args: argparse.Namespace) -> list[dict]:
    from cllsim import BaselineError
    from cllsim.fit import fit_patient, make_patient_data

    estimated = tuple(args.estimate)
    try:
        made = synthetic_patient(index, args.seed, estimated, ALC_DAYS, CT_DAYS)
    except BaselineError:
        made = None
    if made is None:
        return [{"patient": index, "status": "truth not simulable"}]
    table, truth, ighv = made
    data = make_patient_data(table, regimen="420 mg qd", ighv=ighv, patient_id=f"synthetic_{index}")
    t0 = time.perf_counter()
    res = fit_patient(data, estimated=estimated, n_starts=args.starts, uncertainty=args.uncertainty,
                      n_samples=args.samples, n_band=args.band, seed=args.seed + index)
    seconds = time.perf_counter() - t0
    est = res.estimates.set_index("parameterId")
    rows = []
    for pid, value in truth.items():
        r = est.loc[pid]
        rows.append({
            "patient": index, "ighv": ighv, "parameterId": pid, "truth": value, "estimate": r["estimate"],
            "ci_low": r["ci_low"], "ci_high": r["ci_high"], "inside": bool(r["ci_low"] <= value <= r["ci_high"]),
            "identifiable": bool(r["identifiable"]), "seconds": seconds, "failed_starts": res.failed_starts,
            "status": "fitted",
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from cllsim.fit._problem import parse_subset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=None, help="default 20 (5 with --early)")
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--uncertainty", choices=["laplace", "mcmc", "profile"], default=None,
                    help="default profile (laplace with --early)")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--band", type=int, default=None, help="default 10 (40 with --early)")
    ap.add_argument("--early", type=float, default=None,
                    help="fit the visits up to this day only and score the held-back months 6, 12, 24")
    ap.add_argument("--fixed-population", action="store_true",
                    help="with --early: keep persistence/resistance at nominal in the band (the comparison)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--estimate", type=lambda s: list(parse_subset(s)), default="default",
                    help="default, extended or comma-separated ids")
    ap.add_argument("--out", type=Path, default=Path("fit_recovery.csv"))
    args = ap.parse_args(argv)
    early = args.early is not None
    if early and not 0 < args.early < min(HELD_BACK_DAYS):
        ap.error(f"--early must be between 0 and {min(HELD_BACK_DAYS):g} days, got {args.early:g}")
    args.patients = args.patients if args.patients is not None else (5 if early else 20)
    args.uncertainty = args.uncertainty or ("laplace" if early else "profile")
    args.band = args.band if args.band is not None else (40 if early else 10)
    if early and args.out == Path("fit_recovery.csv"):
        args.out = Path("fit_forecast.csv")
    work = forecast_one if early else fit_one
    console = Console()
    t0 = time.perf_counter()
    rows: list[dict] = []
    with Progress(console=console) as bar:
        task = bar.add_task(f"fitting {args.patients} synthetic patients", total=args.patients)
        if args.procs > 1:
            with ProcessPoolExecutor(max_workers=args.procs) as pool:
                futures = [pool.submit(work, i, args) for i in range(args.patients)]
                for f in as_completed(futures):
                    rows += f.result()
                    bar.advance(task)
        else:
            for i in range(args.patients):
                rows += work(i, args)
                bar.advance(task)
    df = pd.DataFrame(rows)
    df.to_csv(args.out, index=False)
    if early:
        return report_forecasts(df, args, console, time.perf_counter() - t0)
    fitted = df[df["status"] == "fitted"]
    if fitted.empty:
        console.print("no patient could be fitted")
        return 1
    per_param = fitted.groupby("parameterId").agg(coverage=("inside", "mean"), identifiable=("identifiable", "mean"))
    per_patient = fitted.groupby("patient")["inside"].all()
    overall = float(fitted["inside"].mean())
    console.print(per_param.to_string(float_format=lambda v: f"{v:.2f}"))
    console.print(
        f"patients fitted: {per_patient.size}/{args.patients}; parameters estimated: {len(args.estimate)}; "
        f"starts: {args.starts}; uncertainty: {args.uncertainty}\n"
        f"truth inside 95% interval: {overall:.1%} of patient-parameter pairs; "
        f"all parameters inside for {per_patient.mean():.1%} of patients\n"
        f"median fit time {fitted.groupby('patient')['seconds'].first().median():.1f} s; "
        f"total {time.perf_counter() - t0:.0f} s; table: {args.out}"
    )
    ok = overall >= TARGET_COVERAGE
    console.print(f"target >= {TARGET_COVERAGE:.0%}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Disease course over years: virtual-cohort check of rows K9 and K10 (calibration helper).

Samples a cohort with :func:`cllsim.cohort.sample_chunk` (between-patient variability from the
parameters table), runs it on ibrutinib 420 mg qd with the cohort engine
(:func:`cllsim.simulate.run_batch`) and prints:

* K9: median blood MRD at 4 years and the share of patients with MRD < 1e-4, among the
  patients still on treatment (no progression by 4 years), as MRD was measured on study;
* K10: cumulative progression at 3 years, with an approximate progression rule (total CLL
  burden >= 1.5x its running nadir, after the first 6 months; the iwCLL logic lives in
  ``cllsim.cohort``), the share of progressions dominated by a resistant subclone
  (C481S + PLCG2 >= 50% of CLL cells at progression) and the median lead time from the
  resistant share first reaching 1e-3 of blood CLL cells to progression;
* K12: iwCLL complete response at 1, 2 and 5 years and at best response (by IGHV at 5 years).

Usage: ``python scripts/calibrate_disease_course.py [n] [seed] [param=value ...]``
"""

from __future__ import annotations

import sys
import time

import numpy as np

from cllsim.cohort import CohortSpec, sample_chunk
from cllsim.simulate import run_batch

VARIABLES = ("mrd_blood", "cells_total", "fraction_c481s", "fraction_plcg2", "fraction_blood_c481s",
             "fraction_blood_plcg2", "alc_per_uL", "ln_spd_cm2", "spleen_length_cm", "bm_infiltration_pct")
RESPONSE_INPUTS = ("alc_per_uL", "ln_spd_cm2", "spleen_length_cm", "bm_infiltration_pct", "mrd_blood")
PROGRESSION_RISE = 1.5  # total burden relative to its running nadir
PROGRESSION_NOT_BEFORE_DAY = 180.0  # treatment lymphocytosis and the first response are not progression


def simulate_cohort(n: int, seed: int, days: float, overrides: dict[str, float] | None = None,
                    step_days: float = 30.0) -> dict[str, np.ndarray]:
    """Run ``n`` virtual patients for ``days``; returns ``time_days`` and each variable ``(n, T)``."""
    spec = CohortSpec(n=n, seed=seed, days=days, chunk_size=n)
    chunk = sample_chunk(spec, 0)
    values = dict(chunk.values)
    for k, v in (overrides or {}).items():
        values[k] = np.full(n, float(v))
    times_d = np.arange(0.0, days + 1e-9, step_days)
    if times_d[-1] < days:
        times_d = np.append(times_d, days)
    out = run_batch(spec.regimen, values, times_d * 24.0, VARIABLES, rtol=spec.rtol, atol=spec.atol)
    res = {k: v for k, v in out.values.items()}
    res["time_days"] = times_d
    res["ok"] = out.ok
    res["ighv"] = chunk.ighv
    return res


def value_at(res: dict[str, np.ndarray], name: str, day: float) -> np.ndarray:
    """Per-patient value of ``name`` at the output time nearest ``day``."""
    i = int(np.argmin(np.abs(res["time_days"] - day)))
    return res[name][:, i]


def progression(res: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient: day of progression (inf if none), resistant share then, lead time (days).

    Progression: total CLL burden >= ``PROGRESSION_RISE`` x its running nadir, not before
    ``PROGRESSION_NOT_BEFORE_DAY``. Lead time: from the resistant share of blood CLL cells first
    reaching 1e-3 to progression (nan if none).
    """
    t = res["time_days"]
    burden = res["cells_total"]
    nadir = np.minimum.accumulate(burden, axis=1)
    hit = (burden >= PROGRESSION_RISE * nadir) & (t[None, :] >= PROGRESSION_NOT_BEFORE_DAY)
    n = burden.shape[0]
    day = np.full(n, np.inf)
    share = np.full(n, np.nan)
    lead = np.full(n, np.nan)
    resistant = res["fraction_c481s"] + res["fraction_plcg2"]
    resistant_blood = res["fraction_blood_c481s"] + res["fraction_blood_plcg2"]
    for i in np.nonzero(hit.any(axis=1))[0]:
        j = int(np.argmax(hit[i]))
        day[i], share[i] = t[j], resistant[i, j]
        detected = np.nonzero(resistant_blood[i, : j + 1] >= 1e-3)[0]
        if detected.size:
            lead[i] = t[j] - t[detected[0]]
    return day, share, lead


def summary(res: dict[str, np.ndarray]) -> dict[str, float]:
    """K9 and K10 read-outs of a cohort run (needs >= 4 years of follow-up)."""
    ok = res["ok"]
    day, share, lead = progression(res)
    # MRD is measured in patients still on ibrutinib, i.e. without progression by the landmark
    on_treatment = ok & (day > 4 * 365.25)
    mrd4 = value_at(res, "mrd_blood", 4 * 365.25)[on_treatment]
    day, share, lead = day[ok], share[ok], lead[ok]
    progressed = day <= 3 * 365.25
    return {
        "n_ok": float(ok.sum()),
        "K9 patients on treatment at 4 y": float(on_treatment.sum()),
        "K9 median MRD at 4 y": float(np.median(mrd4)),
        "K9 share MRD < 1e-4 at 4 y": float(np.mean(mrd4 < 1e-4)),
        "K10 progression by 3 y": float(np.mean(progressed)),
        "K10 share of progressions dominated by a resistant clone": (
            float(np.mean(share[progressed] >= 0.5)) if progressed.any() else float("nan")),
        "K10 median lead time from 1e-3 resistant share, days": (
            float(np.nanmedian(lead[progressed])) if np.isfinite(lead[progressed]).any() else float("nan")),
    }


def complete_responses(res: dict[str, np.ndarray]) -> dict[str, float]:
    """K12 read-outs (needs >= 5 years of follow-up): iwCLL CR at landmarks and at best response.

    Uses :func:`cllsim.cohort.patient_responses` (iwCLL 2018 with the two-month confirmation).
    """
    from cllsim.cohort import patient_responses

    ok = res["ok"]
    r = patient_responses(res["time_days"], {k: res[k][ok] for k in RESPONSE_INPUTS},
                          landmarks_days=(365.0, 730.0, 1826.0))
    ighv = np.asarray(res["ighv"])[ok]
    out = {
        "K12 CR at 1 y": float(np.mean(r["response_at_365d"] == "CR")),
        "K12 CR at 2 y": float(np.mean(r["response_at_730d"] == "CR")),
        "K12 best response CR by 5 y": float(np.mean(r["best_response"] == "CR")),
    }
    for g in ("U", "M"):
        out[f"K12 CR at 5 y, {g}-CLL"] = float(np.mean(r["response_at_1826d"][ighv == g] == "CR"))
    return out


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 200
    seed = int(argv[1]) if len(argv) > 1 else 11
    overrides = {k: float(v) for k, v in (a.split("=", 1) for a in argv[2:])}
    start = time.perf_counter()
    res = simulate_cohort(n, seed, 5 * 365.25 + 1, overrides)
    for k, v in {**summary(res), **complete_responses(res)}.items():
        print(f"{k}: {v:.4g}")
    print(f"({time.perf_counter() - start:.0f} s for {n} patients x 5 years)")


if __name__ == "__main__":
    main(sys.argv[1:])

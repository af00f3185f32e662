"""iwCLL endpoints from simulated daily trajectories, per patient and summarized.

Definitions (cited in the summary table):

* **Lymphocytosis** (P4; Cheson 2012, Hallek 2018): ALC rises >= 50% above baseline *and*
  exceeds 5,000/uL on treatment. Onset: first day both hold. Peak: day of maximal ALC.
* **Resolution** of lymphocytosis: ALC back to baseline or below, or below 4,000/uL (the iwCLL
  normal-count threshold), after onset; duration = resolution - onset, censored at the end of
  follow-up when unresolved (Kaplan-Meier).
* **ALC normalisation**: ALC < 4,000/uL (iwCLL 2018 blood criterion of complete response).
* **Nodal response**: lymph-node volume decreased >= 50% from baseline (iwCLL uses the sum of
  products of diameters; volume is the model's measure of node size).
* **Spleen response**: enlargement above normal decreased >= 50% from baseline.
* **PR** (blood, nodes and spleen components of iwCLL 2018 group A): nodal and spleen response
  and ALC decreased >= 50% from baseline (or normalised). **PR-L** (PR with lymphocytosis,
  Cheson 2012): nodal and spleen response while the ALC criterion is not met.
  Marrow and blood-count (group B) criteria are not modelled.

Assessments are at the end of treatment cycles 2, 6 and 12 (28-day cycles: days 56, 168, 336).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._response import LANDMARKS_DAYS

CYCLE_DAYS = 28.0
ASSESSMENT_CYCLES = (2, 6, 12)
LYMPHOCYTOSIS_RISE = 1.5
LYMPHOCYTOSIS_MIN_PER_UL = 5000.0
NORMAL_ALC_PER_UL = 4000.0
RESPONSE_FRACTION = 0.5


def _first_day(mask: np.ndarray, days: np.ndarray) -> np.ndarray:
    """First day each row of ``mask`` is true (NaN if never)."""
    any_ = mask.any(axis=1)
    idx = np.argmax(mask, axis=1)
    return np.where(any_, days[idx], np.nan)


def patient_endpoints(
    days: np.ndarray,
    alc_per_uL: np.ndarray,
    ln_volume_cm3: np.ndarray,
    spleen_volume_cm3: np.ndarray,
    normal_spleen_volume_cm3: np.ndarray,
) -> pd.DataFrame:
    """Endpoints of each patient (rows) from daily trajectories of shape ``(n, T)``; day 0 is baseline.

    Returns
    -------
    DataFrame
        One row per patient: lymphocytosis flags and days, peak, resolution, normalisation,
        nodal/spleen response, PR and PR-L at each assessment cycle (NaN when follow-up ends
        before the assessment).
    """
    days = np.asarray(days, dtype=float)
    alc = np.asarray(alc_per_uL, dtype=float)
    alc0 = alc[:, :1]
    on = days > 0
    lymph = (alc >= LYMPHOCYTOSIS_RISE * alc0) & (alc > LYMPHOCYTOSIS_MIN_PER_UL) & on
    onset = _first_day(lymph, days)
    has = np.isfinite(onset)
    peak_idx = np.argmax(alc, axis=1)
    peak_alc = alc[np.arange(alc.shape[0]), peak_idx]
    after_onset = days[None, :] > np.where(has, onset, np.inf)[:, None]
    resolved_mask = after_onset & ((alc <= alc0) | (alc < NORMAL_ALC_PER_UL))
    resolution = _first_day(resolved_mask, days)
    resolved = np.isfinite(resolution)
    duration = np.where(has, np.where(resolved, resolution, days[-1]) - onset, np.nan)
    normal = (alc < NORMAL_ALC_PER_UL) & on
    out = {
        "lymphocytosis": has,
        "lymphocytosis_onset_day": onset,
        "peak_alc_per_uL": peak_alc,
        "time_to_peak_day": np.where(has, days[peak_idx], np.nan),
        "peak_rise_pct": 100.0 * (peak_alc / alc[:, 0] - 1.0),
        "lymphocytosis_resolved": has & resolved,
        "lymphocytosis_resolution_day": np.where(has, resolution, np.nan),
        "lymphocytosis_duration_day": duration,
        "alc_normalisation_day": _first_day(normal, days),
        "alc_normal_at_end": alc[:, -1] < NORMAL_ALC_PER_UL,
    }
    ln0 = ln_volume_cm3[:, 0]
    enlarged0 = spleen_volume_cm3[:, 0] - normal_spleen_volume_cm3
    for c in ASSESSMENT_CYCLES:
        day = c * CYCLE_DAYS
        if day > days[-1] + 1e-9:
            for name in ("nodal_response", "spleen_response", "pr", "pr_l"):
                out[f"{name}_c{c}"] = np.full(alc.shape[0], np.nan)
            continue
        j = int(np.argmin(np.abs(days - day)))
        nodal = ln_volume_cm3[:, j] <= RESPONSE_FRACTION * ln0
        enlarged = spleen_volume_cm3[:, j] - normal_spleen_volume_cm3
        spleen = (enlarged <= RESPONSE_FRACTION * enlarged0) | (enlarged <= 0)
        alc_ok = (alc[:, j] <= RESPONSE_FRACTION * alc[:, 0]) | (alc[:, j] < NORMAL_ALC_PER_UL)
        out[f"nodal_response_c{c}"] = nodal.astype(float)
        out[f"spleen_response_c{c}"] = spleen.astype(float)
        out[f"pr_c{c}"] = (nodal & spleen & alc_ok).astype(float)
        out[f"pr_l_c{c}"] = (nodal & spleen & ~alc_ok).astype(float)
    return pd.DataFrame(out)


def kaplan_meier(durations: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate: times and probability of *not yet* having the event.

    Parameters
    ----------
    durations
        Time to event or censoring, days.
    events
        True where the event was observed, False where censored.

    Returns
    -------
    times, survival
        Step function starting at ``(0, 1)``.
    """
    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    keep = np.isfinite(d)
    d, e = d[keep], e[keep]
    times = [0.0]
    surv = [1.0]
    s = 1.0
    for t in np.unique(d[e]):
        at_risk = np.sum(d >= t)
        n_events = np.sum((d == t) & e)
        if at_risk:
            s *= 1.0 - n_events / at_risk
        times.append(float(t))
        surv.append(s)
    return np.array(times), np.array(surv)


def km_table(durations: np.ndarray, events: np.ndarray, *, z: float = 1.959963984540054) -> pd.DataFrame:
    """Kaplan-Meier table with pointwise confidence intervals, numbers at risk and censoring.

    The interval is Greenwood's variance on the log(-log) scale (Kalbfleisch & Prentice), which
    stays inside [0, 1]; ``z`` = 1.96 gives 95%.

    Returns
    -------
    DataFrame
        One row per distinct time (day 0 first): ``time_day``, ``at_risk``, ``events``, ``censored``,
        ``survival``, ``lower``, ``upper``.
    """
    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    keep = np.isfinite(d)
    d, e = d[keep], e[keep]
    rows = [{"time_day": 0.0, "at_risk": int(d.size), "events": 0, "censored": 0, "survival": 1.0,
             "lower": 1.0, "upper": 1.0}]
    s, greenwood = 1.0, 0.0
    for t in np.unique(d):
        at_risk = int(np.sum(d >= t))
        n_events = int(np.sum((d == t) & e))
        n_censored = int(np.sum((d == t) & ~e))
        if n_events and at_risk:
            s *= 1.0 - n_events / at_risk
            if at_risk > n_events:
                greenwood += n_events / (at_risk * (at_risk - n_events))
        if 0.0 < s < 1.0 and greenwood > 0:
            se = np.sqrt(greenwood) / abs(np.log(s))
            lower, upper = s ** np.exp(z * se), s ** np.exp(-z * se)
        else:
            lower = upper = s
        rows.append({"time_day": float(t), "at_risk": at_risk, "events": n_events, "censored": n_censored,
                     "survival": s, "lower": float(lower), "upper": float(upper)})
    return pd.DataFrame(rows)


def km_median(durations: np.ndarray, events: np.ndarray) -> float:
    """Median time to event from the Kaplan-Meier curve (NaN if not reached)."""
    t, s = kaplan_meier(durations, events)
    below = np.nonzero(s <= 0.5)[0]
    return float(t[below[0]]) if below.size else float("nan")


def _pct(x: pd.Series) -> float:
    x = x.dropna().astype(float)
    return float(100.0 * x.mean()) if len(x) else float("nan")


def summarize(patients: pd.DataFrame) -> pd.DataFrame:
    """Endpoint summary overall and by IGHV (columns), from the per-patient table.

    Patients whose simulation did not succeed are counted in ``n_patients`` and
    ``n_not_evaluable`` but excluded from every rate.
    """
    groups = {
        "overall": patients,
        "U-CLL": patients[patients["ighv"] == "U"],
        "M-CLL": patients[patients["ighv"] == "M"],
    }
    rows: dict[str, dict[str, float]] = {}
    for name, g in groups.items():
        ok = g[g["status"] == "success"]
        lym = ok[ok["lymphocytosis"].astype(bool)]
        r = {
            "n_patients": float(len(g)),
            "n_not_evaluable": float(len(g) - len(ok)),
            "lymphocytosis_pct": _pct(ok["lymphocytosis"]),
            "time_to_peak_median_day": float(lym["time_to_peak_day"].median()) if len(lym) else float("nan"),
            "peak_rise_median_pct": float(lym["peak_rise_pct"].median()) if len(lym) else float("nan"),
            "lymphocytosis_duration_km_median_day": km_median(
                lym["lymphocytosis_duration_day"].to_numpy(), lym["lymphocytosis_resolved"].to_numpy(bool)
            ) if len(lym) else float("nan"),
            "lymphocytosis_resolved_pct": _pct(lym["lymphocytosis_resolved"]) if len(lym) else float("nan"),
            "alc_normal_at_end_pct": _pct(ok["alc_normal_at_end"]),
        }
        for c in ASSESSMENT_CYCLES:
            for key in ("nodal_response", "pr", "pr_l"):
                r[f"{key}_c{c}_pct"] = _pct(ok[f"{key}_c{c}"])
        r.update(_course_summary(ok))
        rows[name] = r
    df = pd.DataFrame(rows)
    df.index.name = "endpoint"
    return df


def _course_summary(ok: pd.DataFrame) -> dict[str, float]:
    """Response, progression and MRD over years among evaluable patients (iwCLL 2018, row P6).

    Response at a landmark is counted among patients followed that long; progression is one minus the
    Kaplan-Meier progression-free estimate at the landmark (censored at the end of follow-up).
    """
    r: dict[str, float] = {}
    if "progressed" not in ok or ok.empty:
        return r
    follow = float(ok["ttp_day"].max())
    durations, events = ok["ttp_day"].to_numpy(float), ok["progressed"].to_numpy(bool)
    km = km_table(durations, events)
    for y, day in enumerate(LANDMARKS_DAYS, start=1):
        col = f"response_at_{day:g}d"
        if col in ok and day <= follow + 1.5:
            cat = ok[col].dropna()
            r[f"cr_at_{y}y_pct"] = _pct(cat == "CR")
            r[f"response_at_{y}y_pct"] = _pct(cat.isin(("CR", "PR", "PR-L")))
        mrd_col = col.replace("response_at_", "mrd_at_")
        if mrd_col in ok and day <= follow + 1.5:
            mrd = ok[mrd_col].astype(float).dropna()
            r[f"mrd_at_{y}y_median"] = float(mrd.median()) if len(mrd) else float("nan")
            r[f"umrd_at_{y}y_pct"] = _pct(mrd < 1e-4)
        if day <= follow + 1.5:
            s = km[km["time_day"] <= day]["survival"]
            r[f"progression_at_{y}y_km_pct"] = float(100.0 * (1.0 - s.iloc[-1]))
    r["pfs_km_median_day"] = km_median(durations, events)
    prog = ok[ok["progressed"].astype(bool)]
    r["n_progressions"] = float(len(prog))
    if len(prog) and prog["dominant_clone_at_progression"].notna().any():
        dom = prog["dominant_clone_at_progression"]
        r["progressions_resistant_dominated_pct"] = _pct(dom != "sensitive")
        for label in sorted(set(dom.dropna()) - {"sensitive"}):
            r[f"progressions_{label.replace(' ', '_').lower()}_pct"] = _pct(dom == label)
        r["resistant_detectable_lead_median_day"] = float(prog["resistant_detectable_lead_day"].median())
    return r

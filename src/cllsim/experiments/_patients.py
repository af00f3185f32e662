"""Virtual U-CLL and M-CLL patient groups on ibrutinib, shared by F6, F7 and F8.

Each group draws its patients from the parameters table (log-normal between-patient
variability, ``iivSD``) around the IGHV-specific typical patient. The two groups use common
random numbers: the i-th U-CLL and the i-th M-CLL patient share their draws, so they differ
only in IGHV status (BCR signalling strength). With 12 patients per group and the table's wide
spread of baseline counts (ALC iivSD 0.8), independent draws leave chance imbalances between
groups that can pass for an IGHV effect; common draws remove them. The statistics still treat
the groups as independent samples, as a lab would.

All patients take 420 mg/day for ``DAYS`` days on one compiled model; the courses are computed
once per process and set of overrides and reused by the three experiments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from ._engine import shared_model
from ._population import sample_subjects

DAYS = 150.0
REGIMEN = "420 mg qd"
N_PER_GROUP = 12
#: Seed of the patient draws (shared by both groups) and of the measurement errors.
SEED = 606
#: Day of the on-treatment blood sample for pS339 and BCL2 (8 weeks).
SAMPLE_DAY = 56.0
#: CV of a flow-cytometric MFI readout (pS339, BCL2) between the pre-treatment and the
#: on-treatment sample, which are stained and acquired weeks apart.
MFI_CV = 0.2
MFI_CV_SOURCE = (
    "assumption: between-run CV of intracellular/phospho-flow MFI of samples acquired weeks apart ~10-30%"
)
TIMES = np.arange(0.0, DAYS + 1.0)
VARIABLES = ("alc_per_uL", "cxcr4_ps339_blood", "bcl2_blood", "cxcr4_surface_blood")


@dataclass(frozen=True)
class PatientGroups:
    """Per-patient endpoints (one row per patient) and ALC courses (rows: patients)."""

    endpoints: pd.DataFrame
    alc: dict[str, np.ndarray]
    times_days: np.ndarray
    values: dict[str, float]


def lymphocytosis(alc: np.ndarray, times: np.ndarray) -> tuple[float, float, float]:
    """Peak ALC rise (% over baseline), day of peak, and duration (days ALC stays above baseline)."""
    above = np.nonzero(alc > alc[0] * (1 + 1e-9))[0]
    duration = float(times[above[-1]]) if above.size else 0.0
    return 100.0 * (alc.max() / alc[0] - 1.0), float(times[int(np.argmax(alc))]), duration


def _measure(true: float, rng: np.random.Generator) -> float:
    """A flow MFI measurement of ``true`` with log-normal assay error of CV ``MFI_CV``."""
    sd = np.sqrt(np.log(1 + MFI_CV**2))
    return float(true * np.exp(sd * rng.standard_normal() - sd**2 / 2))


@cache
def _groups(overrides_key: tuple[tuple[str, float], ...], n: int) -> PatientGroups:
    overrides = dict(overrides_key)
    model = shared_model("patient", REGIMEN, DAYS)
    i_sample = int(np.searchsorted(TIMES, SAMPLE_DAY))
    rows, alc = [], {}
    values: dict[str, float] = {}
    for k, ighv in enumerate(("U", "M")):
        patients = sample_subjects(model, ighv, n, seed=SEED, prefix=f"{ighv}-", overrides=overrides)
        values = values or model.values_for(patients[0])
        rng = np.random.default_rng([SEED, k + 1])
        courses = []
        for p in patients:
            r = model.run(p, TIMES, VARIABLES)
            a = r["alc_per_uL"]
            courses.append(a)
            peak_pct, peak_day, duration = lymphocytosis(a, r.time_days)
            rec = {"ighv": ighv, "patient": p.id, "baseline_alc_per_uL": a[0], "peak_alc_rise_pct": peak_pct,
                   "peak_day": peak_day, "lymphocytosis_days": duration}
            for name, var in (("ps339", "cxcr4_ps339_blood"), ("bcl2", "bcl2_blood"),
                              ("surface_cxcr4", "cxcr4_surface_blood")):
                before, after = _measure(r[var][0], rng), _measure(r[var][i_sample], rng)
                rec[f"{name}_before_mfi"] = before
                rec[f"{name}_after_mfi"] = after
                rec[f"{name}_change_pct"] = 100.0 * (after / before - 1.0)
                rec[f"{name}_true_change_pct"] = 100.0 * (r[var][i_sample] / r[var][0] - 1.0)
            rows.append(rec)
        alc[ighv] = np.vstack(courses)
    return PatientGroups(pd.DataFrame(rows), alc, TIMES.copy(), values)


def patient_groups(overrides: Mapping[str, float] | None = None, n: int = N_PER_GROUP) -> PatientGroups:
    """Simulated U-CLL and M-CLL groups (cached per overrides and size)."""
    return _groups(tuple(sorted((overrides or {}).items())), n)


def endpoint_rows(groups: PatientGroups, columns: list[str], units: dict[str, str]) -> list[dict]:
    """Tidy rows of per-patient endpoints for an experiment's CSV."""
    rows = []
    for rec in groups.endpoints.to_dict("records"):
        for c in columns:
            rows.append({"group": f"{rec['ighv']}-CLL", "subject": rec["patient"], "time": SAMPLE_DAY,
                         "time_unit": "day", "readout": c, "value": float(rec[c]), "unit": units.get(c, "")})
    return rows

"""Endpoints of therapies that stop or switch: fixed duration, and sequences switched at progression.

* **Fixed duration** (e.g. 3 cycles of ibrutinib then 12 of ibrutinib + venetoclax, then stop):
  blood MRD at the end of treatment (EOT) and three months after, undetectable MRD at EOT,
  time to MRD regrowth (first day after EOT with MRD back at or above 1e-4, for patients
  undetectable at EOT) and the treatment-free interval (EOT to progression; censored at the
  end of follow-up).
* **Sequence** ("ibrutinib until progression, then pirtobrutinib"): each patient is switched on the
  day of iwCLL progression on the first therapy (:func:`run_sequence`); progression on the second
  therapy, judged from its own nadir after the switch, gives the time to second progression
  (PFS2, from the start of the first therapy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..drugs import DoseRecords, Therapy, switched_at
from ._response import ResponseCriteria, patient_responses

#: Days after the end of treatment at which MRD is reported again (three months).
AFTER_EOT_DAYS = 91.0


def end_of_treatment_day(therapy: Therapy, until_h: float) -> float | None:
    """Day after the last dose of any course, or ``None`` when a course doses until ``until_h``.

    A course is open-ended (continuous therapy) when its doses run to the end of the window;
    a fixed-duration course's end is the day after its last dose.
    """
    last = 0.0
    for c in therapy.courses:
        reg = c.regimen
        if not isinstance(reg, DoseRecords) and reg.segments and getattr(reg.segments[-1], "n_doses", 1) is None:
            return None
        doses = reg.doses(until_h)
        if doses:
            last = max(last, doses[-1][0])
    return math.floor(last / 24.0 + 1e-9) + 1.0 if therapy.courses else None


def fixed_duration_endpoints(
    days: np.ndarray, mrd_blood: np.ndarray, eot_day: float, ttp_day: np.ndarray, progressed: np.ndarray,
    *, undetectable: float = ResponseCriteria().mrd_undetectable,
) -> pd.DataFrame:
    """Per patient: MRD at EOT and three months after, time to MRD regrowth, treatment-free interval.

    Parameters
    ----------
    days
        Assessment days ``(T,)``.
    mrd_blood
        Blood MRD ``(n, T)`` (fraction of leukocytes).
    eot_day
        End of treatment, days.
    ttp_day, progressed
        Time to progression (days; end of follow-up when censored) and whether progression was seen.
    undetectable
        MRD threshold of undetectable disease (1e-4, P6).

    Returns
    -------
    DataFrame
        ``mrd_at_eot``, ``mrd_at_eot_3m`` (NaN beyond follow-up), ``umrd_at_eot``,
        ``mrd_regrowth`` and ``mrd_regrowth_day`` (days after EOT; end of follow-up when censored),
        ``tfi_event`` and ``tfi_days`` (EOT to progression, or to the end of follow-up).
    """
    days = np.asarray(days, dtype=float)
    mrd = np.asarray(mrd_blood, dtype=float)
    n = mrd.shape[0]

    def at(day: float) -> np.ndarray:
        if day > days[-1] + 1e-9:
            return np.full(n, np.nan)
        return mrd[:, int(np.argmin(np.abs(days - day)))]

    at_eot = at(eot_day)
    umrd = at_eot < undetectable
    after = days > eot_day + 1e-9
    regrown = (mrd >= undetectable) & after[None, :] & umrd[:, None]
    has = regrown.any(axis=1)
    first = np.where(has, days[np.argmax(regrown, axis=1)], days[-1]) - eot_day
    ttp = np.asarray(ttp_day, dtype=float)
    prog_after = np.asarray(progressed, dtype=bool) & (ttp >= eot_day)
    return pd.DataFrame({
        "eot_day": np.full(n, float(eot_day)),
        "mrd_at_eot": at_eot,
        "mrd_at_eot_3m": at(eot_day + AFTER_EOT_DAYS),
        "umrd_at_eot": umrd,
        "mrd_regrowth": has,
        "mrd_regrowth_day": np.where(umrd, first, np.nan),
        "tfi_event": prog_after,
        "tfi_days": np.where(prog_after, ttp, days[-1]) - eot_day,
    })


def second_progression(
    days: np.ndarray, observed: Mapping[str, np.ndarray], switch_day: np.ndarray,
    criteria: ResponseCriteria | None = None,
) -> pd.DataFrame:
    """Progression on the therapy started at ``switch_day`` (NaN: not switched), judged from the switch on.

    Returns
    -------
    DataFrame
        ``switched``, ``switch_day``, ``progressed2``, ``pfs2_day`` (from the start of the first
        therapy to progression on the second, or the end of follow-up when censored; for patients
        never switched, their first progression or censoring day is not a PFS2 event).
    """
    days = np.asarray(days, dtype=float)
    n = len(switch_day)
    switched = np.isfinite(switch_day)
    progressed2 = np.zeros(n, dtype=bool)
    pfs2 = np.full(n, days[-1])
    for i in np.nonzero(switched)[0]:
        keep = days >= switch_day[i] - 1e-9
        if keep.sum() < 2:
            continue
        sub = {k: np.asarray(v, dtype=float)[i : i + 1, keep] for k, v in observed.items()}
        r = patient_responses(days[keep] - days[keep][0], sub, landmarks_days=(), criteria=criteria)
        progressed2[i] = bool(r["progressed"].iloc[0])
        pfs2[i] = days[keep][0] + float(r["ttp_day"].iloc[0])
    return pd.DataFrame({"switched": switched, "switch_day": switch_day, "progressed2": progressed2,
                         "pfs2_day": pfs2})


def run_sequence(
    therapy: Therapy,
    simulate: Callable[[Therapy | Sequence[Therapy]], tuple[np.ndarray, Mapping[str, np.ndarray], np.ndarray]],
    until_h: float,
    criteria: ResponseCriteria | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Run a therapy with a switch at progression for a batch: first phase, progression, switched rerun.

    Parameters
    ----------
    therapy
        Therapy with ``at_progression``.
    simulate
        ``simulate(therapies) -> (days, observed, ok)``: runs the batch on one therapy for all or
        one per patient and returns assessment days, observed trajectories ``(n, T)`` (the inputs
        of :func:`patient_responses`) and the success mask.
    until_h
        End of follow-up, h.

    Returns
    -------
    days, observed, ok, switch_day
        The batch as treated (switched patients rerun from the start with the switch applied)
        and each patient's switch day (NaN: never progressed on the first therapy).
    """
    first_phase = therapy.model_copy(update={"at_progression": None})
    days, observed, ok = simulate(first_phase)
    r = patient_responses(days, observed, landmarks_days=(), criteria=criteria)
    switch = np.where(ok & r["progressed"].to_numpy(), r["ttp_day"].to_numpy(dtype=float), np.nan)
    if not np.isfinite(switch).any():
        return days, dict(observed), ok, switch
    therapies = [switched_at(therapy, float(d), until_h) if np.isfinite(d) else first_phase for d in switch]
    days2, observed2, ok2 = simulate(therapies)
    return days2, dict(observed2), ok2, switch

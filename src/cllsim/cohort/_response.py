"""iwCLL response and progression over time, per patient, from simulated clinical observables.

The categories follow the iwCLL 2018 guidelines (Hallek M et al., Blood 2018;131:2745; row P6)
for the group A parameters the model has — blood lymphocytes, lymph nodes (SPD), spleen,
marrow — with partial response with lymphocytosis (PR-L) for BTK inhibitors (Cheson BD et al.,
J Clin Oncol 2012). Group B (platelets, haemoglobin, neutrophils) is not modelled and counts as
normal. The thresholds are the fields of :class:`ResponseCriteria`; each says where it comes from.

At every assessment day a patient is classified, worst first:

* **PD** (progression): SPD ≥ 50% above its nadir (and above the normal-node SPD), or spleen
  enlargement ≥ 50% above its nadir (and beyond the normal length), or — once the treatment
  lymphocytosis has passed — ALC ≥ 50% above its nadir and ≥ 5,000/µL. A rise of the ALC during
  the lymphocytosis phase is not progression (iwCLL 2018, BTK inhibitors).
* **CR**: ALC < 4,000/µL, SPD at the normal-node level, spleen length < 13 cm, marrow CLL share
  < 30% (CRi is not distinguished: blood counts are not modelled).
* **PR**: at least two group A parameters improved by ≥ 50% from baseline (ALC, SPD, spleen
  enlargement, marrow infiltration), the ALC among them, none progressing.
* **PR-L**: nodes, spleen and marrow meet the PR criteria while the ALC has not fallen by 50%
  (the persistent lymphocytosis of BTK inhibitors; Cheson 2012).
* **SD**: none of these.

A response counts once it has lasted :attr:`ResponseCriteria.confirm_days` (two months; iwCLL
asks responses to be sustained ≥ 2 months); progression counts at its first day. Time to
progression runs from the start of treatment; patients without progression are censored at the
end of follow-up. Undetectable MRD is blood MRD below 1e-4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Response categories, best first (codes in the per-day arrays are indices into this tuple).
CATEGORIES = ("CR", "PR", "PR-L", "SD", "PD")
CR, PR, PRL, SD, PD = range(5)


@dataclass(frozen=True)
class ResponseCriteria:
    """Thresholds of the iwCLL 2018 response assessment (units in the names).

    Attributes
    ----------
    normal_alc_per_uL
        ALC below which the blood criterion of CR holds (< 4 x 10^9/L; Hallek 2018).
    normal_spd_cm2
        SPD of normal-sized index nodes: six nodes of 1.5 cm long axis (1.5 x 1.5 cm each); CR needs
        every node < 1.5 cm (Hallek 2018).
    normal_spleen_length_cm
        Craniocaudal spleen length below which there is no splenomegaly (13 cm; Hallek 2018).
    normal_marrow_cll_pct
        CLL share of marrow cells compatible with CR (< 30% lymphocytes; Hallek 2018).
    response_fraction
        Decrease from baseline that counts as improvement of a group A parameter (50%).
    progression_fraction
        Increase from nadir that counts as progression (50%).
    progression_alc_per_uL
        ALC that a progressing blood count must also exceed (5 x 10^9/L).
    progression_min_spd_cm2
        Smallest SPD increase that can be progression when the nodes had normalised: one index
        node growing from 1.5 cm to about 2.1 cm (a new lesion > 1.5 cm; Hallek 2018).
    progression_min_spleen_cm
        Smallest spleen-length increase that can be progression from a normal spleen (2 cm;
        Hallek 2018).
    confirm_days
        Days a response must last to count (two months).
    mrd_undetectable
        Blood MRD below which MRD is undetectable (1e-4; row P6).
    """

    normal_alc_per_uL: float = 4000.0
    normal_spd_cm2: float = 6 * 1.5 * 1.5
    normal_spleen_length_cm: float = 13.0
    normal_marrow_cll_pct: float = 30.0
    response_fraction: float = 0.5
    progression_fraction: float = 0.5
    progression_alc_per_uL: float = 5000.0
    progression_min_spd_cm2: float = 1.5 * 1.5
    progression_min_spleen_cm: float = 2.0
    confirm_days: float = 56.0
    mrd_undetectable: float = 1e-4


#: Landmarks of the per-patient table, days: 1 to 5 years (``response_at_<d>d``, ``mrd_at_<d>d``).
LANDMARKS_DAYS = (365.0, 730.0, 1096.0, 1461.0, 1826.0)

#: Observables the assessment reads (ids of the observables registry); those missing are skipped.
INPUTS = ("alc_per_uL", "ln_spd_cm2", "spleen_length_cm", "bm_infiltration_pct", "mrd_blood")


def _running_min(x: np.ndarray) -> np.ndarray:
    """Running minimum along time, NaN-safe (NaN where nothing finite was seen yet)."""
    filled = np.where(np.isfinite(x), x, np.inf)
    out = np.minimum.accumulate(filled, axis=1)
    return np.where(np.isfinite(out), out, np.nan)


def classify(
    days: np.ndarray, observed: Mapping[str, np.ndarray], criteria: ResponseCriteria | None = None
) -> np.ndarray:
    """iwCLL category code (:data:`CATEGORIES`) of each patient on each day, before confirmation.

    Parameters
    ----------
    days
        Assessment days, shape ``(T,)``, starting with the pre-treatment baseline at day 0.
    observed
        Trajectories of shape ``(n, T)`` by observable id (:data:`INPUTS`; ``alc_per_uL`` required).
    criteria
        Thresholds; default :class:`ResponseCriteria`.
    """
    c = criteria or ResponseCriteria()
    alc = np.asarray(observed["alc_per_uL"], dtype=float)
    n, t = alc.shape
    improved = np.zeros((n, t), dtype=int)
    group_a = np.zeros((n, t), dtype=int)
    cr = alc < c.normal_alc_per_uL
    progression = np.zeros((n, t), dtype=bool)
    alc_improved = alc <= (1 - c.response_fraction) * alc[:, :1]
    # the lymphocytosis phase lasts until the ALC has passed its peak and fallen back below baseline
    peak = np.argmax(alc, axis=1)
    after_peak = np.arange(t)[None, :] >= peak[:, None]
    back = after_peak & (alc <= alc[:, :1])
    phase_over = np.cumsum(back, axis=1) > 0
    nadir = _running_min(np.where(phase_over, alc, np.nan))
    progression |= phase_over & (alc >= (1 + c.progression_fraction) * nadir) & (alc >= c.progression_alc_per_uL)
    improved += alc_improved
    group_a += 1

    def enlargement(x: np.ndarray, normal: float) -> np.ndarray:
        return np.maximum(x - normal, 0.0)

    sizes = (("ln_spd_cm2", c.normal_spd_cm2, c.progression_min_spd_cm2),
             ("spleen_length_cm", c.normal_spleen_length_cm, c.progression_min_spleen_cm))
    for key, normal, min_increase in sizes:
        if key not in observed:
            continue
        size = np.asarray(observed[key], dtype=float)
        excess = enlargement(size, normal)
        involved = excess[:, :1] > 0
        improved += involved & (excess <= (1 - c.response_fraction) * excess[:, :1])
        group_a += involved
        cr &= excess <= 0
        low = _running_min(excess)
        progression |= (excess >= (1 + c.progression_fraction) * low) & (excess - low >= min_increase)
    if "bm_infiltration_pct" in observed:
        marrow = np.asarray(observed["bm_infiltration_pct"], dtype=float)
        involved = marrow[:, :1] >= c.normal_marrow_cll_pct
        improved += involved & (marrow <= (1 - c.response_fraction) * marrow[:, :1])
        group_a += involved
        cr &= marrow < c.normal_marrow_cll_pct
    # PR: >= 2 improved group A parameters (all of them when fewer than two are involved), the blood
    # count among them; PR-L: the other parameters meet PR while the blood count has not fallen by
    # half (persistent lymphocytosis on a BTK inhibitor; Cheson 2012)
    need = np.minimum(2, group_a)
    pr = alc_improved & (improved >= need)
    prl = ~alc_improved & (improved >= np.minimum(2, group_a - 1)) & (group_a > 1)
    code = np.full((n, t), SD, dtype=int)
    code[prl] = PRL
    code[pr] = PR
    code[cr] = CR
    code[progression] = PD
    code[:, 0] = SD  # baseline
    return code


def confirmed(days: np.ndarray, code: np.ndarray, confirm_days: float) -> np.ndarray:
    """Categories after confirmation: a response counts from the day it has lasted ``confirm_days``.

    A response is ``CR``, ``PR`` or ``PR-L``; it is confirmed at day d when the patient has been at that
    level or better on every assessment of ``[d - confirm_days, d]``. Unconfirmed days are ``SD``;
    ``PD`` is never delayed.
    """
    days = np.asarray(days, dtype=float)
    out = np.full_like(code, SD)
    out[code == PD] = PD
    for level in (PRL, PR, CR):
        ok = code <= level
        # start of the current run of days at this level or better
        run_start = np.full(code.shape, np.nan)
        for j in range(code.shape[1]):
            prev = run_start[:, j - 1] if j else np.full(code.shape[0], np.nan)
            run_start[:, j] = np.where(ok[:, j], np.where(np.isnan(prev), days[j], prev), np.nan)
        lasting = ok & (days[None, :] - run_start >= confirm_days)
        out = np.where(lasting & (out != PD), np.minimum(out, level), out)
    return out


def patient_responses(
    days: np.ndarray,
    observed: Mapping[str, np.ndarray],
    *,
    landmarks_days: tuple[float, ...] = LANDMARKS_DAYS,
    criteria: ResponseCriteria | None = None,
) -> pd.DataFrame:
    """Per patient: best response, progression, time to progression, MRD at landmarks, time to uMRD.

    Parameters
    ----------
    days
        Assessment days ``(T,)``; day 0 is the pre-treatment baseline.
    observed
        Trajectories ``(n, T)`` by observable id (see :data:`INPUTS`).
    landmarks_days
        Days at which the category and MRD are reported (NaN beyond follow-up).
    criteria
        Thresholds; default :class:`ResponseCriteria`.

    Returns
    -------
    DataFrame
        Columns ``best_response``, ``best_response_day``, ``progressed``, ``ttp_day`` (progression
        day, or the end of follow-up when censored), ``response_at_<d>d``, ``mrd_at_<d>d``,
        ``umrd_day`` (first day with blood MRD < 1e-4, NaN if never).
    """
    c = criteria or ResponseCriteria()
    days = np.asarray(days, dtype=float)
    code = confirmed(days, classify(days, observed, c), c.confirm_days)
    n = code.shape[0]
    responding = np.where(code == PD, SD, code)
    best = responding.min(axis=1)
    best_day = days[np.argmax(responding == best[:, None], axis=1)]
    progressed = (code == PD).any(axis=1)
    ttp = np.where(progressed, days[np.argmax(code == PD, axis=1)], days[-1])
    out = pd.DataFrame({
        "best_response": [CATEGORIES[k] for k in best],
        "best_response_day": np.where(best < SD, best_day, np.nan),
        "progressed": progressed,
        "ttp_day": ttp,
    })
    mrd = np.asarray(observed["mrd_blood"], dtype=float) if "mrd_blood" in observed else None
    for d in landmarks_days:
        col = f"{d:g}d"
        if d > days[-1] + 1e-9:
            out[f"response_at_{col}"] = None
            out[f"mrd_at_{col}"] = np.nan
            continue
        j = int(np.argmin(np.abs(days - d)))
        out[f"response_at_{col}"] = [CATEGORIES[k] for k in code[:, j]]
        out[f"mrd_at_{col}"] = mrd[:, j] if mrd is not None else np.nan
    if mrd is not None:
        below = mrd < c.mrd_undetectable
        out["umrd_day"] = np.where(below.any(axis=1), days[np.argmax(below, axis=1)], np.nan)
    else:
        out["umrd_day"] = np.full(n, np.nan)
    return out


#: Resistant subclones whose share of all CLL cells the model reports (``fraction_<clone>``).
CLONES = {"c481s": "BTK C481S", "plcg2": "PLCG2"}
#: Share of CLL cells above which a subclone dominates a progression.
DOMINANT_SHARE = 0.5
#: Share of CLL cells at which a resistant subclone counts as detectable (row K10).
DETECTABLE_SHARE = 1e-3


def progression_clones(days: np.ndarray, observed: Mapping[str, np.ndarray], ttp_day: np.ndarray,
                       progressed: np.ndarray) -> pd.DataFrame:
    """Per patient: the clone dominating at progression and how early a resistant clone was detectable.

    Returns
    -------
    DataFrame
        ``dominant_clone_at_progression`` (a :data:`CLONES` label, ``"sensitive"``, or None without
        progression or without clone observables), ``resistant_share_at_progression`` and
        ``resistant_detectable_lead_day`` (days from the first day the resistant share reached 1e-3 to
        progression).
    """
    n = len(ttp_day)
    present = [k for k in CLONES if f"fraction_{k}" in observed]
    out = pd.DataFrame({"dominant_clone_at_progression": [None] * n,
                        "resistant_share_at_progression": np.full(n, np.nan),
                        "resistant_detectable_lead_day": np.full(n, np.nan)})
    if not present:
        return out
    days = np.asarray(days, dtype=float)
    shares = {k: np.asarray(observed[f"fraction_{k}"], dtype=float) for k in present}
    resistant = np.sum(np.stack(list(shares.values())), axis=0)
    for i in np.nonzero(np.asarray(progressed, bool))[0]:
        j = int(np.argmin(np.abs(days - ttp_day[i])))
        at = {k: v[i, j] for k, v in shares.items()}
        top = max(at, key=lambda k: at[k])
        out.loc[i, "dominant_clone_at_progression"] = CLONES[top] if at[top] > DOMINANT_SHARE else "sensitive"
        out.loc[i, "resistant_share_at_progression"] = float(resistant[i, j])
        seen = np.nonzero(resistant[i, : j + 1] >= DETECTABLE_SHARE)[0]
        if seen.size:
            out.loc[i, "resistant_detectable_lead_day"] = float(ttp_day[i] - days[seen[0]])
    return out

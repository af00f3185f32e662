"""Groups of virtual subjects (mice, patients, xenograft cases) and the statistics a lab uses.

Between-subject variability comes from the parameters table: every row with ``iivSD > 0`` is
drawn log-normally around the subject's typical value (table nominal, then IGHV condition,
then the experiment's overrides) with that SD, and clipped to the row's bounds. Rows that
shape the dosing events are never varied, so a group shares one compiled model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .._errors import BaselineError
from ..model import DOSING_PARAMETER_IDS, ParameterTable
from ..simulate import Patient, patient_values
from ._engine import GroupModel

#: Draws allowed per subject before giving up on a baseline the model cannot sustain.
MAX_DRAWS = 20


def sample_subjects(
    model: GroupModel,
    ighv: str,
    n: int,
    *,
    seed: int,
    prefix: str,
    overrides: Mapping[str, float] | None = None,
    vary: bool = True,
) -> list[Patient]:
    """Draw ``n`` virtual subjects of one IGHV group for ``model``'s host.

    Parameters
    ----------
    model
        The group's compiled model (its host and table define the rows and their spread).
    ighv
        ``"U"`` or ``"M"``.
    n
        Number of subjects.
    seed
        Seed of the group; subject ``i`` uses the ``i``-th child of ``SeedSequence(seed)``.
    prefix
        Subject ids are ``f"{prefix}{i + 1}"``.
    overrides
        Values applied to every subject before variability (table units).
    vary
        ``False`` gives ``n`` copies of the typical subject.
    """
    table: ParameterTable = model.table
    typical = patient_values(Patient(ighv=ighv, parameters=dict(overrides or {})), model.host, table)
    varied = [
        pid
        for pid, row in table.rows.items()
        if row.iivSD > 0 and pid not in DOSING_PARAMETER_IDS and pid not in (overrides or {})
    ]
    if not vary:
        varied = []
    subjects = []
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(n)):
        rng = np.random.default_rng(child)
        for _ in range(MAX_DRAWS):
            params = dict(overrides or {})
            for pid in varied:
                row = table.rows[pid]
                v = typical[pid] * float(np.exp(row.iivSD * rng.standard_normal()))
                params[pid] = float(np.clip(v, row.lowerBound, row.upperBound))
            subject = Patient(id=f"{prefix}{i + 1}", ighv=ighv, parameters=params)
            if model.feasible(subject):
                subjects.append(subject)
                break
        else:  # pragma: no cover - only with extreme tables or what-if overrides
            raise BaselineError(f"no sustainable baseline for subject {prefix}{i + 1} in {MAX_DRAWS} draws")
    return subjects


@dataclass(frozen=True)
class GroupComparison:
    """Two-group comparison as a lab reports it.

    Attributes
    ----------
    test
        Name of the test.
    statistic, p_value
        Test statistic and two-sided p value.
    effect_size
        Rank-biserial correlation (``+1``: every value of group a exceeds every value of b).
    median_a, median_b
        Group medians.
    n_a, n_b
        Group sizes.
    """

    test: str
    statistic: float
    p_value: float
    effect_size: float
    median_a: float
    median_b: float
    n_a: int
    n_b: int

    def as_dict(self, prefix: str = "") -> dict[str, float | str | int]:
        return {f"{prefix}{k}": v for k, v in self.__dict__.items()}


def mann_whitney(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> GroupComparison:
    """Mann-Whitney U test of independent groups with rank-biserial effect size.

    ``alternative="greater"`` tests the directional hypothesis that ``a`` tends to exceed ``b``.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    res = stats.mannwhitneyu(a, b, alternative=alternative)
    r = 2.0 * float(res.statistic) / (a.size * b.size) - 1.0
    name = "Mann-Whitney U" if alternative == "two-sided" else f"Mann-Whitney U (one-sided, {alternative})"
    return GroupComparison(
        name, float(res.statistic), float(res.pvalue), r,
        float(np.median(a)), float(np.median(b)), a.size, b.size,
    )


def wilcoxon_paired(before: np.ndarray, after: np.ndarray, alternative: str = "two-sided") -> GroupComparison:
    """Wilcoxon signed-rank test of paired samples with matched-pairs rank-biserial effect size
    (``-1``: every subject falls); ``alternative="less"`` tests a fall."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    d = after - before
    res = stats.wilcoxon(after, before, alternative=alternative)
    ranks = stats.rankdata(np.abs(d))
    r = float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum()) if ranks.sum() else 0.0
    name = "Wilcoxon signed-rank" if alternative == "two-sided" else f"Wilcoxon signed-rank (one-sided, {alternative})"
    return GroupComparison(
        name, float(res.statistic), float(res.pvalue), r,
        float(np.median(before)), float(np.median(after)), before.size, after.size,
    )

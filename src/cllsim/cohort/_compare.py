"""Several therapies on one virtual cohort, side by side: ``cllsim compare``.

Each arm is a cohort run (:func:`cllsim.cohort.run_cohort`) of the same spec but its therapy, so
every arm treats the same virtual patients (same seed and population; a drug's PK variability is
drawn from its own stream, so a patient's disease is the same whichever drugs an arm gives).
The comparison reports per arm, overall and by IGHV, with 95% confidence intervals:

* response (CR, overall response CR + PR + PR-L) and undetectable blood MRD (< 1e-4) at the yearly
  landmarks the follow-up reaches: share and Wilson interval;
* progression-free survival at each landmark and its median (Kaplan-Meier, Greenwood log-log
  interval);
* for fixed-duration arms: undetectable MRD at the end of treatment, median MRD at and three months
  after it, the treatment-free interval (Kaplan-Meier);
* for arms switched at progression: time to second progression (PFS2, Kaplan-Meier).

Outputs in ``out``: ``arm-<k>/`` (each arm's cohort folder), ``comparison.csv`` (long: arm, group,
metric, estimate, lower, upper, n), ``pfs_by_arm.png``, ``mrd_by_arm.png`` and ``comparison.json``
(arms, spec, version) written last.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import __version__
from .._errors import SpecError
from ..drugs import parse_therapy
from ._endpoints import km_table
from ._response import LANDMARKS_DAYS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..execution import Executor
    from ._population import CohortSpec
    from ._run import CohortResult

#: z of a two-sided 95% interval.
Z95 = 1.959963984540054
#: Most arms one comparison runs.
MAX_ARMS = 8


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """Share ``k/n`` with its Wilson score interval (NaN for ``n = 0``)."""
    if n <= 0:
        return math.nan, math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _km_at(tab: pd.DataFrame, day: float) -> tuple[float, float, float]:
    """Survival and its interval at ``day`` from a :func:`km_table`."""
    row = tab[tab["time_day"] <= day].iloc[-1]
    return float(row["survival"]), float(row["lower"]), float(row["upper"])


def _km_median(tab: pd.DataFrame) -> tuple[float, float, float]:
    """Median of a :func:`km_table`, with the interval read off the pointwise band (NaN where not reached)."""

    def first(col: str) -> float:
        below = tab[tab[col] <= 0.5]
        return float(below["time_day"].iloc[0]) if len(below) else math.nan

    return first("survival"), first("lower"), first("upper")


def arm_metrics(patients: pd.DataFrame, follow_up_days: float) -> list[dict[str, Any]]:
    """The comparison's rows for one arm's per-patient table (overall and by IGHV)."""
    rows: list[dict[str, Any]] = []
    for group, g in (("overall", patients), ("U-CLL", patients[patients["ighv"] == "U"]),
                     ("M-CLL", patients[patients["ighv"] == "M"])):
        ok = g[g["status"] == "success"]
        n = len(ok)

        def add(metric: str, est: float, lo: float = math.nan, hi: float = math.nan, unit: str = "",
                count: int = n, group: str = group) -> None:
            rows.append({"group": group, "metric": metric, "estimate": est, "lower": lo, "upper": hi,
                         "unit": unit, "n": count})

        add("evaluable_patients", float(n), unit="patients")
        if not n:
            continue
        pfs = km_table(ok["ttp_day"].to_numpy(float), ok["progressed"].to_numpy(bool)) if "progressed" in ok else None
        for y, day in enumerate(LANDMARKS_DAYS, start=1):
            if day > follow_up_days + 1.5:
                continue
            cat = ok.get(f"response_at_{day:g}d")
            if cat is not None and cat.notna().any():
                c = cat.dropna()
                add(f"cr_at_{y}y", *wilson(int((c == "CR").sum()), len(c)), unit="share", count=len(c))
                add(f"response_at_{y}y", *wilson(int(c.isin(("CR", "PR", "PR-L")).sum()), len(c)),
                    unit="share", count=len(c))
            mrd = ok.get(f"mrd_at_{day:g}d")
            if mrd is not None and mrd.notna().any():
                m = mrd.dropna().astype(float)
                add(f"umrd_at_{y}y", *wilson(int((m < 1e-4).sum()), len(m)), unit="share", count=len(m))
                add(f"mrd_at_{y}y_median", float(m.median()), float(m.quantile(0.25)), float(m.quantile(0.75)),
                    unit="fraction (IQR)", count=len(m))
            if pfs is not None:
                add(f"pfs_at_{y}y", *_km_at(pfs, day), unit="share (KM)")
        if pfs is not None:
            add("pfs_median", *_km_median(pfs), unit="days (KM)")
        if "umrd_at_eot" in ok and ok["umrd_at_eot"].notna().any():
            add("umrd_at_eot", *wilson(int(ok["umrd_at_eot"].astype(bool).sum()), n), unit="share")
            for col in ("mrd_at_eot", "mrd_at_eot_3m"):
                m = ok[col].dropna().astype(float)
                if len(m):
                    add(f"{col}_median", float(m.median()), float(m.quantile(0.25)), float(m.quantile(0.75)),
                        unit="fraction (IQR)", count=len(m))
            tfi = km_table(ok["tfi_days"].to_numpy(float), ok["tfi_event"].to_numpy(bool))
            add("treatment_free_median", *_km_median(tfi), unit="days after EOT (KM)")
        if "switched" in ok and ok["switched"].astype(bool).any():
            add("switched", *wilson(int(ok["switched"].astype(bool).sum()), n), unit="share")
            pfs2 = km_table(ok["pfs2_day"].to_numpy(float), ok["progressed2"].to_numpy(bool))
            add("pfs2_median", *_km_median(pfs2), unit="days (KM)")
    return rows


@dataclass(frozen=True)
class Comparison:
    """Arms run on one virtual cohort.

    Attributes
    ----------
    arms
        Therapy text of each arm, in order.
    results
        Each arm's :class:`~cllsim.cohort.CohortResult`.
    table
        Long table: ``arm``, ``therapy``, ``group``, ``metric``, ``estimate``, ``lower``, ``upper``,
        ``unit``, ``n`` (see the module docstring).
    out
        Output folder.
    """

    arms: tuple[str, ...]
    results: tuple[CohortResult, ...]
    table: pd.DataFrame
    out: Path

    def to_df(self) -> pd.DataFrame:
        """The comparison table (a copy)."""
        return self.table.copy()

    def wide(self, group: str = "overall") -> pd.DataFrame:
        """Estimates as metric x arm (one group), for reading side by side."""
        t = self.table[self.table["group"] == group]
        return t.pivot_table(index="metric", columns="arm", values="estimate", sort=False)

    def plot(self) -> tuple[Figure, Figure]:
        """Progression-free survival by arm (Kaplan-Meier, 95% band) and MRD by arm at the landmarks."""
        return plot_pfs_by_arm(self), plot_mrd_by_arm(self)


def _label(k: int, therapy: str) -> str:
    short = therapy if len(therapy) <= 48 else therapy[:45] + "..."
    return f"arm {k + 1}: {short}"


def plot_pfs_by_arm(cmp: Comparison) -> Figure:
    """Kaplan-Meier progression-free survival of each arm with its 95% band, censoring and numbers at risk."""
    from ._plots import _km_figure, km_axes

    fig, ax, risk = _km_figure()
    groups = {}
    for k, (arm, res) in enumerate(zip(cmp.arms, cmp.results, strict=True)):
        ok = res.patients[res.patients["status"] == "success"]
        if "progressed" in ok and len(ok):
            groups[_label(k, arm)] = (ok["ttp_day"].to_numpy(float), ok["progressed"].to_numpy(bool))
    ax.set_xlabel("days from the start of treatment")
    ax.set_ylabel("progression-free (share of patients)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Progression-free survival by arm (iwCLL 2018; Kaplan-Meier, 95% CI, | censored)", fontsize=10)
    if groups:
        km_axes(ax, risk, groups)
        ax.legend(loc="lower left", fontsize=7)
    return fig


def plot_mrd_by_arm(cmp: Comparison) -> Figure:
    """Median blood MRD (interquartile bars) of each arm at the yearly landmarks, log scale, uMRD line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    t = cmp.table[(cmp.table["group"] == "overall") & cmp.table["metric"].str.match(r"mrd_at_\dy_median")]
    for k, arm in enumerate(cmp.arms):
        a = t[t["arm"] == k + 1]
        if a.empty:
            continue
        years = a["metric"].str.extract(r"mrd_at_(\d)y")[0].astype(float).to_numpy() + 0.06 * (k - len(cmp.arms) / 2)
        est, lo, hi = (a[c].to_numpy(float) for c in ("estimate", "lower", "upper"))
        ax.errorbar(years, est, yerr=[est - lo, hi - est], fmt="o-", capsize=3, label=_label(k, arm), color=f"C{k}")
    ax.axhline(1e-4, color="0.4", ls="--", lw=1)
    ax.text(0.02, 1e-4, "undetectable (< 1e-4)", va="bottom", fontsize=7, color="0.3",
            transform=ax.get_yaxis_transform())
    ax.set_yscale("log")
    ax.set_xlabel("years from the start of treatment")
    ax.set_ylabel("blood MRD (CLL share of leukocytes)")
    ax.set_title("Blood MRD by arm: median and interquartile range", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:  # follow-up shorter than a year: say so rather than show empty axes
        ax.text(0.5, 0.5, "follow-up reaches no yearly landmark", transform=ax.transAxes, ha="center", va="center")
    return fig


def compare(
    arms: Sequence[str],
    spec: CohortSpec,
    out: str | Path,
    executor: Executor | None = None,
    *,
    progress: bool = True,
    force: bool = False,
) -> Comparison:
    """Run each therapy of ``arms`` on the cohort of ``spec`` and compare them.

    Parameters
    ----------
    arms
        Therapy texts (``docs/drugs.md``), two to :data:`MAX_ARMS`; ``spec.regimen`` is replaced by each.
    spec
        The cohort: population, follow-up, seed and numerics shared by every arm.
    out
        Output folder; each arm's cohort folder is ``out/arm-<k>`` (resumable like any cohort).
    executor, progress, force
        As for :func:`cllsim.cohort.run_cohort`.

    Raises
    ------
    SpecError
        Fewer than two or more than :data:`MAX_ARMS` arms, or the same therapy twice.
    RegimenError
        An arm that cannot be read (named), checked before any arm runs.
    """
    from ._run import run_cohort

    arms = tuple(arms)
    if not 2 <= len(arms) <= MAX_ARMS:
        raise SpecError(f"compare needs 2 to {MAX_ARMS} arms, got {len(arms)}")
    described = [parse_therapy(a, spec.drug).describe() for a in arms]  # every arm checked before any runs
    if len(set(described)) < len(described):
        raise SpecError("the same therapy is given as two arms")
    specs = [spec.model_copy(update={"regimen": a}) for a in arms]
    for s in specs:  # revalidate: a therapy may be refused by the spec (dose limits, follow-up)
        type(s).model_validate(s.model_dump())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for k, s in enumerate(specs):
        results.append(run_cohort(s, out / f"arm-{k + 1}", executor, progress=progress, force=force))
    rows = []
    for k, (arm, res) in enumerate(zip(arms, results, strict=True)):
        for r in arm_metrics(res.patients, float(spec.days)):
            rows.append({"arm": k + 1, "therapy": arm, **r})
    table = pd.DataFrame(rows, columns=["arm", "therapy", "group", "metric", "estimate", "lower", "upper",
                                        "unit", "n"])
    cmp = Comparison(arms, tuple(results), table, out)
    table.to_csv(out / "comparison.csv", index=False)
    for name, fig in zip(("pfs_by_arm.png", "mrd_by_arm.png"), cmp.plot(), strict=True):
        fig.savefig(out / name, dpi=130)
    meta = {"cllsim_version": __version__, "arms": list(arms), "described": described,
            "spec": json.loads(spec.model_dump_json()), "seed": spec.seed, "n": spec.n, "days": spec.days}
    from ..execution import json_text, write_atomic

    text = json_text(meta)
    write_atomic(out / "comparison.json", lambda p: p.write_text(text))
    return cmp

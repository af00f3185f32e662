"""Figures of a cohort run: quantile bands over time and Kaplan-Meier curves (with 95% intervals,
censoring marks and numbers at risk)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._endpoints import km_table

_COLORS = {"overall": "0.25", "U-CLL": "tab:red", "M-CLL": "tab:blue"}
_LABELS = {"alc_per_uL": ("ALC", "ALC (/µL)"), "cells_tissue_1e9": ("tissue CLL burden", "CLL cells in tissues (1e9)"),
           "mrd_blood": ("blood MRD", "CLL cells among blood leukocytes (fraction)")}


def _caption(meta: Mapping[str, Any]) -> str:
    spec = meta.get("spec", {})
    drawn = "supplied population" if spec.get("population") else f"seed {spec.get('seed')}"
    return f"n = {spec.get('n')}, {spec.get('regimen')}, {drawn}"


def plot_bands(bands: pd.DataFrame, meta: Mapping[str, Any]) -> Figure:
    """Median and 5-95% band of ALC, tissue burden and blood MRD over time, by IGHV."""
    labels = {col: lab for col, lab in _LABELS.items() if (bands["observable"] == col).any()} or _LABELS
    fig = Figure(figsize=(5.5 * len(labels), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(labels)))
    for ax, (col, (title, ylabel)) in zip(axes, labels.items(), strict=True):
        sel = bands[bands["observable"] == col]
        for group in ("U-CLL", "M-CLL"):
            g = sel[sel["group"] == group].sort_values("time_day")
            if g.empty:
                continue
            c = _COLORS[group]
            ax.fill_between(g["time_day"], g["p5"], g["p95"], color=c, alpha=0.15, lw=0)
            ax.plot(g["time_day"], g["p50"], color=c, lw=2, label=f"{group} median (band: 5-95%)")
        if col == "mrd_blood":
            ax.axhline(1e-4, ls=":", color="0.4", lw=1, label="undetectable MRD (< 1e-4)")
        ax.set_yscale("log")
        ax.set_xlabel("time on treatment (days)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: median and 5-95% of patients")
        ax.legend(fontsize=8)
    fig.suptitle(f"Virtual cohort: {_caption(meta)}")
    return fig


def km_axes(
    ax: Any, risk_ax: Any, groups: Mapping[str, tuple[np.ndarray, np.ndarray]], *, cumulative: bool = False,
    at: np.ndarray | None = None,
) -> None:
    """Draw Kaplan-Meier curves of ``groups`` on ``ax``: step curve, 95% band, censoring ticks, and the numbers
    at risk at the times ``at`` as a table on ``risk_ax``.

    Parameters
    ----------
    groups
        Label -> (durations in days, event observed).
    cumulative
        Draw ``1 - S`` (share with the event) instead of ``S``.
    """
    from matplotlib.ticker import MaxNLocator

    tables = {label: km_table(d, e) for label, (d, e) in groups.items()}
    t_max = max((float(t["time_day"].max()) for t in tables.values()), default=1.0)
    if at is None:
        at = np.array([t for t in MaxNLocator(6).tick_values(0.0, t_max) if 0.0 <= t <= t_max])
    xlabel = ax.get_xlabel() or "days"
    ax.set_xlabel("")
    for k, (label, tab) in enumerate(tables.items()):
        c = _COLORS.get(label, f"C{k}")
        s, lo, hi = (tab["survival"], tab["lower"], tab["upper"])
        if cumulative:
            s, lo, hi = 1 - s, 1 - hi, 1 - lo
        ax.step(tab["time_day"], s, where="post", color=c, lw=2, label=f"{label} (n = {int(tab['at_risk'].iloc[0])})")
        ax.fill_between(tab["time_day"], lo, hi, step="post", color=c, alpha=0.15, lw=0)
        cens = tab[tab["censored"] > 0]
        ax.plot(cens["time_day"], np.interp(cens["time_day"], tab["time_day"], s), "|", color=c, ms=8, mew=1.5)
        counts = [int(np.sum(np.asarray(groups[label][0], float) >= t)) for t in at]
        risk_ax.text(-0.02, 0.75 - 0.5 * k / max(1, len(tables) - 1) if len(tables) > 1 else 0.5, label,
                     transform=risk_ax.transAxes, ha="right", va="center", color=c, fontsize=8)
        for t, nr in zip(at, counts, strict=True):
            y = 0.75 - 0.5 * k / max(1, len(tables) - 1) if len(tables) > 1 else 0.5
            risk_ax.text(t, y, str(nr), ha="center", va="center", fontsize=8, color=c,
                         transform=risk_ax.get_xaxis_transform())
    risk_ax.set_xlim(ax.get_xlim())
    risk_ax.set_yticks([])
    risk_ax.set_xticks(at)
    risk_ax.set_xticklabels([f"{t:g}" for t in at])
    risk_ax.set_xlabel(xlabel)
    risk_ax.set_title("numbers at risk", fontsize=8, loc="left")
    for side in ("top", "right", "left"):
        risk_ax.spines[side].set_visible(False)


def _km_figure() -> tuple[Figure, Any, Any]:
    fig = Figure(figsize=(6.5, 5.2), layout="constrained")
    ax, risk = fig.subplots(2, 1, sharex=True, height_ratios=(5, 1))
    return fig, ax, risk


def plot_resolution_km(patients: pd.DataFrame, meta: Mapping[str, Any]) -> Figure:
    """Kaplan-Meier curve of time from lymphocytosis onset to resolution, by IGHV (censored at end of follow-up)."""
    fig, ax, risk = _km_figure()
    ok = patients[(patients["status"] == "success") & (patients["lymphocytosis"] == 1)]
    groups = {
        group: (sub["lymphocytosis_duration_day"].to_numpy(), sub["lymphocytosis_resolved"].to_numpy(bool))
        for group, sub in (("U-CLL", ok[ok["ighv"] == "U"]), ("M-CLL", ok[ok["ighv"] == "M"]))
        if not sub.empty
    }
    ax.set_xlabel("days since onset of lymphocytosis")
    ax.set_ylabel("share with lymphocytosis resolved")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Resolution of treatment lymphocytosis (Kaplan-Meier, 95% CI, | censored)\n{_caption(meta)}",
                 fontsize=10)
    if groups:
        km_axes(ax, risk, groups, cumulative=True)
        ax.legend()
    else:  # e.g. a short follow-up: say so rather than show empty axes
        ax.text(0.5, 0.5, "no evaluable patient had treatment lymphocytosis", transform=ax.transAxes,
                ha="center", va="center")
        risk.set_axis_off()
    return fig


def plot_progression_km(patients: pd.DataFrame, meta: Mapping[str, Any]) -> Figure:
    """Kaplan-Meier progression-free survival (iwCLL progression; deaths are not modelled), by IGHV."""
    fig, ax, risk = _km_figure()
    ok = patients[patients["status"] == "success"]
    groups = {}
    if "progressed" in ok:
        for group, sub in (("U-CLL", ok[ok["ighv"] == "U"]), ("M-CLL", ok[ok["ighv"] == "M"])):
            if not sub.empty:
                groups[group] = (sub["ttp_day"].to_numpy(float), sub["progressed"].to_numpy(bool))
    ax.set_xlabel("days on treatment")
    ax.set_ylabel("progression-free (share of patients)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Progression-free survival (iwCLL 2018; Kaplan-Meier, 95% CI, | censored)\n{_caption(meta)}",
                 fontsize=10)
    if groups:
        km_axes(ax, risk, groups)
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "no evaluable patient", transform=ax.transAxes, ha="center", va="center")
        risk.set_axis_off()
    return fig

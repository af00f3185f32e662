"""Figures of a cohort run: quantile bands over time and the Kaplan-Meier curve of resolution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ._endpoints import kaplan_meier

_COLORS = {"overall": "0.25", "U-CLL": "tab:red", "M-CLL": "tab:blue"}
_LABELS = {"alc_per_uL": ("ALC", "ALC (/µL)"), "cells_tissue_1e9": ("tissue CLL burden", "CLL cells in tissues (1e9)")}


def _caption(meta: Mapping[str, Any]) -> str:
    spec = meta.get("spec", {})
    return f"n = {spec.get('n')}, {spec.get('regimen')}, seed {spec.get('seed')}"


def plot_bands(bands: pd.DataFrame, meta: Mapping[str, Any]) -> Figure:
    """Median and 5-95% band of ALC and tissue burden over time, by IGHV."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (col, (title, ylabel)) in zip(axes, _LABELS.items(), strict=True):
        sel = bands[bands["observable"] == col]
        for group in ("U-CLL", "M-CLL"):
            g = sel[sel["group"] == group].sort_values("time_day")
            if g.empty:
                continue
            c = _COLORS[group]
            ax.fill_between(g["time_day"], g["p5"], g["p95"], color=c, alpha=0.15, lw=0)
            ax.plot(g["time_day"], g["p50"], color=c, lw=2, label=f"{group} median (band: 5-95%)")
        ax.set_yscale("log")
        ax.set_xlabel("time on treatment (days)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: median and 5-95% of patients")
        ax.legend(fontsize=8)
    fig.suptitle(f"Virtual cohort: {_caption(meta)}")
    return fig


def plot_resolution_km(patients: pd.DataFrame, meta: Mapping[str, Any]) -> Figure:
    """Kaplan-Meier curve of time from lymphocytosis onset to resolution, by IGHV (censored at end of follow-up)."""
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    ok = patients[(patients["status"] == "success") & (patients["lymphocytosis"] == 1)]
    for group, sub in (("U-CLL", ok[ok["ighv"] == "U"]), ("M-CLL", ok[ok["ighv"] == "M"])):
        if sub.empty:
            continue
        t, s = kaplan_meier(sub["lymphocytosis_duration_day"].to_numpy(), sub["lymphocytosis_resolved"].to_numpy(bool))
        ax.step(t, 1 - s, where="post", color=_COLORS[group], lw=2, label=f"{group} (n = {len(sub)})")
    ax.set_xlabel("days since onset of lymphocytosis")
    ax.set_ylabel("share with lymphocytosis resolved")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Resolution of treatment lymphocytosis (Kaplan-Meier)\n{_caption(meta)}", fontsize=10)
    if ok.empty:  # e.g. a short follow-up: say so rather than show empty axes
        ax.text(0.5, 0.5, "no evaluable patient had treatment lymphocytosis", transform=ax.transAxes,
                ha="center", va="center")
    else:
        ax.legend()
    return fig

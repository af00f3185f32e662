"""Figures of a sensitivity analysis: indices over time per observable, and bars with CIs per output.

Both take the tidy table of :meth:`cllsim.analysis.Sensitivity.to_df` and return
:class:`matplotlib.figure.Figure` objects (pyplot and the backend are left alone).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Index drawn over time and ranked on: total Sobol' index, or Morris mu*.
_MAIN = {"sobol": "ST", "morris": "mu_star"}
_SECOND = {"sobol": "S1", "morris": "sigma"}
_LABEL = {"ST": "total index ST", "S1": "first-order S1", "mu_star": "Morris mu*", "sigma": "Morris sigma"}


def _caption(meta: Mapping[str, Any]) -> str:
    spec = meta.get("spec", {})
    samp = meta.get("sampling", {})
    size = f"N = {samp['n']}" if "n" in samp else f"{samp.get('trajectories')} trajectories"
    return (f"{meta.get('method', '')}: {size}, {spec.get('distribution')} distribution, "
            f"{spec.get('regimen')}, IGHV {spec.get('ighv')}")


def _top_parameters(df: pd.DataFrame, index: str, top: int) -> list[str]:
    sel = df[df["index"] == index]
    ranked = sel.groupby("parameter")["value"].max().sort_values(ascending=False)
    return list(ranked.index[:top])


def plot_over_time(df: pd.DataFrame, meta: Mapping[str, Any], top: int = 6) -> Figure:
    """For each observable, the main index of the ``top`` parameters against the output day, with CI bands."""
    method = str(df["method"].iloc[0]) if len(df) else "sobol"
    main = _MAIN[method]
    observables = list(dict.fromkeys(df["observable"]))
    ncols = min(2, max(1, len(observables)))
    nrows = math.ceil(len(observables) / ncols)
    fig = Figure(figsize=(6.2 * ncols, 3.8 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colors: dict[str, str] = {}
    palette = [f"C{i}" for i in range(10)]
    for ax, name in zip(axes, observables, strict=False):
        sel = df[(df["observable"] == name) & (df["index"] == main)]
        for pid in _top_parameters(sel, main, top):
            g = sel[sel["parameter"] == pid].sort_values("day")
            c = colors.setdefault(pid, palette[len(colors) % len(palette)])
            has_ci = bool(g["ci_low"].notna().any())
            if len(g) < 12:  # few days: points with CI bars, joined
                err = np.vstack([(g["value"] - g["ci_low"]).clip(lower=0), (g["ci_high"] - g["value"]).clip(lower=0)])
                ax.errorbar(g["day"], g["value"], yerr=err if has_ci else None, color=c, marker="o", lw=1.8,
                            capsize=3, label=pid)
            else:
                ax.plot(g["day"], g["value"], color=c, lw=1.8, label=pid)
                if has_ci:
                    ax.fill_between(g["day"], g["ci_low"], g["ci_high"], color=c, alpha=0.15, lw=0)
        unit = sel["output_unit"].iloc[0] if len(sel) else ""
        ax.set_title(f"{name} ({unit})", fontsize=10)
        ax.set_xlabel("day on treatment")
        ax.set_ylabel(_LABEL[main])
        if main == "ST":
            ax.set_ylim(-0.05, 1.05)
        days = sorted(set(sel["day"]))
        if len(days) == 1:  # one time point: show it as a point on a readable axis
            ax.set_xlim(days[0] * 0.5, days[0] * 1.5)
        ax.legend(fontsize=7, loc="best")
    for ax in axes[len(observables):]:
        ax.set_visible(False)
    fig.suptitle(f"Sensitivity over time ({_LABEL[main]}, bars/band: CI) - {_caption(meta)}", fontsize=10)
    return fig


def plot_bars(df: pd.DataFrame, meta: Mapping[str, Any], top: int = 8) -> Figure:
    """Per output, bars of the two indices (S1/ST or mu*/sigma) of the ``top`` parameters, CI as error bars."""
    method = str(df["method"].iloc[0]) if len(df) else "sobol"
    main, second = _MAIN[method], _SECOND[method]
    outputs = list(dict.fromkeys(df["output"]))
    ncols = min(3, max(1, len(outputs)))
    nrows = math.ceil(len(outputs) / ncols)
    fig = Figure(figsize=(4.6 * ncols, 0.35 * top * nrows + 1.6 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, label in zip(axes, outputs, strict=False):
        sel = df[df["output"] == label]
        pids = _top_parameters(sel, main, top)[::-1]
        y = np.arange(len(pids))
        for offset, index, color in ((0.2, main, "tab:blue"), (-0.2, second, "tab:orange")):
            g = sel[sel["index"] == index].set_index("parameter").reindex(pids)
            err = None
            if g["ci_low"].notna().any():
                err = np.vstack([(g["value"] - g["ci_low"]).clip(lower=0), (g["ci_high"] - g["value"]).clip(lower=0)])
            ax.barh(y + offset, g["value"], height=0.38, xerr=err, color=color, label=_LABEL[index],
                    error_kw={"lw": 0.8, "capsize": 2})
        ax.set_yticks(y, pids, fontsize=7)
        ax.set_title(label, fontsize=9)
        note = sel["note"].iloc[0] if "note" in sel and len(sel) else ""
        if note:
            ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center")
        ax.axvline(0, color="0.5", lw=0.6)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[len(outputs):]:
        ax.set_visible(False)
    fig.suptitle(f"Sensitivity indices with {int(df['conf_level'].iloc[0] * 100) if len(df) else 95}% CI - "
                 f"{_caption(meta)}", fontsize=10)
    return fig

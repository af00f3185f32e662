"""Figure of a patient fit: data, best fit and 95% prediction band per measured series."""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from ._data import ALC, DAY, LN_VOLUME, SPLEEN_VOLUME

if TYPE_CHECKING:
    from ._fit import FitResult

_PANELS = (
    (ALC, "Absolute lymphocyte count", "ALC (cells/µL)", True),
    (LN_VOLUME, "Lymph-node volume (CT)", "volume (cm³)", False),
    (SPLEEN_VOLUME, "Spleen volume (CT)", "volume (cm³)", False),
)


def plot_fit(result: FitResult) -> Figure:
    """Data points, MAP course and 95% band (parameter uncertainty) for ALC and CT volumes.

    The part after the last measurement is the prediction; a dotted line marks the last data day.
    A :class:`~matplotlib.figure.Figure` made without pyplot (the caller's backend is left alone).
    """
    from ._fit import ALC_NORMAL_PER_UL, MONTH_6_DAY, MONTH_12_DAY

    fig = Figure(figsize=(14, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    table = result.data.table
    last = result.data.last_day
    for ax, (obs, title, ylabel, logy) in zip(axes, _PANELS, strict=True):
        b = result.band[result.band["observable"] == obs]
        ax.fill_between(b["day"], b["low"], b["high"], color="tab:blue", alpha=0.25, label="95% band")
        ax.plot(b["day"], b["map"], color="tab:blue", lw=1.8, label="best fit (MAP)")
        measured = table[[DAY, obs]].dropna()
        if not measured.empty:
            ax.plot(measured[DAY], measured[obs], "o", color="black", ms=5, label="data")
        else:
            title += " — not measured"
        ax.axvline(last, color="grey", ls=":", lw=1, label="last data day")
        if obs == ALC:
            ax.axhline(ALC_NORMAL_PER_UL, color="tab:green", ls="--", lw=1, label="normal ALC (4,000/µL)")
        if obs == LN_VOLUME:
            for day in (MONTH_6_DAY, MONTH_12_DAY):
                ax.axvline(day, color="tab:orange", ls="--", lw=0.8)
            ax.plot([], [], color="tab:orange", ls="--", lw=0.8, label="6 and 12 months")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("days since first dose (day)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Patient {result.data.patient_id} on {result.data.regimen.describe()} "
        f"(IGHV {result.metadata.get('ighv', '?')}): data, fit and prediction "
        f"(band: 95%, {result.metadata.get('uncertainty', '')} parameter uncertainty)",
        fontsize=11,
    )
    return fig

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
    """Data points, MAP course, 95% parameter band and 95% prediction interval for ALC and CT volumes.

    The parameter band is where the model course lies; the wider prediction interval adds the
    residual measurement noise and is where a new measurement falls. Data outside the
    prediction interval are circled in red.

    The part after the last measurement is the prediction; a dotted line marks the last data day.
    A :class:`~matplotlib.figure.Figure` made without pyplot (the caller's backend is left alone).
    """
    from ._fit import ALC_NORMAL_PER_UL, MONTH_6_DAY, MONTH_12_DAY

    fig = Figure(figsize=(14, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    table = result.data.table
    last = result.data.last_day
    obs_table = result.observations
    flagged = obs_table[obs_table["outside_pi"]]
    for ax, (obs, title, ylabel, logy) in zip(axes, _PANELS, strict=True):
        b = result.band[result.band["observable"] == obs]
        ax.fill_between(b["day"], b["pi_low"], b["pi_high"], color="tab:blue", alpha=0.12,
                        label="95% prediction interval (with residual noise)")
        ax.fill_between(b["day"], b["param_low"], b["param_high"], color="tab:blue", alpha=0.3,
                        label="95% parameter band")
        ax.plot(b["day"], b["map"], color="tab:blue", lw=1.8, label="best fit (MAP)")
        measured = table[[DAY, obs]].dropna()
        if not measured.empty:
            ax.plot(measured[DAY], measured[obs], "o", color="black", ms=5, label="data")
            out = flagged[flagged["observable"] == obs]
            if not out.empty:
                ax.plot(out["day"], out["value"], "o", mfc="none", mec="tab:red", ms=10, mew=1.5,
                        label="outside the prediction interval")
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
        f"(parameter band: 95%, {result.metadata.get('uncertainty', '')} parameter uncertainty)",
        fontsize=11,
    )
    return fig

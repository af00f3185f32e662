"""Figures of single simulations (the model code never draws).

A :class:`~matplotlib.figure.Figure` made without pyplot: drawing one does not touch the
caller's backend or pyplot's list of open figures; save it with ``fig.savefig`` or show it in
a notebook as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

if TYPE_CHECKING:
    from ..simulate import SimulationResult

#: Default panel: (title, [observables], y label)
DEFAULT_PANEL: list[tuple[str, list[str], str]] = [
    ("Absolute lymphocyte count", ["alc_per_uL"], "ALC (cells/µL)"),
    ("Tissue volumes", ["ln_volume_cm3", "spleen_volume_cm3"], "volume (cm³)"),
    ("BTK occupancy", ["btk_occupancy_pct"], "occupied BTK (%)"),
    ("Plasma drug (first week)", ["drug_plasma_ng_per_mL"], "plasma drug (ng/mL)"),
    ("CXCR4 on blood CLL cells", ["cxcr4_surface_blood", "cxcr4_ps339_blood"], "relative to baseline"),
    ("BCL2 in CLL cells", ["bcl2_blood", "bcl2_niche_ln"], "relative to baseline"),
]

LABELS = {
    "ln_volume_cm3": "lymph nodes",
    "spleen_volume_cm3": "spleen",
    "cxcr4_surface_blood": "surface CXCR4",
    "cxcr4_ps339_blood": "pS339-CXCR4",
    "bcl2_blood": "blood",
    "bcl2_niche_ln": "lymph-node niche",
}


def plot_panel(result: SimulationResult, observables: list[str] | None = None) -> Figure:
    """Panel of time courses of one simulation.

    Parameters
    ----------
    result
        A simulation result (time in days).
    observables
        Observables to draw one per axis; default: ALC, tissue volumes, BTK occupancy, plasma
        drug (first week), CXCR4/pS339 and BCL2.
    """
    panel = (
        DEFAULT_PANEL
        if observables is None
        else [(o, [o], result.units.get(o, "")) for o in observables]
    )
    available = set(result.observables)
    panel = [(t, [o for o in obs if o in available], y) for t, obs, y in panel]
    panel = [p for p in panel if p[1]]
    ncols = 3
    nrows = -(-len(panel) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (title, obs, ylabel) in zip(axes.flat, panel, strict=False):
        for o in obs:
            s = result[o]
            if o.startswith("drug_"):
                s = s[s.index <= 7]
            ax.plot(s.index, s.to_numpy(), label=LABELS.get(o, o))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("time on treatment (days)")
        ax.set_ylabel(ylabel)
        if len(obs) > 1:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panel):]:
        ax.set_visible(False)
    md = result.metadata
    fig.suptitle(
        f"{md.get('ighv', '?')}-CLL {md.get('host', '')}, {md.get('regimen', '')} "
        f"(cllsim {md.get('cllsim_version', '')}, parameters {md.get('parameter_hash', '')})",
        fontsize=11,
    )
    fig.tight_layout()
    return fig

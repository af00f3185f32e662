"""Figures of simulations: the panel of one result, and several results overlaid (the model code never draws).

A :class:`~matplotlib.figure.Figure` made without pyplot: drawing one does not touch the
caller's backend or pyplot's list of open figures; save it with ``fig.savefig`` or show it in
a notebook as it is. Every axis is labelled with its quantity and unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._errors import SpecError

if TYPE_CHECKING:
    from ..simulate import SimulationResult

#: Default panel: (title, [observables], y label with unit)
DEFAULT_PANEL: list[tuple[str, list[str], str]] = [
    ("Absolute lymphocyte count", ["alc_per_uL"], "ALC (cells/µL)"),
    ("Tissue volumes", ["ln_volume_cm3", "spleen_volume_cm3"], "volume (cm³)"),
    ("BTK occupancy", ["btk_occupancy_pct"], "occupied BTK (%)"),
    ("Plasma drug (first week)", ["drug_plasma_ng_per_mL"], "plasma drug (ng/mL)"),
    ("CXCR4 on blood CLL cells", ["cxcr4_surface_blood", "cxcr4_ps339_blood"], "level (× baseline)"),
    ("BCL2 in CLL cells", ["bcl2_blood", "bcl2_niche_ln"], "level (× baseline)"),
]

#: Default observables of :func:`plot_compare`, one axis each (those every result reports are drawn).
COMPARE_OBSERVABLES = ("alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3", "btk_occupancy_pct",
                       "drug_plasma_ng_per_mL", "cxcr4_surface_blood")

LABELS = {
    "ln_volume_cm3": "lymph nodes",
    "spleen_volume_cm3": "spleen",
    "cxcr4_surface_blood": "surface CXCR4",
    "cxcr4_ps339_blood": "pS339-CXCR4",
    "bcl2_blood": "blood",
    "bcl2_niche_ln": "lymph-node niche",
}

#: Short names of common observables for axis labels (others: their registry description, or id).
SHORT_NAMES = {
    "alc_per_uL": "ALC",
    "ln_volume_cm3": "lymph-node volume",
    "spleen_volume_cm3": "spleen volume",
    "bm_infiltration_pct": "marrow infiltration",
    "btk_occupancy_pct": "BTK occupancy",
    "drug_plasma_ng_per_mL": "plasma drug",
    "drug_free_nM": "free plasma drug",
    "cxcr4_surface_blood": "surface CXCR4",
    "cxcr4_ps339_blood": "pS339-CXCR4",
    "bcl2_blood": "BCL2 (blood)",
    "bcl2_niche_ln": "BCL2 (lymph-node niche)",
}

#: Units as axis labels print them.
_UNIT_TEXT = {"1/uL": "cells/µL", "cm3": "cm³", "relative to baseline": "× baseline",
              "relative to untreated": "× untreated", "": "dimensionless"}

TIME_LABEL = "time on treatment (days)"


def _unit(unit: str) -> str:
    return _UNIT_TEXT.get(unit, unit.replace("uL", "µL").replace("cm3", "cm³"))


def describe(result: SimulationResult, observable: str) -> str:
    """What ``observable`` is, from the registry of the result's host (the id when unknown)."""
    from ..simulate import observables

    try:
        described = {o.id: o.description for o in observables(str(result.metadata.get("host", "patient")))}
    except Exception:  # noqa: BLE001 - a result from an unknown host still gets its id
        described = {}
    return described.get(observable, observable)


def axis_label(result: SimulationResult, observable: str) -> str:
    """``"<short name> (<unit>)"`` for ``observable`` of ``result``."""
    what = SHORT_NAMES.get(observable) or describe(result, observable)
    if len(what) > 30:  # keep the label on one line of a 4-inch axis; the id is the short form
        what = observable
    return f"{what} ({_unit(result.units.get(observable, ''))})"


def axis_title(result: SimulationResult, observable: str) -> str:
    """The registry description, capitalised, as an axis title."""
    what = describe(result, observable)
    return what[:1].upper() + what[1:]


def _is_human(result: SimulationResult) -> bool:
    from ..model import get_host

    try:
        return get_host(str(result.metadata.get("host", "patient"))).extra.get("species", "human") == "human"
    except Exception:  # noqa: BLE001 - unknown host: say nothing about IGHV rather than fail to draw
        return False


def subject_label(result: SimulationResult) -> str:
    """Who was simulated: ``"U-CLL"`` for people, the host (``"tcl1 mouse"``) for animals, whose
    leukemia has no IGHV status in the clinical sense."""
    md = result.metadata
    return f"{md.get('ighv', '?')}-CLL" if _is_human(result) else f"{md.get('host', '?')} mouse"


def _panel(result: SimulationResult, observables: str | Sequence[str] | None) -> list[tuple[str, list[str], str]]:
    if isinstance(observables, str):
        observables = [observables]
    available = set(result.observables)
    if observables is None:
        panel = [(t, [o for o in obs if o in available], y) for t, obs, y in DEFAULT_PANEL]
        drugs = [d for d in result.metadata.get("drugs", []) if f"{d}_plasma_ng_per_mL" in available]
        if len(drugs) > 1:  # a combination: each drug's plasma level over the whole course
            panel = [("Plasma drugs", [f"{d}_plasma_ng_per_mL" for d in drugs], "plasma level (ng/mL)")
                     if t.startswith("Plasma drug") else (t, obs, y) for t, obs, y in panel]
        return [p for p in panel if p[1]]
    missing = [o for o in observables if o not in available]
    if missing:
        raise SpecError(f"no observable {missing[0]!r} in the result; available: {', '.join(sorted(available))}")
    return [(axis_title(result, o), [o], axis_label(result, o)) for o in observables]


def _axes_list(ax: Any) -> list[Axes]:
    axes = [ax] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).ravel())
    if not axes or not all(isinstance(a, Axes) for a in axes):
        raise SpecError("ax must be a matplotlib Axes or a sequence of them")
    return axes


def plot_panel(
    result: SimulationResult, observables: str | Sequence[str] | None = None, *, ax: Axes | Sequence[Axes] | None = None
) -> Figure:
    """Panel of time courses of one simulation.

    Parameters
    ----------
    result
        A simulation result (time in days).
    observables
        Observables to draw, one per axis; default: ALC, tissue volumes, BTK occupancy, plasma
        drug (first week), CXCR4/pS339 and BCL2.
    ax
        Axes to draw into instead of a new figure: one :class:`~matplotlib.axes.Axes` for one
        observable, or a sequence with (at least) one per panel.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the figure of ``ax``.
    """
    panel = _panel(result, observables)
    if ax is None:
        ncols = min(3, len(panel)) or 1
        nrows = -(-len(panel) // ncols) or 1
        fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows))
        axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    else:
        axes = _axes_list(ax)
        if len(axes) < len(panel):
            raise SpecError(f"{len(panel)} panels need as many axes, got {len(axes)}; give observables= to draw fewer")
        fig = _figure_of(axes[0])
    for a, (title, obs, ylabel) in zip(axes, panel, strict=False):
        for o in obs:
            s = result[o]
            if observables is None and o.startswith("drug_"):
                s = s[s.index <= 7]
            a.plot(s.index, s.to_numpy(), label=LABELS.get(o, o.removesuffix("_plasma_ng_per_mL")))
        a.set_title(title, fontsize=10)
        a.set_xlabel(TIME_LABEL)
        a.set_ylabel(ylabel)
        if len(obs) > 1:
            a.legend(fontsize=8)
        a.grid(alpha=0.3)
    if ax is None:
        for a in axes[len(panel):]:
            a.set_visible(False)
        md = result.metadata
        fig.suptitle(
            f"{subject_label(result)}{' patient' if _is_human(result) else ''}, {md.get('regimen', '')} "
            f"(cllsim {md.get('cllsim_version', '')}, parameters {md.get('parameter_hash', '')})",
            fontsize=11,
        )
        fig.tight_layout()
    return fig


def compare_labels(results: Sequence[SimulationResult]) -> list[str]:
    """Legend entries: each result's regimen and IGHV status (host for animals), plus drug, host and
    patient id where those differ between the results; a number is added to repeated entries."""
    fields = [("drug", "drug"), ("host", "host"), ("patient_id", "patient_id")]
    differ = [key for key, _ in fields if len({str(r.metadata.get(key, "")) for r in results}) > 1]
    labels = []
    for r in results:
        md = r.metadata
        parts = [str(md.get("regimen", "?")), subject_label(r)]
        parts += [str(md.get(key, "")) for key in differ if key != "host" or _is_human(r)]
        labels.append(", ".join(p for p in parts if p))
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    count: dict[str, int] = {}
    out = []
    for label in labels:
        if seen[label] > 1:
            count[label] = count.get(label, 0) + 1
            label = f"{label} #{count[label]}"
        out.append(label)
    return out


#: Line styles cycled with the colours so that coinciding curves stay distinguishable.
_LINESTYLES = ("-", "--", "-.", ":")


def plot_compare(
    results: Sequence[SimulationResult],
    observables: str | Sequence[str] | None = None,
    *,
    labels: Sequence[str] | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Several simulations overlaid, one axis per observable, one line (colour and style) per result.

    Parameters
    ----------
    results
        Simulation results (time in days), e.g. two regimens or a U-CLL and an M-CLL patient.
    observables
        Observables to draw, one axis each; default: those of :data:`COMPARE_OBSERVABLES` that
        every result reports.
    labels
        Legend entries, one per result; default: :func:`compare_labels` (regimen and IGHV status,
        plus whatever else differs).
    ax
        Axes to draw into (one per observable) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with one legend below the axes (never over the curves).

    Raises
    ------
    cllsim.SpecError
        No results, a label count that does not match, or an observable a result lacks.
    """
    results = list(results)
    if not results:
        raise SpecError("plot_compare needs at least one result")
    if isinstance(observables, str):
        observables = [observables]
    if observables is None:
        observables = [o for o in COMPARE_OBSERVABLES if all(o in r.observables for r in results)]
        if not observables:
            raise SpecError("the results share none of the default observables; give observables=")
    for r in results:
        _panel(r, observables)  # refuses an observable this result lacks
    legend = list(labels) if labels is not None else compare_labels(results)
    if len(legend) != len(results):
        raise SpecError(f"{len(results)} results need {len(results)} labels, got {len(legend)}")
    if ax is None:
        ncols = min(3, len(observables))
        nrows = -(-len(observables) // ncols)
        # constrained layout keeps room for the legend outside the axes, below them
        fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows + 0.25 * -(-len(results) // 3)), layout="constrained")
        axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    else:
        axes = _axes_list(ax)
        if len(axes) < len(observables):
            raise SpecError(f"{len(observables)} observables need as many axes, got {len(axes)}")
        fig = _figure_of(axes[0])
    handles = []
    for a, o in zip(axes, observables, strict=False):
        for i, r in enumerate(results):
            s = r[o]
            (line,) = a.plot(s.index, s.to_numpy(), color=f"C{i % 10}", ls=_LINESTYLES[i % 4], lw=1.4,
                             label=legend[i])
            if a is axes[0]:
                handles.append(line)
        a.set_title(axis_title(results[0], o), fontsize=10)
        a.set_xlabel(TIME_LABEL)
        a.set_ylabel(axis_label(results[0], o))
        a.grid(alpha=0.3)
    if ax is None:
        for a in axes[len(observables):]:
            a.set_visible(False)
        fig.legend(handles, legend, loc="outside lower center", ncols=min(3, len(results)), fontsize=8,
                   frameon=False)
    else:
        axes[0].legend(handles, legend, fontsize=8)
    return fig


def _figure_of(ax: Any) -> Figure:
    """The top-level figure that holds ``ax`` (through subfigures)."""
    fig = ax.figure
    while fig is not None and not isinstance(fig, Figure):
        fig = fig.figure  # a SubFigure's .figure is the figure it belongs to
    if fig is None:
        raise SpecError("the axes belong to no figure")
    return fig

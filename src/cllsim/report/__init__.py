"""Figures and reports: the panel of one simulation and the HTML report of the experiments.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so drawing never
changes the caller's matplotlib backend. The names are imported on first use.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._html import ReportedExperiment as ReportedExperiment
    from ._html import figure_png_base64 as figure_png_base64
    from ._html import render_report as render_report
    from ._html import write_report as write_report
    from ._panel import plot_compare as plot_compare
    from ._panel import plot_panel as plot_panel

_EXPORTS = {
    "ReportedExperiment": "._html",
    "figure_png_base64": "._html",
    "render_report": "._html",
    "write_report": "._html",
    "plot_compare": "._panel",
    "plot_panel": "._panel",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

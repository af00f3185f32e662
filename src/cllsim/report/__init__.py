"""Figures and reports."""

from ._html import render_report as render_report
from ._html import write_report as write_report
from ._panel import plot_panel as plot_panel

__all__ = ["plot_panel", "render_report", "write_report"]

"""Figures and reports."""

from ._panel import plot_panel as plot_panel

__all__ = ["plot_panel"]

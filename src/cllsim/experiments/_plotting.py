"""Shared figure helpers of the experiments (matplotlib figures without pyplot, imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Colours of the arms, used by every experiment figure.
COLORS = {
    "vehicle": "#4d4d4d",
    "ibrutinib": "#c0392b",
    "U": "#c0392b",
    "M": "#2471a3",
    "mouse": "#7d3c98",
    "patient": "#117a65",
}


def subplots(ncols: int, nrows: int = 1, width: float = 4.3, height: float = 3.4):
    """A figure with a grid of axes (numpy array, always 2-D).

    A :class:`~matplotlib.figure.Figure` made without pyplot, so the caller's backend is left alone.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def finish(fig: Figure, title: str) -> Figure:
    """Caption-like title and tight layout."""
    fig.suptitle(title, fontsize=10.5)
    fig.tight_layout()
    return fig


def band(ax: Axes, t: np.ndarray, values: np.ndarray, label: str, color: str) -> None:
    """Mean line with a min-max band of a group (rows: subjects)."""
    values = np.atleast_2d(values)
    ax.plot(t, values.mean(axis=0), color=color, label=label, lw=1.8)
    if values.shape[0] > 1:
        ax.fill_between(t, values.min(axis=0), values.max(axis=0), color=color, alpha=0.18, lw=0)


def dots(ax: Axes, x: float, values: np.ndarray, color: str, label: str | None = None) -> None:
    """Individual values with a median bar, as in a lab's dot plot."""
    values = np.asarray(values, float)
    jitter = np.linspace(-0.12, 0.12, values.size) if values.size > 1 else np.zeros(1)
    ax.scatter(x + jitter, values, s=18, color=color, alpha=0.85, label=label, zorder=3)
    ax.hlines(np.median(values), x - 0.22, x + 0.22, color="black", lw=1.6, zorder=4)

"""How engines are compared: the relative difference used by the agreement tests and benchmarks."""

from __future__ import annotations

import numpy as np

#: Floor, as a fraction of the trajectory's largest magnitude, for observables that start at zero.
FLOOR = 1e-6


def max_relative_difference(values: np.ndarray, reference: np.ndarray, floor: float = FLOOR) -> float:
    """Largest relative difference of a trajectory from its reference.

    Differences are scaled by ``max(|reference|, floor * max_t |reference|)``, so observables that
    start at exactly zero (drug, occupancy) are compared relative to their scale near zero. A
    trajectory that changes sign (a cumulative net flux) has no meaningful relative difference at
    its zero crossing; it is compared relative to its largest magnitude instead.

    Parameters
    ----------
    values, reference
        The same observable at the same times (any units, shape ``(T,)`` or ``(n, T)``).
    floor
        See above.
    """
    ref = np.asarray(reference, dtype=float)
    scale = np.max(np.abs(ref), axis=-1, keepdims=True)
    signed = np.any(ref < 0, axis=-1, keepdims=True) & np.any(ref > 0, axis=-1, keepdims=True)
    den = np.where(signed, scale, np.maximum(np.abs(ref), floor * scale)) + 1e-300
    return float(np.max(np.abs(np.asarray(values, dtype=float) - ref) / den))

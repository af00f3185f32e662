"""Coefficients of ROS34PW2 (Rang & Angermann, BIT 45, 2005), shared by both cohort-engine backends.

A four-stage, L-stable Rosenbrock-W method of order 3 with an embedded order-2 solution, in the
Hairer-Wanner notation (alpha = A, gamma = G, weights b and bhat). Both backends use the
transformed form, u_i = sum_j G_ij k_j, which avoids Jacobian-vector products (Hairer & Wanner,
Solving ODEs II, section IV.7): stage i solves (I/(gamma h) - J) u_i = f(y + sum_j TA_ij u_j)
+ sum_j TC_ij/h u_j + GSUM_i h f_t; the solution is y + sum_i TM_i u_i, the error estimate
sum_i TE_i u_i.
"""

from __future__ import annotations

import numpy as np

GAMMA = 0.43586652150845900
A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0],
        [0.87173304301691801, 0.0, 0.0, 0.0],
        [0.84457060015369423, -0.11299064236484185, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ]
)
G = np.array(
    [
        [GAMMA, 0.0, 0.0, 0.0],
        [-0.87173304301691801, GAMMA, 0.0, 0.0],
        [-0.90338057013044082, 0.054180672388095326, GAMMA, 0.0],
        [0.24212380706095346, -1.2232505839045147, 0.54526025533510214, GAMMA],
    ]
)
B = np.array([0.24212380706095346, -1.2232505839045147, 1.5452602553351020, 0.43586652150845900])
BHAT = np.array([0.37810903145819369, -0.096042292212423178, 0.5, 0.21793326075422950])

_GINV = np.linalg.inv(G)
#: Transformed-form coefficients as arrays (NumPy backend).
TA = A @ _GINV
TC = -np.tril(_GINV, -1)
TM = B @ _GINV
TE = (B - BHAT) @ _GINV
#: Weights of the non-autonomous term and stage abscissae.
GSUM = G.sum(axis=1)
ALPHA = A.sum(axis=1)


def as_tuples(a: np.ndarray) -> tuple:
    """Nested tuples of floats: numba caches functions that read global tuples, not global arrays."""
    return tuple(as_tuples(r) for r in a) if a.ndim > 1 else tuple(float(v) for v in a)

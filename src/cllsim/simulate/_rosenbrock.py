"""The Rosenbrock method of the cohort engine: coefficients shared by both backends.

RODAS4 (Hairer & Wanner, *Solving Ordinary Differential Equations II*, 2nd ed., Springer 1996,
section VI.4; coefficients of the authors' RODAS code, METH=1): six stages, order 4 with an embedded
order-3 solution, L-stable and stiffly accurate; it needs the exact Jacobian, which the code
generator provides. It replaced ROS34PW2 (order 3/2) because on this model it reaches the same
accuracy in about half the right-hand-side evaluations: the daily BTK dip after each dose sets
the step size, and a higher order covers it in fewer steps.

Both backends use the transformed form (Hairer & Wanner, section IV.7), which needs no
Jacobian-vector products: stage i solves ``(I/(gamma h) - J) u_i = f(t + alpha_i h, y + sum_j
a_ij u_j) + sum_j c_ij/h u_j + gsum_i h f_t``; the solution is ``y + sum_i m_i u_i`` and the error
estimate ``sum_i e_i u_i`` (for RODAS4 the last stage itself).
"""

from __future__ import annotations

import numpy as np

#: Diagonal coefficient gamma.
GAMMA = 0.25
#: a_ij of the transformed form (stage i reads y + sum_j a_ij u_j).
TA = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1.544, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.9466785280815826, 0.2557011698983284, 0.0, 0.0, 0.0, 0.0],
        [3.314825187068521, 2.896124015972201, 0.9986419139977817, 0.0, 0.0, 0.0],
        [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 0.0, 0.0],
        [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0, 0.0],
    ]
)
#: c_ij of the transformed form (stage i adds sum_j c_ij/h u_j).
TC = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [-5.6688, 0.0, 0.0, 0.0, 0.0, 0.0],
        [-2.430093356833875, -0.2063599157091915, 0.0, 0.0, 0.0, 0.0],
        [-0.1073529058151375, -9.594562251023355, -20.47028614809616, 0.0, 0.0, 0.0],
        [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160, 0.0, 0.0],
        [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054, 0.0],
    ]
)
#: Solution weights m_i (stiffly accurate: the last stage's argument plus the last stage).
TM = np.array([1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0, 1.0])
#: Error-estimate weights e_i (solution minus the embedded order-3 solution).
TE = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
#: gsum_i: weights of the explicit time derivative f_t.
GSUM = np.array([0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0])
#: Stage abscissae alpha_i (stage i is evaluated at t + alpha_i h).
ALPHA = np.array([0.0, 0.386, 0.21, 0.63, 1.0, 1.0])
#: Number of stages.
STAGES = ALPHA.size
#: The error estimate is O(h^ERROR_ORDER): the step-size factor is err^(-1/ERROR_ORDER).
ERROR_ORDER = 4

#: The driver block (drug, BTK, kinases) is integrated at this multiple of the driven block's
#: tolerances. Its states reach the cells only through smooth functions, and free BTK is tiny
#: under treatment (~1e-3), so relative control at the driven block's tolerance spent about a
#: third of the run on digits nothing downstream sees: over a year of daily points (50 random
#: patients, benchmarks/verify_agreement.py) the largest difference from the reference engine
#: on any observable, btk_activity included, was the same with a factor of 1 and of 10, and with
#: 100 (1.04e-5 at the default rtol 1e-5, 20 patients), which is 14% cheaper than 10 (the driver
#: is stepped at least once per stage time of the driven step, so most of its steps are landings).
DRIVER_TOLERANCE_FACTOR = 100.0

#: Distinct stage times after the start, increasing: where an external (driver) trajectory is needed.
TARGETS = np.unique(ALPHA[1:])
#: Row of each stage in the array of external states (row 0: the step's start, row r: TARGETS[r-1]).
STAGE_ROW = np.array([0 if a == 0.0 else 1 + int(np.searchsorted(TARGETS, a)) for a in ALPHA])
if TARGETS[-1] != 1.0 or STAGE_ROW[0] != 0:  # the kernels read the step's end state from the last row
    raise AssertionError("the first stage must be at the step's start and the last target at its end")


def as_tuples(a: np.ndarray) -> tuple:
    """Nested tuples of floats: numba caches functions that read global tuples, not global arrays."""
    return tuple(as_tuples(r) for r in a) if a.ndim > 1 else tuple(a.tolist())

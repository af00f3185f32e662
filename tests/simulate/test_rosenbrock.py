"""The cohort engine's Rosenbrock coefficients (RODAS4) have the order they claim."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from cllsim.simulate import _rosenbrock as ros
from cllsim.simulate._vectorized import _ros_step

# a stiff, nonlinear, non-autonomous test block: y1' = -y1^2 + x(t), y2' = y1 - 50 y2, with the
# external ("driver") state x(t) = cos(t) read at the stage times, as the driven block reads the driver
STIFF = 50.0


def rhs(y, x, d, u):
    return np.stack([-y[0] ** 2 + x[0], y[0] - STIFF * y[1]])


def factor(y, x, d, u, c):
    n = y.shape[1]
    m = np.zeros((n, 2, 2))
    m[:, 0, 0] = c + 2.0 * y[0]
    m[:, 1, 0] = -1.0
    m[:, 1, 1] = c + STIFF
    return m


def solve(m, r):
    return np.linalg.solve(m, r.T[..., None])[..., 0].T


def ft(y, x, xdot, d, u):
    return np.stack([xdot[0], np.zeros_like(xdot[0])])  # df/dx * dx/dt


def integrate(h: float, t_end: float = 2.0) -> np.ndarray:
    y = np.array([[0.5], [0.2]])
    t = 0.0
    for _ in range(round(t_end / h)):
        xs = [np.array([[np.cos(t)]])] + [np.array([[np.cos(t + a * h)]]) for a in ros.TARGETS]
        y, _ = _ros_step((rhs, factor, solve, ft), y, xs, np.array([[-np.sin(t)]]), {}, {}, h, 1.0, 1.0)
        t += h
    return y[:, 0]


def test_stage_rows_and_targets_are_consistent():
    assert ros.TA.shape == ros.TC.shape == (ros.STAGES, ros.STAGES)
    assert np.all(np.diff(ros.TARGETS) > 0) and ros.TARGETS[-1] == 1.0
    assert np.allclose(ros.TARGETS[ros.STAGE_ROW[1:] - 1], ros.ALPHA[1:])
    # stage abscissae are the row sums of alpha = TA G (Hairer-Wanner transformed form), and the
    # stiffly accurate solution is the last stage's argument plus the last stage
    assert np.allclose(ros.TM[:-1], ros.TA[-1, :-1]) and ros.TM[-1] == 1.0


def test_rodas4_converges_with_order_four_on_a_stiff_nonautonomous_block():
    exact = solve_ivp(
        lambda t, y: [-y[0] ** 2 + np.cos(t), y[0] - STIFF * y[1]], (0.0, 2.0), [0.5, 0.2],
        method="Radau", rtol=1e-13, atol=1e-15,
    ).y[:, -1]
    errors = [np.max(np.abs(integrate(h) - exact)) for h in (0.1, 0.05, 0.025)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 3.6), (errors, orders)


def test_embedded_estimate_is_one_order_lower():
    """The local error estimate shrinks like h^4 (order-3 embedded solution), which the step control assumes."""
    def local_estimate(h):
        y = np.array([[0.5], [0.2]])
        xs = [np.array([[1.0]])] + [np.array([[np.cos(a * h)]]) for a in ros.TARGETS]
        _, err = _ros_step((rhs, factor, solve, ft), y, xs, np.array([[0.0]]), {}, {}, h, 0.0, 1.0)
        return float(err[0])

    ratio = local_estimate(0.002) / local_estimate(0.001)  # asymptotic regime: STIFF * h << 1
    assert 2.0 ** (ros.ERROR_ORDER - 0.5) < ratio < 2.0 ** (ros.ERROR_ORDER + 0.5), ratio

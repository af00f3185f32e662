"""Output grids: the default resolves each dosing interval; ``times``/``step`` give exactly those times."""

import numpy as np
import pytest

import cllsim
from cllsim.simulate import MAX_OUTPUT_VALUES, default_times, output_times


def test_default_grid_resolves_peak_and_trough_of_a_daily_dose_after_the_first_week():
    """A daily grid would read plasma ibrutinib at the same clock time every day (a flat trough);
    the default grid must see the within-day swing of 420 mg qd on day 30 (more than 2x)."""
    plasma = cllsim.simulate("420 mg qd", days=31)["drug_plasma_ng_per_mL"]
    for day in (8, 30):
        within = plasma[(plasma.index >= day) & (plasma.index < day + 1)]
        assert within.size >= 12
        assert within.max() > 2.0 * within.min(), day


@pytest.mark.parametrize("days", [3.0, 7.0, 30.5, 365.0, 36_500.0])
def test_default_grid_is_increasing_ends_at_days_and_fits_the_output_limit(days):
    grid = default_times(days)
    assert grid[0] == 0.0 and grid[-1] == pytest.approx(days) and np.all(np.diff(grid) > 0)
    assert grid.size * 40 < MAX_OUTPUT_VALUES  # ~30 observables a patient
    after_week = np.diff(grid[grid >= 7.0])
    assert after_week.size == 0 or after_week.max() <= 0.5 + 1e-12  # at least two samples a day


def test_explicit_times_are_returned_exactly():
    asked = [0.5, 1.0, 2.25, 3.0]
    res = cllsim.simulate("420 mg qd", days=3, times=asked)
    assert sorted(res.data["time"].unique()) == asked
    assert res.wide().shape[0] == len(asked)


def test_step_gives_a_regular_grid_ending_at_days():
    res = cllsim.simulate("420 mg qd", days=2, step=0.125)
    np.testing.assert_allclose(sorted(res.data["time"].unique()), np.arange(17) * 0.125)
    np.testing.assert_allclose(output_times(1.0, step=0.3), [0.0, 0.3, 0.6, 0.9, 1.0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"times": [-0.5, 1.0]}, "not be negative"),
        ({"times": [0.0, 5.0]}, "beyond the simulated"),
        ({"times": [0.0, 2.0, 1.0]}, "must increase"),
        ({"times": [0.0, 1.0, 1.0]}, "must increase"),
        ({"times": []}, "non-empty"),
        ({"step": 0.0}, "step must be a positive"),
        ({"step": -1.0}, "step must be a positive"),
        ({"step": 10.0}, "longer than"),
        ({"times": [0.0, 1.0], "step": 0.5}, "not both"),
    ],
)
def test_bad_grids_are_refused(kwargs, message):
    with pytest.raises(cllsim.SpecError, match=message):
        output_times(3.0, **kwargs)

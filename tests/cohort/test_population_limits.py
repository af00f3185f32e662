"""Cohorts under hostile input (issue 13): cost and disk estimated before running, spreads that
would clip every draw refused, chunk seeds made without spawning every sibling."""

import time

import numpy as np
import pandas as pd
import pytest

from cllsim import SpecError
from cllsim.cohort._population import (
    MAX_CLIPPED_SHARE,
    MAX_PATIENTS,
    CohortSpec,
    check_population,
    clipped_share,
    sample_chunk,
)
from cllsim.cohort._run import MAX_CPU_HOURS, check_cost, estimate_cost, run_cohort
from cllsim.model import load_table


def test_the_last_chunk_of_a_huge_cohort_is_drawn_at_once():
    spec = CohortSpec(n=MAX_PATIENTS, chunk_size=1)  # 1e8 chunks: spawning them all never finished
    start = time.perf_counter()
    chunk = sample_chunk(spec, spec.n_chunks - 1)
    assert time.perf_counter() - start < 5.0
    assert list(chunk.ids) == [f"p{MAX_PATIENTS - 1:07d}"]


@pytest.mark.parametrize("seed, n_chunks, chunk", [(0, 3, 0), (7, 5, 4), (123, 40, 17)])
def test_a_chunk_seed_is_the_chunk_th_child_of_the_cohort_seed(seed, n_chunks, chunk):
    """What resuming relies on: the direct child equals the spawned one, so old cohorts still match."""
    spawned = np.random.default_rng(np.random.SeedSequence(seed).spawn(n_chunks)[chunk]).random(5)
    direct = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk,))).random(5)
    assert np.array_equal(spawned, direct)


def test_clipped_share_follows_the_log_normal_tails():
    assert clipped_share(100.0, 0.1, 1.0, 1e4) < 1e-12  # bounds at 46 SDs
    assert clipped_share(100.0, 50.0, 1.0, 1e4) > MAX_CLIPPED_SHARE
    assert clipped_share(1e9, 0.1, 1.0, 1e4) == pytest.approx(1.0)  # median far above the bounds
    assert clipped_share(1e9, 0.0, 1.0, 1e4) == 1.0
    assert clipped_share(1e3, 0.0, 1.0, 1e4) == 0.0


def test_a_table_spread_that_clips_is_refused():
    table = load_table()
    # a model parameter's spread comes from the table (the covariates' from the spec, tested below)
    wide = table.rows["death_max_per_day"].model_copy(update={"iivSD": 40.0})
    table = type(table)({**table.rows, "death_max_per_day": wide})
    with pytest.raises(SpecError, match="death_max_per_day: a log-normal spread of SD 40"):
        check_population(CohortSpec(n=3), table)
    with pytest.raises(SpecError, match="at the bounds"):
        sample_chunk(CohortSpec(n=3), 0, table)
    check_population(CohortSpec(n=3))  # the packaged table is fine
    with pytest.raises(SpecError, match="baseline_alc_per_uL: a log-normal spread of SD 40"):
        check_population(CohortSpec(n=3, baseline_alc_per_uL={"median": 5e4, "sd_log": 40.0}))


def test_cost_is_estimated_and_refused_above_the_ceiling_unless_forced(tmp_path):
    spec = CohortSpec(n=10**7, days=730)
    cost = estimate_cost(spec)
    assert cost.cpu_hours > MAX_CPU_HOURS and cost.disk_bytes > 10**11
    with pytest.raises(SpecError, match="CPU-hours.*--force"):
        check_cost(spec, tmp_path / "c", list(range(spec.n_chunks)))
    small = CohortSpec(n=10, days=10)
    assert check_cost(small, tmp_path / "c", [0]).cpu_hours < 0.01
    huge = CohortSpec(n=MAX_PATIENTS, days=3650, chunk_size=1000)  # about 26 TB of chunk files
    with pytest.raises(SpecError, match="GB free"):  # forcing does not make disk
        check_cost(huge, tmp_path / "c", list(range(huge.n_chunks)), force=True)
    with pytest.raises(SpecError, match="CPU-hours"):
        run_cohort(spec, tmp_path / "c", progress=False)
    assert not (tmp_path / "c").exists()


def test_a_dense_regimen_is_refused_by_the_spec():
    with pytest.raises(SpecError, match="doses"):
        CohortSpec(n=3, regimen="420 mg q0.001h")


def test_cohort_output_grid_follows_times_or_step_and_assessment_stays_daily():
    daily = CohortSpec(n=3, days=10.5)
    np.testing.assert_array_equal(daily.output_days(), [*range(11), 10.5])
    stepped = CohortSpec(n=3, days=2, step=0.25)
    np.testing.assert_allclose(stepped.output_days(), np.arange(9) * 0.25)
    np.testing.assert_array_equal(stepped.assessment_days(), [0.0, 1.0, 2.0])
    assert set(stepped.assessment_days()) <= set(stepped.run_days())
    explicit = CohortSpec(n=3, days=5, times=(0.5, 4.0))
    np.testing.assert_array_equal(explicit.output_days(), [0.5, 4.0])
    with pytest.raises(SpecError, match="must increase"):
        CohortSpec(n=3, days=5, times=(2.0, 1.0))


def test_a_chunk_reports_the_asked_times_and_the_same_endpoints_as_the_daily_default():
    from cllsim.cohort._run import simulate_chunk

    traj_daily, pat_daily = simulate_chunk(CohortSpec(n=2, days=3), 0)
    traj_fine, pat_fine = simulate_chunk(CohortSpec(n=2, days=3, step=0.125), 0)
    np.testing.assert_allclose(np.unique(traj_fine["time"]), np.arange(25) * 0.125)
    np.testing.assert_array_equal(np.unique(traj_daily["time"]), [0.0, 1.0, 2.0, 3.0])
    numeric = pat_daily.select_dtypes("number").columns.drop("n_steps")
    pd.testing.assert_frame_equal(pat_fine[numeric], pat_daily[numeric], rtol=1e-4)

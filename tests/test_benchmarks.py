"""Smoke tests of the peer and start-up benchmarks: they import, parse options and judge (nothing is timed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def peers():
    return load("peers")


@pytest.fixture(scope="module")
def cli_startup():
    return load("cli_startup")


def test_peers_options(peers):
    default, quick = peers.parse_args([]), peers.parse_args(["--quick"])
    assert default.rtol == sorted(peers.FULL_SWEEP, reverse=True)
    assert quick.rtol == sorted(peers.QUICK_SWEEP, reverse=True)
    assert quick.reps < default.reps and quick.batch < default.batch
    # a sweep given in any order runs loose to tight, which matched() relies on
    assert peers.parse_args(["--rtol", "1e-8", "1e-5", "1e-6"]).rtol == [1e-5, 1e-6, 1e-8]
    with pytest.raises(SystemExit):
        peers.parse_args(["--rtol", "2"])
    with pytest.raises(SystemExit):
        peers.parse_args(["--peers", "tellurium"])


def test_matched_accuracy_is_the_loosest_tolerance_meeting_the_error(peers):
    points = [peers.Point("x", r, r * 1e-4, cpu_ms=ms, error=e)
              for r, ms, e in [(1e-4, 10.0, 3e-4), (1e-5, 20.0, 8e-6), (1e-6, 30.0, 1e-7)]]
    assert peers.matched(points, 1e-5).rtol == 1e-5
    assert peers.matched(points, 1e-8) is None
    failed = [points[0], peers.Point("x", 1e-5, 1e-9, failure="CV_TOO_MUCH_WORK"), *points[2:]]
    assert peers.matched(failed, 1e-5).rtol == 1e-6
    # a lucky loose point above a tighter one that misses the target does not count
    lucky = [peers.Point("x", 1e-4, 1e-8, cpu_ms=5.0, error=1e-6), *points[1:]]
    lucky[1].error = 2e-5
    assert peers.matched(lucky, 1e-5).rtol == 1e-6


def test_verdicts(peers):
    def point(peer, rtol, ms, err=1e-6):
        return peers.Point(peer, rtol, rtol * 1e-4, cpu_ms=ms, error=err)

    results = {
        "libroadrunner": [point("libroadrunner", 1e-5, 100.0), point("libroadrunner", 1e-8, 200.0)],
        "amici": [point("amici", 1e-5, 50.0)],
        "cohort-8": [point("cohort-8", 1e-5, 4.0)],
        "cllsim.simulate": [point("cllsim.simulate", 1e-5, 140.0), point("cllsim.simulate", 1e-8, 320.0)],
    }
    best = {k: peers.matched(v, 1e-5) for k, v in results.items()}
    verdict = peers.verdicts(results, best, amici_present=True, batch_key="cohort-8")
    # 320/200 = 1.6x at rtol 1e-8 fails the 1.5x target even though 1e-5 passes; 50/4 = 12.5x passes
    assert verdict == {"simulate_vs_roadrunner": "FAIL", "cohort_vs_amici": "PASS"}
    results["cllsim.simulate"][1].cpu_ms = 280.0
    results["cohort-8"][0].cpu_ms = 6.0
    assert peers.verdicts(results, best, True, "cohort-8") == {
        "simulate_vs_roadrunner": "PASS", "cohort_vs_amici": "FAIL"}
    assert peers.verdicts(results, best, False, "cohort-8")["cohort_vs_amici"] == "SKIP"


def test_max_error_uses_the_agreement_metric(peers):
    np = pytest.importorskip("numpy")
    truth = {"a": np.array([1.0, 2.0, 4.0]), "b": np.array([0.0, 1.0, 1.0])}
    assert peers.max_error(truth, truth) == 0.0
    off = {"a": truth["a"] * (1 + 1e-6), "b": truth["b"]}
    assert peers.max_error(off, truth) == pytest.approx(1e-6)
    assert peers.max_error({"a": truth["a"], "b": np.array([0.0, np.nan, 1.0])}, truth) == float("inf")


def test_cli_startup_options(cli_startup):
    assert cli_startup.parse_args(["--quick"]).runs < cli_startup.parse_args([]).runs
    with pytest.raises(SystemExit):
        cli_startup.parse_args(["--runs", "0"])
    command = cli_startup.cllsim_command()
    assert command[-1] == "--help"


def test_fit_recovery_early_mode_holds_back_the_later_visits():
    fit_recovery = load("fit_recovery")
    with pytest.raises(SystemExit):
        fit_recovery.main(["--early", "400"])  # nothing left to hold back
    made = None
    for index in range(4):  # a drawn truth may be infeasible; one of the first few is not
        made = fit_recovery.early_patient(index, 2024, ("baseline_alc_per_uL", "death_max_per_day"), 84.0)
        if made is not None:
            break
    assert made is not None
    table, truth, _ighv, held = made
    assert table["day"].max() <= 84
    assert {d for _o, d, _v in held} <= set(fit_recovery.HELD_BACK_DAYS)
    assert {o for o, _d, _v in held} >= {"alc_per_uL", "mrd_blood"}
    assert "persister_release_per_day" in truth and "clone_fraction_c481s" in truth

"""Regimens under hostile input: dose counts bounded before expansion, contradictory qualifiers,
non-finite numbers, warnings for doses nobody gives, long input echoed short."""

import time

import pytest

from cllsim.drugs import (
    HUMAN_DAILY_DOSE_CEILING_MG,
    MAX_DOSES,
    DoseBlock,
    Regimen,
    RegimenError,
    Therapy,
    parse_regimen,
    regimen_warnings,
)


@pytest.mark.parametrize(
    "text",
    ["420 mg qd", "560 mg qd x 3; hold 2 d; 280 mg bid x 2", "25 mg/kg qd x 2 fasted from day 3",
     "420 mg q7h", "420 mg qd x 3; 100 mg bid", "none", "420 mg once from day 2"],
)
@pytest.mark.parametrize("until_h", [0.0, 1.0, 24.0, 100.0, 84.0, 24 * 365.0])
def test_counting_doses_agrees_with_listing_them(text, until_h):
    reg = parse_regimen(text)
    assert reg.n_doses(until_h) == len(reg.doses(until_h))


def test_millions_of_doses_are_refused_before_any_is_listed():
    reg = parse_regimen("420 mg q0.001h")  # 480,000 doses in 20 days: exhausted memory in simulate
    start = time.perf_counter()
    with pytest.raises(RegimenError, match=r"480,000 doses in 20 days.*limit of 100,000.*--max-doses"):
        reg.doses(until_h=20 * 24.0)
    with pytest.raises(RegimenError, match="max_doses"):
        Therapy.of(reg).check_dose_count(20 * 24.0)
    assert time.perf_counter() - start < 0.5  # counted, not expanded
    assert reg.n_doses(20 * 24.0) == 480_000


def test_a_raised_limit_lets_a_dense_regimen_through():
    reg = parse_regimen("420 mg q1h").with_max_doses(MAX_DOSES * 2)
    assert len(reg.doses(until_h=MAX_DOSES * 1.5)) == int(MAX_DOSES * 1.5)
    with pytest.raises(RegimenError, match="max_doses must be a positive integer"):
        reg.with_max_doses(0)


def test_a_gigantic_dose_count_is_refused_without_memory():
    reg = parse_regimen("420 mg qd x 99999999999999999999")  # the count itself is no problem
    assert reg.n_doses(48.0) == 2
    start = time.perf_counter()
    with pytest.raises(RegimenError, match=r"8,760,000,000,000 doses"):
        parse_regimen("1 mg q0.0000001h").doses(until_h=36500 * 24.0)
    assert time.perf_counter() - start < 0.5


def test_an_interval_below_float_spacing_neither_hangs_nor_lists_forever():
    reg = Regimen(segments=(DoseBlock(amount=1, interval_h=1e-300),), start_day=10.0)
    with pytest.raises(RegimenError, match="limit"):
        reg.doses(until_h=10 * 24.0 + 1.0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("420 mg qd fasted fed", r"both '(fed|fasted)' and '(fed|fasted)'"),
        ("420 mg qd fed fasted", r"both '(fed|fasted)' and '(fed|fasted)'"),
        ("420 mg qd fed fed", "'fed' given twice"),
        ("420 mg qd from day 2 from day 3", "'from day' given twice"),
        ("420 mg qd from day 2 fasted from day 3", "'from day' given twice"),
        ("1" + "0" * 400 + " mg qd", "dose must be positive and finite"),
        ("420 mg q1" + "0" * 400 + "h", "dosing interval must be positive and finite"),
        ("420 mg qd x 2; hold 1" + "0" * 400 + " d; 100 mg qd", "hold must last a finite number"),
        ("420 mg qd from day 1" + "0" * 400, "start day must be a number"),
    ],
)
def test_contradictory_or_non_finite_regimens_are_refused(text, message):
    with pytest.raises(RegimenError, match=message):
        parse_regimen(text)


def test_non_finite_numbers_are_refused_by_the_model_too():
    with pytest.raises(RegimenError, match="amount"):
        DoseBlock(amount=float("inf"), interval_h=24)
    with pytest.raises(RegimenError, match="start_day"):
        Regimen(start_day=float("nan"))


def test_a_huge_regimen_text_is_echoed_short():
    with pytest.raises(RegimenError) as info:
        parse_regimen("banana " * 100_000)
    assert len(str(info.value)) < 400 and "699,999 characters" in str(info.value)


def test_warnings_name_what_nobody_would_give():
    days_h = 365 * 24.0
    assert regimen_warnings(parse_regimen("420 mg qd"), days_h) == []
    assert regimen_warnings(parse_regimen("none"), days_h) == []
    (late,) = regimen_warnings(parse_regimen("420 mg qd from day 400"), days_h)
    assert "no dose" in late and "365 days" in late
    (per_kg,) = regimen_warnings(parse_regimen("5 mg/kg qd"), days_h, body_weight_kg=80)
    assert "mg/kg" in per_kg and "400 mg per dose" in per_kg
    assert len(regimen_warnings(parse_regimen("25 mg/kg qd"), days_h, body_weight_kg=80)) == 2  # 2000 mg/day too
    assert regimen_warnings(parse_regimen("25 mg/kg qd"), days_h, human=False) == []
    (high,) = regimen_warnings(parse_regimen("840 mg bid"), days_h)
    assert "1680 mg/day" in high and f"{HUMAN_DAILY_DOSE_CEILING_MG:g} mg/day" in high
    assert regimen_warnings(parse_regimen("1000 mg qw"), days_h) == []  # weekly: 1000 mg on one day

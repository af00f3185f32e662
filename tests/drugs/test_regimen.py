"""Regimens: parsing, exact dose times, interruptions, dose changes, food."""

import pytest

from cllsim.drugs import DoseBlock, Hold, Regimen, RegimenError, parse_regimen


def test_daily_regimen_doses_every_24_h():
    doses = parse_regimen("420 mg qd").doses(until_h=24 * 5)
    assert [t for t, _ in doses] == [0, 24, 48, 72, 96]
    assert all(a == 420 for _, a in doses)


def test_change_hold_and_count():
    reg = parse_regimen("560 mg qd x 3; hold 2 d; 280 mg bid x 2")
    assert reg.doses(until_h=1000) == [(0, 560), (24, 560), (48, 560), (120, 280), (132, 280)]
    assert reg.describe() == "560 mg qd x 3; hold 2 d; 280 mg bid x 2"


def test_start_day_food_and_per_kg():
    reg = parse_regimen("25 mg/kg qd x 2 fasted from day 3")
    assert reg.food == "fasted" and reg.start_day == 3
    assert reg.doses(until_h=1000, body_weight_kg=0.025) == [(72, 0.625), (96, 0.625)]


def test_doses_stop_at_end_of_simulation():
    assert len(parse_regimen("420 mg qd").doses(until_h=24 * 365)) == 365


def test_untreated():
    reg = parse_regimen("none")
    assert reg.is_untreated and reg.doses(until_h=1000) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty regimen"),
        ("-420 mg qd", "dose must be positive"),
        ("0 mg qd", "dose must be positive"),
        ("420 mg sometimes", "cannot parse"),
        ("420 ug qd", "cannot parse regimen segment '420 ug qd': 'ug' after '420' is not a dose unit"),
        ("hold 0 d", "hold must last"),
        ("420 mg qd; 280 mg qd", "'420 mg qd' runs to the end of the simulation, so '280 mg qd' cannot follow"),
        ("420 mg qd x 0", "number of doses"),
    ],
)
def test_bad_regimens_are_refused_with_specific_message(text, message):
    with pytest.raises(RegimenError, match=message):
        parse_regimen(text)


def test_regimen_model_validates_segments():
    reg = Regimen(segments=(DoseBlock(amount=140, interval_h=24, n_doses=2), Hold(days=1)))
    assert reg.doses(until_h=100) == [(0, 140), (24, 140)]
    with pytest.raises(ValueError):
        DoseBlock(amount=-1, interval_h=24)


def test_invalid_segments_are_one_line_regimen_errors_without_pydantic_internals():
    import cllsim

    assert RegimenError is cllsim.RegimenError and issubclass(RegimenError, cllsim.InputError)
    with pytest.raises(RegimenError) as info:
        DoseBlock(amount=-1, interval_h=24)
    message = str(info.value)
    assert message.startswith("amount: ") and "(got -1)" in message
    assert "\n" not in message and "pydantic" not in message
    with pytest.raises(RegimenError, match="only the last dosing block may be open-ended"):
        Regimen(segments=(DoseBlock(amount=140, interval_h=24), Hold(days=1)))

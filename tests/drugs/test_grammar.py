"""The regimen grammar accepts what people write; errors name the bad token and show a valid example."""

import pytest

from cllsim.cohort import CohortSpec
from cllsim.drugs import DoseBlock, DoseRecord, DoseRecords, Hold, Regimen, RegimenError, parse_regimen
from cllsim.drugs._regimen import EXAMPLE


@pytest.mark.parametrize(
    "text, same_as",
    [
        ("420 mg qd x 90 d", "420 mg qd x 90"),  # a duration, distinct from a number of doses
        ("420 mg qd x 90 days", "420 mg qd x 90"),
        ("420 mg qd for 90 days", "420 mg qd x 90"),
        ("420 mg bid x 12 weeks", "420 mg bid x 168"),
        ("420 mg qd x 6 cycles", "420 mg qd x 168"),  # a cycle is 28 days
        ("420 mg qd x 28 doses", "420 mg qd x 28"),
        ("420 mg qd x 28; hold 1 week; 280 mg qd", "420 mg qd x 28; hold 7 d; 280 mg qd"),
        ("420 mg qd x 28; hold 2 weeks; 280 mg qd", "420 mg qd x 28; hold 14 d; 280 mg qd"),
        ("420 mg qd x 2; hold for 36 h; 280 mg qd", "420 mg qd x 2; hold 1.5 d; 280 mg qd"),
        ("420 mg qd x 2; pause 3 days; 280 mg qd", "420 mg qd x 2; hold 3 d; 280 mg qd"),
        ("420 mg once daily", "420 mg qd"),
        ("420 mg once a day", "420 mg qd"),
        ("100 mg twice daily", "100 mg bid"),
        ("100 mg twice a day", "100 mg bid"),
        ("140 mg three times daily", "140 mg tid"),
        ("140 mg 3 times a day", "140 mg tid"),
        ("70 mg four times daily", "70 mg q6h"),
        ("100 mg every 12 h", "100 mg bid"),
        ("100 mg every 12 hours", "100 mg bid"),
        ("100 mg every 12h", "100 mg bid"),
        ("100 mg every day", "100 mg qd"),
        ("100 mg every other day", "100 mg qod"),
        ("100 mg every 2 weeks", "100 mg q336h"),
        ("100 mg once weekly", "100 mg qw"),
        ("100 mg q2d", "100 mg qod"),
        ("100 mg od", "100 mg qd"),
        ("420 mg po qd", "420 mg qd"),
        ("420 mg orally qd", "420 mg qd"),
        ("420 mg by mouth once daily", "420 mg qd"),
        ("0.42 g qd", "420 mg qd"),
        ("0.42 g po qd", "420 mg qd"),
        ("0.42g qd", "420 mg qd"),
        ("420mg qd x28", "420 mg qd x 28"),
        ("420 mg qd ×28", "420 mg qd x 28"),
        ("420 mg qd x 28, hold 7 d, 280 mg qd", "420 mg qd x 28; hold 7 d; 280 mg qd"),
        ("420 mg qd x 28, hold 7 d; 280 mg qd", "420 mg qd x 28; hold 7 d; 280 mg qd"),
        ("420 mg qd x 28 from day 7", "420 mg qd x 28 from day 7"),
        ("420 mg qd x 28 from day 7, 280 mg qd", "420 mg qd x 28; 280 mg qd from day 7"),
        ("420 mg qd x 28 fasted, 280 mg qd", "420 mg qd x 28; 280 mg qd fasted"),
        ("420 mg qd x 28 fasted, 280 mg qd fasted", "420 mg qd x 28; 280 mg qd fasted"),
        ("420 mg qd x 28, 280 mg qd, fasted", "420 mg qd x 28; 280 mg qd fasted"),
        ("420 mg qd without food", "420 mg qd fasted"),
        ("420 mg qd with food", "420 mg qd fed"),
        ("420 mg qd starting day 3", "420 mg qd from day 3"),
        ("420 MG QD X 90 D PO", "420 mg qd x 90"),
    ],
)
def test_what_people_write_reads_as_the_canonical_regimen(text, same_as):
    reg, canonical = parse_regimen(text), parse_regimen(same_as)
    assert (reg.segments, reg.food, reg.start_day) == (canonical.segments, canonical.food, canonical.start_day)
    again = parse_regimen(reg.describe())  # describe() still round-trips
    assert (again.segments, again.food, again.start_day) == (reg.segments, reg.food, reg.start_day)
    assert reg.doses(24 * 200.0) == canonical.doses(24 * 200.0)


def test_grams_are_converted_exactly_and_durations_give_dose_counts():
    assert parse_regimen("0.42 g qd").segments[0].amount == 420.0  # not 420.00000000000006
    assert parse_regimen("0.07 g qd").segments[0].amount == 70.0
    (block,) = parse_regimen("420 mg qd x 90 d").segments
    assert isinstance(block, DoseBlock) and block.n_doses == 90 and block.duration_h() == 90 * 24.0
    reg = parse_regimen("420 mg qd x 4 weeks, hold 1 week, 280 mg bid x 1 week")
    times = [t for t, _ in reg.doses(24 * 100.0)]
    assert len(times) == 28 + 14 and times[28] == 35 * 24.0 and times[-1] == 35 * 24.0 + 13 * 12
    assert reg.describe() == "420 mg qd x 28; hold 7 d; 280 mg bid x 14"


@pytest.mark.parametrize(
    "text, token, problem",
    [
        ("420 mg sometimes", "'sometimes'", "is not a dosing frequency after '420 mg'"),
        ("420 qd", "'qd'", "after '420' is not a dose unit"),
        ("420 ug qd", "'ug'", "is not a dose unit; use mg, g or mg/kg"),
        ("420 mg/m2 qd", "'mg/m2'", "is not a dose unit"),
        ("420", "420", "needs a unit"),
        ("420 mg", "'420 mg'", "needs how often"),
        ("420 mg qd x 3 months", "'months'", "months and years differ in length"),
        ("420 mg q7h x 1 d", "24 h", "is not a whole number of 7 h dosing intervals"),
        ("420 mg once x 3", "'once'", "is a single dose"),
        ("420 mg qd x 2.5", "'2.5'", "must be a whole number"),
        ("420 mg qd x", "nothing follows", "after '420 mg qd x'"),
        ("420 mg qd x many", "'many'", "is not a number"),
        ("420 mg qd for 28", "'for 28'", "needs a unit"),
        ("420 mg qd 28", "'28'", "unexpected '28' after '420 mg qd'"),
        ("420 mg twice", "'twice'", "is not a dosing frequency"),
        ("420 mg three times", "'three times'", "is not a dosing frequency"),
        ("420 mg every 12", "'every 12'", "needs a unit"),
        ("420 mg every often", "'often'", "is not a number"),
        ("hold 7; 420 mg qd", "hold of 7", "say 'hold 7 d'"),
        ("hold 7 fortnights; 420 mg qd", "'fortnights'", "is not a unit"),
        ("420 mg qd from day", "'from day'", "needs a day number"),
        ("banana", "'banana'", "starts no dose"),
        ("420 mg qd x 28, venetoclax 400 mg qd", "'venetoclax'", "joins courses with ' + '"),
        ("1,000 mg qd", "'1'", "write 1000 mg, not 1,000 mg"),
        ("420 mg qd x 28 fed, 280 mg qd fasted", "'fed' and 'fasted'", "one food state"),
        ("420 mg qd, hold 7 d", "'420 mg qd' runs to the end", "cannot follow it"),
        ("420 mg qd x 2, 280 mg qd x 2 from day 9, 100 mg qd", "'from day'", "whole regimen starts"),
    ],
)
def test_malformed_regimens_name_the_bad_token(text, token, problem):
    with pytest.raises(RegimenError) as info:
        parse_regimen(text)
    message = str(info.value)
    assert token in message and problem in message
    assert "\n" not in message and len(message) < 400


def test_errors_about_a_segment_show_a_valid_example_that_parses():
    with pytest.raises(RegimenError, match="valid: '420 mg qd'"):
        parse_regimen("420 mg sometimes")
    for example in EXAMPLE.removeprefix("valid: ").split("', '"):
        parse_regimen(example.strip("'"))


def _messages():
    """Every way to give a bad regimen or dose row: parse, models, model_validate, JSON, specs."""
    texts = ["", "-420 mg qd", "0 mg qd", "420 mg sometimes", "hold 0 d", "420 mg qd x 0", "1e400 mg qd",
             "420 mg q0h", "420 mg qd fed fed", "420 mg qd from day -1", "420 mg qd from day 1 from day 2", "; ;"]
    calls = [lambda t=t: parse_regimen(t) for t in texts]
    calls += [
        lambda: DoseBlock(amount=-1, interval_h=24),
        lambda: DoseBlock(amount="x", interval_h=24),
        lambda: Hold(days=float("nan")),
        lambda: Regimen(segments=(DoseBlock(amount=1, interval_h=24), Hold(days=1))),
        lambda: Regimen(segments=[{"kind": "pill"}]),
        lambda: Regimen(segments="abc"),
        lambda: Regimen(start_day=-1),
        lambda: Regimen(food="lunch"),
        lambda: Regimen(max_doses=0),
        lambda: Regimen.model_validate({"segments": [{"kind": "dose", "amount": -1}]}),
        lambda: Regimen.model_validate_json('{"segments": 5}'),
        lambda: DoseBlock.model_validate({"amount": 1}),
        lambda: DoseRecord(time_h=0, amount=1, addl=2),
        lambda: DoseRecord(time_h=-1, amount=1),
        lambda: DoseRecords(records=[{"time_h": 0}]),
        lambda: DoseRecords.model_validate({"records": [{"time_h": "x", "amount": 1}]}),
        lambda: CohortSpec(n=1, regimen="420 mg sometimes"),
    ]
    out = []
    for call in calls:
        with pytest.raises(ValueError) as info:  # every InputError is a ValueError
            call()
        out.append((type(info.value), str(info.value)))
    return out


def test_no_error_path_shows_pydantic_internals():
    from cllsim import InputError

    for kind, message in _messages():
        assert issubclass(kind, InputError), message
        assert "pydantic" not in message and "http" not in message and "\n" not in message, message
        assert "validation error" not in message and "type=" not in message, message

"""Therapies: drug-tagged courses, combinations, ramp-up, switch at progression, and their dose schedules."""

import numpy as np
import pytest

import cllsim
from cllsim import SpecError
from cllsim.drugs import DRUGS, RegimenError, Therapy, get_drug, parse_therapy, therapy_warnings
from cllsim.model import load_table
from cllsim.simulate._engine import DoseSchedule, schedule_parameter_ids

CAPTIVATE = "ibrutinib 420 mg qd x 420 + venetoclax ramp-up; 400 mg qd x 301 from day 84"


def test_untagged_regimen_is_the_default_drug():
    th = parse_therapy("420 mg qd")
    assert th.drugs == ("ibrutinib",)
    assert parse_therapy("100 mg bid", "acalabrutinib").drugs == ("acalabrutinib",)
    assert parse_therapy("none").is_untreated


def test_combination_with_ramp_up_expands_to_the_labelled_steps():
    th = parse_therapy(CAPTIVATE)
    assert th.drugs == ("ibrutinib", "venetoclax")
    ven = th.regimen_of("venetoclax")
    doses = ven.doses(until_h=1e6)
    assert ven.start_day == 84
    amounts = [a for _, a in doses]
    # V1: 20 -> 50 -> 100 -> 200 mg daily for a week each, then 400 mg
    assert amounts[:29] == [20.0] * 7 + [50.0] * 7 + [100.0] * 7 + [200.0] * 7 + [400.0]
    assert len(doses) == 28 + 301
    assert doses[0][0] == 84 * 24.0
    # end of treatment: 12 cycles of the combination after 3 cycles of ibrutinib
    assert th.regimen_of("ibrutinib").doses(until_h=1e6)[-1][0] == 419 * 24.0
    assert doses[-1][0] == (84 + 28 + 300) * 24.0


def test_describe_round_trips():
    for text in (CAPTIVATE, "ibrutinib 420 mg qd until progression then pirtobrutinib 200 mg qd",
                 "zanubrutinib 160 mg bid", "none"):
        th = parse_therapy(text)
        again = parse_therapy(th.describe())
        assert again.describe() == th.describe()
        assert again.courses == th.courses


def test_switch_at_progression():
    th = parse_therapy("420 mg qd until progression then pirtobrutinib 200 mg qd")
    assert [c.drug for c in th.courses] == ["ibrutinib"]
    assert th.at_progression is not None and th.at_progression.drugs == ("pirtobrutinib",)
    assert th.drugs == ("ibrutinib", "pirtobrutinib")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ibrutnib 420 mg qd", "unknown drug 'ibrutnib'; did you mean 'ibrutinib'"),
        ("ibrutinib 420 mg qd + ibrutinib 140 mg qd", "two courses; overlapping schedules"),
        ("ibrutinib 420 mg qd + ", "empty course"),
        ("ibrutinib 420 mg qd until progression then none", "nothing to switch to"),
        ("ibrutinib ramp-up; 420 mg qd", "ibrutinib has no ramp-up"),
        ("venetoclax", "no regimen after 'venetoclax'"),
        ("ibrutinib 420 mg qd x -3", "cannot parse"),
    ],
)
def test_bad_therapies_are_refused_with_a_specific_message(text, message):
    with pytest.raises(RegimenError, match=message):
        parse_therapy(text)


def test_unknown_default_drug_is_refused():
    with pytest.raises(SpecError, match="unknown drug 'ibru'"):
        parse_therapy("420 mg qd", "ibru")


def test_skipping_the_venetoclax_ramp_up_is_allowed_but_warned():
    warned = therapy_warnings(parse_therapy("venetoclax 400 mg qd"), 24 * 28.0)
    assert any("without the ramp-up" in w for w in warned)
    assert not any("ramp-up" in w for w in therapy_warnings(parse_therapy("venetoclax ramp-up; 400 mg qd"), 24 * 60.0))


def test_every_registered_drug_has_a_human_table_and_a_standard_regimen():
    for drug in DRUGS.values():
        assert "human" in drug.species
        th = parse_therapy(f"{drug.id} {drug.standard_regimen}")
        assert th.drugs == (drug.id,)


def test_a_drug_without_mouse_pk_is_refused_in_a_mouse():
    with pytest.raises(SpecError, match="venetoclax has no mouse PK parameters"):
        get_drug("venetoclax").table_path("mouse")


def test_schedule_applies_lag_duration_and_fed_bioavailability():
    values = load_table().values()
    ids = schedule_parameter_ids(["ibrutinib"])
    arrays = {k: np.array([values[k]]) for k in ids}
    fed = DoseSchedule.of(parse_therapy("420 mg once"), arrays, 1, 48.0).changes[0]
    fasted = DoseSchedule.of(parse_therapy("420 mg once fasted"), arrays, 1, 48.0).changes[0]
    lag = values["ibrutinib_lag_h"]
    assert [c.time_h for c in fed] == [lag, lag + values["ibrutinib_d1_fed_h"]]
    assert {c.variable for c in fed} == {"ibrutinib_input_mg_per_h"}
    assert fed[0].delta == -fed[1].delta
    # same dose: fed input = 420/0.666 mg over 3.29 h, fasted 420 mg over 1.1 h (PK1)
    assert fed[0].delta * values["ibrutinib_d1_fed_h"] == pytest.approx(420 / values["ibrutinib_frel_fasted_vs_fed"])
    assert fasted[0].delta * values["ibrutinib_d1_fasted_h"] == pytest.approx(420)


def test_combination_schedule_names_each_drugs_input():
    th = parse_therapy(CAPTIVATE)
    values = load_table(drug=th.drugs).values()
    ids = schedule_parameter_ids(th.drugs)
    arrays = {k: np.array([values[k]]) for k in ids}
    changes = DoseSchedule.of(th, arrays, 1, 200 * 24.0).changes[0]
    targets = {c.variable for c in changes}
    assert any(v.startswith("ibrutinib_") for v in targets) and any(v.startswith("venetoclax_") for v in targets)
    assert [c.time_h for c in changes] == sorted(c.time_h for c in changes)
    first_ven = min(c.time_h for c in changes if c.variable.startswith("venetoclax_"))
    assert first_ven >= 84 * 24.0


def test_per_patient_therapies_give_per_patient_schedules():
    values = load_table().values()
    arrays = {k: np.full(2, values[k]) for k in schedule_parameter_ids(["ibrutinib"])}
    one, other = parse_therapy("420 mg qd"), parse_therapy("420 mg qd x 2")
    sched = DoseSchedule.of([one, other], arrays, 2, 24 * 5.0)
    assert len(sched.changes[0]) == 10 and len(sched.changes[1]) == 4
    with pytest.raises(SpecError, match="1 therapies for 2 patients"):
        DoseSchedule.of([one], arrays, 2, 24.0)


def test_therapy_object_validates():
    with pytest.raises(RegimenError):
        Therapy(courses=({"drug": "nodrug", "regimen": {}},))


def test_switch_at_progression_stops_the_first_drug_and_starts_the_second():
    th = parse_therapy("ibrutinib 420 mg qd until progression then pirtobrutinib 200 mg qd")
    switched = cllsim.drugs.switched_at(th, 100.0, 200 * 24.0)
    assert switched.at_progression is None and switched.drugs == ("ibrutinib", "pirtobrutinib")
    ibr = switched.regimen_of("ibrutinib").doses(200 * 24.0)
    pirto = switched.regimen_of("pirtobrutinib").doses(200 * 24.0)
    assert len(ibr) == 100 and ibr[-1][0] == 99 * 24.0  # no ibrutinib from the switch on
    assert len(pirto) == 100 and pirto[0] == (100 * 24.0, 200.0)
    # a drug in both phases keeps one course (dose change at progression)
    again = cllsim.drugs.switched_at(parse_therapy("420 mg qd until progression then 560 mg qd"), 10.0, 20 * 24.0)
    doses = again.regimen_of("ibrutinib").doses(20 * 24.0)
    assert [a for _, a in doses] == [420.0] * 10 + [560.0] * 10
    with pytest.raises(RegimenError, match="outside the simulated"):
        cllsim.drugs.switched_at(th, 300.0, 200 * 24.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--regimen", "venetoclax 400 mg qd", "--days", "2"], None),  # allowed, warned
        (["--regimen", "ibrutinib 420 mg qd + ibrutinib 140 mg bid"], "two courses"),
        (["--regimen", "ibrutinib 420 mg qd x -3 cycles"], "cannot parse"),
        (["--regimen", "acalabrutinb 100 mg bid"], "did you mean 'acalabrutinib'"),
        (["--drug", "venetoclax", "--regimen", "420 mg qd until progression then 560 mg qd"], "cohort"),
    ],
)
def test_cli_refuses_bad_therapies_in_one_line(tmp_path, args, message):
    from typer.testing import CliRunner

    from cllsim.cli import app

    res = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "o"), *args])
    if message is None:
        assert res.exit_code == 0, res.output
        assert "without the ramp-up" in res.stderr
        return
    assert res.exit_code == 2, res.output
    assert message in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "o" / "metadata.json").exists()


def test_a_drug_without_mouse_pk_is_refused_in_a_mouse_host():
    with pytest.raises(SpecError, match="venetoclax has no mouse PK"):
        cllsim.simulate("venetoclax 10 mg/kg qd", host="tcl1", days=2)

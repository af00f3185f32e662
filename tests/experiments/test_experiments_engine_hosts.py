"""The group engine agrees with cllsim.simulate; mouse hosts and mouse PK are usable."""

import numpy as np
import pytest

import cllsim
from cllsim.experiments import GroupModel, mann_whitney, sample_subjects, wilcoxon_paired
from cllsim.model import HOSTS, PATIENT, antimony_model, load_table
from cllsim.model._parameters import model_parameter_ids


@pytest.mark.parametrize(("host", "regimen", "days"), [("patient", "420 mg qd", 21.0), ("tcl1", "25 mg/kg qd", 7.0)])
def test_group_model_matches_simulate(host, regimen, days):
    """Re-using one compiled model with new parameter values gives the same answer as
    building the patient's own model (cllsim.simulate)."""
    times = [0.0, 0.5, 1.0, 3.0, 7.0]
    if days > 7:
        times += [14.0, 21.0]
    g = GroupModel(host, regimen, days, rtol=1e-9)
    for patient in (cllsim.Patient(ighv="M", parameters={"egress_per_day_spleen": 2.0}), cllsim.Patient(ighv="U")):
        ref = cllsim.simulate(regimen, patient, days=days, host=host, times=times).raise_for_status().wide()
        run = g.run(patient, times, ["alc_per_uL", "cells_spleen", "bcl2_blood", "btk_occupancy_pct"])
        np.testing.assert_allclose(run["alc_per_uL"], ref["alc_per_uL"], rtol=1e-6)
        np.testing.assert_allclose(run["cells_spleen"], ref["cells_spleen_1e9"], rtol=1e-6)
        np.testing.assert_allclose(run["bcl2_blood"] / run["bcl2_blood"][0], ref["bcl2_blood"], rtol=1e-6)
        np.testing.assert_allclose(run["btk_occupancy_pct"], ref["btk_occupancy_pct"], rtol=1e-6, atol=1e-6)


def test_members_with_their_own_dosing_parameters_match_the_exported_sbml_with_dose_events():
    """A member's lag and body weight shape its own doses (no rebuild): the same numbers as a plain
    libRoadRunner run of that member's exported SBML, whose doses are SBML events."""
    import roadrunner

    from cllsim.simulate import prepare

    g = GroupModel("tcl1", "25 mg/kg qd", 3.0, rtol=1e-10, atol=1e-14)
    member = cllsim.Patient(parameters={"ibrutinib_lag_h": 0.5, "body_weight_kg": 0.03})
    times = [0.0, 0.25, 0.5, 1.0, 2.0, 3.0]
    run = g.run(member, times, ["drug_plasma_ng_per_mL", "cells_blood"])
    rr = roadrunner.RoadRunner(prepare("25 mg/kg qd", member, days=3.0, host="tcl1").sbml)
    rr.integrator.relative_tolerance, rr.integrator.absolute_tolerance = 1e-10, 1e-14
    out = rr.simulate(times=np.array(times) * 24.0, selections=["drug_plasma_ng_per_mL", "cells_blood"])
    np.testing.assert_allclose(run["drug_plasma_ng_per_mL"], out[:, 0], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(run["cells_blood"], out[:, 1], rtol=1e-6)
    assert run.at(0.5, "drug_plasma_ng_per_mL") > 0


def test_mouse_hosts_registered_with_their_tissues():
    assert HOSTS["tcl1"].tissue_ids == ("spleen", "bm", "ln", "peritoneum")
    assert HOSTS["xenograft"].tissue_ids == ("spleen", "bm")
    # the patient's model does not change by registering hosts
    assert "peritoneum" not in antimony_model(PATIENT, {})


@pytest.mark.parametrize("host", ["tcl1", "xenograft"])
def test_mouse_tables_complete_sourced_and_mouse_sized(host):
    table = load_table(host=host)
    assert set(table.rows) == set(model_parameter_ids(host))
    values = table.values()
    assert values["blood_volume_L"] == pytest.approx(0.002)  # ~2 mL of blood
    assert values["body_weight_kg"] < 0.05
    assert all(r.source for r in table.rows.values())


def test_mouse_ibrutinib_gives_full_btk_occupancy_and_short_half_life():
    """Mouse PK: 25 mg/kg/day by gavage keeps BTK > 90% occupied at 24 h (as BTK1 for the
    clinical dose); plasma drug is mostly gone within a day (rapid murine clearance)."""
    times = list(np.arange(0.0, 2.0 + 1e-9, 1.0 / 24.0))
    res = cllsim.simulate("25 mg/kg qd", cllsim.Patient(), days=2.0, host="tcl1", times=times).raise_for_status()
    occ, drug = res["btk_occupancy_pct"], res["drug_plasma_ng_per_mL"]
    assert occ.loc[1.0] > 90.0
    assert drug.iloc[1:25].max() > 50.0  # ng/mL after a 25 mg/kg dose
    assert drug.loc[1.0] < 0.05 * drug.iloc[1:25].max()


def test_tcl1_clone_grows_without_treatment():
    res = cllsim.simulate("none", cllsim.Patient(), days=14.0, host="tcl1", times=[0.0, 7.0, 14.0]).raise_for_status()
    total = res["cells_total_1e9"]
    assert total.loc[14.0] / total.loc[0.0] > 2.0  # aggressive clone: doubling in under a week


def test_subject_sampling_is_reproducible_and_varies():
    g = GroupModel("tcl1", "none", 1.0)
    a = sample_subjects(g, "U", 3, seed=1, prefix="m")
    b = sample_subjects(g, "U", 3, seed=1, prefix="m")
    assert [s.parameters for s in a] == [s.parameters for s in b]
    assert a[0].parameters != a[1].parameters
    same = sample_subjects(g, "U", 2, seed=1, prefix="m", vary=False)
    assert same[0].parameters == same[1].parameters == {}


def test_statistics_direction_and_effect_size():
    lo, hi = np.arange(10.0), np.arange(10.0) + 100
    assert mann_whitney(hi, lo).effect_size == pytest.approx(1.0)
    assert mann_whitney(hi, lo, alternative="greater").p_value < 0.001
    assert mann_whitney(lo, hi, alternative="greater").p_value > 0.99
    w = wilcoxon_paired(hi, lo)
    assert w.effect_size == pytest.approx(-1.0) and w.p_value < 0.01

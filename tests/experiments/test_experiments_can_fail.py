"""Checks fail when the mechanism behind a finding is cut (tests that can fail).

Each test runs one experiment with parameter overrides that remove the mechanism the finding
rests on and asserts that the corresponding checks fail.
"""

from cllsim.experiments import get

#: Ser339 phosphorylation independent of BTK/PLCγ2/PKD1/PIM-1: recycling no longer gated.
NO_KINASE_GATE = {"cxcr4_kphos_basal": 0.9}
#: Homing and retention independent of BTK as well.
NO_BTK_TRAFFICKING = {**NO_KINASE_GATE, "homing_btk_dependence": 0.0, "adhesion_btk_dependence": 0.0}
#: U- and M-CLL identical in BCR signalling (the only IGHV difference of the model).
def _same_ighv() -> dict[str, float]:
    """U- and M-CLL made identical: every IGHV-specific row at one common value."""
    from cllsim.model import ighv_conditions, load_table

    table = load_table().values()
    same = {k: table[k] for k in ighv_conditions()["M"]}
    same["bcr_strength"] = 0.65
    return same


SAME_BCR = _same_ighv()


def _failed(result):
    return {c.id for c in result.checks if not c.passed}


def test_f4_fails_without_the_btk_pim1_gate_on_recycling():
    failed = _failed(get("F4").run(NO_KINASE_GATE))
    for key in ("btk", "plcg2", "pkd1", "pim1"):
        assert f"F4.{key}_recycling" in failed
        assert f"F4.{key}_ps339" in failed


def test_f1_fails_without_btk_dependent_trafficking():
    failed = _failed(get("F1").run(NO_BTK_TRAFFICKING))
    assert {"F1.blood_rise", "F1.tissue_fall"} <= failed


def test_f2_fails_without_btk_dependent_homing():
    assert "F2.spleen_homing" in _failed(get("F2").run(NO_BTK_TRAFFICKING))


def test_f3_fails_when_niche_division_and_retention_do_not_need_btk():
    # division independent of BTK alone is not enough: cells losing niche contact stop dividing
    cut = {**NO_BTK_TRAFFICKING, "birth_niche_bcr_per_day": 0.01, "birth_niche_indep_per_day": 0.2}
    failed = _failed(get("F3").run(cut))
    assert {"F3.spleen", "F3.ln", "F3.bm"} <= failed


def test_f5_mouse_fall_fails_with_the_patient_cxcr4_expression_values():
    """Same mechanism, values decide: with the patients' niche repression and slow relaxation,
    surface CXCR4 of mouse blood cells no longer falls."""
    failed = _failed(get("F5").run({"cxcr4_bcr_repression": 0.9, "cxcr4_expr_relax_per_day": 0.1}))
    assert "F5.mouse_surface" in failed


def test_f5_patient_rise_fails_without_bcr_repression_of_cxcr4():
    cut = {"cxcr4_bcr_repression": 0.0, "cxcr4_tonic_repression": 0.0}
    assert "F5.patient_surface" in _failed(get("F5").run(cut))


def test_f6_f7_f8_fail_when_u_and_m_are_identical():
    assert "F6.duration_test" in _failed(get("F6").run(SAME_BCR))
    assert "F7.U_vs_M_test" in _failed(get("F7").run(SAME_BCR))
    failed = _failed(get("F8").run(SAME_BCR))
    assert {"F8.U_vs_M_test", "F8.U_more_than_M"} <= failed


def test_f9_fails_when_u_and_m_are_identical():
    assert "F9.U_more_than_M" in _failed(get("F9").run(SAME_BCR))


def test_f10_fails_without_btk_dependent_function():
    failed = _failed(get("F10").run(NO_BTK_TRAFFICKING))
    assert {"F10.chemotaxis", "F10.adhesion"} <= failed

"""The CXCR4 module alone (CX1-CX4, CX7) and its quasi-steady state in the whole-body model."""

import numpy as np
import pytest

from cllsim.simulate import Assay, AssayStep, Patient, patient_values, prepare, simulate_assay
from cllsim.simulate import _roadrunner as engine


def _surface_after_binding(ligand_nM: float) -> float:
    res = simulate_assay(
        Assay(conditions={"temperature_block": 1.0}, pretreatment_min=30,
              steps=(AssayStep(minute=0, set={"ligand_nM": ligand_nM}),), duration_min=120)
    )
    return float(res.wide()["cxcr4_bound_fraction"].iloc[-1])


def test_cx1_binding_kd():
    """Equilibrium binding with trafficking stopped (4 degC): half-saturation at Kd = 4.5 nM."""
    ligand = np.geomspace(0.1, 200, 15)
    bound = np.array([_surface_after_binding(x) for x in ligand])
    kd = float(np.exp(np.interp(0.5, bound, np.log(ligand))))
    assert kd == pytest.approx(4.5, rel=0.30)  # CX1


@pytest.fixture(scope="module")
def saturating():
    return simulate_assay(Assay(steps=(AssayStep(minute=0, set={"ligand_nM": 250}),), duration_min=60)).wide()


def test_cx2_ligand_induced_surface_loss_half_time(saturating):
    s = saturating["cxcr4_surface_rel"]
    lost_at_60 = s.iloc[0] - s.iloc[-1]
    half = s.index[np.argmax((s.iloc[0] - s).to_numpy() >= 0.5 * lost_at_60)]
    assert 2.0 <= half <= 10.0  # CX2


def test_cx3_constitutive_internalization_rate():
    res = simulate_assay(Assay(duration_min=30)).wide()
    assert 0.5 <= res["cxcr4_internalization_pct_per_min"].iloc[0] <= 2.0  # CX3


def _recovery(conditions: dict[str, float]) -> tuple[float, float]:
    """Minutes to recover half of the surface lost during 30 min of CXCL12 (CX6: 25 nM),
    and the pS339 signal 5 min after CXCL12."""
    res = simulate_assay(
        Assay(conditions=conditions, pretreatment_min=120,
              steps=(AssayStep(minute=0, set={"ligand_nM": 25.0}), AssayStep(minute=30, set={"ligand_nM": 0.0})),
              duration_min=240)
    ).wide()
    s = res["cxcr4_surface_rel"]
    low = s.loc[30.0]
    recovered = (s.loc[30.0:] - low) / (s.iloc[0] - low)
    t_half = float(recovered.index[np.argmax(recovered.to_numpy() >= 0.5)] - 30.0)
    return t_half, float(res["cxcr4_ps339_rel"].loc[5.0])


def test_cx4_recycling_after_ligand_removal():
    t_half, _ = _recovery({})
    assert 30.0 <= t_half <= 90.0  # CX4: 50% recovered within 30-90 min without drug


@pytest.mark.parametrize(
    "inhibitor",
    [{"medium_drug_nM": 1000.0}, {"inhibition_plcg2": 0.9}, {"inhibition_pkd1": 0.9}, {"inhibition_pim1": 0.9}],
    ids=["BTK (ibrutinib)", "PLCg2", "PKD1", "PIM-1"],
)
def test_each_kinase_axis_inhibitor_impairs_recycling_and_ps339(inhibitor):
    """F4/CX7 at module level: blocking BTK, PLCg2, PKD1 or PIM-1 slows return to the surface
    and lowers CXCL12-induced pS339, without blocking internalization."""
    t_vehicle, p_vehicle = _recovery({})
    t_inh, p_inh = _recovery(inhibitor)
    assert t_inh > t_vehicle
    assert p_inh < 0.95 * p_vehicle


@pytest.mark.parametrize(
    "conditions",
    [{"ligand_nM": 5.0}, {"ligand_nM": 5.0, "medium_drug_nM": 1000.0}, {"ligand_nM": 0.25, "inhibition_pim1": 0.8}],
    ids=["tissue CXCL12", "tissue CXCL12 + ibrutinib", "plasma CXCL12 + PIM-1 inhibitor"],
)
def test_dynamic_module_converges_to_quasi_steady_state(conditions):
    """(a) the dynamic module held at constant CXCL12 and drug converges to (b) the closed form
    that the whole-body model uses."""
    res = simulate_assay(Assay(conditions=conditions, pretreatment_min=72 * 60, duration_min=1)).wide()
    first = res.iloc[0]
    assert first["cxcr4_surface_rel"] == pytest.approx(first["cxcr4_surface_qss_rel"], rel=1e-5)
    assert first["cxcr4_ps339_rel"] == pytest.approx(first["cxcr4_ps339_qss_rel"], rel=1e-5)


def test_whole_body_closed_form_matches_module_formula():
    """The whole-body model evaluates the same closed form: untreated surface in lymph-node
    CXCL12, relative to the reference cell, equals the module's steady state in that CXCL12."""
    values = patient_values(Patient())
    rr = engine.load_runner(prepare("none", days=1).sbml)
    expected = rr["cx_surface_unit_ln"] / rr["cx_surface_unit_ref"]
    res = simulate_assay(
        Assay(conditions={"ligand_nM": values["cxcl12_ln_nM"]}, pretreatment_min=72 * 60, duration_min=1)
    ).wide()
    assert res["cxcr4_surface_rel"].iloc[0] == pytest.approx(expected, rel=1e-5)

"""Disease course over years (issue 11): rows K8-K11 of calibration.md and the new observables.

Typical-patient tests run on the reference engine; cohort tests (K9, K10) sample a small
virtual cohort with :func:`cllsim.cohort.sample_chunk` and run it with
:func:`cllsim.simulate.run_batch` (marked slow). Can-fail tests remove one mechanism each and
show the row it carries is then missed.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import cllsim
from cllsim.model import load_table

YEAR = 365.25
K8_RANGE = (1.35, 2.0)  # K8: ALC at 24 h after the first 420 mg dose, x baseline
K9_MEDIAN_MRD = (1.5e-2, 1e-1)  # K9: median blood MRD at 4 years
K9_SHARE_UNDETECTABLE = (0.03, 0.25)  # K9: share with MRD < 1e-4 at 4 years
K10_PROGRESSION_3Y = (0.05, 0.20)  # K10: cumulative CLL progression at 3 years
K10_RESISTANT_DOMINATED = 0.60  # K10: share of progressions dominated by a resistant subclone
K10_LEAD_DAYS = 182.0  # K10: resistant clone >= 1e-3 of CLL cells >= 6 months before progression
K12_CR_1Y_MAX = 0.15  # K12: CR at 1 year at most
K12_BEST_CR_5Y = (0.15, 0.45)  # K12: best response CR by 5 years
K12_CR_5Y_MAX_BY_IGHV = 0.50  # K12: CR a minority at 5 years in U- and in M-CLL
COURSE_TIMES = np.array([0.0, 1.0, 90.0, 182.0, 365.0, 730.0, 1095.0, 1461.0, 1826.0])
NO_CLONES = {"clone_fraction_c481s": 0.0, "clone_fraction_plcg2": 0.0}


def _course(ighv: str, parameters: dict[str, float] | None = None, times=COURSE_TIMES, engine="cohort",
            regimen: str = "420 mg qd"):
    """Years of treatment on the cohort engine (agrees with the reference to its tolerance)."""
    patient = cllsim.Patient(ighv=ighv, parameters=parameters or {})
    return cllsim.simulate(regimen, patient, days=float(times[-1]), times=times,
                           engine=engine, rtol=1e-6, atol=1e-10).raise_for_status().wide()


def _alc_24h_ratio(ighv: str, parameters: dict[str, float] | None = None) -> float:
    w = _course(ighv, parameters, times=np.array([0.0, 1.0]), engine="roadrunner")
    return float(w["alc_per_uL"].loc[1.0] / w["alc_per_uL"].loc[0.0])


@pytest.fixture(scope="module")
def course_u():
    return _course("U")


@pytest.fixture(scope="module")
def course_m():
    return _course("M")


# ---- K8: the first day ---------------------------------------------------------------------
@pytest.mark.parametrize("ighv", ["U", "M"])
def test_k8_alc_rise_24h_after_first_dose(ighv):
    assert K8_RANGE[0] <= _alc_24h_ratio(ighv) <= K8_RANGE[1]  # K8


@pytest.mark.parametrize("ighv", ["U", "M"])
def test_k8_fails_without_the_marginated_pool(ighv):
    """Can fail: with no marginated pool the tissue pools alone give a few per cent in a day."""
    assert _alc_24h_ratio(ighv, {"margination_ratio": 0.0}) < K8_RANGE[0]  # K8 missed


def test_k8_fails_when_the_marginated_pool_is_frozen():
    """Can fail: a marginated pool whose retention does not follow BTK keeps its cells: K8 missed."""
    assert _alc_24h_ratio("U", {"margination_btk_dependence": 0.0}) < K8_RANGE[0]  # K8 missed


# ---- K9: persistence -------------------------------------------------------------------------
@pytest.mark.parametrize("ighv", ["U", "M"])
def test_k9_typical_patient_keeps_measurable_disease(ighv, course_u, course_m):
    """The typical patients keep detectable MRD at 4 years (K9 itself is a cohort row, below)."""
    w = course_u if ighv == "U" else course_m
    assert 1e-3 <= w["mrd_blood"].loc[1461.0] <= K9_MEDIAN_MRD[1]  # flow detects >= 1e-4
    # not eradication: persisters are still there at 5 years
    assert w["cells_persistent_1e9"].loc[1826.0] > 1e-4 * w["cells_total_1e9"].loc[0.0]


def test_k9_slow_second_phase_not_eradication():
    """Typical U-CLL without subclones: burden falls fast in months, then slowly for years."""
    total = _course("U", NO_CLONES)["cells_total_1e9"]
    early = math.log(total.loc[182.0] / total.loc[365.0]) / (365.0 - 182.0)
    late = math.log(total.loc[1095.0] / total.loc[1826.0]) / (1826.0 - 1095.0)
    assert 0.0 < late < 0.25 * early
    assert total.loc[1826.0] > 1e-4 * total.loc[0.0]


def test_k9_fails_without_persisters():
    """Can fail: without the persister state the typical patient's MRD at 4 years is far below K9."""
    w = _course("U", {"persister_entry_per_day": 0.0, **NO_CLONES})
    assert w["mrd_blood"].loc[1461.0] < K9_MEDIAN_MRD[0]  # K9 missed


# ---- K10/K11: resistant subclones ------------------------------------------------------------
def test_k11_subclones_exist_before_treatment_below_detection(course_u):
    """K11: both subclones are present at the start, below the ~1e-3 detection limit (Ahn 2017)."""
    w = course_u
    table = load_table()
    for clone in ("c481s", "plcg2"):
        share = w[f"fraction_{clone}"].loc[0.0]
        assert share == pytest.approx(table.rows[f"clone_fraction_{clone}"].nominalValue, rel=1e-6)
        assert 0.0 < share < 1e-3
        assert "Komarova" in table.rows[f"clone_fraction_{clone}"].source


def test_resistant_subclones_expand_on_covalent_inhibitor(course_u):
    """The C481S clone grows on ibrutinib while the parental clone is cleared."""
    w = course_u
    assert w["fraction_c481s"].loc[1095.0] > 100 * w["fraction_c481s"].loc[0.0]
    assert w["fraction_plcg2"].loc[1095.0] > w["fraction_plcg2"].loc[0.0]


def test_c481s_clone_responds_to_an_inhibitor_that_binds_mutant_btk():
    """A reversible inhibitor that binds C481S BTK (pirtobrutinib, PK10) treats that clone too; covalent ones do not."""
    times = np.array([0.0, 365.0, 730.0])
    covalent = _course("U", times=times)
    binds_mutant = _course("U", times=times, regimen="pirtobrutinib 200 mg qd")
    assert binds_mutant["cells_total_c481s_1e9"].loc[730.0] < covalent["cells_total_c481s_1e9"].loc[730.0] / 100
    assert binds_mutant["cells_total_c481s_1e9"].loc[730.0] < binds_mutant["cells_total_c481s_1e9"].loc[0.0]


def test_plcg2_clone_escapes_only_through_btk_independent_signalling():
    times = np.array([0.0, 730.0])
    escaped = _course("U", times=times)
    dependent = _course("U", {"plcg2_gof_btk_independence": 0.0}, times=times)
    grow = escaped["cells_total_plcg2_1e9"]
    assert grow.loc[730.0] > grow.loc[0.0]
    assert dependent["cells_total_plcg2_1e9"].loc[730.0] < dependent["cells_total_plcg2_1e9"].loc[0.0]


def _progresses(w) -> bool:
    """Approximate progression (the iwCLL rule lives in cllsim.cohort): burden >= 1.5x nadir."""
    total = w["cells_total_1e9"]
    later = total.loc[total.index >= 182.0]
    return bool((later / np.minimum.accumulate(later.to_numpy()) >= 1.5).any())


def test_high_risk_patient_progresses_and_fails_without_resistant_clones():
    """Can fail: a patient with a large C481S subclone progresses; without subclones nobody does."""
    high = _course("U", {"clone_fraction_c481s": 1e-4})
    assert _progresses(high)
    assert high["fraction_c481s"].iloc[-1] > 0.5  # progression dominated by the resistant clone
    assert not _progresses(_course("U", {"clone_fraction_c481s": 1e-4, **NO_CLONES}))


@pytest.mark.slow
def test_resistant_burden_saturates_at_the_niche_capacity():
    """After progression the resistant burden levels off (niche crowding), not exponential growth.

    Can fail: without the capacity (``niche_capacity_ratio`` huge) the same patient's tissue burden
    is above 3x baseline by year 7 and still growing.
    """
    times = np.array([0.0, 2557.0, 2922.0])
    high = {"clone_fraction_c481s": 1e-4}
    tissue = _course("U", high, times=times)["cells_tissue_1e9"]
    assert tissue.loc[2922.0] < 3.0 * tissue.loc[0.0]
    assert tissue.loc[2922.0] / tissue.loc[2557.0] < 1.05  # plateau: < 5% in the eighth year
    unbounded = _course("U", {**high, "niche_capacity_ratio": 1e6}, times=times)["cells_tissue_1e9"]
    assert unbounded.loc[2557.0] > 3.0 * unbounded.loc[0.0]
    assert unbounded.loc[2922.0] / unbounded.loc[2557.0] > 1.5


def test_niche_crowding_is_one_at_baseline_and_slows_division_as_burden_grows():
    """Fast check of the capacity: no effect on the untreated start, less division per cell as it grows."""
    from cllsim.model import load_table
    from cllsim.simulate import run_batch

    values = {k: np.array([v]) for k, v in load_table().values().items()}
    values["clone_fraction_c481s"] = np.array([1e-3])  # a large subclone that grows untreated
    times_h = np.array([0.0, 365.0, 730.0]) * 24.0
    out = run_batch("none", values, times_h, ("niche_crowding", "cells_tissue"), rtol=1e-6, atol=1e-10)
    crowding, tissue = out.values["niche_crowding"][0], out.values["cells_tissue"][0]
    assert crowding[0] == pytest.approx(1.0, abs=1e-9)
    assert tissue[2] > tissue[0] and 0.0 < crowding[2] < crowding[1] < 1.0


def _infeasible_share(n: int, seed: int, overrides: dict[str, float] | None = None) -> float:
    from cllsim.cohort import CohortSpec, sample_chunk
    from cllsim.simulate import run_batch

    chunk = sample_chunk(CohortSpec(n=n, seed=seed, days=1.0, chunk_size=n), 0)
    values = dict(chunk.values)
    for k, v in (overrides or {}).items():
        values[k] = np.full(n, v)
    out = run_batch("none", values, np.array([0.0, 1.0]), ("blood_replacement0",), rtol=1e-5, atol=1e-9)
    return float(1.0 - out.ok.mean())


def test_realistic_population_draws_have_a_feasible_untreated_balance():
    """Marginated cells are endothelium-protected: few realistic draws lack an untreated balance.

    Can fail: if marginated cells died as circulating ones do, the marginated pool would double
    intravascular deaths and about twice as many draws (7.8%) would be infeasible.
    """
    share = _infeasible_share(400, 7)
    assert share <= 0.05
    assert _infeasible_share(400, 7, {"margination_death_factor": 1.0}) > 1.5 * share


# ---- clinician observables ------------------------------------------------------------------
def test_mrd_spd_and_spleen_length_at_baseline(course_u):
    w, v = course_u, load_table().values()
    blood_cll = (v["baseline_alc_per_uL"] - v["normal_lymphocytes_per_uL"]) * v["blood_volume_L"] * 1e-3
    normal = v["normal_leukocytes_per_uL"] * v["blood_volume_L"] * 1e-3
    assert w["mrd_blood"].loc[0.0] == pytest.approx(blood_cll / (blood_cll + normal), rel=1e-6)
    # an involved node holds CLL cells and non-CLL tissue (row K12), nodal_stroma_ratio of the CLL volume
    node = v["baseline_ln_volume_cm3"] * (1 + v["nodal_stroma_ratio"])
    per_node = v["spd_index_volume_share"] * node / v["spd_index_nodes"]
    diameter = (v["normal_node_diameter_cm"] ** 3 + 6 / math.pi * per_node) ** (1 / 3)
    assert w["ln_spd_cm2"].loc[0.0] == pytest.approx(v["spd_index_nodes"] * diameter**2, rel=1e-6)
    ratio = v["baseline_spleen_volume_cm3"] / v["normal_spleen_volume_cm3"]
    assert w["spleen_length_cm"].loc[0.0] == pytest.approx(v["normal_spleen_length_cm"] * ratio ** (1 / 3), rel=1e-6)
    # splenomegaly at baseline by the iwCLL 13 cm rule, bulky SPD
    assert w["spleen_length_cm"].loc[0.0] > 13.0


def test_spd_and_spleen_fall_to_their_normal_floor_on_response(course_u):
    v = load_table().values()
    floor = v["spd_index_nodes"] * v["normal_node_diameter_cm"] ** 2
    spd = course_u["ln_spd_cm2"]
    assert spd.loc[730.0] <= 0.5 * spd.loc[0.0]  # partial response by SPD (a fall of at least 50%)
    assert spd.iloc[-1] < spd.loc[730.0]  # and still falling as the non-CLL nodal tissue regresses
    assert spd.min() >= floor  # never below normal nodes
    assert course_u["spleen_length_cm"].min() >= v["normal_spleen_length_cm"]


# ---- cohorts (slow) --------------------------------------------------------------------------
def _calibration_module():
    path = Path(__file__).resolve().parents[2] / "scripts" / "calibrate_disease_course.py"
    spec = importlib.util.spec_from_file_location("calibrate_disease_course", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cohort():
    cal = _calibration_module()
    return cal, cal.simulate_cohort(120, seed=11, days=5 * YEAR + 1)


@pytest.mark.slow
def test_k9_cohort_median_mrd_and_undetectable_share_at_4_years(cohort):
    cal, res = cohort
    s = cal.summary(res)
    assert s["n_ok"] >= 0.9 * res["ok"].size  # infeasible baselines are few
    assert K9_MEDIAN_MRD[0] <= s["K9 median MRD at 4 y"] <= K9_MEDIAN_MRD[1]  # K9
    assert K9_SHARE_UNDETECTABLE[0] <= s["K9 share MRD < 1e-4 at 4 y"] <= K9_SHARE_UNDETECTABLE[1]  # K9


@pytest.mark.slow
def test_k10_cohort_progression_by_resistant_subclones(cohort):
    cal, res = cohort
    s = cal.summary(res)
    assert K10_PROGRESSION_3Y[0] <= s["K10 progression by 3 y"] <= K10_PROGRESSION_3Y[1]  # K10
    assert s["K10 share of progressions dominated by a resistant clone"] >= K10_RESISTANT_DOMINATED  # K10
    assert s["K10 median lead time from 1e-3 resistant share, days"] >= K10_LEAD_DAYS  # K10


# ---- K12: residual nodes ------------------------------------------------------------------
def test_k12_typical_patient_keeps_residual_nodes_while_cll_cells_are_cleared(course_u):
    """Non-CLL nodal tissue keeps the typical U-CLL patient's index nodes above the CR size at 1 and
    2 years, although the CLL cells alone would fit in normal nodes; it is no floor: it keeps
    regressing, so the SPD falls between 2 and 5 years."""
    from cllsim.cohort import ResponseCriteria

    w = course_u
    normal = ResponseCriteria().normal_spd_cm2
    table = load_table()
    d0 = table.rows["normal_node_diameter_cm"].nominalValue
    n = table.rows["spd_index_nodes"].nominalValue
    share = table.rows["spd_index_volume_share"].nominalValue
    for day in (365.0, 730.0):
        cll_only = n * (d0**3 + 6 / math.pi * share * w["ln_volume_cm3"].loc[day] / n) ** (2 / 3)
        assert cll_only < normal  # CLL cells alone: CR-sized nodes
        assert w["ln_spd_cm2"].loc[day] > normal  # K12: residual nodes, not CR
    assert w["ln_spd_cm2"].loc[1826.0] < w["ln_spd_cm2"].loc[730.0]


def test_k12_fails_without_non_cll_nodal_tissue():
    """Can fail: without non-CLL nodal tissue the typical patient's nodes are CR-sized within 2 years."""
    from cllsim.cohort import ResponseCriteria

    w = _course("U", {"nodal_stroma_ratio": 0.0}, times=np.array([0.0, 365.0, 730.0]))
    assert w["ln_spd_cm2"].loc[730.0] < ResponseCriteria().normal_spd_cm2  # K12 missed


@pytest.mark.slow
def test_k12_cohort_complete_responses_stay_a_minority(cohort):
    cal, res = cohort
    s = cal.complete_responses(res)
    assert s["K12 CR at 1 y"] <= K12_CR_1Y_MAX  # K12
    assert K12_BEST_CR_5Y[0] <= s["K12 best response CR by 5 y"] <= K12_BEST_CR_5Y[1]  # K12
    for g in ("U", "M"):
        assert s[f"K12 CR at 5 y, {g}-CLL"] < K12_CR_5Y_MAX_BY_IGHV  # K12


@pytest.mark.slow
def test_k10_cohort_without_resistant_subclones_does_not_progress():
    """Can fail: the same cohort without resistant subclones has no progression in 3 years."""
    cal = _calibration_module()
    res = cal.simulate_cohort(120, seed=11, days=3 * YEAR + 1, overrides=NO_CLONES)
    day, _, _ = cal.progression(res)
    assert not np.any(day[res["ok"]] <= 3 * YEAR)


@pytest.mark.slow
def test_engines_agree_over_five_years_with_subclones():
    """Reference and cohort engines agree within 1e-4 over 5 years on the disease-course read-outs."""
    from cllsim.simulate._compare import max_relative_difference

    times = np.arange(0.0, 1827.0, 7.0)
    patient = {"clone_fraction_c481s": 1e-4, "clone_fraction_plcg2": 1e-5}
    def run(engine: str, **tolerances):
        return cllsim.simulate("420 mg qd", cllsim.Patient(ighv="U", parameters=patient), days=1826.0,
                               times=times, engine=engine, **tolerances).raise_for_status().wide()

    ref = run("roadrunner")
    cohort = run("cohort", rtol=1e-5, atol=1e-9)  # the cohort default (CohortSpec)
    for name in ("alc_per_uL", "mrd_blood", "cells_total_1e9", "fraction_c481s", "fraction_plcg2",
                 "cells_persistent_1e9", "ln_spd_cm2"):
        assert max_relative_difference(cohort[name].to_numpy(), ref[name].to_numpy()) < 1e-4, name


# ---- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"clone_fraction_c481s": 1.0}, ("clone_fraction_c481s", "outside bounds")),
        ({"clone_fraction_plcg2": -1e-6}, ("clone_fraction_plcg2", "outside bounds")),
        ({"clone_birth_factor_plcg2": -0.5}, ("clone_birth_factor_plcg2", "outside bounds")),
        ({"clone_fraction_btk": 1e-6}, ("clone_fraction_btk", "unknown parameter", "did you mean")),
    ],
)
def test_bad_subclone_parameters_are_refused_with_a_specific_message(parameters, words):
    from cllsim.model import ParameterTableError

    with pytest.raises(ParameterTableError) as info:
        cllsim.simulate("420 mg qd", cllsim.Patient(parameters=parameters), days=1.0)
    for word in words:
        assert word in str(info.value)

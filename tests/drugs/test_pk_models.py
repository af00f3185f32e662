"""PK models of the drugs (PK1-PK12 of calibration.md): each drug's PK layer alone, solved in
libRoadRunner with every dose an exact restart, against its published exposure."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import cllsim
from cllsim.drugs import (
    PK_MODELS,
    MetaboliteModel,
    PKModel,
    RegimenError,
    parse_regimen,
    pk_antimony,
    pk_dose_inputs,
    pk_dosing_events,
    pk_dosing_parameter_ids,
    pk_parameter_ids,
    pk_states,
    pk_table_path,
)
from cllsim.model import ParameterRow, antimony_to_sbml

BODY_WEIGHT_KG = 80.4  # the shared typical patient (parameters.tsv body_weight_kg)

#: Potency rows a drug table carries besides its PK (read by the BTK/BCL2 layers, not by PK).
POTENCY_IDS = {
    # covalent binders cannot bind C481S BTK (no cysteine): no row for it
    "ibrutinib": {"ibrutinib_kinact_ki_per_nM_per_h"},
    "acalabrutinib": {"acalabrutinib_kinact_ki_per_nM_per_h", "acalabrutinib_metabolite_kinact_ki_per_nM_per_h"},
    "zanubrutinib": {"zanubrutinib_kinact_ki_per_nM_per_h"},
    "pirtobrutinib": {"pirtobrutinib_btk_kd_nM", "pirtobrutinib_c481s_kd_nM"},
    "venetoclax": {"venetoclax_bcl2_ki_nM", "venetoclax_niche_ic50_fold"},
}


@functools.cache
def table_rows(drug: str, species: str = "human") -> dict[str, ParameterRow]:
    df = pd.read_csv(pk_table_path(drug, species), sep="\t", dtype=str, keep_default_na=False)
    rows = {}
    for rec in df.to_dict("records"):
        row = ParameterRow.model_validate(rec)  # the parameters-table rules
        assert row.parameterId not in rows, f"duplicate {row.parameterId}"
        rows[row.parameterId] = row
    return rows


def table_values(drug: str, species: str = "human") -> dict[str, float]:
    return {k: r.nominalValue for k, r in table_rows(drug, species).items()}


@functools.cache
def _runner(drug: str, pk: PKModel):
    import roadrunner

    lines = [f"model pk_{drug}()", f"  body_weight_kg = {BODY_WEIGHT_KG!r}"]
    lines += ["  " + line for line in pk_antimony(drug, pk)]
    lines += [f"  {s} = 0" for s in pk_states(drug, pk)]
    lines.append(f"  {drug}_input_mg_per_h = 0")
    lines += [f"  {p} = 1" for p in sorted(pk_parameter_ids(drug, pk))]  # set per run
    lines.append("end")
    rr = roadrunner.RoadRunner(antimony_to_sbml("\n".join(lines)))
    integ = rr.integrator
    integ.setValue("stiff", True)  # as the reference engine
    integ.relative_tolerance, integ.absolute_tolerance = 1e-10, 1e-12
    integ.initial_time_step = 0.0  # CVODE estimates the first step after each restart
    integ.maximum_num_steps = 100_000
    return rr


def simulate_pk(drug: str, regimen: str, hours: float, *, pk: PKModel | None = None,
                values: dict[str, float] | None = None, step_h: float = 1 / 60,
                body_weight_kg: float = BODY_WEIGHT_KG) -> pd.DataFrame:
    """Plasma concentrations (ng/mL) of ``drug`` on ``regimen`` every ``step_h`` for ``hours``."""
    pk = pk or PK_MODELS[drug]
    values = values or table_values(drug)
    reg = parse_regimen(regimen)
    inputs = pk_dose_inputs(drug, pk, reg.doses(hours, body_weight_kg), reg.food, values)
    changes = []  # (time_h, variable, delta)
    for t_on, d1, absorbed in inputs:
        if d1 > 0:
            changes += [(t_on, f"{drug}_input_mg_per_h", absorbed / d1),
                        (t_on + d1, f"{drug}_input_mg_per_h", -absorbed / d1)]
        else:
            changes.append((t_on, f"{drug}_depot_mg", absorbed))
    changes.sort()
    rr = _runner(drug, pk)
    rr.resetAll()
    rr["body_weight_kg"] = body_weight_kg
    for p in pk_parameter_ids(drug, pk):
        rr[p] = values[p]
    rr.reset()
    out_ids = [f"{drug}_plasma_ng_per_mL"]
    if pk.metabolite is not None:
        out_ids.append(f"{drug}_metabolite_plasma_ng_per_mL")
    times = np.round(np.arange(0, hours / step_h + 0.5) * step_h, 10)
    stops = sorted({*times.tolist(), *(c[0] for c in changes if c[0] <= hours)})
    record = {t: k for k, t in enumerate(times.tolist())}
    values_out = np.zeros((times.size, len(out_ids)))
    cur, k, restart = 0.0, 0, True
    for t in stops:
        if t > cur:
            rr.oneStep(cur, t - cur, restart)
            cur, restart = t, False
        if t in record:
            values_out[record[t]] = [rr[i] for i in out_ids]
        while k < len(changes) and changes[k][0] <= t:
            rr[changes[k][1]] = rr[changes[k][1]] + changes[k][2]
            k, restart = k + 1, True
    return pd.DataFrame(values_out, index=times, columns=out_ids)


def auc(c: pd.Series, t0: float, t1: float) -> float:
    """Trapezoidal AUC (ng*h/mL) from ``t0`` to ``t1`` h."""
    w = c[(c.index >= t0 - 1e-9) & (c.index <= t1 + 1e-9)]
    return float(np.trapezoid(w.to_numpy(), w.index.to_numpy()))


def half_life(c: pd.Series, t0: float, t1: float) -> float:
    """Log-linear half-life (h) over ``t0``-``t1`` h (as a non-compartmental analysis sees it)."""
    w = c[(c.index >= t0) & (c.index <= t1)]
    slope = np.polyfit(w.index.to_numpy(), np.log(w.to_numpy()), 1)[0]
    return float(np.log(2) / -slope)


def tmax(c: pd.Series) -> float:
    return float(c.index[np.argmax(c.to_numpy())])


# ---- tables and Antimony


@pytest.mark.parametrize("drug", sorted(PK_MODELS))
def test_table_has_exactly_the_pk_and_potency_rows(drug):
    rows = table_rows(drug)
    need = pk_parameter_ids(drug, PK_MODELS[drug])
    assert need <= set(rows), sorted(need - set(rows))
    assert set(rows) - need == POTENCY_IDS[drug]


def test_antimony_lines_need_only_declared_parameters():
    import re

    for drug, pk in PK_MODELS.items():
        lines = pk_antimony(drug, pk)
        defined, used = set(), set()
        for line in lines:
            m = re.match(r"^(\w+)\s*(:=|'\s*=)\s*(.*)$", line)
            if m:
                defined.add(m.group(1))
                used.update(re.findall(r"\b[A-Za-z_]\w*\b", m.group(3)))
        free = used - defined
        dosing = pk_dosing_parameter_ids(drug, pk)
        assert free == (pk_parameter_ids(drug, pk) - dosing) | {"body_weight_kg", f"{drug}_input_mg_per_h"}
        assert not dosing & free
        assert set(pk_states(drug, pk)) <= defined
        assert all(p.startswith(f"{drug}_") for p in free - {"body_weight_kg"})


def test_structure_of_each_drug():
    assert "acalabrutinib_transit5_mg" in pk_states("acalabrutinib", PK_MODELS["acalabrutinib"])  # PK6
    assert "acalabrutinib_metabolite_periph_mg" in pk_states("acalabrutinib", PK_MODELS["acalabrutinib"])
    assert "pirtobrutinib_transit4_mg" in pk_states("pirtobrutinib", PK_MODELS["pirtobrutinib"])  # PK9
    assert "pirtobrutinib_transit5_mg" not in pk_states("pirtobrutinib", PK_MODELS["pirtobrutinib"])
    for drug in PK_MODELS:
        assert PK_MODELS[drug].n_compartments == 2  # PK1, PK6, PK8, PK9, PK11


def test_bad_food_state_and_drug_name():
    with pytest.raises(RegimenError, match="high_fat"):
        pk_dose_inputs("ibrutinib", PK_MODELS["ibrutinib"], [(0, 420)], "high_fat",
                       table_values("ibrutinib"))
    with pytest.raises(ValueError, match="lower-case identifier"):
        pk_antimony("Ibrutinib-2", PKModel())
    with pytest.raises(ValueError, match="no mouse PK"):
        pk_table_path("venetoclax", "mouse")


# ---- ibrutinib (PK1-PK3): what the current model gives


@pytest.fixture(scope="module")
def ibrutinib_daily():
    return simulate_pk("ibrutinib", "420 mg qd", 24 * 8, step_h=0.25)["ibrutinib_plasma_ng_per_mL"]


def test_ibrutinib_profile_identical_to_current_model(ibrutinib_daily):
    t_days = np.round(np.arange(0, 4 * 24 * 3 + 1) / 96.0, 10)
    r = cllsim.simulate("420 mg qd", days=3, times=t_days)
    # the full model's plasma column, under its name before or after the drug prefix
    col = next(c for c in ("ibrutinib_plasma_ng_per_mL", "drug_plasma_ng_per_mL") if c in r.observables)
    old = r[col].to_numpy()
    new = ibrutinib_daily.loc[ibrutinib_daily.index <= 72].to_numpy()
    assert np.max(np.abs(new - old)) < 1e-5 * old.max()


def test_pk2_ibrutinib_steady_state_auc(ibrutinib_daily):
    assert auc(ibrutinib_daily, 24 * 7, 24 * 8) == pytest.approx(708, rel=0.35)  # PK2


def test_pk3_ibrutinib_tmax_and_half_life():
    c = simulate_pk("ibrutinib", "420 mg once fasted", 24)["ibrutinib_plasma_ng_per_mL"]
    assert 1.0 <= tmax(c) <= 2.0  # PK3 Tmax 1-2 h
    assert 4.0 <= half_life(c, 6, 24) <= 9.0  # PK3 t1/2 4-9 h


# ---- published values (structure as stated; values +-10%)

PUBLISHED = {
    "acalabrutinib": {  # PK6 (Edlund 2022)
        "mtt_h": 0.459, "ka_per_h": 1.48, "cl_L_per_h": 134, "vc_ref_L": 31.0, "q_L_per_h": 20.9,
        "vp_ref_L": 110, "metabolite_fraction": 0.4, "metabolite_cl_L_per_h": 21.8,
        "metabolite_vc_ref_L": 22.7, "metabolite_q_L_per_h": 26.7, "metabolite_vp_ref_L": 89.2,
    },
    "zanubrutinib": {  # PK8 (Ou 2021)
        "d1_fed_h": 1.128, "d1_fasted_h": 1.128, "ka_per_h": 0.526, "cl_L_per_h": 170,
        "vc_ref_L": 112, "q_L_per_h": 26.5, "vp_ref_L": 345,
    },
    "pirtobrutinib": {  # PK9 (Bell 2026), reference 70 kg
        "mtt_h": 1.08, "cl_L_per_h": 2.02, "vc_ref_L": 32.8, "q_L_per_h": 8.38, "vp_ref_L": 19.5,
        "wt_ref_kg": 70, "wt_exponent_cl": 0.524, "wt_exponent": 0.785,
    },
    "venetoclax": {  # PK11 (Dave 2019), per day -> per h
        "ka_per_h": 3.83 / 24, "lag_h": 0.04 * 24, "cl_L_per_h": 449 / 24, "vc_ref_L": 99,
        "q_L_per_h": 130 / 24, "vp_ref_L": 147, "frel_fasted_vs_fed": 0.29,
        "frel_high_fat_vs_fed": 1.47, "f_dose_exponent": -0.178, "f_dose_ref_mg": 400,
    },
}


@pytest.mark.parametrize("drug", sorted(PUBLISHED))
def test_parameter_values_match_published_models(drug):
    v = table_values(drug)
    for pid, value in PUBLISHED[drug].items():
        assert v[f"{drug}_{pid}"] == pytest.approx(value, rel=0.10), pid


def test_iiv_of_clearance_from_the_popPK_papers():
    iiv = {d: table_rows(d)[f"{d}_cl_L_per_h"].iivSD for d in PUBLISHED}
    assert iiv["acalabrutinib"] == pytest.approx(np.sqrt(np.log(1 + 0.238**2)), rel=0.01)  # PK6 23.8%
    assert iiv["zanubrutinib"] == pytest.approx(0.367, rel=0.01)  # PK8 36.7%
    assert iiv["pirtobrutinib"] == pytest.approx(np.sqrt(np.log(1 + 0.379**2)), rel=0.01)  # PK9 37.9%


def test_binding_and_molar_masses():
    v = {d: table_values(d) for d in PK_MODELS}
    assert v["venetoclax"]["venetoclax_fu"] <= 0.01  # PK12 fu < 0.01
    assert v["venetoclax"]["venetoclax_mw_g_per_mol"] == pytest.approx(868.4, abs=0.1)
    assert v["venetoclax"]["venetoclax_bcl2_ki_nM"] <= 0.010  # Souers 2013: Ki < 0.010 nM
    # PK7: ACP-5862 about half as potent on BTK as the parent
    a = v["acalabrutinib"]
    ratio = a["acalabrutinib_metabolite_kinact_ki_per_nM_per_h"] / a["acalabrutinib_kinact_ki_per_nM_per_h"]
    assert ratio == pytest.approx(0.5, rel=0.1)
    # PK10: reversible, equally potent on wild type and C481S (same order of magnitude)
    p = v["pirtobrutinib"]
    assert 0.3 <= p["pirtobrutinib_c481s_kd_nM"] / p["pirtobrutinib_btk_kd_nM"] <= 3


# ---- acalabrutinib (PK6, PK7)


def pk7_misses(r: pd.DataFrame) -> list[str]:
    """PK7 quantities (100 mg bid, steady state, day 8) outside +-35% of the label's geometric means."""
    label = {"acalabrutinib_plasma_ng_per_mL": (1679, 438),
             "acalabrutinib_metabolite_plasma_ng_per_mL": (4166, 446)}
    misses = []
    for col, (auc24, cmax) in label.items():
        c = r[col] if col in r else pd.Series(0.0, index=r.index)
        day = c[(c.index >= 24 * 7) & (c.index <= 24 * 8)]
        if abs(auc(c, 24 * 7, 24 * 8) / auc24 - 1) > 0.35:
            misses.append(f"{col} AUC24")
        if abs(day.max() / cmax - 1) > 0.35:
            misses.append(f"{col} Cmax")
    return misses


@pytest.fixture(scope="module")
def acalabrutinib_bid():
    return simulate_pk("acalabrutinib", "100 mg bid", 24 * 8)


def test_pk7_acalabrutinib_and_acp5862_exposure(acalabrutinib_bid):
    assert pk7_misses(acalabrutinib_bid) == []  # PK7, typical patient within 35%


def test_pk7_fails_without_the_metabolite():
    r = simulate_pk("acalabrutinib", "100 mg bid", 24 * 8, pk=PKModel(n_transit=5))
    assert pk7_misses(r) == ["acalabrutinib_metabolite_plasma_ng_per_mL AUC24",
                             "acalabrutinib_metabolite_plasma_ng_per_mL Cmax"]


def test_pk6_transit_chain_sets_tmax():
    """Median Tmax 0.5 h (range 0.2-3.0) for acalabrutinib and 0.75 h (0.5-4.0) for ACP-5862
    (CALQUENCE product information): the typical patient's peaks lie inside those ranges, the
    metabolite's after the parent's; the 5-compartment chain is what delays the parent's peak."""
    def peaks(pk):
        r = simulate_pk("acalabrutinib", "100 mg once", 8, pk=pk)
        return [tmax(r[c]) for c in r.columns]

    parent, metabolite = peaks(PK_MODELS["acalabrutinib"])
    assert 0.2 <= parent <= 3.0 and 0.5 <= metabolite <= 4.0 and metabolite > parent
    no_chain, _ = peaks(PKModel(metabolite=MetaboliteModel()))
    assert no_chain < 0.5 * parent


def test_pk6_metabolite_formed_from_fraction_of_clearance(acalabrutinib_bid):
    """At steady state ACP-5862 AUC equals fm x parent AUC x CL/CLM x MW ratio (mass balance)."""
    v = table_values("acalabrutinib")
    c = acalabrutinib_bid
    parent = auc(c["acalabrutinib_plasma_ng_per_mL"], 24 * 7, 24 * 8)
    met = auc(c["acalabrutinib_metabolite_plasma_ng_per_mL"], 24 * 7, 24 * 8)
    expected = (v["acalabrutinib_metabolite_fraction"] * parent * v["acalabrutinib_cl_L_per_h"]
                / v["acalabrutinib_metabolite_cl_L_per_h"]
                * v["acalabrutinib_metabolite_mw_g_per_mol"] / v["acalabrutinib_mw_g_per_mol"])
    assert met == pytest.approx(expected, rel=0.01)
    assert parent == pytest.approx(200_000 / v["acalabrutinib_cl_L_per_h"], rel=0.01)  # dose/CL


# ---- zanubrutinib (PK8)


def test_pk8_bid_and_qd_give_the_same_daily_auc():
    bid = simulate_pk("zanubrutinib", "160 mg bid", 24 * 8)["zanubrutinib_plasma_ng_per_mL"]
    qd = simulate_pk("zanubrutinib", "320 mg qd", 24 * 8)["zanubrutinib_plasma_ng_per_mL"]
    assert auc(bid, 24 * 7, 24 * 8) == pytest.approx(auc(qd, 24 * 7, 24 * 8), rel=0.05)  # PK8
    assert qd.max() > 1.5 * bid.max()  # same exposure, higher peak once daily


def test_pk8_zero_order_input_into_the_depot():
    """D1 1.128 h: nothing is absorbed before the dose starts, input ends at D1, then ka."""
    pk, v = PK_MODELS["zanubrutinib"], table_values("zanubrutinib")
    (start, d1, absorbed), = pk_dose_inputs("zanubrutinib", pk, [(0.0, 160.0)], "fed", v)
    assert (start, absorbed) == (0.0, 160.0) and d1 == pytest.approx(1.128)
    assert "zanubrutinib_ka_per_h*zanubrutinib_depot_mg" in " ".join(pk_antimony("zanubrutinib", pk))


# ---- pirtobrutinib (PK9)


def test_pk9_pirtobrutinib_half_life():
    c = simulate_pk("pirtobrutinib", "200 mg once", 24 * 6, step_h=0.25)["pirtobrutinib_plasma_ng_per_mL"]
    assert half_life(c, 48, 144) == pytest.approx(18, rel=0.10)  # PK9 t1/2 about 18 h


def test_pk9_weight_scales_clearance_and_volume_separately():
    """Heavier patient: CL up by (WT/70)^0.524, volumes by (WT/70)^0.785, so exposure falls
    less than in proportion to weight and the half-life lengthens."""
    def one(wt):
        c = simulate_pk("pirtobrutinib", "200 mg once", 24 * 10, step_h=0.5,
                        body_weight_kg=wt)["pirtobrutinib_plasma_ng_per_mL"]
        return auc(c, 0, 240), half_life(c, 72, 240)

    (auc70, t70), (auc140, t140) = one(70.0), one(140.0)
    assert auc70 / auc140 == pytest.approx(2**0.524, rel=0.03)  # AUC = dose/CL
    assert t140 / t70 == pytest.approx(2 ** (0.785 - 0.524), rel=0.05)  # t1/2 ~ V/CL


# ---- venetoclax (PK11, PK12)


@pytest.fixture(scope="module")
def venetoclax_daily():
    return simulate_pk("venetoclax", "400 mg qd", 24 * 10, step_h=0.1)["venetoclax_plasma_ng_per_mL"]


def test_pk12_venetoclax_400mg_low_fat(venetoclax_daily):
    c = venetoclax_daily
    day = c[(c.index >= 24 * 9) & (c.index <= 24 * 10)]
    assert auc(c, 24 * 9, 24 * 10) == pytest.approx(32_800, rel=0.35)  # PK12 AUC24 32.8 ug*h/mL
    assert day.max() == pytest.approx(2_100, rel=0.35)  # PK12 Cmax 2.1 ug/mL
    assert 5 <= day.idxmax() - 24 * 9 <= 8  # PK12 Tmax 5-8 h


def test_pk12_venetoclax_half_life():
    c = simulate_pk("venetoclax", "400 mg once", 24 * 6, step_h=0.25)["venetoclax_plasma_ng_per_mL"]
    assert half_life(c, 48, 144) == pytest.approx(26, rel=0.35)  # PK12 t1/2 about 26 h


def test_pk11_food_and_dose_dependent_bioavailability():
    pk, v = PK_MODELS["venetoclax"], table_values("venetoclax")
    absorbed = {food: pk_dose_inputs("venetoclax", pk, [(0.0, 400.0)], food, v)[0]
                for food in ("fed", "fasted", "high_fat")}
    assert absorbed["fed"] == (pytest.approx(0.96), 0.0, pytest.approx(400.0))  # lag fed only
    assert absorbed["fasted"][0] == 0.0
    assert absorbed["fasted"][2] == pytest.approx(0.29 * 400)  # PK11 fasting 0.29
    assert absorbed["high_fat"][2] == pytest.approx(1.47 * 400)  # PK11 moderate/high fat 1.47
    low = pk_dose_inputs("venetoclax", pk, [(0.0, 20.0)], "fed", v)[0][2]
    assert low / 20 == pytest.approx((20 / 400) ** -0.178)  # PK11 F x (dose/400)^-0.178


def test_pk12_lag_and_absorption_make_tmax():
    """Without the fed lag and with a fast absorption the peak leaves the 5-8 h window."""
    v = dict(table_values("venetoclax"), venetoclax_lag_h=0.0, venetoclax_ka_per_h=1.0)
    c = simulate_pk("venetoclax", "400 mg once", 24, values=v, step_h=0.1)["venetoclax_plasma_ng_per_mL"]
    assert not 5 <= tmax(c) <= 8


# ---- combinations: several drugs in one model, doses as SBML events


def test_two_drugs_in_one_model_with_dosing_events_match_each_alone():
    """Ibrutinib and venetoclax layers side by side (prefixed ids never collide), each dosed by
    its own events: each profile equals that drug simulated alone with exact restarts."""
    import roadrunner

    regimens = {"ibrutinib": "420 mg qd", "venetoclax": "400 mg qd"}
    lines = ["model combo()", f"  body_weight_kg = {BODY_WEIGHT_KG!r}"]
    for drug, text in regimens.items():
        pk, v = PK_MODELS[drug], table_values(drug)
        reg = parse_regimen(text)
        inputs = pk_dose_inputs(drug, pk, reg.doses(72, BODY_WEIGHT_KG), reg.food, v)
        lines += ["  " + line for line in pk_antimony(drug, pk)]
        lines += [f"  {s} = 0" for s in pk_states(drug, pk)] + [f"  {drug}_input_mg_per_h = 0"]
        lines += [f"  {p} = {v[p]!r}" for p in sorted(pk_parameter_ids(drug, pk))]
        lines += ["  " + e for e in pk_dosing_events(drug, inputs)]
    lines.append("end")
    rr = roadrunner.RoadRunner(antimony_to_sbml("\n".join(lines)))
    rr.integrator.relative_tolerance, rr.integrator.absolute_tolerance = 1e-10, 1e-12
    ids = [f"{d}_plasma_ng_per_mL" for d in regimens]
    rr.timeCourseSelections = ["time", *ids]
    together = rr.simulate(0, 72, 289)  # every 15 min
    for k, (drug, text) in enumerate(regimens.items(), start=1):
        alone = simulate_pk(drug, text, 72, step_h=0.25)[f"{drug}_plasma_ng_per_mL"].to_numpy()
        assert np.max(np.abs(together[:, k] - alone)) < 1e-4 * alone.max(), drug


def test_bad_structure_and_missing_values_are_input_errors():
    from cllsim import InputError

    with pytest.raises(InputError, match="needs transit compartments"):
        PKModel(first_order_absorption=False)
    with pytest.raises(InputError, match="n_transit"):
        PKModel(n_transit=-1)
    with pytest.raises(InputError, match="venetoclax_lag_fasted_h"):
        pk_dose_inputs("venetoclax", PK_MODELS["venetoclax"], [(0.0, 400.0)], "fed", {})


def test_one_compartment_bolus_matches_the_bateman_function():
    """One compartment, bolus into the depot, first-order ka: C(t) = F*D*ka/(V*(ka-k)) *
    (exp(-k t) - exp(-ka t)) after the lag (the analytic solution)."""
    pk = PKModel(n_compartments=1)
    v = dict(table_values("ibrutinib"), ibrutinib_d1_fasted_h=0.0, ibrutinib_wt_exponent=0.0)
    c = simulate_pk("ibrutinib", "420 mg once fasted", 24, pk=pk, values=v, step_h=0.25)
    t = c.index.to_numpy() - v["ibrutinib_lag_h"]
    ka, vc = v["ibrutinib_ka_per_h"], v["ibrutinib_vc_ref_L"]
    k = v["ibrutinib_cl_L_per_h"] / vc
    expected = np.where(t > 0, 1000 * 420 * ka / (vc * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t)), 0.0)
    got = c["ibrutinib_plasma_ng_per_mL"].to_numpy()
    assert np.max(np.abs(got - expected)) < 1e-6 * expected.max()

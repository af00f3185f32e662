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
    PKModel,
    RegimenError,
    dose_inputs,
    parse_regimen,
    pk_antimony,
    pk_dose_inputs,
    pk_parameter_ids,
    pk_states,
    pk_table_path,
)
from cllsim.model import ParameterRow, antimony_to_sbml, load_table

BODY_WEIGHT_KG = 80.4  # the shared typical patient (parameters.tsv body_weight_kg)

#: Potency rows a drug table carries besides its PK (read by the BTK/BCL2 layers, not by PK).
POTENCY_IDS = {
    "ibrutinib": {"ibrutinib_kinact_ki_per_nM_per_h", "ibrutinib_c481s_binding"},
    "acalabrutinib": {"acalabrutinib_kinact_ki_per_nM_per_h", "acalabrutinib_c481s_binding",
                      "acalabrutinib_metabolite_kinact_ki_per_nM_per_h"},
    "zanubrutinib": {"zanubrutinib_kinact_ki_per_nM_per_h", "zanubrutinib_c481s_binding"},
    "pirtobrutinib": {"pirtobrutinib_btk_kd_nM", "pirtobrutinib_c481s_kd_nM"},
    "venetoclax": {"venetoclax_bcl2_ki_nM", "venetoclax_cll_ec50_nM"},
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
    integ.relative_tolerance, integ.absolute_tolerance = 1e-10, 1e-12
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


@pytest.mark.parametrize("drug", ["ibrutinib"])  # others added with their tables
def test_table_has_exactly_the_pk_and_potency_rows(drug):
    rows = table_rows(drug)
    need = pk_parameter_ids(drug, PK_MODELS[drug])
    assert need <= set(rows), sorted(need - set(rows))
    assert set(rows) - need == POTENCY_IDS[drug]


def test_ibrutinib_tables_are_the_model_tables_renamed():
    for species in ("human", "mouse"):
        old = load_table(host="patient" if species == "human" else "tcl1").values()
        new = table_values("ibrutinib", species)
        assert {k.replace("ibrutinib_", "pk_", 1): v for k, v in new.items()} == {
            k: v for k, v in old.items() if k.startswith("pk_")}


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
        assert free == (pk_parameter_ids(drug, pk) - {p for p in pk_parameter_ids(drug, pk)
                                                      if p.endswith(("_lag_h", "_d1_fed_h", "_d1_fasted_h"))
                                                      or "frel" in p or "_f_dose_" in p}
                        | {"body_weight_kg", f"{drug}_input_mg_per_h"})
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


@pytest.mark.parametrize("regimen", ["420 mg qd", "420 mg qd fasted", "560 mg qd x 3; hold 2 d; 280 mg bid"])
def test_ibrutinib_dose_inputs_identical_to_dose_inputs(regimen):
    reg = parse_regimen(regimen)
    old_values = load_table().values()
    new = pk_dose_inputs("ibrutinib", PK_MODELS["ibrutinib"], reg.doses(24 * 10, 80.4), reg.food,
                         table_values("ibrutinib"))
    assert new == dose_inputs(reg, old_values, 24 * 10)


@pytest.fixture(scope="module")
def ibrutinib_daily():
    return simulate_pk("ibrutinib", "420 mg qd", 24 * 8, step_h=0.25)["ibrutinib_plasma_ng_per_mL"]


def test_ibrutinib_profile_identical_to_current_model(ibrutinib_daily):
    t_days = np.round(np.arange(0, 4 * 24 * 3 + 1) / 96.0, 10)
    r = cllsim.simulate("420 mg qd", days=3, times=t_days)
    old = r["drug_plasma_ng_per_mL"].to_numpy()
    new = ibrutinib_daily.loc[ibrutinib_daily.index <= 72].to_numpy()
    assert np.max(np.abs(new - old)) < 1e-5 * old.max()


def test_pk2_ibrutinib_steady_state_auc(ibrutinib_daily):
    assert auc(ibrutinib_daily, 24 * 7, 24 * 8) == pytest.approx(708, rel=0.35)  # PK2


def test_pk3_ibrutinib_tmax_and_half_life():
    c = simulate_pk("ibrutinib", "420 mg once fasted", 24)["ibrutinib_plasma_ng_per_mL"]
    assert 1.0 <= tmax(c) <= 2.0  # PK3 Tmax 1-2 h
    assert 4.0 <= half_life(c, 6, 24) <= 9.0  # PK3 t1/2 4-9 h

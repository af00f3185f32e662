"""F10: loss of CXCR4 function impairs chemotaxis and adhesion; cells without niche contact die.

Concentration-response (in vitro): CLL cells are incubated 1 h with ibrutinib (0-1000 nM
unbound) and then (drug still present) (a) placed in the upper well of a transwell with
CXCL12 200 ng/mL (25 nM, CX6) below, migrated cells counted after 3 h; (b) allowed to adhere to
VCAM-1-coated wells/marrow stroma with CXCL12; (c) stimulated with CXCL12 for 10 min for
phospho-flow of pS339-CXCR4. IC50s are read on a log-concentration scale.

Readouts: % of input cells migrated = random migration + CXCL12-specific migration of
untreated cells × the cells' chemotaxis (homing) capacity; % adherent cells likewise with the
adhesion capacity. Both capacities are read from the whole-body model's own declaration for
the BTK, PKD1 and PIM-1 state that the in-vitro module gives after the incubation.

In-situ death (in vivo): death rate of niche-bound and detached (free) CLL cells in lymph
nodes, and whole-tissue death rate, of typical U-CLL and M-CLL patients before and on day 28
of ibrutinib 420 mg/day.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..simulate import Assay, AssayStep, Patient, simulate_assay
from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._engine import evaluate, shared_model
from ._plotting import COLORS, finish, subplots
from .f05_surface_cxcr4 import PATIENT_DAYS, PATIENT_REGIMEN

CONCENTRATIONS_NM = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
LIGAND_NM = 25.0
#: Random (CXCL12-independent) transwell migration in 3 h, % of input.
TRANSWELL_BASAL_PCT = 2.0
#: Migration of untreated CLL cells toward 200 ng/mL CXCL12 in 3 h, % of input.
TRANSWELL_UNTREATED_PCT = 25.0
#: Adhesion without CXCL12/integrin activation, and of untreated cells, % of input.
ADHESION_BASAL_PCT = 5.0
ADHESION_UNTREATED_PCT = 40.0
ASSAY_SOURCE = ("assumption: typical Burger-lab transwell (3 h, 200 ng/mL CXCL12: 10-40% migrate, 1-5% random) "
                "and VCAM-1/stroma adhesion assays (Hoellenriegel J et al., Blood 2011; de Rooij MF et al., "
                "Blood 2012)")
DEATH_DAY = 28.0


def incubated_state(drug_nM: float, overrides: Mapping[str, float] | None) -> dict[str, float]:
    """BTK/PKD1/PIM-1 state after 1 h in drug, and pS339 10 min after CXCL12 (drug present)."""
    assay = Assay(conditions={"medium_drug_nM": drug_nM} if drug_nM else {}, pretreatment_min=60.0,
                  steps=(AssayStep(minute=0.0, set={"ligand_nM": LIGAND_NM}),), duration_min=10.0)
    res = simulate_assay(assay, Patient(parameters=dict(overrides or {})), times_min=[0.0, 10.0])
    res.raise_for_status()
    occ = res.at(0.0, "btk_occupancy_pct") / 100.0
    # total BTK is unchanged within 1 h (turnover ~0.5 %/h, BTK2)
    return {"btk_free": 1.0 - occ, "btk_occupied_ibrutinib": occ, "pkd1_activity": res.at(0.0, "pkd1_activity"),
            "pim1_level": res.at(0.0, "pim1_level"), "ps339": res.at(10.0, "cxcr4_ps339_rel")}


def ic50(conc: np.ndarray, response: np.ndarray) -> float:
    """Concentration halving the response between vehicle (first) and top dose (last), nM.

    Log-linear interpolation at the first crossing; ``nan`` if the response never halves.
    """
    half = response[0] - 0.5 * (response[0] - response[-1])
    for i in range(1, len(conc) - 1):
        lo, hi = response[i], response[i + 1]
        if lo >= half >= hi and conc[i] > 0:
            f = (lo - half) / (lo - hi) if lo != hi else 0.0
            return float(10 ** (np.log10(conc[i]) + f * (np.log10(conc[i + 1]) - np.log10(conc[i]))))
    if response[1] <= half:  # halved already at the lowest dose
        return float(conc[1])
    return float("nan")


class ChemotaxisAdhesion(Experiment):
    """Transwell chemotaxis, stroma adhesion, pS339 concentration-response and in-situ death."""

    id = "F10"
    title = "Chemotaxis, adhesion and pS339 vs ibrutinib concentration; death in situ after loss of niche contact"
    finding = (
        "Loss of CXCR4 function impairs chemotaxis and adhesion to the microenvironment, and cells that lose niche "
        "contact die (enhanced death in situ)."
    )

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        patient_model = shared_model("patient", PATIENT_REGIMEN, PATIENT_DAYS)
        cells = Patient(parameters=dict(overrides or {}))
        conc = np.array(CONCENTRATIONS_NM)
        read: dict[str, list[float]] = {"migrated_pct": [], "adherent_pct": [], "ps339_rel_vehicle": [],
                                        "btk_occupancy_pct": []}
        for c in conc:
            st = incubated_state(float(c), overrides)
            cap = evaluate(patient_model, {k: st[k] for k in ("btk_free", "btk_occupied_ibrutinib", "pkd1_activity",
                                                              "pim1_level")},
                           ["homing_capacity", "adhesion_capacity"], cells)
            read["migrated_pct"].append(TRANSWELL_BASAL_PCT + (TRANSWELL_UNTREATED_PCT - TRANSWELL_BASAL_PCT)
                                        * cap["homing_capacity"])
            read["adherent_pct"].append(ADHESION_BASAL_PCT + (ADHESION_UNTREATED_PCT - ADHESION_BASAL_PCT)
                                        * cap["adhesion_capacity"])
            read["ps339_rel_vehicle"].append(st["ps339"])
            read["btk_occupancy_pct"].append(100.0 * st["btk_occupied_ibrutinib"])
        arr = {k: np.array(v) for k, v in read.items()}
        arr["ps339_rel_vehicle"] = arr["ps339_rel_vehicle"] / arr["ps339_rel_vehicle"][0]
        units = {"migrated_pct": "% of input", "adherent_pct": "% of input", "ps339_rel_vehicle": "relative to vehicle",
                 "btk_occupancy_pct": "%"}
        rows = [{"group": "in vitro", "subject": "CLL cells", "time": 0.0, "time_unit": "h", "readout": k,
                 "value": float(v), "unit": units[k], "ibrutinib_nM": float(c)}
                for k, vals in arr.items() for c, v in zip(conc, vals, strict=True)]
        ic = {k: ic50(conc, arr[k]) for k in ("migrated_pct", "adherent_pct", "ps339_rel_vehicle")}

        # unbound drug reached in patients on 420 mg/day (steady-state peak of the typical patient)
        pk_days = np.arange(0.0, 7.0 + 1e-9, 1.0 / 24.0)
        pk = patient_model.run(cells, pk_days, ["drug_free_nM"])
        cmax_free = float(pk["drug_free_nM"][pk_days >= 6.0].max())

        death = {}
        for ighv in ("U", "M"):
            p = Patient(id=f"{ighv}-CLL", ighv=ighv, parameters=dict(overrides or {}))
            r = patient_model.run(p, (0.0, 7.0, 14.0, DEATH_DAY), ["death_free_ln_per_day", "death_niche_ln_per_day",
                                                                   "death_rate_tissue_pct_per_day"])
            death[ighv] = {k: (float(v[0]), float(v[-1])) for k, v in r.values.items()}
            for k, (before, on) in death[ighv].items():
                for t, v in ((0.0, before), (DEATH_DAY, on)):
                    rows.append({"group": f"{ighv}-CLL patient", "subject": p.id, "time": t, "time_unit": "day",
                                 "readout": k, "value": v, "unit": "1/day" if "per_day" in k else "%/day"})

        i1000 = int(np.argmin(np.abs(conc - 1000.0)))

        def specific(k: str, basal: float) -> float:
            return float((arr[k][i1000] - basal) / (arr[k][0] - basal))

        src = (f"{STUDY}: 'the key role of BTK in CXCR4-regulated malignant B-cell chemotaxis and adhesion to "
               "microenvironment'; 'enhanced cell death in situ after loss of contact with elements in the tumor "
               "microenvironment'")
        u_on = death["U"]
        checks = [
            Check("F10.chemotaxis", "ibrutinib 1 µM inhibits CXCL12-directed migration",
                  "specific migration at 1 µM / vehicle", "<=", 0.7, specific("migrated_pct", TRANSWELL_BASAL_PCT),
                  "ratio", src + "; minimum size: prediction (>=30% after 1 h; PIM-1 is still falling)"),
            Check("F10.adhesion", "ibrutinib 1 µM inhibits adhesion to VCAM-1/stroma",
                  "specific adhesion at 1 µM / vehicle", "<=", 0.5, specific("adherent_pct", ADHESION_BASAL_PCT),
                  "ratio", src + "; minimum size: prediction (>=50%)"),
            Check("F10.ic50_chemotaxis", "chemotaxis is inhibited at unbound drug levels reached on 420 mg/day",
                  "chemotaxis IC50 / unbound Cmax at steady state", "<", 1.0, ic["migrated_pct"] / cmax_free, "ratio",
                  "BTK3 (IC50 0.5 nM), PK2/PK4 (unbound exposure on 420 mg/day)"),
            Check("F10.ic50_ps339", "pS339 is inhibited at unbound drug levels reached on 420 mg/day",
                  "pS339 IC50 / unbound Cmax at steady state", "<", 1.0, ic["ps339_rel_vehicle"] / cmax_free, "ratio",
                  "BTK3, PK2/PK4; F4"),
            Check("F10.in_situ_death", "detached tissue cells die faster than niche-bound cells on ibrutinib (U-CLL)",
                  f"lymph-node death rate free/niche-bound, day {DEATH_DAY:g}", ">=", 2.0,
                  u_on["death_free_ln_per_day"][1] / u_on["death_niche_ln_per_day"][1], "ratio",
                  src + "; minimum size: prediction (>=2x)"),
            Check("F10.tissue_death_rises", "tissue death rate rises on ibrutinib (U-CLL)",
                  f"tissue death rate day {DEATH_DAY:g}/day 0", ">=", 2.0,
                  u_on["death_rate_tissue_pct_per_day"][1] / u_on["death_rate_tissue_pct_per_day"][0], "ratio",
                  "K2 (Wodarz D et al., Blood 2014: ~5x); minimum size here: direction with >=2x"),
            Check("F10.U_more_death", "more death in situ in U-CLL than in M-CLL on ibrutinib",
                  f"tissue death rate U/M, day {DEATH_DAY:g}", ">", 1.0,
                  death["U"]["death_rate_tissue_pct_per_day"][1] / death["M"]["death_rate_tissue_pct_per_day"][1],
                  "ratio", f"{STUDY}: 'ibrutinib-mediated greater loss of CLL cells at tissue sites in patients with "
                  "poor prognosis'"),
        ]
        protocol = {"concentrations_nM": CONCENTRATIONS_NM, "incubation_h": 1, "cxcl12_nM": LIGAND_NM,
                    "transwell": "3 h toward 200 ng/mL CXCL12", "adhesion": "VCAM-1/stroma with CXCL12",
                    "assay_constants": ASSAY_SOURCE, "in_situ_death": f"typical U/M patients, day 0 vs {DEATH_DAY:g}"}
        summary = {"IC50 chemotaxis (nM)": ic["migrated_pct"], "IC50 adhesion (nM)": ic["adherent_pct"],
                   "IC50 pS339 (nM)": ic["ps339_rel_vehicle"], "unbound Cmax on 420 mg/day (nM)": cmax_free}
        return self._result(protocol, tidy(rows), checks, summary=summary,
                            values=patient_model.values_for(cells), overrides=overrides)

    def figure(self, result: ExperimentResult):
        df = result.data
        fig, axes = subplots(3, width=4.4)
        vitro = df[df.group == "in vitro"]
        x_of = {c: (c if c > 0 else 0.03) for c in CONCENTRATIONS_NM}
        ax = axes[0, 0]
        for readout, label, color in (("migrated_pct", "transwell migration", "#c0392b"),
                                      ("adherent_pct", "adhesion to VCAM-1/stroma", "#2471a3")):
            s = vitro[vitro.readout == readout]
            ax.plot([x_of[c] for c in s.ibrutinib_nM], s.value, marker="o", ms=3, color=color, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("ibrutinib, unbound (nM; vehicle at left)")
        ax.set_ylabel("% of input cells")
        ax.set_title(f"IC50 chemotaxis {result.summary['IC50 chemotaxis (nM)']:.2g} nM, "
                     f"adhesion {result.summary['IC50 adhesion (nM)']:.2g} nM", fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[0, 1]
        for readout, label, color in (("ps339_rel_vehicle", "pS339 10 min after CXCL12", "#7d3c98"),):
            s = vitro[vitro.readout == readout]
            ax.plot([x_of[c] for c in s.ibrutinib_nM], s.value, marker="o", ms=3, color=color, label=label)
        occ = vitro[vitro.readout == "btk_occupancy_pct"]
        ax.plot([x_of[c] for c in occ.ibrutinib_nM], 1 - occ.value / 100.0, ls="--", color="grey",
                label="free BTK")
        ax.axvline(result.summary["unbound Cmax on 420 mg/day (nM)"], color="black", ls=":", lw=1,
                   label="unbound Cmax, 420 mg/day")
        ax.set_xscale("log")
        ax.set_xlabel("ibrutinib, unbound (nM; vehicle at left)")
        ax.set_ylabel("pS339 or free BTK (× vehicle)")
        ax.set_title(f"IC50 pS339 {result.summary['IC50 pS339 (nM)']:.2g} nM", fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[0, 2]
        pts = df[df.group != "in vitro"]
        # four groups (IGHV x niche-bound/detached), two bars each (day 0, on drug): ticks stay readable
        groups = [(ighv, k, name) for ighv in ("U", "M")
                  for k, name in (("death_niche_ln_per_day", "niche"), ("death_free_ln_per_day", "detached"))]
        x = np.arange(len(groups))
        for offset, t, label in ((-0.2, 0.0, "day 0"), (0.2, DEATH_DAY, f"day {DEATH_DAY:g}")):
            vals = [100.0 * float(pts[(pts.group == f"{ighv}-CLL patient") & (pts.readout == k)
                                      & (pts.time == t)].value.iloc[0]) for ighv, k, _ in groups]
            colors = ["#bbbbbb" if t == 0 else COLORS[ighv] for ighv, _, _ in groups]
            ax.bar(x + offset, vals, 0.4, color=colors, hatch="//" if t == 0 else None, edgecolor="white",
                   label=label)
        ax.set_xticks(x, [f"{ighv}-CLL\n{name}" for ighv, _, name in groups], fontsize=8)
        ax.set_xlabel("cells in lymph nodes")
        ax.set_ylabel("death rate in lymph nodes (%/day)")
        ax.set_title("death in situ: niche-bound vs detached cells", fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
        for a in axes.flat:
            a.grid(alpha=0.3)
        return finish(fig, "F10 · chemotaxis, adhesion and pS339 vs ibrutinib (1 h); death of detached tissue cells")

"""F2: ibrutinib blocks homing of CLL cells to tissue niches (adoptive-transfer homing assay).

Protocol: TCL1-192 leukemia cells are incubated 1 h with ibrutinib (1 µM) or vehicle (DMSO),
washed, labelled (CFSE) and 1e7 cells are injected i.v. into C57BL/6 recipients; 24 h later
spleen, bone marrow and lymph nodes are harvested and labelled cells counted.
Readout: labelled cells recovered per organ as % of the injected cells.

Simulation: the pretreatment runs in the in-vitro module (same BTK and signalling layers);
the labelled cells then start in the blood of the TCL1-192 host model, carrying their BTK
occupancy and kinase state (covalently bound drug is not washed out), and traffic at the
host's rates. The recipient itself is untreated.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..simulate import Assay, AssayStep, Patient, simulate_assay
from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._engine import shared_model
from ._plotting import COLORS, dots, finish, subplots
from ._population import sample_subjects
from .f01_redistribution import MOUSE_DAYS

INJECTED_CELLS_1E9 = 0.01  # 1e7 cells
PRETREATMENT = {"vehicle": 0.0, "ibrutinib": 1000.0}  # unbound drug in medium, nM
TIMES_DAYS = tuple(np.round(np.linspace(0.0, 1.0, 25), 6))
ORGANS = ("spleen", "bm", "ln")


def pretreated_state(drug_nM: float, overrides: Mapping[str, float] | None) -> dict[str, float]:
    """BTK, PKD1 and PIM-1 state of cells after 1 h in drug and a wash (in-vitro module)."""
    assay = Assay(
        conditions={"medium_drug_nM": drug_nM} if drug_nM else {},
        pretreatment_min=60.0,
        steps=(AssayStep(minute=0.0, set={"medium_drug_nM": 0.0}),),
        duration_min=1.0,
    )
    res = simulate_assay(assay, Patient(parameters=dict(overrides or {})), times_min=[0.0, 1.0]).raise_for_status()
    occ = res.at(0.0, "btk_occupancy_pct") / 100.0
    # total BTK is unchanged within 1 h (turnover ~0.5 %/h, BTK2)
    return {
        "btk_free": 1.0 - occ,
        "btk_occupied_ibrutinib": occ,
        "pkd1_activity": res.at(0.0, "pkd1_activity"),
        "pim1_level": res.at(0.0, "pim1_level"),
    }


class Homing(Experiment):
    """Adoptive-transfer homing of drug- vs vehicle-pretreated TCL1-192 cells."""

    id = "F2"
    title = "Adoptive-transfer homing of ibrutinib- vs vehicle-pretreated TCL1-192 cells"
    finding = "Ibrutinib blocks homing of CLL cells to tissue niches (adoptive-transfer homing assay)."
    recipients = 5
    seed = 202

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        model = shared_model("tcl1", "none", MOUSE_DAYS)
        mice = sample_subjects(model, "U", self.recipients, seed=self.seed, prefix="recipient-", overrides=overrides)
        empty = {f"cells_{k}_{t}": 0.0 for t in model.host.tissue_ids for k in ("free", "niche")}
        variables = ["cells_blood", *(f"cells_{t}" for t in model.host.tissue_ids), "homing_capacity"]
        rows: list[dict[str, object]] = []
        found: dict[str, dict[str, list[float]]] = {}
        for arm, drug in PRETREATMENT.items():
            state = {**pretreated_state(drug, overrides), **empty, "cells_blood": INJECTED_CELLS_1E9}
            found[arm] = {o: [] for o in ORGANS}
            for mouse in mice:
                r = model.run(mouse, TIMES_DAYS, variables, initial_state=state)
                for organ in ORGANS:
                    pct = 100.0 * r[f"cells_{organ}"] / INJECTED_CELLS_1E9
                    found[arm][organ].append(float(pct[-1]))
                    rows += [
                        {"group": arm, "subject": mouse.id, "time": t * 24.0, "time_unit": "h",
                         "readout": f"labelled_in_{organ}_pct_of_input", "value": float(v), "unit": "% of input"}
                        for t, v in zip(TIMES_DAYS, pct, strict=True)
                    ]
                rows.append({"group": arm, "subject": mouse.id, "time": 0.0, "time_unit": "h",
                             "readout": "homing_capacity", "value": float(r["homing_capacity"][0]),
                             "unit": "relative to untreated"})
        spleen_ratio = float(np.mean(found["ibrutinib"]["spleen"]) / np.mean(found["vehicle"]["spleen"]))
        bm_ratio = float(np.mean(found["ibrutinib"]["bm"]) / np.mean(found["vehicle"]["bm"]))
        src = f"{STUDY}: 'Ibrutinib also blocked B-cell homing ... in tissue niches'"
        checks = [
            Check("F2.spleen_homing", "fewer drug-pretreated cells reach the spleen in 24 h",
                  "labelled cells in spleen at 24 h, drug/vehicle", "<=", 0.75, spleen_ratio, "ratio",
                  src + "; minimum size: prediction (>=25% fewer)"),
            Check("F2.bm_homing", "fewer drug-pretreated cells reach the bone marrow in 24 h",
                  "labelled cells in marrow at 24 h, drug/vehicle", "<=", 0.8, bm_ratio, "ratio",
                  src + "; minimum size: prediction (>=20% fewer)"),
        ]
        protocol = {
            "host": "tcl1 recipients (untreated)",
            "cells": "TCL1-192, 1 h ibrutinib 1 uM or vehicle, washed, CFSE-labelled",
            "injected_cells": INJECTED_CELLS_1E9 * 1e9,
            "recipients_per_arm": self.recipients,
            "harvest_h": 24,
            "readout": "labelled cells per organ as % of input",
        }
        summary = {f"{arm}_{o}_pct_mean": float(np.mean(found[arm][o])) for arm in found for o in ORGANS}
        return self._result(protocol, tidy(rows), checks, summary=summary,
                            values=model.values_for(mice[0]), overrides=overrides, seed=self.seed)

    def figure(self, result: ExperimentResult):
        df = result.data
        fig, axes = subplots(2, width=4.6)
        ax = axes[0, 0]
        for i, organ in enumerate(ORGANS):
            for j, arm in enumerate(PRETREATMENT):
                sel = df[(df.readout == f"labelled_in_{organ}_pct_of_input") & (df.group == arm) & (df.time == 24.0)]
                dots(ax, i + (j - 0.5) * 0.45, sel.value.to_numpy(), COLORS[arm], label=arm if i == 0 else None)
        ax.set_xticks(range(len(ORGANS)), ["spleen", "bone marrow", "lymph nodes"])
        ax.set_ylabel("labelled cells at 24 h (% of input)")
        ax.set_title("homing at 24 h", fontsize=9)
        ax.legend(fontsize=8)
        ax = axes[0, 1]
        for arm in PRETREATMENT:
            sel = df[(df.readout == "labelled_in_spleen_pct_of_input") & (df.group == arm)]
            mean = sel.groupby("time").value.mean()
            ax.plot(mean.index, mean.to_numpy(), color=COLORS[arm], label=arm)
        ax.set_xlabel("hours after injection")
        ax.set_ylabel("labelled cells in spleen (% of input)")
        ax.set_title("accumulation in spleen", fontsize=9)
        for a in axes.flat:
            a.grid(alpha=0.3)
        return finish(fig, "F2 · adoptive transfer of 1e7 TCL1-192 cells pretreated 1 h with ibrutinib 1 µM or vehicle")

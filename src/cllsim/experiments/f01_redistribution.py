"""F1: ibrutinib moves CLL cells from solid tissues into the blood of TCL1-192 mice.

Protocol: C57BL/6 mice with established transplanted TCL1-192 leukemia are given vehicle or
ibrutinib (25 mg/kg/day by oral gavage) for 14 days; blood is sampled on days 0, 1, 2, 3, 5, 7,
10 and 14; spleens are counted at the same times (separate mice at sacrifice in the lab).
Readouts: CLL cells (CD19+CD5+) as % of blood leukocytes and per µL, CLL cells per spleen and
in all solid tissues.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._engine import shared_model
from ._plotting import COLORS, band, finish, subplots
from ._population import sample_subjects

#: Mouse lymphocytes are ~75% of blood leukocytes (mouse haematology reference ranges).
MOUSE_LYMPHOCYTE_SHARE_OF_LEUKOCYTES = 0.75

#: Horizon of the compiled TCL1-192 models shared by F1, F2, F3 and F5, days.
MOUSE_DAYS = 14.0
DAYS = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0)
ARMS = {"vehicle": "none", "ibrutinib": "25 mg/kg qd"}
VARIABLES = (
    "cells_blood", "cells_spleen", "cells_tissue", "cum_net_efflux", "btk_occupancy_pct",
    "blood_volume_L", "normal_lymphocytes_per_uL",
)


def blood_readouts(run) -> tuple[np.ndarray, np.ndarray]:
    """CLL cells per µL of blood and as % of blood leukocytes from a mouse simulation."""
    per_uL = run["cells_blood"] * 1e3 / run["blood_volume_L"]
    other = run["normal_lymphocytes_per_uL"] / MOUSE_LYMPHOCYTE_SHARE_OF_LEUKOCYTES
    return per_uL, 100.0 * per_uL / (per_uL + other)


class Redistribution(Experiment):
    """TCL1-192 redistribution time course, vehicle vs ibrutinib."""

    id = "F1"
    title = "TCL1-192 mice: redistribution of CLL cells from tissues into blood"
    finding = (
        "In the TCL1-192 transplant mouse, ibrutinib rapidly moves CLL cells from solid tissues "
        "(spleen, bone marrow, lymph nodes) into the blood."
    )
    mice_per_arm = 5
    seed = 101

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        rows = []
        series: dict[str, dict[str, np.ndarray]] = {}
        values = None
        for arm, regimen in ARMS.items():
            model = shared_model("tcl1", regimen, MOUSE_DAYS)
            mice = sample_subjects(model, "U", self.mice_per_arm, seed=self.seed, prefix=f"{arm}-", overrides=overrides)
            values = values or model.values_for(mice[0])
            acc: dict[str, list[np.ndarray]] = {}
            for mouse in mice:
                r = model.run(mouse, DAYS, VARIABLES)
                per_uL, pct = blood_readouts(r)
                readouts = {
                    "blood_cll_pct_of_leukocytes": (pct, "%"),
                    "blood_cll_per_uL": (per_uL, "1/uL"),
                    "spleen_cll_1e6": (r["cells_spleen"] * 1e3, "1e6 cells"),
                    "tissue_cll_1e6": (r["cells_tissue"] * 1e3, "1e6 cells"),
                    "net_tissue_to_blood_1e6": (r["cum_net_efflux"] * 1e3, "1e6 cells"),
                    "btk_occupancy_pct": (r["btk_occupancy_pct"], "%"),
                }
                for name, (v, unit) in readouts.items():
                    acc.setdefault(name, []).append(v)
                    rows += [
                        {"group": arm, "subject": mouse.id, "time": t, "time_unit": "day", "readout": name,
                         "value": float(x), "unit": unit}
                        for t, x in zip(DAYS, v, strict=True)
                    ]
            series[arm] = {k: np.vstack(v) for k, v in acc.items()}

        def mean_at(arm: str, readout: str, day: float) -> float:
            return float(series[arm][readout][:, DAYS.index(day)].mean())

        blood_ratio = mean_at("ibrutinib", "blood_cll_per_uL", 2.0) / mean_at("vehicle", "blood_cll_per_uL", 2.0)
        blood_rise = mean_at("ibrutinib", "blood_cll_per_uL", 2.0) / mean_at("ibrutinib", "blood_cll_per_uL", 0.0)
        tissue_fall = mean_at("ibrutinib", "tissue_cll_1e6", 3.0) / mean_at("ibrutinib", "tissue_cll_1e6", 0.0)
        spleen_ratio = mean_at("ibrutinib", "spleen_cll_1e6", 7.0) / mean_at("vehicle", "spleen_cll_1e6", 7.0)
        src = f"{STUDY}: 'ibrutinib caused rapid re-distribution of CLL cells from solid tissues into the circulation'"
        checks = [
            Check("F1.blood_vs_vehicle", "more CLL cells circulate on ibrutinib than on vehicle by day 2",
                  "blood CLL/uL, drug/vehicle, day 2", ">=", 1.5, blood_ratio, "ratio",
                  src + "; minimum size: prediction (>=1.5-fold)"),
            Check("F1.blood_rise", "blood CLL count rises within 2 days of the first dose",
                  "blood CLL/uL, day 2/day 0 on drug", ">=", 2.0, blood_rise, "ratio",
                  src + "; minimum size: prediction (>=2-fold, 'rapid')"),
            Check("F1.tissue_fall", "solid-tissue CLL burden falls within 3 days on drug",
                  "tissue CLL, day 3/day 0 on drug", "<=", 0.9, tissue_fall, "ratio",
                  src + "; minimum size: prediction (>=10% fall)"),
            Check("F1.spleen_vs_vehicle", "fewer CLL cells in spleen on ibrutinib than on vehicle at day 7",
                  "spleen CLL, drug/vehicle, day 7", "<=", 0.5, spleen_ratio, "ratio",
                  src + "; minimum size: prediction (>=2-fold)"),
        ]
        protocol = {
            "host": "tcl1 (TCL1-192 transplanted C57BL/6 mouse)",
            "arms": ARMS,
            "mice_per_arm": self.mice_per_arm,
            "sampling_days": DAYS,
            "readouts": "CLL (CD19+CD5+) % of blood leukocytes and /uL; CLL cells per spleen and in all tissues",
        }
        return self._result(protocol, tidy(rows), checks, values=values, overrides=overrides, seed=self.seed)

    def figure(self, result: ExperimentResult):
        df = result.data
        panels = [
            ("blood_cll_pct_of_leukocytes", "CLL cells in blood (% of leukocytes)"),
            ("blood_cll_per_uL", "CLL cells in blood (cells/µL)"),
            ("spleen_cll_1e6", "CLL cells per spleen (10⁶)"),
            ("tissue_cll_1e6", "CLL cells in solid tissues (10⁶)"),
        ]
        fig, axes = subplots(len(panels))
        for ax, (readout, ylabel) in zip(axes.flat, panels, strict=True):
            for arm in ARMS:
                sel = df[(df.readout == readout) & (df.group == arm)]
                wide = sel.pivot(index="subject", columns="time", values="value")
                band(ax, wide.columns.to_numpy(float), wide.to_numpy(), arm, COLORS[arm])
            ax.set_xlabel("day of treatment")
            ax.set_ylabel(ylabel)
            if readout != "blood_cll_pct_of_leukocytes":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
        axes[0, 0].legend(fontsize=8)
        return finish(fig, "F1 · TCL1-192 mice, ibrutinib 25 mg/kg/day vs vehicle (mean, band: range of 5 mice)")

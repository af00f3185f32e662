"""F9: in NSG xenografts of primary CLL cells, ibrutinib inhibits spleen growth in every case,
much more in U-CLL, and makes CXCR4 dysfunctional.

Protocol: PBMC of 2 U-CLL and 3 M-CLL patients (CLL cells with their autologous T cells) are
engrafted into NSG mice; once engrafted (day 0 of treatment), mice receive vehicle or
ibrutinib in drinking water (~25 mg/kg/day, taken as four portions a day) for 28 days.
Readouts at day 28: human CLL cells (CD19+CD5+) per spleen; growth inhibition
``1 - drug/vehicle``; pS339-CXCR4 (normalised to surface CXCR4) in splenic CLL cells
relative to vehicle.

Cases are virtual patients drawn from the xenograft host table (between-case variability
from its ``iivSD`` rows) around the U-CLL or M-CLL typical case.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._engine import shared_model
from ._plotting import COLORS, finish, subplots
from ._population import sample_subjects

DAYS = 28.0
TIMES = (0.0, 7.0, 14.0, 21.0, 28.0)
ARMS = {"vehicle": "none", "ibrutinib": "6.25 mg/kg q6h"}
CASES = {"U": 2, "M": 3}
SEEDS = {"U": 909, "M": 910}
VARIABLES = ("cells_spleen", "cells_free_spleen", "cells_niche_spleen", "cxcr4_ps339_free_spleen",
             "cxcr4_ps339_niche_spleen", "cxcr4_surface_free_spleen", "cxcr4_surface_niche_spleen")


def ps339_per_cxcr4(r) -> np.ndarray:
    """pS339 normalised to surface CXCR4 of splenic CLL cells (phospho-flow over total stain).

    The ratio of each pool does not depend on the cells' CXCR4 expression, so it reads the
    receptor's phosphorylation state rather than how much receptor the cells make.
    """
    free = r["cxcr4_ps339_free_spleen"] / r["cxcr4_surface_free_spleen"]
    niche = r["cxcr4_ps339_niche_spleen"] / r["cxcr4_surface_niche_spleen"]
    return (free * r["cells_free_spleen"] + niche * r["cells_niche_spleen"]) / r["cells_spleen"]


class Xenograft(Experiment):
    """Spleen growth of 2 U-CLL and 3 M-CLL xenografts, vehicle vs ibrutinib."""

    id = "F9"
    title = "NSG xenografts of 2 U-CLL and 3 M-CLL cases: spleen CLL growth on ibrutinib vs vehicle"
    finding = (
        "In xenografts of primary cells (2 U-CLL, 3 M-CLL cases), ibrutinib makes CXCR4 dysfunctional and inhibits "
        "spleen CLL growth in every case, much more in U-CLL."
    )

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        models = {arm: shared_model("xenograft", reg, DAYS) for arm, reg in ARMS.items()}
        rows, cases = [], []
        values = None
        for ighv, n in CASES.items():
            for case in sample_subjects(models["vehicle"], ighv, n, seed=SEEDS[ighv], prefix=f"{ighv}-CLL case ",
                                        overrides=overrides):
                values = values or models["vehicle"].values_for(case)
                out = {}
                for arm, model in models.items():
                    r = model.run(case, TIMES, VARIABLES)
                    ps339 = ps339_per_cxcr4(r)
                    out[arm] = {"spleen": r["cells_spleen"] * 1e3, "ps339": ps339}
                    for name, v, unit in (("spleen_cll_1e6", out[arm]["spleen"], "1e6 cells"),
                                          ("spleen_ps339_per_cxcr4", ps339, "pS339/surface CXCR4 (relative)")):
                        rows += [{"group": arm, "subject": case.id, "ighv": ighv, "time": t, "time_unit": "day",
                                  "readout": name, "value": float(x), "unit": unit}
                                 for t, x in zip(TIMES, v, strict=True)]
                inhibition = 100.0 * (1.0 - out["ibrutinib"]["spleen"][-1] / out["vehicle"]["spleen"][-1])
                ps_ratio = float(out["ibrutinib"]["ps339"][-1] / out["vehicle"]["ps339"][-1])
                cases.append({"case": case.id, "ighv": ighv, "inhibition_pct": inhibition, "ps339_ratio": ps_ratio,
                              "vehicle_fold_growth": float(out["vehicle"]["spleen"][-1] / out["vehicle"]["spleen"][0])})
                rows.append({"group": "ibrutinib vs vehicle", "subject": case.id, "ighv": ighv, "time": DAYS,
                             "time_unit": "day", "readout": "growth_inhibition_pct", "value": inhibition,
                             "unit": "%"})
        src = (f"{STUDY}: 'Ibrutinib again resulted in dysfunctional CXCR4 and significantly inhibited CLL B-cell "
               "growth in spleens in all the cases but to a much greater extent in U-CLL than M-CLL'")
        checks = [
            Check(f"F9.inhibits_{c['case'].replace(' ', '_')}", f"ibrutinib inhibits spleen growth in {c['case']}",
                  "spleen CLL growth inhibition at day 28", ">=", 20.0, c["inhibition_pct"], "%",
                  src + "; minimum size: prediction (>=20%)")
            for c in cases
        ]
        inh = {g: float(np.mean([c["inhibition_pct"] for c in cases if c["ighv"] == g])) for g in CASES}
        # growth inhibition saturates near 100%, so "much greater" is read on the fold reduction
        # (vehicle/drug spleen count), compared as geometric means of the groups
        fold = {g: float(np.exp(np.mean([np.log(1.0 / (1.0 - c["inhibition_pct"] / 100.0))
                                         for c in cases if c["ighv"] == g]))) for g in CASES}
        checks.append(Check("F9.U_more_than_M", "inhibition much greater in U-CLL than in M-CLL",
                            "fold reduction (vehicle/drug) U-CLL / M-CLL, geometric means", ">=", 3.0,
                            fold["U"] / fold["M"], "ratio", src + "; minimum size: prediction (>=3x)"))
        checks.append(Check("F9.vehicle_growth", "engrafted CLL cells grow in the spleen over weeks without drug",
                            "min over cases of vehicle spleen CLL, day 28/day 0", ">=", 2.0,
                            min(c["vehicle_fold_growth"] for c in cases), "fold",
                            "Bagnara D et al., Blood 2011 (T-cell-dependent expansion of primary CLL in NSG spleens "
                            "over weeks); minimum size: assumption (>=2-fold in 4 weeks)"))
        checks.append(Check("F9.cxcr4_dysfunction", "pS339-CXCR4 lower in splenic CLL cells on ibrutinib in every case",
                            "max over cases of spleen pS339/CXCR4, drug/vehicle", "<=", 0.7,
                            max(c["ps339_ratio"] for c in cases), "ratio",
                            src + "; minimum size: prediction (>=30% lower)"))
        protocol = {"host": "xenograft (NSG mice with primary CLL PBMC incl. autologous T cells)",
                    "cases": "2 U-CLL, 3 M-CLL virtual cases", "arms": ARMS, "days": DAYS,
                    "readouts": "human CLL cells per spleen, growth inhibition, spleen pS339"}
        summary = {"cases": cases, "mean_inhibition_U_pct": inh["U"], "mean_inhibition_M_pct": inh["M"],
                   "fold_reduction_U": fold["U"], "fold_reduction_M": fold["M"]}
        return self._result(protocol, tidy(rows), checks, summary=summary, values=values, overrides=overrides)

    def figure(self, result: ExperimentResult):
        df = result.data
        fig, axes = subplots(2, width=4.8)
        ax = axes[0, 0]
        for case in df[df.readout == "spleen_cll_1e6"].subject.unique():
            for arm, ls in (("vehicle", "-"), ("ibrutinib", "--")):
                s = df[(df.readout == "spleen_cll_1e6") & (df.subject == case) & (df.group == arm)]
                ax.plot(s.time, s.value, ls=ls, color=COLORS[s.ighv.iloc[0]], marker="o", ms=3)
        ax.set_yscale("log")
        ax.set_xlabel("day of treatment")
        ax.set_ylabel("human CLL cells per spleen (10⁶)")
        ax.set_title("solid: vehicle, dashed: ibrutinib; red U-CLL, blue M-CLL", fontsize=8)
        ax = axes[0, 1]
        cases = result.summary["cases"]
        ax.bar(range(len(cases)), [c["inhibition_pct"] for c in cases], color=[COLORS[c["ighv"]] for c in cases])
        ax.set_xticks(range(len(cases)), [c["case"].replace(" case ", " #") for c in cases], fontsize=8)
        ax.set_ylabel("spleen growth inhibition at day 28 (%)")
        ax.set_ylim(0, 100)
        for a in axes.flat:
            a.grid(alpha=0.3)
        return finish(fig, "F9 · NSG xenografts, ibrutinib ~25 mg/kg/day in drinking water vs vehicle for 28 days")

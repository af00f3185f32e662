"""F4: CXCR4 recycling and Ser339 phosphorylation need BTK, PLCγ2, PKD1 (PKCμ) and PIM-1.

Protocol (in vitro, primary CLL cells): cells rest without CXCL12, are pretreated 60 min with
vehicle, ibrutinib (1 µM), or an inhibitor of PLCγ2, PKD1 or PIM-1 (each at a dose blocking
90% of its target), then stimulated with CXCL12 200 ng/mL (25 nM, CX6) for 30 min at 37 °C,
washed free of ligand and returned to 37 °C. Surface CXCR4 (flow cytometry MFI) is measured
before, during and after; pS339-CXCR4 (phospho-flow) during stimulation.

Readouts: internalization (surface lost by 30 min, % of resting), recycling (surface
recovered 30 min after the wash, % of the surface lost), pS339 10 min after CXCL12 relative
to vehicle-treated cells. The vehicle arm also checks the calibration rows CX2 (half-time of
surface loss at saturating CXCL12) and CX4 (time to 50% recovery after ligand removal).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..simulate import Assay, AssayStep, Patient, simulate_assay
from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._plotting import finish, subplots

LIGAND_NM = 25.0  # 200 ng/mL CXCL12 (CX6)
SATURATING_NM = 100.0
STIM_MIN = 30.0
RECOVERY_READ_MIN = 30.0
PS339_READ_MIN = 10.0
TIMES_MIN = np.arange(0.0, 150.5, 0.5)

#: Arm -> assay conditions (pretreatment).
ARMS: dict[str, dict[str, float]] = {
    "vehicle": {},
    "BTK (ibrutinib 1 µM)": {"medium_drug_nM": 1000.0},
    "PLCγ2 inhibitor": {"inhibition_plcg2": 0.9},
    "PKD1 inhibitor": {"inhibition_pkd1": 0.9},
    "PIM-1 inhibitor": {"inhibition_pim1": 0.9},
}
ARM_COLORS = ["#4d4d4d", "#c0392b", "#d68910", "#229954", "#2471a3"]
SHORT = {
    "vehicle": "vehicle",
    "BTK (ibrutinib 1 µM)": "btk",
    "PLCγ2 inhibitor": "plcg2",
    "PKD1 inhibitor": "pkd1",
    "PIM-1 inhibitor": "pim1",
}


def recycling_assay(conditions: Mapping[str, float], patient: Patient, ligand_nM: float = LIGAND_NM,
                    wash: bool = True):
    """Run the stimulation-wash-recovery protocol; returns the assay result (time in minutes)."""
    steps = [AssayStep(minute=0.0, set={"ligand_nM": ligand_nM})]
    if wash:
        steps.append(AssayStep(minute=STIM_MIN, set={"ligand_nM": 0.0}))
    assay = Assay(conditions=dict(conditions), pretreatment_min=60.0, steps=tuple(steps),
                  duration_min=float(TIMES_MIN[-1]))
    return simulate_assay(assay, patient, times_min=TIMES_MIN).raise_for_status()


def recovery_readouts(surface: np.ndarray) -> tuple[float, float, float]:
    """Internalized % at the wash, % of lost surface recovered RECOVERY_READ_MIN later, time to 50%."""
    s0 = surface[0]
    i_wash = int(np.searchsorted(TIMES_MIN, STIM_MIN))
    sw = surface[i_wash]
    recovered = (surface - sw) / (s0 - sw)
    i_read = int(np.searchsorted(TIMES_MIN, STIM_MIN + RECOVERY_READ_MIN))
    after = np.nonzero((TIMES_MIN > STIM_MIN) & (recovered >= 0.5))[0]
    t50 = float(TIMES_MIN[after[0]] - STIM_MIN) if after.size else float("nan")
    return 100.0 * (1 - sw / s0), 100.0 * float(recovered[i_read]), t50


class RecyclingAssay(Experiment):
    """CXCL12 internalization-recycling assay and pS339 under kinase inhibitors."""

    id = "F4"
    title = "CXCL12 internalization-recycling assay and pS339 under BTK, PLCγ2, PKD1 and PIM-1 inhibition"
    finding = (
        "CXCR4 becomes dysfunctional: Ser339 phosphorylation and receptor recycling are blocked; they are "
        "regulated by BTK, PLCγ2, PKCμ (PKD1) and PIM-1 (inhibiting any one of them impairs recycling and pS339)."
    )

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        patient = Patient(id="CLL cells", parameters=dict(overrides or {}))
        rows, read = [], {}
        i_ps = int(np.searchsorted(TIMES_MIN, PS339_READ_MIN))
        values = None
        for arm, cond in ARMS.items():
            res = recycling_assay(cond, patient)
            values = values or res.metadata["parameters"]
            surface = res["cxcr4_surface_rel"].to_numpy()
            ps339 = res["cxcr4_ps339_rel"].to_numpy()
            internalized, recycled, t50 = recovery_readouts(surface)
            read[arm] = {"internalized": internalized, "recycled": recycled, "t50": t50, "ps339": ps339[i_ps]}
            for name, series, unit in (
                ("surface_cxcr4_pct_of_resting", 100.0 * surface / surface[0], "% of resting"),
                ("ps339_rel_untreated", ps339, "relative to untreated resting cell"),
            ):
                rows += [{"group": arm, "subject": "CLL cells", "time": float(t), "time_unit": "min",
                          "readout": name, "value": float(v), "unit": unit}
                         for t, v in zip(TIMES_MIN, series, strict=True)]
        sat = recycling_assay({}, patient, ligand_nM=SATURATING_NM, wash=False)["cxcr4_surface_rel"].to_numpy()
        half_loss = sat[0] - 0.5 * (sat[0] - sat[int(np.searchsorted(TIMES_MIN, STIM_MIN))])
        cx2 = float(TIMES_MIN[np.nonzero(sat <= half_loss)[0][0]])
        veh = read["vehicle"]
        src = (f"{STUDY}: 'ibrutinib impaired CXCR4 signaling by blocking receptor recycling and phosphorylation "
               "regulated by PLCγ2, PKCμ, PIM-1 and BTK'")
        cx2_claim = "surface CXCR4 half-time at saturating CXCL12 (vehicle)"
        cx4_claim = "50% of lost surface CXCR4 returns within 30-90 min (vehicle)"
        checks = [
            Check("F4.CX2", cx2_claim, "half-time of surface loss, 100 nM", ">=", 2.0, cx2, "min",
                  "CX2 (Signoret N et al., J Cell Biol 1997): 2-10 min"),
            Check("F4.CX2_upper", cx2_claim, "half-time of surface loss, 100 nM", "<=", 10.0, cx2, "min",
                  "CX2 (Signoret 1997): 2-10 min"),
            Check("F4.CX4", cx4_claim, "time to 50% recovery", ">=", 30.0, veh["t50"], "min",
                  "CX4 (Meiser A et al., J Immunol 2008)"),
            Check("F4.CX4_upper", cx4_claim, "time to 50% recovery", "<=", 90.0, veh["t50"], "min",
                  "CX4 (Meiser 2008)"),
        ]
        for arm in list(ARMS)[1:]:
            key = SHORT[arm]
            checks.append(Check(
                f"F4.{key}_recycling", f"{arm} impairs CXCR4 recycling",
                f"surface recovered {RECOVERY_READ_MIN:g} min after wash, {key}/vehicle", "<=", 0.92,
                read[arm]["recycled"] / veh["recycled"], "ratio", src + "; minimum size: prediction (>=8% less)",
            ))
            checks.append(Check(
                f"F4.{key}_ps339", f"{arm} lowers CXCL12-induced pS339",
                f"pS339 10 min after CXCL12, {key}/vehicle", "<=", 0.85,
                read[arm]["ps339"] / veh["ps339"], "ratio", src + "; minimum size: prediction (>=15% lower)",
            ))
        protocol = {
            "cells": "primary CLL cells (typical U-CLL parameter set)",
            "pretreatment_min": 60,
            "arms": ARMS,
            "cxcl12_nM": LIGAND_NM,
            "stimulation_min": STIM_MIN,
            "recovery_read_min_after_wash": RECOVERY_READ_MIN,
            "ps339_read_min": PS339_READ_MIN,
        }
        summary = {f"{SHORT[a]}_{k}": v for a, d in read.items() for k, v in d.items()} | {"CX2_half_time_min": cx2}
        return self._result(protocol, tidy(rows), checks, summary=summary, values=values, overrides=overrides)

    def figure(self, result: ExperimentResult):
        df = result.data
        fig, axes = subplots(3, width=4.4)
        # PKD1 and PIM-1 inhibition give nearly the same curves: line style and marker tell them apart
        styles = ["-", "-", "--", "-.", ":"]
        markers = [None, None, None, "^", "o"]
        for color, ls, marker, arm in zip(ARM_COLORS, styles, markers, ARMS, strict=True):
            s = df[(df.group == arm) & (df.readout == "surface_cxcr4_pct_of_resting")]
            axes[0, 0].plot(s.time, s.value, color=color, ls=ls, marker=marker, markevery=0.12, ms=4, lw=1.6,
                            label=arm)
            p = df[(df.group == arm) & (df.readout == "ps339_rel_untreated") & (df.time <= STIM_MIN)]
            axes[0, 1].plot(p.time, 100.0 * p.value, color=color, ls=ls, marker=marker, markevery=0.12, ms=4,
                            lw=1.6, label=arm)
        axes[0, 0].axvline(STIM_MIN, color="grey", ls=":", lw=1)
        axes[0, 0].set_xlabel("time after CXCL12 (min; wash at 30 min)")
        axes[0, 0].set_ylabel("surface CXCR4 (% of resting MFI)")
        axes[0, 0].set_title("internalization and recycling", fontsize=9)
        axes[0, 1].set_xlabel("time after CXCL12 25 nM (min)")
        axes[0, 1].set_ylabel("pS339-CXCR4 (% of untreated resting cells)")
        axes[0, 1].set_title("pS339 time course", fontsize=9)
        axes[0, 0].legend(fontsize=7, loc="lower right")
        ax = axes[0, 2]
        s = result.summary
        keys = [SHORT[a] for a in ARMS]
        x = np.arange(len(keys))
        ax.bar(x - 0.2, [100 * s[f"{k}_recycled"] / s["vehicle_recycled"] for k in keys], 0.4,
               label=f"surface recycled by {RECOVERY_READ_MIN:g} min", color="#7f8c8d")
        ax.bar(x + 0.2, [100 * s[f"{k}_ps339"] / s["vehicle_ps339"] for k in keys], 0.4, label="pS339 at 10 min",
               color="#c0392b")
        ax.set_xticks(x, ["vehicle", "BTK", "PLCγ2", "PKD1", "PIM-1"])
        ax.set_xlabel("inhibitor (60 min before CXCL12)")
        ax.set_ylabel("readout (% of vehicle)")
        ax.set_ylim(0, 135)  # headroom: the legend sits above the bars, never over them
        ax.set_title("effect of each inhibitor", fontsize=9)
        ax.legend(fontsize=7, loc="upper center", ncols=2)
        for a in axes.flat:
            a.grid(alpha=0.3)
        return finish(fig, "F4 · CLL cells pretreated 60 min, CXCL12 200 ng/mL for 30 min, washed: "
                           "surface CXCR4 and pS339")

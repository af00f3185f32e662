"""F5: surface CXCR4 falls in mice and rises in patients on ibrutinib; pS339 falls in both.

Protocol: blood CLL cells are stained for surface CXCR4 (MFI) and pS339-CXCR4 before and on
treatment — TCL1-192 mice on ibrutinib 25 mg/kg/day (day 7), typical U-CLL and M-CLL patients
on 420 mg/day (day 56). Readout: MFI relative to the pre-treatment sample.

Mechanism (one model, two hosts): surface CXCR4 on a blood cell is its carried CXCR4
expression times the surface share of its receptors at the blood's CXCL12. Ibrutinib blocks
Ser339 phosphorylation, so internalized receptor is degraded instead of recycled: the
per-receptor surface share falls (blocked recycling, lowers surface). It also removes the
BCR-driven repression of CXCR4 expression that cells acquire in tissue niches and carry into
the blood (relief, raises surface). Which wins depends on the parameters that differ between
hosts (listed in the report from the tables): in patients, blood CLL cells are mostly
CXCR4-dim tissue emigrants whose expression recovers over weeks (strong niche repression,
slow relaxation); in TCL1-192 mice, repression is weak and expression relaxes within a day,
so blocked recycling dominates.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..model import load_table
from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._engine import shared_model
from ._plotting import COLORS, finish, subplots
from .f01_redistribution import MOUSE_DAYS

PATIENT_DAYS = 150.0
PATIENT_REGIMEN = "420 mg qd"
MOUSE_REGIMEN = "25 mg/kg qd"
MOUSE_READ_DAY = 7.0
PATIENT_READ_DAY = 56.0
MOUSE_TIMES = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0)
PATIENT_TIMES = (0.0, 1.0, 3.0, 7.0, 14.0, 28.0, 42.0, 56.0, 84.0)
VARIABLES = ("cxcr4_surface_blood", "cxcr4_ps339_blood", "cxcr4_expr_blood", "cx_surface_unit_blood")
#: Row-id prefixes of the CXCR4 layer (compared between hosts in the report).
CXCR4_PREFIXES = ("cxcr4_", "cxcl12_", "pkd1_", "pim1_", "s339_")
#: Physiology rows that set how fast tissue emigrants replace blood cells.
TRAFFIC_PREFIXES = ("egress_per_day_", "detach_per_day_", "niche_fraction_", "blood_volume_L")


def host_differences() -> list[dict[str, object]]:
    """Rows of the CXCR4 layer and of trafficking whose values differ between patient and mouse."""
    patient, mouse = load_table(host="patient"), load_table(host="tcl1")
    out = []
    for pid, row in mouse.rows.items():
        if not pid.startswith(CXCR4_PREFIXES + TRAFFIC_PREFIXES) or pid not in patient.rows:
            continue
        pv = patient.rows[pid].nominalValue
        if abs(pv - row.nominalValue) > 1e-12 * max(1.0, abs(pv)):
            out.append({"parameter": pid, "unit": row.unit, "patient": pv, "tcl1_mouse": row.nominalValue,
                        "why_patient": patient.rows[pid].source, "why_mouse": row.source})
    return out


class SurfaceCXCR4(Experiment):
    """Surface CXCR4 and pS339 on blood CLL cells, mice vs patients."""

    id = "F5"
    title = "Surface CXCR4 and pS339 on blood CLL cells: TCL1-192 mice vs patients"
    finding = "In mice, surface CXCR4 falls on treatment; in patients it rises, while pS339-CXCR4 falls in both."

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        from ..simulate import Patient

        rows, read = [], {}
        settings = [
            ("mouse", "tcl1", MOUSE_REGIMEN, MOUSE_DAYS, MOUSE_TIMES, MOUSE_READ_DAY, "U"),
            ("U-CLL patient", "patient", PATIENT_REGIMEN, PATIENT_DAYS, PATIENT_TIMES, PATIENT_READ_DAY, "U"),
            ("M-CLL patient", "patient", PATIENT_REGIMEN, PATIENT_DAYS, PATIENT_TIMES, PATIENT_READ_DAY, "M"),
        ]
        values = None
        for label, host, regimen, days, times, read_day, ighv in settings:
            model = shared_model(host, regimen, days)
            subject = Patient(id=label, ighv=ighv, parameters=dict(overrides or {}))
            values = values or model.values_for(subject)
            r = model.run(subject, times, VARIABLES)
            series = {
                "surface_cxcr4_rel_baseline": r["cxcr4_surface_blood"] / r["cxcr4_surface_blood"][0],
                "ps339_rel_baseline": r["cxcr4_ps339_blood"] / r["cxcr4_ps339_blood"][0],
                "expression_rel_baseline": r["cxcr4_expr_blood"] / r["cxcr4_expr_blood"][0],
                "surface_share_rel_baseline": r["cx_surface_unit_blood"] / r["cx_surface_unit_blood"][0],
            }
            i = times.index(read_day)
            read[label] = {k: float(v[i]) for k, v in series.items()}
            for name, v in series.items():
                rows += [{"group": label, "subject": label, "time": t, "time_unit": "day", "readout": name,
                          "value": float(x), "unit": "relative to pre-treatment"}
                         for t, x in zip(times, v, strict=True)]
        src = (f"{STUDY}: 'unlike murine experiments, surface membrane CXCR4 levels increased in patients after "
               "treatment'; 'dysfunctional CXCR4 was also seen in most ibrutinib-treated CLL patients'")
        m, p = read["mouse"], read["U-CLL patient"]
        checks = [
            Check("F5.mouse_surface", "surface CXCR4 on blood CLL cells falls in TCL1-192 mice",
                  f"surface CXCR4 MFI, day {MOUSE_READ_DAY:g}/day 0 (mouse)", "<=", 0.9,
                  m["surface_cxcr4_rel_baseline"], "ratio", src + "; minimum size: prediction (>=10% fall)"),
            Check("F5.patient_surface", "surface CXCR4 on blood CLL cells rises in (U-CLL) patients",
                  f"surface CXCR4 MFI, day {PATIENT_READ_DAY:g}/day 0 (typical U-CLL patient)", ">=", 1.1,
                  p["surface_cxcr4_rel_baseline"], "ratio", src + "; minimum size: prediction (>=10% rise)"),
            Check("F5.mouse_ps339", "pS339 falls in mice", f"pS339, day {MOUSE_READ_DAY:g}/day 0 (mouse)", "<=", 0.7,
                  m["ps339_rel_baseline"], "ratio", src + "; minimum size: prediction (>=30% fall)"),
            Check("F5.patient_ps339", "pS339 falls in patients",
                  f"pS339, day {PATIENT_READ_DAY:g}/day 0 (typical U-CLL patient)", "<=", 0.7,
                  p["ps339_rel_baseline"], "ratio", src + "; minimum size: prediction (>=30% fall)"),
            Check("F5.same_mechanism", "recycling block lowers the per-receptor surface share in both hosts",
                  "max(surface share on drug/baseline) over mouse and patient", "<", 1.0,
                  max(m["surface_share_rel_baseline"], p["surface_share_rel_baseline"]), "ratio",
                  "one mechanism, different parameter values (docs/model.md, layer 4)"),
        ]
        protocol = {
            "mouse": f"tcl1, {MOUSE_REGIMEN}, blood sampled day 0 and {MOUSE_READ_DAY:g}",
            "patients": f"typical U-CLL and M-CLL, {PATIENT_REGIMEN}, blood sampled day 0 and {PATIENT_READ_DAY:g}",
            "readout": "surface CXCR4 MFI and pS339-CXCR4 on blood CLL cells relative to pre-treatment",
        }
        summary: dict[str, object] = {f"{g}: {k}": v for g, d in read.items() for k, v in d.items()}
        summary["parameters differing between hosts"] = host_differences()
        return self._result(protocol, tidy(rows), checks, summary=summary, values=values, overrides=overrides)

    def figure(self, result: ExperimentResult):
        df = result.data
        fig, axes = subplots(3, width=4.4)
        styles = {"mouse": (COLORS["mouse"], "-"), "U-CLL patient": (COLORS["U"], "-"),
                  "M-CLL patient": (COLORS["M"], "--")}
        for ax, readout, ylabel in (
            (axes[0, 0], "surface_cxcr4_rel_baseline", "surface CXCR4 MFI (× day 0)"),
            (axes[0, 1], "ps339_rel_baseline", "pS339-CXCR4 (× day 0)"),
        ):
            for g, (c, ls) in styles.items():
                s = df[(df.group == g) & (df.readout == readout)]
                ax.plot(s.time, s.value, color=c, ls=ls, marker="o", ms=3, label=g)
            ax.axhline(1.0, color="grey", lw=0.8)
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(0.0, max(PATIENT_TIMES[-1], MOUSE_TIMES[-1]) * 1.1)
            ax.set_xlabel("time on treatment (days; log scale after day 1)")
            ax.set_ylabel(ylabel)
        axes[0, 0].legend(fontsize=8)
        ax = axes[0, 2]
        groups = list(styles)
        x = np.arange(len(groups))
        s = result.summary
        ax.bar(x - 0.27, [s[f"{g}: expression_rel_baseline"] for g in groups], 0.27, label="expression (relief)",
               color="#58d68d")
        ax.bar(x, [s[f"{g}: surface_share_rel_baseline"] for g in groups], 0.27, label="surface share (recycling)",
               color="#7f8c8d")
        ax.bar(x + 0.27, [s[f"{g}: surface_cxcr4_rel_baseline"] for g in groups], 0.27, label="surface = product",
               color="#c0392b")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xticks(x, ["mouse d7", "U-CLL d56", "M-CLL d56"])
        ax.set_ylabel("on treatment / pre-treatment (ratio)")
        tallest = max(max(c.get_height() for c in container) for container in ax.containers)
        ax.set_ylim(0, tallest * 1.45)  # headroom: the legend sits above the bars, never over them
        ax.set_title("decomposition of the surface change", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", ncols=1)
        for a in axes.flat:
            a.grid(alpha=0.3)
        return finish(fig, "F5 · blood CLL cells on ibrutinib: TCL1-192 mice (25 mg/kg/day) vs patients (420 mg/day)")

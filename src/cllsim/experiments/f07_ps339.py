"""F7: pS339-CXCR4 falls more in U-CLL than in M-CLL patients on ibrutinib.

Protocol: blood of the virtual patient groups of F6 (12 U-CLL, 12 M-CLL; ibrutinib 420 mg/day)
is sampled before treatment and on day 56; pS339-CXCR4 in CLL cells is measured by
phospho-flow (MFI, with the assay's measurement error). Readouts: % change per patient;
Wilcoxon signed-rank test within each group; Mann-Whitney U test of the change, U vs M.

Model note: blood pS339 is the cells' carried CXCR4 expression times pS339 per receptor. In
the core model the Ser339 kinases (PKD1, PIM-1) follow BTK activity alone, so pS339 per
receptor falls equally in U-CLL and M-CLL; the IGHV difference then comes only from the
expression factor, whose relief on treatment (loss of BCR-driven repression in niches) is
larger in U-CLL. The key numbers show both factors; F7 needs the kinases to depend on BCR
signalling strength (e.g. PIM-1 induced by BCR signalling) to hold.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import _ighv_change as ic
from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._engine import shared_model
from ._patients import DAYS, MFI_CV_SOURCE, N_PER_GROUP, REGIMEN, SAMPLE_DAY, patient_groups


class PS339ByIGHV(Experiment):
    """pS339-CXCR4 change by IGHV status."""

    id = "F7"
    title = "Virtual patients: fall of pS339-CXCR4 on ibrutinib, U-CLL vs M-CLL"
    finding = "pS339-CXCR4 falls more in U-CLL than in M-CLL patients."

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        g = patient_groups(overrides)
        stats = ic.compare(g, "ps339")
        e = g.endpoints
        src = (f"{STUDY}: 'there was greater inhibition in phosphorylated CXCR4 levels in patients with unfavorable "
               "disease (U-CLL) versus those with favorable disease (M-CLL)'")
        falls = float(np.mean(e.ps339_change_pct <= -20.0))
        checks = [
            Check("F7.falls_in_most", "pS339 falls (>=20%) in most patients", "share of patients with >=20% fall",
                  ">", 0.5, falls, "fraction",
                  f"{STUDY}: 'Dysfunctional CXCR4 was also seen in most ibrutinib-treated CLL patients'"),
            Check("F7.U_more_than_M", "pS339 falls more in U-CLL (rank-biserial r of change, M vs U)",
                  "rank-biserial r (M change vs U change)", ">=", 0.3, stats["M_vs_U"].effect_size, "",
                  src + "; minimum size: prediction (r >= 0.3)"),
            Check("F7.U_vs_M_test", "the greater fall in U-CLL is significant (one-sided Mann-Whitney)",
                  "Mann-Whitney p of change (U falls more)", "<", 0.05, stats["M_vs_U"].p_value, "",
                  src + f"; groups of {N_PER_GROUP}"),
        ]
        protocol = {"patients": f"{N_PER_GROUP} U-CLL + {N_PER_GROUP} M-CLL (as F6)", "regimen": REGIMEN,
                    "samples": f"day 0 and day {SAMPLE_DAY:g}", "readout": "pS339-CXCR4 MFI in blood CLL cells",
                    "measurement_error": MFI_CV_SOURCE,
                    "tests": "Wilcoxon signed-rank (within group), Mann-Whitney U (U vs M change)"}
        return self._result(protocol, tidy(ic.rows(g, "ps339")), checks,
                            summary=ic.summary(stats) | self._decomposition(overrides), values=g.values,
                            overrides=overrides)

    @staticmethod
    def _decomposition(overrides: Mapping[str, float] | None) -> dict[str, float]:
        """Blood pS339 = carried CXCR4 expression x pS339 per receptor: both factors' change at
        the sample day for the typical U-CLL and M-CLL patient (explains the IGHV difference)."""
        from ..simulate import Patient

        model = shared_model("patient", REGIMEN, DAYS)
        out = {}
        for ighv in ("U", "M"):
            r = model.run(Patient(ighv=ighv, parameters=dict(overrides or {})), (0.0, SAMPLE_DAY),
                          ("cxcr4_expr_blood", "cx_ps339_unit_blood"))
            out[f"typical {ighv}-CLL: CXCR4 expression change (x)"] = float(r["cxcr4_expr_blood"][1]
                                                                           / r["cxcr4_expr_blood"][0])
            out[f"typical {ighv}-CLL: pS339 per receptor change (x)"] = float(r["cx_ps339_unit_blood"][1]
                                                                             / r["cx_ps339_unit_blood"][0])
        return out

    def figure(self, result: ExperimentResult):
        return ic.figure(result, "ps339", "pS339-CXCR4")

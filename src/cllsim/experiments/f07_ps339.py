"""F7: pS339-CXCR4 falls more in U-CLL than in M-CLL patients on ibrutinib.

Protocol: blood of the virtual patient groups of F6 (12 U-CLL, 12 M-CLL; ibrutinib 420 mg/day)
is sampled before treatment and on day 56; pS339-CXCR4 in CLL cells is measured by
phospho-flow (MFI, with the assay's measurement error). Readouts: % change per patient;
Wilcoxon signed-rank test within each group; Mann-Whitney U test of the change, U vs M.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import _ighv_change as ic
from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._patients import MFI_CV_SOURCE, N_PER_GROUP, REGIMEN, SAMPLE_DAY, patient_groups


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
        return self._result(protocol, tidy(ic.rows(g, "ps339")), checks, summary=ic.summary(stats),
                            values=g.values, overrides=overrides)

    def figure(self, result: ExperimentResult):
        return ic.figure(result, "ps339", "pS339-CXCR4")

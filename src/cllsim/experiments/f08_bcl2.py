"""F8: BCL2 protein falls significantly in U-CLL but not in M-CLL patients on ibrutinib.

Protocol: as F7, with intracellular BCL2 (MFI) in blood CLL cells before treatment and on
day 56. Readouts: % change per patient; Wilcoxon signed-rank test within each group (the
study's "significantly reduced"); Mann-Whitney U test of the change, U vs M.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import _ighv_change as ic
from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._patients import MFI_CV_SOURCE, N_PER_GROUP, REGIMEN, SAMPLE_DAY, patient_groups


class BCL2ByIGHV(Experiment):
    """BCL2 change by IGHV status."""

    id = "F8"
    title = "Virtual patients: BCL2 in blood CLL cells on ibrutinib, U-CLL vs M-CLL"
    finding = "BCL2 protein falls significantly in U-CLL but not in M-CLL patients."

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        g = patient_groups(overrides)
        stats = ic.compare(g, "bcl2")
        src = (f"{STUDY}: 'U-CLL but not M-CLL patients also had significantly reduced pro-survival BCL2 protein "
               "levels after treatment'")
        checks = [
            Check("F8.U_significant", "BCL2 falls significantly in U-CLL (Wilcoxon signed-rank)",
                  "Wilcoxon p, U-CLL before vs on treatment", "<", 0.05, stats["U"].p_value, "", src),
            Check("F8.U_falls", "BCL2 falls in U-CLL (matched-pairs rank-biserial)", "rank-biserial r, U-CLL",
                  "<=", -0.5, stats["U"].effect_size, "", src + "; minimum size: prediction (r <= -0.5)"),
            Check("F8.M_not_significant", "BCL2 change in M-CLL is not significant (Wilcoxon signed-rank)",
                  "Wilcoxon p, M-CLL before vs on treatment", ">=", 0.05, stats["M"].p_value, "",
                  src + f"; groups of {N_PER_GROUP} with assay error ({MFI_CV_SOURCE})"),
            Check("F8.U_vs_M_test", "the greater fall in U-CLL is significant (one-sided Mann-Whitney)",
                  "Mann-Whitney p of change (U falls more)", "<", 0.05, stats["M_vs_U"].p_value, "",
                  src + f"; groups of {N_PER_GROUP}"),
            Check("F8.U_more_than_M", "BCL2 falls more in U-CLL than in M-CLL (rank-biserial r of change, M vs U)",
                  "rank-biserial r (M change vs U change)", ">=", 0.3, stats["M_vs_U"].effect_size, "",
                  src + "; minimum size: prediction (r >= 0.3)"),
        ]
        protocol = {"patients": f"{N_PER_GROUP} U-CLL + {N_PER_GROUP} M-CLL (as F6)", "regimen": REGIMEN,
                    "samples": f"day 0 and day {SAMPLE_DAY:g}", "readout": "intracellular BCL2 MFI in blood CLL cells",
                    "measurement_error": MFI_CV_SOURCE,
                    "tests": "Wilcoxon signed-rank (within group), Mann-Whitney U (U vs M change)"}
        return self._result(protocol, tidy(ic.rows(g, "bcl2")), checks, summary=ic.summary(stats),
                            values=g.values, overrides=overrides)

    def figure(self, result: ExperimentResult):
        return ic.figure(result, "bcl2", "BCL2")

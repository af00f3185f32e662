"""F6: treatment lymphocytosis is higher and longer in M-CLL than in U-CLL patients.

Protocol: virtual U-CLL and M-CLL patients (12 each; between-patient variability from the
parameters table) take ibrutinib 420 mg/day; absolute lymphocyte counts are taken daily for
150 days. Readouts per patient: peak ALC rise (% over the pre-treatment count) and duration of
lymphocytosis (days the ALC stays above its pre-treatment value). Groups are compared with the
Mann-Whitney U test (two-sided), effect size as rank-biserial correlation (M vs U).
"""

from __future__ import annotations

from collections.abc import Mapping

from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._patients import DAYS, N_PER_GROUP, REGIMEN, endpoint_rows, patient_groups
from ._plotting import COLORS, band, dots, finish, subplots
from ._population import mann_whitney

UNITS = {"peak_alc_rise_pct": "% over baseline", "lymphocytosis_days": "days", "baseline_alc_per_uL": "1/uL"}


class Lymphocytosis(Experiment):
    """Lymphocytosis level and duration by IGHV status."""

    id = "F6"
    title = "Virtual patients: level and duration of ibrutinib lymphocytosis, M-CLL vs U-CLL"
    finding = "The level and duration of treatment lymphocytosis are greater in favorable-prognosis (M-CLL) patients."

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        g = patient_groups(overrides)
        e = g.endpoints
        stats = {}
        for col in ("peak_alc_rise_pct", "lymphocytosis_days"):
            # one-sided: the finding states a direction (M-CLL higher and longer)
            stats[col] = mann_whitney(e[e.ighv == "M"][col].to_numpy(), e[e.ighv == "U"][col].to_numpy(),
                                      alternative="greater")
        src = (f"{STUDY}: 'the level and duration of ibrutinib-induced lymphocytosis are associated with favorable "
               "prognostic features'")
        checks = [
            Check("F6.level_effect", "peak lymphocytosis higher in M-CLL (rank-biserial, M vs U)",
                  "rank-biserial r of peak ALC rise", ">", 0.0, stats["peak_alc_rise_pct"].effect_size, "",
                  src + "; direction only: the model predicts a small level difference next to between-patient "
                  "spread (see p value)"),
            Check("F6.duration_effect", "lymphocytosis lasts longer in M-CLL (rank-biserial, M vs U)",
                  "rank-biserial r of duration", ">=", 0.3, stats["lymphocytosis_days"].effect_size, "",
                  src + "; minimum size: prediction (r >= 0.3)"),
            Check("F6.duration_test", "longer lymphocytosis in M-CLL is significant (one-sided Mann-Whitney)",
                  "one-sided Mann-Whitney p (M longer)", "<", 0.05, stats["lymphocytosis_days"].p_value, "",
                  src + f"; groups of {N_PER_GROUP}"),
        ]
        summary: dict[str, object] = {}
        for col, s in stats.items():
            summary |= s.as_dict(f"{col} (M vs U): ")
        protocol = {"patients": f"{N_PER_GROUP} U-CLL + {N_PER_GROUP} M-CLL virtual patients", "regimen": REGIMEN,
                    "days": DAYS, "readouts": "peak ALC rise %, days ALC above baseline", "test": "Mann-Whitney U"}
        rows = endpoint_rows(g, list(UNITS), UNITS)
        for ighv, courses in g.alc.items():
            for i, course in enumerate(courses):
                rows += [{"group": f"{ighv}-CLL", "subject": f"{ighv}-{i + 1}", "time": float(t), "time_unit": "day",
                          "readout": "alc_per_uL", "value": float(v), "unit": "1/uL"}
                         for t, v in zip(g.times_days[::7], course[::7], strict=True)]
        return self._result(protocol, tidy(rows), checks, summary=summary, values=g.values, overrides=overrides)

    def figure(self, result: ExperimentResult):
        df = result.data
        fig, axes = subplots(3, width=4.3)
        ax = axes[0, 0]
        for ighv in ("U", "M"):
            sel = df[(df.readout == "alc_per_uL") & (df.group == f"{ighv}-CLL")]
            wide = sel.pivot(index="subject", columns="time", values="value")
            rel = 100.0 * wide.to_numpy() / wide.to_numpy()[:, :1]
            band(ax, wide.columns.to_numpy(float), rel, f"{ighv}-CLL", COLORS[ighv])
        ax.axhline(100, color="grey", lw=0.8)
        ax.set_xlabel("day of treatment")
        ax.set_ylabel("ALC (% of pre-treatment)")
        ax.legend(fontsize=8)
        for ax, col, ylabel in ((axes[0, 1], "peak_alc_rise_pct", "peak ALC rise (% over baseline)"),
                                (axes[0, 2], "lymphocytosis_days", "days with ALC above baseline")):
            for i, ighv in enumerate(("U", "M")):
                dots(ax, i, df[(df.readout == col) & (df.group == f"{ighv}-CLL")].value.to_numpy(), COLORS[ighv])
            p = result.summary[f"{col} (M vs U): p_value"]
            ax.set_title(f"Mann-Whitney p = {p:.2g}", fontsize=9)
            ax.set_xticks([0, 1], ["U-CLL", "M-CLL"])
            ax.set_ylabel(ylabel)
        for a in axes.flat:
            a.grid(alpha=0.3)
        return finish(fig, f"F6 · ibrutinib lymphocytosis in {N_PER_GROUP} U-CLL and {N_PER_GROUP} M-CLL virtual "
                           f"patients (420 mg/day; line: mean, band: range)")



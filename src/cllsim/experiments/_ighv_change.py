"""Shared readout and figure of F7 and F8: a blood-cell MFI before and on treatment by IGHV."""

from __future__ import annotations

from ._base import ExperimentResult
from ._patients import MFI_CV, N_PER_GROUP, SAMPLE_DAY, PatientGroups, endpoint_rows
from ._plotting import COLORS, dots, finish, subplots
from ._population import GroupComparison, mann_whitney, wilcoxon_paired


def compare(groups: PatientGroups, name: str) -> dict[str, GroupComparison]:
    """Paired test per group (before vs on treatment) and the U-vs-M test of the change."""
    e = groups.endpoints
    out = {}
    for ighv in ("U", "M"):
        g = e[e.ighv == ighv]
        out[ighv] = wilcoxon_paired(g[f"{name}_before_mfi"].to_numpy(), g[f"{name}_after_mfi"].to_numpy())
    # effect size > 0: M-CLL changes less negatively than U-CLL (U falls more)
    # one-sided: the findings state a direction (U-CLL falls more)
    out["M_vs_U"] = mann_whitney(e[e.ighv == "M"][f"{name}_change_pct"].to_numpy(),
                                 e[e.ighv == "U"][f"{name}_change_pct"].to_numpy(), alternative="greater")
    return out


def rows(groups: PatientGroups, name: str) -> list[dict]:
    cols = [f"{name}_before_mfi", f"{name}_after_mfi", f"{name}_change_pct", f"{name}_true_change_pct"]
    units = {cols[0]: "relative MFI", cols[1]: "relative MFI", cols[2]: "% change", cols[3]: "% change"}
    return endpoint_rows(groups, cols, units)


def summary(stats: dict[str, GroupComparison]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, s in stats.items():
        label = "M-CLL vs U-CLL change" if key == "M_vs_U" else f"{key}-CLL before vs on treatment"
        out |= s.as_dict(f"{label}: ")
    return out


def figure(result: ExperimentResult, name: str, label: str):
    df = result.data
    fig, axes = subplots(3, width=4.2)
    for ax, ighv in zip(axes.flat[:2], ("U", "M"), strict=True):
        before = df[(df.readout == f"{name}_before_mfi") & (df.group == f"{ighv}-CLL")].value.to_numpy()
        after = df[(df.readout == f"{name}_after_mfi") & (df.group == f"{ighv}-CLL")].value.to_numpy()
        for b, a in zip(before, after, strict=True):
            ax.plot([0, 1], [b, a], color=COLORS[ighv], alpha=0.6, marker="o", ms=3)
        p = result.summary[f"{ighv}-CLL before vs on treatment: p_value"]
        ax.set_title(f"{ighv}-CLL (Wilcoxon p = {p:.2g})", fontsize=9)
        ax.set_xticks([0, 1], ["before", f"day {SAMPLE_DAY:g}"])
        ax.set_ylabel(f"{label} (MFI relative to reference cell)")
    ax = axes[0, 2]
    for i, ighv in enumerate(("U", "M")):
        dots(ax, i, df[(df.readout == f"{name}_change_pct") & (df.group == f"{ighv}-CLL")].value.to_numpy(),
             COLORS[ighv])
    ax.axhline(0, color="grey", lw=0.8)
    p = result.summary["M-CLL vs U-CLL change: p_value"]
    ax.set_title(f"change, U vs M (Mann-Whitney p = {p:.2g})", fontsize=9)
    ax.set_xticks([0, 1], ["U-CLL", "M-CLL"])
    ax.set_ylabel(f"{label} change on treatment (%)")
    for a in axes.flat:
        a.grid(alpha=0.3)
    return finish(fig, f"{result.id} · {label} in blood CLL cells before and on ibrutinib 420 mg/day, "
                       f"{N_PER_GROUP} U-CLL and {N_PER_GROUP} M-CLL virtual patients (assay CV {MFI_CV:.0%})")



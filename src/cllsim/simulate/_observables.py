"""The observables registry: what a result reports, read from which model variable, in which unit.

Every output that names an observable (``simulate`` results, cohort trajectories, fit data and
predictions, the CLI's ``cllsim observables``) takes it from :func:`observables` and converts
model variables with :func:`observe`, so one id means one number everywhere. Observables marked
``per_baseline`` are reported relative to their value at time 0 (the pre-treatment sample), as
measured; that division happens only in :func:`observe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..drugs import DEFAULT_DRUG, drug_set, get_drug
from ..model import Host, get_host


@dataclass(frozen=True)
class Observable:
    """A reported quantity.

    Attributes
    ----------
    id
        Name in results (units in the name where customary).
    variable
        SBML variable it is read from.
    unit
        Unit of the reported value.
    description
        One line for tables and figure captions.
    per_baseline
        Report ``value / value(t=0)`` (measurements relative to the pre-treatment sample).
    """

    id: str
    variable: str
    unit: str
    description: str
    per_baseline: bool = False


def observe(obs: Sequence[Observable], variables: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Observable values from model variables (arrays of shape ``(n, T)``, time 0 first).

    Parameters
    ----------
    obs
        Observables to report (from :func:`observables`).
    variables
        Model variables by SBML id, as returned by an engine.

    Returns
    -------
    dict
        ``{observable id: (n, T)}``; ``per_baseline`` observables divided by their time-0 value.
    """
    out = {}
    for o in obs:
        v = np.asarray(variables[o.variable], dtype=float)
        if o.per_baseline and v.shape[-1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = v / v[..., :1]
        out[o.id] = v
    return out


def observables(host: Host | str, drugs: str | Sequence[str] = DEFAULT_DRUG) -> list[Observable]:
    """Observables available for ``host`` with ``drugs`` (the registry).

    Per-drug observables (``<drug>_plasma_ng_per_mL``, ``<drug>_free_nM``, target occupancy) are
    listed for every drug of the model; ``drug_plasma_ng_per_mL`` and ``drug_free_nM`` read the
    first drug.
    """
    host = get_host(host)
    drugs = drug_set(drugs)
    obs = [
        Observable("alc_per_uL", "alc_per_uL", "1/uL", "absolute lymphocyte count (CLL + normal)"),
        Observable("cells_blood_1e9", "cll_blood", "1e9 cells", "CLL cells in blood (all clones)"),
        Observable("cells_tissue_1e9", "cells_tissue", "1e9 cells", "CLL cells in solid tissues"),
        Observable("cells_total_1e9", "cells_total", "1e9 cells", "total CLL burden"),
    ]
    for t in host.tissues:
        obs.append(Observable(f"cells_{t.id}_1e9", f"cells_{t.id}", "1e9 cells", f"CLL cells in {t.label}"))
    tissue_ids = host.tissue_ids
    if "ln" in tissue_ids:
        obs.append(Observable("ln_volume_cm3", "ln_volume_cm3", "cm3", "CLL lymph-node volume"))
    if "spleen" in tissue_ids:
        obs.append(Observable("spleen_volume_cm3", "spleen_volume_cm3", "cm3", "spleen volume"))
    if "bm" in tissue_ids:
        obs.append(
            Observable("bm_infiltration_pct", "bm_infiltration_pct", "%", "CLL share of marrow cells")
        )
    obs += [
        Observable("drug_plasma_ng_per_mL", "drug_plasma_ng_per_mL", "ng/mL", "total plasma drug"),
        Observable("drug_free_nM", "drug_free_nM", "nM", "unbound plasma drug"),
        Observable("btk_occupancy_pct", "btk_occupancy_pct", "%", "BTK occupied by drug"),
        Observable("btk_c481s_occupancy_pct", "btk_c481s_occupancy_pct", "%",
                   "BTK C481S occupied by drug (reversible inhibitors only)"),
        Observable(
            "btk_resynthesis_pct_per_day", "btk_resynthesis_pct_per_day", "%/day",
            "new BTK made per day as share of the BTK pool",
        ),
        Observable("btk_activity", "btk_activity", "relative to untreated", "free (active) BTK"),
        Observable("pkd1_activity", "pkd1_activity", "relative to untreated", "PKD1 (PKCmu) activity"),
        Observable("pim1_level", "pim1_level", "relative to untreated", "PIM-1 expression"),
        Observable(
            "cxcr4_surface_blood", "cxcr4_surface_blood", "relative to baseline",
            "surface CXCR4 on blood CLL cells", per_baseline=True,
        ),
        Observable(
            "cxcr4_ps339_blood", "cxcr4_ps339_blood", "relative to baseline",
            "Ser339-phosphorylated CXCR4 in blood CLL cells", per_baseline=True,
        ),
        Observable(
            "bcl2_blood", "bcl2_blood", "relative to baseline", "BCL2 in blood CLL cells",
            per_baseline=True,
        ),
        Observable("cxcr4_function", "cxcr4_function", "relative to untreated", "CXCR4 resensitization capacity"),
        Observable("homing_capacity", "homing_capacity", "relative to untreated", "chemotaxis (homing) capacity"),
        Observable("adhesion_capacity", "adhesion_capacity", "relative to untreated", "integrin activation"),
        Observable("birth_rate_total_pct_per_day", "birth_rate_total_pct_per_day", "%/day", "whole-body birth rate"),
        Observable("birth_rate_tissue_pct_per_day", "birth_rate_tissue_pct_per_day", "%/day", "tissue birth rate"),
        Observable("death_rate_blood_pct_per_day", "death_rate_blood_pct_per_day", "%/day", "blood death rate"),
        Observable("death_rate_tissue_pct_per_day", "death_rate_tissue_pct_per_day", "%/day", "tissue death rate"),
        Observable("death_rate_total_pct_per_day", "death_rate_total_pct_per_day", "%/day", "whole-body death rate"),
        Observable("cum_net_efflux_1e9", "cum_net_efflux", "1e9 cells", "cumulative net tissue-to-blood flux"),
    ]
    for t in host.tissues:
        obs.append(
            Observable(
                f"death_rate_{t.id}_pct_per_day", f"death_rate_{t.id}_pct_per_day", "%/day",
                f"death rate of CLL cells in {t.label}",
            )
        )
        obs.append(
            Observable(
                f"birth_rate_{t.id}_pct_per_day", f"birth_rate_{t.id}_pct_per_day", "%/day",
                f"birth rate of CLL cells in {t.label}",
            )
        )
        obs.append(
            Observable(
                f"cxcr4_surface_niche_{t.id}", f"cxcr4_surface_niche_{t.id}", "relative to baseline",
                f"surface CXCR4 on niche-bound cells in {t.label}", per_baseline=True,
            )
        )
        obs.append(
            Observable(
                f"bcl2_niche_{t.id}", f"bcl2_niche_{t.id}", "relative to baseline",
                f"BCL2 in niche-bound cells in {t.label}", per_baseline=True,
            )
        )
    for d in (get_drug(x) for x in drugs):
        obs += [
            Observable(f"{d.id}_plasma_ng_per_mL", f"{d.id}_plasma_ng_per_mL", "ng/mL", f"total plasma {d.id}"),
            Observable(f"{d.id}_free_nM", f"{d.id}_free_nM", "nM", f"unbound plasma {d.id}"),
        ]
        if d.pk.metabolite is not None:
            obs += [
                Observable(f"{d.id}_metabolite_plasma_ng_per_mL", f"{d.id}_metabolite_plasma_ng_per_mL", "ng/mL",
                           f"total plasma active metabolite of {d.id}"),
            ]
        target = "btk" if d.target == "BTK" else "bcl2"
        obs.append(Observable(f"{d.id}_{target}_occupancy_pct", f"{d.id}_{target}_occupancy_pct", "%",
                              f"{d.target} occupied by {d.id}"))
    if any(get_drug(x).target == "BCL2" for x in drugs):
        obs.append(Observable("bcl2_drug_occupancy_pct", "bcl2_drug_occupancy_pct", "%",
                              "BCL2 held by BCL2 inhibitors (cells outside niches)"))
    # ---- disease course over years (issue 11): MRD, clones, persisters, clinical sizes
    obs += [
        Observable("cll_blood_1e9", "cll_blood", "1e9 cells", "CLL cells in blood, all clones"),
        Observable("cll_marginated_1e9", "cll_marginated", "1e9 cells",
                   "marginated (intravascular, endothelium-adherent) CLL cells"),
        Observable("mrd_blood", "mrd_blood", "fraction", "blood MRD: CLL cells among blood leukocytes"),
        Observable("cells_persistent_1e9", "cells_persistent", "1e9 cells",
                   "protected (persister) CLL cells in tissues"),
        Observable("fraction_persistent", "fraction_persistent", "fraction", "persister share of all CLL cells"),
    ]
    for clone, label in (("c481s", "BTK C481S"), ("plcg2", "PLCG2 gain-of-function")):
        obs += [
            Observable(f"fraction_{clone}", f"fraction_{clone}", "fraction",
                       f"{label} subclone share of all CLL cells"),
            Observable(f"fraction_blood_{clone}", f"fraction_blood_{clone}", "fraction",
                       f"{label} subclone share of blood CLL cells"),
            Observable(f"cells_total_{clone}_1e9", f"cells_total_{clone}", "1e9 cells", f"{label} subclone burden"),
        ]
    if "ln" in tissue_ids:
        obs.append(Observable("ln_node_volume_cm3", "ln_node_volume_cm3", "cm3",
                              "lymph-node volume: CLL cells and the non-CLL tissue that regresses slowly"))
        obs.append(Observable("ln_spd_cm2", "ln_spd_cm2", "cm2",
                              "lymph-node SPD (sum of products of perpendicular diameters, index nodes)"))
    if "spleen" in tissue_ids:
        obs.append(Observable("spleen_length_cm", "spleen_length_cm", "cm", "craniocaudal spleen length"))
    return obs

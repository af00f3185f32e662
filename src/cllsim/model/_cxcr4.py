"""The CXCR4 module alone, dynamic, for in-vitro assays on a minutes-to-hours scale.

Same parameters and the same BTK/signaling layers as the whole-body model (shared generators
in :mod:`cllsim.model._antimony`); here the receptor states are explicit ODEs, whereas the
whole-body model uses their closed-form quasi-steady state. A test checks that this module,
held at constant CXCL12 and kinase activity, converges to that closed form.

States (receptors per cell, arbitrary units; the untreated reference cell's surface is the
unit of ``cxcr4_surface_rel``):

``R``  free surface receptor; ``C`` CXCL12-bound surface receptor; ``Cp`` bound and
Ser339-phosphorylated; ``I`` internalized, unphosphorylated; ``P`` internalized,
Ser339-phosphorylated (the only form that recycles; PIM-1 gated, CX7).

Time is in hours (rates in the table are per minute and converted here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._errors import SpecError
from ..drugs import get_drug
from ._antimony import _cxcr4_qss, btk_and_signaling_layers, cxcr4_rate_layer

MODEL_ID = "cllsim_cxcr4"

#: Parameter ids the in-vitro module needs from the table.
CXCR4_MODULE_EXTRA = ("ligand_nM", "medium_drug_nM", "cxcr4_expression", "temperature_block")


def cxcr4_module(
    values: Mapping[str, float],
    events: Sequence[str] = (),
    initial_states: Mapping[str, float] | None = None,
    drug: str = "ibrutinib",
) -> str:
    """Antimony text of the dynamic CXCR4 module.

    Parameters
    ----------
    values
        Parameter values in table units, plus the assay conditions ``ligand_nM`` (CXCL12 in the
        medium, nM), ``medium_drug_nM`` (unbound BTK inhibitor, nM), ``cxcr4_expression``
        (relative synthesis) and ``temperature_block`` (1 stops internalization, as at 4 °C).
    events
        Antimony event lines (ligand addition/wash, inhibitor addition).
    initial_states
        Initial receptor and signaling states; default: untreated steady state in no ligand
        is reached by the caller's pre-incubation.
    drug
        The BTK inhibitor in the medium (its potency rows are needed in ``values``).
    """
    inhibitor = get_drug(drug)
    if inhibitor.target != "BTK":
        raise SpecError(f"the CXCR4 assay module takes a BTK inhibitor, not {inhibitor.id}")
    lines = [f"model {MODEL_ID}()", f"  {inhibitor.id}_free_nM := medium_drug_nM",
             "  drug_free_nM := medium_drug_nM"]
    if inhibitor.metabolite_binds:
        lines.append(f"  {inhibitor.id}_metabolite_free_nM := 0")
    lines += ["  " + line for line in btk_and_signaling_layers([inhibitor])]
    lines += ["  " + line for line in cxcr4_rate_layer()]
    m = "60*"  # per-minute rates -> per hour
    kci = "cxcr4_kint_const_per_min*(1 - temperature_block)"
    kli = "cxcr4_kint_ligand_per_min*(1 - temperature_block)"
    kon, koff = "cxcr4_kon_per_nM_per_min", "cxcr4_koff_per_min"
    lines += [
        "  // ---- receptor trafficking, explicit",
        f"  R' = {m}(cxcr4_synthesis*cxcr4_expression - {kon}*ligand_nM*R + {koff}*(C + Cp)"
        f" - {kci}*R + cx_krec*P)",
        f"  C' = {m}({kon}*ligand_nM*R - ({koff} + {kli} + cx_kp)*C)",
        f"  Cp' = {m}(cx_kp*C - ({koff} + {kli})*Cp)",
        f"  I' = {m}({kci}*R + {kli}*C - (cx_kp + cxcr4_kdeg_unphos_per_min)*I)",
        f"  P' = {m}({kli}*Cp + cx_kp*I - (cx_krec + cxcr4_kdeg_phos_per_min)*P)",
        "  cxcr4_surface_rel := (R + C + Cp)/cx_surface_unit_ref",
        # the whole-body model's closed form at this medium's CXCL12 and kinase state, for the
        # convergence check (a) -> (b)
        *("  " + line for line in _cxcr4_qss("medium", "ligand_nM", "cx_kp", "cx_krec")),
        "  cxcr4_surface_qss_rel := cxcr4_expression*cx_surface_unit_medium/cx_surface_unit_ref",
        "  cxcr4_ps339_qss_rel := cxcr4_expression*cx_ps339_unit_medium/cx_ps339_unit_ref",
        "  cxcr4_ps339_rel := (Cp + P)/cx_ps339_unit_ref",
        "  cxcr4_internal_rel := (I + P)/cx_surface_unit_ref",
        "  cxcr4_bound_fraction := (C + Cp)/(R + C + Cp)",
        f"  cxcr4_internalization_pct_per_min := 100*({kci}*R + {kli}*(C + Cp))/(R + C + Cp)",
    ]
    init = {"R": 0.0, "C": 0.0, "Cp": 0.0, "I": 0.0, "P": 0.0, **(initial_states or {})}
    for sid, v in init.items():
        lines.append(f"  {sid} = {float(v)!r}")
    for pid in sorted(values):
        lines.append(f"  {pid} = {float(values[pid])!r}")
    lines += ["  " + e for e in events]
    lines.append("end")
    return "\n".join(lines) + "\n"

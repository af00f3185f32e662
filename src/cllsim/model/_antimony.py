"""The cllsim model, declared once, in Antimony.

Every equation of the whole-body model is written here exactly once, as a template over the
tissues of a host. Both engines run what this module produces: the reference engine loads the
generated SBML into libRoadRunner; exported SBML is the same text.

Time is in hours. Cell numbers are in units of 1e9 cells. Rate parameters keep the units of
the parameters table (``_per_day``, ``_per_min``, ``_per_h``) and are converted where used,
so the table reads as published.

Layers, top to bottom (docs/model.md):

1. drug PK: sequential zero-/first-order absorption, two compartments (row PK1);
2. BTK: covalent inactivation by free drug, turnover and resynthesis (BTK1-BTK3);
3. signaling: PLCG2 -> PKD1 (minutes), PIM-1 expression (hours), both downstream of BTK;
4. CXCR4 at quasi-steady state in each compartment's CXCL12 (closed form of the trafficking
   module in :mod:`cllsim.model._cxcr4`), scaled by the cell-carried CXCR4 expression;
5. function: homing (chemotaxis) and retention (integrin activation);
6. survival and proliferation: cell-carried BCL2 sets death; niche-bound cells divide;
7. populations: blood plus, per tissue, a free and a niche-bound pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..drugs import Drug, drug_set, get_drug
from ._hosts import Host

#: Name of the generated SBML model.
MODEL_ID = "cllsim"

# Cell-carried (intensive) states, each solved per pool and moved with cells.
CARRIED_STATES = ("bcl2", "cxcr4_expr")

#: Resistant subclones present before treatment (K11), each a full set of cell populations:
#: BTK C481S (no covalent occupancy) and PLCG2 gain of function (BTK-independent signalling).
RESISTANT_CLONES = ("c481s", "plcg2")

#: Suffix of the persister population of the parental clone: cells in a quiescent state with
#: BTK-independent survival, entered in niches and kept while they circulate (K9).
PERSISTER = "pers"


def pools(host: Host) -> list[str]:
    """Pools of the parental clone that carry cell states (BCL2, CXCR4 expression).

    Blood, the marginated intravascular pool, then ``free_<t>`` and ``niche_<t>`` for each
    tissue. (Persister cells and the resistant subclones carry no states of their own; see
    :func:`antimony_model`.)
    """
    names = ["blood", "marg"]
    for t in host.tissue_ids:
        names += [f"free_{t}", f"niche_{t}"]
    return names


def ligand_sites(host: Host) -> list[str]:
    """Places with their own CXCL12 level: blood and each tissue."""
    return ["blood", *host.tissue_ids]


def _pool_site(pool: str) -> str:
    return "blood" if pool in ("blood", "marg") else pool.split("_", 1)[1]


def _cxcr4_qss(site: str, ligand: str, kp: str, krec: str) -> list[str]:
    """Closed-form quasi-steady state of the CXCR4 trafficking module per unit expression.

    Module (see ``_cxcr4.py`` for the dynamic form): free surface R binds CXCL12 (C); bound
    receptor is phosphorylated at Ser339 (Cp); C and Cp internalize (ligand-induced), R
    internalizes constitutively into I; I is phosphorylated (P); only P recycles to the
    surface (PIM-1 gated); I and P are degraded. With x/R ratios a=C/R, b=Cp/R, c=I/R, d=P/R,
    synthesis balances degradation: ks*E = R*(kdeg_unphos*c + kdeg_phos*d).
    """
    s = site
    return [
        f"cx_a_{s} := cxcr4_kon_per_nM_per_min*{ligand}"
        f"/(cxcr4_koff_per_min + cxcr4_kint_ligand_per_min + {kp})",
        f"cx_b_{s} := {kp}*cx_a_{s}/(cxcr4_koff_per_min + cxcr4_kint_ligand_per_min)",
        f"cx_c_{s} := (cxcr4_kint_const_per_min + cxcr4_kint_ligand_per_min*cx_a_{s})"
        f"/({kp} + cxcr4_kdeg_unphos_per_min)",
        f"cx_d_{s} := (cxcr4_kint_ligand_per_min*cx_b_{s} + {kp}*cx_c_{s})"
        f"/({krec} + cxcr4_kdeg_phos_per_min)",
        f"cx_r_{s} := cxcr4_synthesis/(cxcr4_kdeg_unphos_per_min*cx_c_{s}"
        f" + cxcr4_kdeg_phos_per_min*cx_d_{s})",
        f"cx_surface_unit_{s} := cx_r_{s}*(1 + cx_a_{s} + cx_b_{s})",
        f"cx_ps339_unit_{s} := cx_r_{s}*(cx_b_{s} + cx_d_{s})",
        f"cx_internal_unit_{s} := cx_r_{s}*(cx_c_{s} + cx_d_{s})",
    ]



def btk_and_signaling_layers(drugs: Sequence[Drug]) -> list[str]:
    """Layers 2-3, shared by the whole-body model and the in-vitro CXCR4 module.

    Inputs: each drug's unbound concentration at the cells, ``<drug>_free_nM`` (and
    ``<drug>_metabolite_free_nM`` for an active metabolite). Covalent BTK inhibitors inactivate
    free BTK (one occupied state per drug, lost by turnover); reversible ones occupy BTK at
    equilibrium, ``load/(1 + load)`` with ``load`` the sum of ``C/Kd``, sparing only what no
    drug occupies. Outputs: ``btk_activity``, ``pkd1_activity``, ``pim1_activity``,
    ``s339_kinase``, per-drug ``<drug>_btk_occupancy_pct``.
    """
    btk_drugs = [d for d in drugs if d.target == "BTK"]
    covalent = [d for d in btk_drugs if d.binding == "covalent"]
    reversible = [d for d in btk_drugs if d.binding == "reversible"]

    def rate(d: Drug) -> str:
        terms = [f"{d.id}_kinact_ki_per_nM_per_h*{d.id}_free_nM"]
        if d.metabolite_binds:
            terms.append(f"{d.id}_metabolite_kinact_ki_per_nM_per_h*{d.id}_metabolite_free_nM")
        return " + ".join(terms)

    load = " + ".join(f"{d.id}_free_nM/{d.id}_btk_kd_nM" for d in reversible) or "0"
    c481s_load = " + ".join(f"{d.id}_free_nM/{d.id}_c481s_kd_nM" for d in reversible) or "0"
    lines = [
        "// ---- 2. BTK: covalent inactivation, reversible occupancy, turnover, resynthesis (BTK1-BTK3, PK10)",
        "btk_turnover_per_h := btk_turnover_per_day/24",
        f"btk_reversible_load := {load}",
        "btk_reversible_occupancy := btk_reversible_load/(1 + btk_reversible_load)",
        # BTK C481S: no cysteine for covalent drugs; reversible drugs bind it with their own Kd
        f"btk_c481s_load := {c481s_load}",
        "btk_c481s_occupancy := btk_c481s_load/(1 + btk_c481s_load)",
        "btk_c481s_occupancy_pct := 100*btk_c481s_occupancy",
        "btk_occupied := " + (" + ".join(f"btk_occupied_{d.id}" for d in covalent) or "0"),
        "btk_total := btk_free + btk_occupied",
        "btk_activity := btk_free*(1 - btk_reversible_occupancy)",
    ]
    # only BTK that no reversible drug occupies is open to a covalent one
    open_btk = "btk_free*(1 - btk_reversible_occupancy)"
    inactivation = " - ".join(f"({rate(d)})*{open_btk}" for d in covalent)
    lines.append(
        "btk_free' = btk_turnover_per_h*(1 - btk_synthesis_feedback*(1 - btk_activity))"
        " - btk_turnover_per_h*btk_free" + (f" - {inactivation}" if covalent else "")
    )
    for d in covalent:
        lines += [
            f"btk_occupied_{d.id}' = ({rate(d)})*{open_btk} - btk_turnover_per_h*btk_occupied_{d.id}",
            f"{d.id}_btk_occupancy_pct := 100*btk_occupied_{d.id}/btk_total",
            f"btk_occupied_{d.id} = 0",
        ]
    for d in reversible:
        lines.append(
            f"{d.id}_btk_occupancy_pct := 100*btk_free*({d.id}_free_nM/{d.id}_btk_kd_nM)"
            "/(1 + btk_reversible_load)/btk_total"
        )
    lines += [
        "btk_occupancy_pct := 100*(1 - btk_activity/btk_total)",
        "btk_resynthesis_pct_per_day := 100*btk_turnover_per_day"
        "*(1 - btk_synthesis_feedback*(1 - btk_activity))/btk_total",
        "// ---- 3. signaling downstream of BTK: PLCG2 -> PKD1 (minutes), PIM-1 (hours)",
        "plcg2_activity := btk_activity*(1 - inhibition_plcg2)",
        "pkd1_activity' = pkd1_rate_per_h*((pkd1_basal + (1 - pkd1_basal)*plcg2_activity)"
        "*(1 - inhibition_pkd1) - pkd1_activity)",
        "pim1_level' = pim1_rate_per_h*(pim1_basal + (1 - pim1_basal)*btk_activity - pim1_level)",
        "pim1_activity := pim1_level*(1 - inhibition_pim1)",
        "s339_kinase := s339_pkd1_weight*pkd1_activity + (1 - s339_pkd1_weight)*pim1_activity",
        "btk_free = 1; pkd1_activity = 1; pim1_level = 1",
    ]
    return lines


def bcl2_drug_layer(drugs: Sequence[Drug]) -> list[str]:
    """Share of BCL2 not held by BCL2 inhibitors (venetoclax), outside and inside niches.

    Binding is reversible: the free share is ``1/(1 + load)`` with ``load`` the sum of ``C/Ki``
    over the BCL2 drugs (unbound concentration, cellular potency). In niches the
    microenvironment (CD40L, IL-21 from T cells) induces BCL-XL, MCL-1 and BFL-1, which take over
    BIM: the drug's potency there is ``<drug>_niche_ic50_fold`` times lower (V2).
    """
    bcl2 = [d for d in drugs if d.target == "BCL2"]
    load = " + ".join(f"{d.id}_free_nM/{d.id}_bcl2_ki_nM" for d in bcl2) or "0"
    niche = " + ".join(f"{d.id}_free_nM/({d.id}_bcl2_ki_nM*{d.id}_niche_ic50_fold)" for d in bcl2) or "0"
    lines = [
        "// ---- 6a. BCL2 inhibitors: BCL2 held by drug does not protect from apoptosis (V2)",
        f"bcl2_drug_load := {load}",
        f"bcl2_drug_load_niche := {niche}",
        "bcl2_free_unsupported := 1/(1 + bcl2_drug_load)",
        "bcl2_free_niche := 1/(1 + bcl2_drug_load_niche)",
        "bcl2_drug_occupancy_pct := 100*(1 - bcl2_free_unsupported)",
    ]
    for d in bcl2:
        lines.append(f"{d.id}_bcl2_occupancy_pct := 100*({d.id}_free_nM/{d.id}_bcl2_ki_nM)/(1 + bcl2_drug_load)")
    return lines


def cxcr4_rate_layer() -> list[str]:
    """Kinase-dependent CXCR4 rates (per min) and the untreated reference cell.

    ``cx_kp``: Ser339 phosphorylation (PKD1 and PIM-1, F4); ``cx_krec``: recycling of
    phosphorylated receptor; since only phosphorylated receptor recycles, loss of PKD1/PIM-1
    activity blocks the return to the surface (CX7) without blocking internalization. The
    reference cell (untreated, in blood CXCL12, expression 1) normalizes surface and pS339.
    """
    lines = [
        "// ---- 4. CXCR4 trafficking rates (CX1-CX4, CX7)",
        "cxcr4_koff_per_min := cxcr4_kd_nM*cxcr4_kon_per_nM_per_min",
        "cx_kp := cxcr4_kphos_per_min*(cxcr4_kphos_basal + (1 - cxcr4_kphos_basal)*s339_kinase)",
        # only Ser339-phosphorylated receptor recycles, so PKD1/PIM-1 gate the return (CX7)
        "cx_krec := cxcr4_krec_per_min",
        "cx_kp_ref := cxcr4_kphos_per_min",
        "cx_krec_ref := cxcr4_krec_per_min",
        "cxcr4_synthesis := 1",
    ]
    lines += _cxcr4_qss("ref", "cxcl12_blood_nM", "cx_kp_ref", "cx_krec_ref")
    # signaling capacity: yield of resensitized (phosphorylated, recycled) receptor per
    # internalized receptor, relative to the untreated cell; 1 untreated, falls on BTK block.
    lines.append(
        "cxcr4_function := (cx_kp/(cx_kp + cxcr4_kdeg_unphos_per_min)"
        "*cx_krec/(cx_krec + cxcr4_kdeg_phos_per_min))"
        "/(cx_kp_ref/(cx_kp_ref + cxcr4_kdeg_unphos_per_min)"
        "*cx_krec_ref/(cx_krec_ref + cxcr4_kdeg_phos_per_min))"
    )
    return lines


def antimony_model(
    host: Host,
    values: Mapping[str, float],
    dosing_events: Sequence[str] = (),
    initial_states: Mapping[str, float] | None = None,
    drugs: Sequence[str | Drug] = ("ibrutinib",),
) -> str:
    """Return the Antimony text of the whole-body model for ``host`` and the drugs of a therapy.

    Parameters
    ----------
    host
        The host whose tissues the populations layer is built over.
    values
        Value of every model parameter (``model_parameter_ids(host)``), in table units.
    dosing_events
        Antimony event lines (:func:`cllsim.simulate.dosing_event_lines` of a dose schedule).
    initial_states
        Initial values overriding the defaults of cell-carried states (``bcl2_<pool>``,
        ``cxcr4_expr_<pool>``), typically from pre-treatment equilibration.
    drugs
        Drugs with a PK block (ids of :data:`cllsim.drugs.DRUGS`); the first is the one that
        ``drug_plasma_ng_per_mL`` and ``drug_free_nM`` read.
    """
    drug_objects = [get_drug(d) for d in drug_set(drugs)]
    tissues = host.tissue_ids
    all_pools = pools(host)
    lines: list[str] = [f"model {MODEL_ID}()"]
    add = lines.append

    add("  // ---- 1. drug PK: one block per drug of the therapy (cllsim.drugs)")
    for drug in drug_objects:
        lines += ["  " + line for line in drug.antimony()]
    # the first drug is "the drug" of single-drug read-outs
    add(f"  drug_plasma_ng_per_mL := {drug_objects[0].id}_plasma_ng_per_mL")
    add(f"  drug_free_nM := {drug_objects[0].id}_free_nM")

    lines += ["  " + line for line in btk_and_signaling_layers(drug_objects)]
    lines += ["  " + line for line in cxcr4_rate_layer()]
    for site in ligand_sites(host):
        for line in _cxcr4_qss(site, f"cxcl12_{site}_nM", "cx_kp", "cx_krec"):
            add("  " + line)
    for p in all_pools:
        site = _pool_site(p)
        add(f"  cxcr4_surface_{p} := cxcr4_expr_{p}*cx_surface_unit_{site}/cx_surface_unit_ref")
        add(f"  cxcr4_ps339_{p} := cxcr4_expr_{p}*cx_ps339_unit_{site}/cx_ps339_unit_ref")

    add("  // ---- 5. function: chemotaxis (homing) and integrin activation (retention)")
    add("  homing_capacity := (1 - homing_btk_dependence*(1 - btk_activity))*cxcr4_function")
    add("  adhesion_capacity := (1 - adhesion_btk_dependence*(1 - btk_activity))*cxcr4_function")
    # intravascular margination: integrin activation by endothelial chemokines needs BTK
    add("  margination_capacity := 1 - margination_btk_dependence*(1 - btk_activity)")

    add("  // ---- 6. survival (BCL2 -> death) and proliferation")
    add("  bcr_signal := bcr_strength*btk_activity")
    add("  bcl2_tonic := 1 - bcl2_tonic_btk_dependence*bcr_strength*(1 - btk_activity)")
    add("  bcl2_target_unsupported := bcl2_tonic")
    add("  bcl2_target_niche := bcl2_tonic + bcl2_niche_support + bcl2_bcr_gain*bcr_signal")
    # BCR signalling through BTK represses CXCR4 expression: tonically everywhere, strongly in
    # antigen-rich niches; BTK block relieves both (F5: surface CXCR4 rises in patients)
    # Repression is bounded: a share r of expression is removed at the reference signal (1, the
    # untreated U-CLL niche), and (1 - r)^(signal^h) at any other, which stays in (0, 1] however
    # strong the signal (a linear 1 - r*signal went negative for signal > 1/r, e.g. U-CLL patients
    # with bcr_strength > 1.1 in niches). h matches the former linear form at the M-CLL signal too.
    add("  cxcr4_tonic_factor := (1 - cxcr4_tonic_repression)^bcr_signal")
    add("  cxcr4_expr_target_unsupported := cxcr4_tonic_factor")
    add(
        "  cxcr4_expr_target_niche := cxcr4_tonic_factor"
        "*(1 - cxcr4_bcr_repression)^(bcr_signal^cxcr4_bcr_repression_hill)"
    )
    add(
        "  birth_niche_per_day := birth_niche_indep_per_day"
        " + birth_niche_bcr_per_day*bcr_signal"
    )
    lines += ["  " + line for line in bcl2_drug_layer(drug_objects)]
    on_bcl2 = any(d.target == "BCL2" for d in drug_objects)
    for p in all_pools:
        # cells detached from niches inside a tissue also die in situ (F10)
        in_situ = " + death_detached_tissue_per_day" if p.startswith("free_") else ""
        bcl2 = f"bcl2_{p}" + (_free_bcl2(p) if on_bcl2 else "")
        add(
            f"  death_{p}_per_day := death_max_per_day"
            f"/(1 + ({bcl2}/bcl2_half_death)^bcl2_death_hill){in_situ}"
        )
    lines += ["  " + line for line in resistant_clone_layer(on_bcl2)]
    lines += ["  " + line for line in _persister_death_lines(on_bcl2)]

    add("  // ---- 7. populations: blood, marginated pool and, per tissue, free, niche-bound and")
    add("  //      of the parental clone; persister cells and resistant subclones alike")
    add("  cells_blood0 := (baseline_alc_per_uL - normal_lymphocytes_per_uL)*blood_volume_L*1e-3")
    add("  marg0 := margination_ratio*cells_blood0")
    for t in tissues:
        add(f"  cells_tissue0_{t} := {_baseline_cells(t)}")
        add(f"  free0_{t} := (1 - niche_fraction_{t})*cells_tissue0_{t}")
        add(f"  niche0_{t} := niche_fraction_{t}*cells_tissue0_{t}")
    efflux0 = " + ".join(f"egress_per_day_{t}*free0_{t}" for t in tissues)
    add(f"  efflux0_per_day := {efflux0}")
    add("  cells_tissue0 := " + " + ".join(f"cells_tissue0_{t}" for t in tissues))
    # marginated cells adhere to endothelium, whose contact supports CLL-cell survival
    add("  death_marginated_per_day := margination_death_factor*death_marg_per_day")
    # Niche support (T-cell help, stromal signals) is shared by all CLL cells in tissues, so
    # division per niche-bound cell falls steeply as the tissue burden nears the capacity
    # (1 at the untreated baseline; Hill form, so that niches emptied by treatment speed
    # division only a little): growth saturates instead of running exponentially
    add(
        "  niche_crowding := (1 + (1/niche_capacity_ratio)^niche_crowding_hill)"
        "/(1 + (cells_tissue/(niche_capacity_ratio*cells_tissue0))^niche_crowding_hill)"
    )
    # Homing and binding rates are fixed by the untreated state: blood (with its marginated
    # pool) is replenished as fast as its cells home and die, each niche pool as fast as its
    # cells detach and die net of division (net growth of the clone shows in the free pools;
    # the persister exchange, ~1e-5/day of the pools, is left out). They depend on the carried
    # BCL2 at baseline, so
    # while cells are frozen (pre-treatment equilibration) they track their balance values;
    # once cells move they stay constant.
    add(
        "  blood_replacement0 := 1 - (death_blood_per_day*cells_blood0"
        " + death_marginated_per_day*marg0)/efflux0_per_day"
    )
    for t in tissues:
        add(
            f"  homing_balance_{t} := egress_per_day_{t}*free0_{t}/cells_blood0"
            "*blood_replacement0"
        )
        add(
            f"  binding_balance_{t} := (detach_per_day_{t} + death_niche_{t}_per_day"
            f" - birth_niche_per_day)*niche0_{t}/free0_{t}"
        )
        for rate in ("homing", "binding"):
            add(
                f"  {rate}_per_day_{t}' = cells_frozen*24*({rate}_balance_{t}"
                f" - {rate}_per_day_{t})"
            )
            add(f"  {rate}_per_day_{t} = {rate}_balance_{t}")
    # niche-bound cells become persisters (persister_entry_per_day) and persisters return
    # (release) or die: untreated, the persister share of all CLL cells is at the balance of
    # the two-state exchange, s/(s + release + death) with s the entry rate per CLL cell
    total0 = "cells_blood0 + marg0 + " + " + ".join(f"cells_tissue0_{t}" for t in tissues)
    niche0 = " + ".join(f"niche0_{t}" for t in tissues)
    add(f"  persister_entry_per_cell0 := persister_entry_per_day*({niche0})/({total0})")
    add(
        "  persister_fraction := persister_entry_per_cell0/(persister_entry_per_cell0"
        " + persister_release_per_day + persister_death_per_day)"
    )
    # shares of the untreated burden: resistant subclones, then persisters among the rest
    add("  nonresistant_share := 1 - " + " - ".join(f"clone_fraction_{c}" for c in RESISTANT_CLONES))
    add("  wt_share := nonresistant_share*(1 - persister_fraction)")
    live = "(1 - cells_frozen)"
    net_efflux = []
    for clone in ("", PERSISTER, *RESISTANT_CLONES):
        lines += ["  " + line for line in _population_lines(tissues, clone, live)]
        s = f"_{clone}" if clone else ""
        net_efflux += [f"J_egress_{t}{s} - J_home_{t}{s}" for t in tissues]
    add(f"  cum_net_efflux' = {live}*({' + '.join(net_efflux)})")

    add("  // cell-carried states of the parental clone move with cells (mean-field mixing)")
    tiny = "1e-12"
    for x in CARRIED_STATES:
        k = f"{x}_relax_per_day/24"
        src_b = " + ".join(f"J_egress_{t}*({x}_free_{t} - {x}_blood)" for t in tissues)
        add(
            f"  {x}_blood' = {k}*({x}_target_unsupported - {x}_blood)"
            f" + ({src_b} + J_marg_out*({x}_marg - {x}_blood))/(cells_blood + {tiny})"
        )
        add(
            f"  {x}_marg' = {k}*({x}_target_unsupported - {x}_marg)"
            f" + J_marg_in*({x}_blood - {x}_marg)/(cells_marg + {tiny})"
        )
        for t in tissues:
            add(
                f"  {x}_free_{t}' = {k}*({x}_target_unsupported - {x}_free_{t})"
                f" + (J_home_{t}*({x}_blood - {x}_free_{t})"
                f" + J_detach_{t}*({x}_niche_{t} - {x}_free_{t}))/(cells_free_{t} + {tiny})"
            )
            # returning persisters take on the state of the niche pool they rejoin
            add(
                f"  {x}_niche_{t}' = {k}*({x}_target_niche - {x}_niche_{t})"
                f" + J_bind_{t}*({x}_free_{t} - {x}_niche_{t})/(cells_niche_{t} + {tiny})"
            )

    lines += ["  " + line for line in _observable_lines(host)]

    add("  // ---- initial values")
    add("  cells_blood = wt_share*cells_blood0; cells_marg = wt_share*marg0")
    for t in tissues:
        add(f"  cells_free_{t} = wt_share*free0_{t}; cells_niche_{t} = wt_share*niche0_{t}")
    shares = ((PERSISTER, "nonresistant_share*persister_fraction"),
              *((c, f"clone_fraction_{c}") for c in RESISTANT_CLONES))
    for c, f in shares:
        add(f"  cells_blood_{c} = {f}*cells_blood0; cells_marg_{c} = {f}*marg0")
        for t in tissues:
            add(f"  cells_free_{t}_{c} = {f}*free0_{t}; cells_niche_{t}_{c} = {f}*niche0_{t}")
    add("  cum_net_efflux = 0")
    if "ln" in tissues:
        # non-CLL nodal tissue in proportion to the untreated CLL nodal volume
        add("  ln_stroma_cm3 = nodal_stroma_ratio*cells_tissue0_ln*1e9/cells_per_cm3")
    init = dict(initial_states or {})
    for x in CARRIED_STATES:
        for p in all_pools:
            sid = f"{x}_{p}"
            if sid in init:
                add(f"  {sid} = {init[sid]!r}")
            else:
                target = "niche" if p.startswith("niche") else "unsupported"
                add(f"  {sid} = {x}_target_{target}")

    add("  // ---- parameters (values from the parameters table)")
    add("  cells_frozen = 0")
    for pid in sorted(values):
        add(f"  {pid} = {float(values[pid])!r}")

    if dosing_events:
        add("  // ---- dosing events")
        lines.extend("  " + e for e in dosing_events)
    add("end")
    return "\n".join(lines) + "\n"


def _free_bcl2(pool: str) -> str:
    """Factor of a pool's BCL2 not held by a BCL2 inhibitor (niche-bound cells are protected)."""
    return "*bcl2_free_niche" if pool.startswith("niche") else "*bcl2_free_unsupported"


def _persister_death_lines(on_bcl2: bool) -> list[str]:
    """Death of persister cells, per day, outside and inside niches.

    Persisters survive without BTK, but still on BCL2: their death rate is that of a cell whose
    BCL2 level gives ``persister_death_per_day`` untreated, so a BCL2 inhibitor frees their BCL2
    as in other cells. They carry the niche's multidrug resistance (BCL-XL/MCL-1 high) wherever
    they are: CLL cells that survive venetoclax in patients are enriched for this
    microenvironment-induced phenotype (Blood Adv 2021;5:3497), so they see the drug at its
    niche potency.
    """
    if not on_bcl2:
        return ["persister_death_unsupported_per_day := persister_death_per_day",
                "persister_death_niche_per_day := persister_death_per_day"]
    level = "bcl2_half_death*(death_max_per_day/persister_death_per_day - 1)^(1/bcl2_death_hill)"
    death = ("death_max_per_day/(1 + (persister_bcl2*bcl2_free_niche/bcl2_half_death)^bcl2_death_hill)")
    return [
        f"persister_bcl2 := {level}",
        f"persister_death_unsupported_per_day := {death}",
        f"persister_death_niche_per_day := {death}",
    ]


def resistant_clone_layer(on_bcl2: bool = False) -> list[str]:
    """Signalling, function, survival and division of the resistant subclones (K10, K11).

    Each subclone has its own *BCR pathway activity* ``bcr_path_<clone>``, which replaces
    ``btk_activity`` wherever the parental clone's cell function depends on BTK:

    * ``c481s`` (BTK C481S): covalent inhibitors cannot bind the mutant BTK, so its activity
      follows only reversible inhibitors, through their occupancy of C481S BTK
      (``btk_c481s_occupancy``; pirtobrutinib binds both alike, PK10);
    * ``plcg2`` (PLCG2 gain of function): BTK is inhibited as in the parental clone, but the
      hypermorphic PLCgamma2 passes on a share ``plcg2_gof_btk_independence`` of the BCR
      signal without BTK.

    Kinases (PKD1, PIM-1; minutes to hours) and cell-carried BCL2 (about a day) are taken at
    their quasi-steady state in the subclones: they are minor populations whose course is set
    over months, so their carried states are not tracked as states.
    """
    lines = [
        "// ---- 6b. resistant subclones: BCR pathway activity escaping the drug (K10, K11)",
        "bcr_path_c481s := 1 - btk_c481s_occupancy",
        "bcr_path_plcg2 := btk_activity + plcg2_gof_btk_independence*(1 - btk_activity)",
        "cx_yield_ref := cx_kp_ref/(cx_kp_ref + cxcr4_kdeg_unphos_per_min)"
        "*cx_krec_ref/(cx_krec_ref + cxcr4_kdeg_phos_per_min)",
    ]
    free_u, free_n = (_free_bcl2("blood"), _free_bcl2("niche")) if on_bcl2 else ("", "")
    for c in RESISTANT_CLONES:
        path = f"bcr_path_{c}"
        lines += [
            f"pkd1_activity_{c} := (pkd1_basal + (1 - pkd1_basal)*{path}*(1 - inhibition_plcg2))"
            "*(1 - inhibition_pkd1)",
            f"pim1_activity_{c} := (pim1_basal + (1 - pim1_basal)*{path})*(1 - inhibition_pim1)",
            f"cx_kp_{c} := cxcr4_kphos_per_min*(cxcr4_kphos_basal + (1 - cxcr4_kphos_basal)"
            f"*(s339_pkd1_weight*pkd1_activity_{c} + (1 - s339_pkd1_weight)*pim1_activity_{c}))",
            f"cxcr4_function_{c} := cx_kp_{c}/(cx_kp_{c} + cxcr4_kdeg_unphos_per_min)"
            "*cx_krec/(cx_krec + cxcr4_kdeg_phos_per_min)/cx_yield_ref",
            f"homing_capacity_{c} := (1 - homing_btk_dependence*(1 - {path}))*cxcr4_function_{c}",
            f"adhesion_capacity_{c} := (1 - adhesion_btk_dependence*(1 - {path}))*cxcr4_function_{c}",
            f"margination_capacity_{c} := 1 - margination_btk_dependence*(1 - {path})",
            f"bcr_signal_{c} := bcr_strength*{path}",
            f"bcl2_unsupported_{c} := 1 - bcl2_tonic_btk_dependence*bcr_strength*(1 - {path})",
            f"bcl2_niche_{c} := bcl2_unsupported_{c} + bcl2_niche_support + bcl2_bcr_gain*bcr_signal_{c}",
            f"birth_niche_per_day_{c} := clone_birth_factor_{c}*(birth_niche_indep_per_day"
            f" + birth_niche_bcr_per_day*bcr_signal_{c})",
            f"death_unsupported_{c}_per_day := death_max_per_day"
            f"/(1 + (bcl2_unsupported_{c}{free_u}/bcl2_half_death)^bcl2_death_hill)",
            f"death_niche_{c}_per_day := death_max_per_day"
            f"/(1 + (bcl2_niche_{c}{free_n}/bcl2_half_death)^bcl2_death_hill)",
        ]
    return lines


def _population_lines(tissues: Sequence[str], clone: str, live: str) -> list[str]:
    """Cell fluxes and balances of one population.

    ``clone`` is ``""`` for the parental clone, :data:`PERSISTER` for its persister cells or a
    resistant subclone. Every population uses the same trafficking rates; capacities, death
    and division are its own. Parental niche-bound cells become persisters
    (``persister_entry_per_day``); persisters anywhere return to the parental state in place
    (``persister_release_per_day``).
    """
    s = f"_{clone}" if clone else ""
    pools_ = ["blood", "marg", *(f"{k}_{t}" for t in tissues for k in ("free", "niche"))]
    if clone == PERSISTER:
        # trafficking follows BTK like the parental clone; survival is BTK-independent
        home, adhesion, margination = "homing_capacity", "adhesion_capacity", "margination_capacity"
        death = {p: "persister_death_niche_per_day" if p.startswith("niche") else
                 "persister_death_unsupported_per_day" for p in pools_}
        birth = "0"
    elif clone:
        home, adhesion, margination = f"homing_capacity{s}", f"adhesion_capacity{s}", f"margination_capacity{s}"
        death = {"blood": f"death_unsupported{s}_per_day",
                 "marg": f"margination_death_factor*death_unsupported{s}_per_day"}
        for t in tissues:
            death[f"free_{t}"] = f"(death_unsupported{s}_per_day + death_detached_tissue_per_day)"
            death[f"niche_{t}"] = f"death_niche{s}_per_day"
        birth = f"birth_niche_per_day{s}"
    else:
        home, adhesion, margination = "homing_capacity", "adhesion_capacity", "margination_capacity"
        death = {p: f"death_{p}_per_day" for p in pools_}
        death["marg"] = "death_marginated_per_day"
        birth = "birth_niche_per_day"
    # persister exchange: in from parental niches, back to the parental state in every pool
    switch = dict.fromkeys(pools_, "")
    if clone == PERSISTER:
        for p in pools_:
            switch[p] = f" - persister_release_per_day/24*cells_{p}_{PERSISTER}"
        for t in tissues:
            switch[f"niche_{t}"] += f" + persister_entry_per_day/24*cells_niche_{t}"
    elif not clone:
        for p in pools_:
            switch[p] = f" + persister_release_per_day/24*cells_{p}_{PERSISTER}"
        for t in tissues:
            switch[f"niche_{t}"] += f" - persister_entry_per_day/24*cells_niche_{t}"
    out = [
        f"J_marg_in{s} := margination_release_per_day/24*margination_ratio*{margination}*cells_blood{s}",
        f"J_marg_out{s} := margination_release_per_day/24*cells_marg{s}",
    ]
    for t in tissues:
        out += [
            f"J_home_{t}{s} := homing_per_day_{t}/24*{home}*cells_blood{s}",
            f"J_egress_{t}{s} := egress_per_day_{t}/24*cells_free_{t}{s}",
            f"J_bind_{t}{s} := binding_per_day_{t}/24*{adhesion}*cells_free_{t}{s}",
            f"J_detach_{t}{s} := detach_per_day_{t}/24*cells_niche_{t}{s}",
        ]
    egress = " + ".join(f"J_egress_{t}{s}" for t in tissues)
    homing = " + ".join(f"J_home_{t}{s}" for t in tissues)
    out += [
        f"cells_blood{s}' = {live}*({egress} - ({homing}) - J_marg_in{s} + J_marg_out{s}"
        f" - {death['blood']}/24*cells_blood{s}{switch['blood']})",
        f"cells_marg{s}' = {live}*(J_marg_in{s} - J_marg_out{s} - {death['marg']}/24*cells_marg{s}"
        f"{switch['marg']})",
    ]
    for t in tissues:
        out.append(
            f"cells_free_{t}{s}' = {live}*(J_home_{t}{s} - J_egress_{t}{s} - J_bind_{t}{s}"
            f" + J_detach_{t}{s} - {death[f'free_{t}']}/24*cells_free_{t}{s}{switch[f'free_{t}']})"
        )
        growth = f" - {death[f'niche_{t}']}/24*cells_niche_{t}{s}" if birth == "0" else (
            f" + ({birth}*niche_crowding - {death[f'niche_{t}']})/24*cells_niche_{t}{s}")
        out.append(
            f"cells_niche_{t}{s}' = {live}*(J_bind_{t}{s} - J_detach_{t}{s}{growth}"
            f"{switch[f'niche_{t}']})"
        )
    return out


def _observable_lines(host: Host) -> list[str]:
    """Clinical and mechanistic read-outs (all clones together unless named)."""
    tissues = host.tissue_ids
    clones = ("", f"_{PERSISTER}", *(f"_{c}" for c in RESISTANT_CLONES))
    out = ["// ---- observables"]
    add = out.append
    for c in (PERSISTER, *RESISTANT_CLONES):
        tissue_c = " + ".join(f"cells_free_{t}_{c} + cells_niche_{t}_{c}" for t in tissues)
        add(f"cells_total_{c} := cells_blood_{c} + cells_marg_{c} + {tissue_c}")
    for t in tissues:
        parts = [f"cells_free_{t}{s} + cells_niche_{t}{s}" for s in clones]
        add(f"cells_{t} := " + " + ".join(parts))
    add("cells_tissue := " + " + ".join(f"cells_{t}" for t in tissues))
    add("cll_blood := " + " + ".join(f"cells_blood{s}" for s in clones))
    add("cll_marginated := " + " + ".join(f"cells_marg{s}" for s in clones))
    add("cells_total := cll_blood + cll_marginated + cells_tissue")
    add(f"cells_persistent := cells_total_{PERSISTER}")
    add("alc_per_uL := cll_blood*1e3/blood_volume_L + normal_lymphocytes_per_uL")
    # blood MRD: CLL cells among all blood leukocytes (normal background P5)
    add("mrd_blood := cll_blood/(cll_blood + normal_leukocytes_per_uL*blood_volume_L*1e-3)")
    for c in RESISTANT_CLONES:
        add(f"fraction_{c} := cells_total_{c}/cells_total")
        add(f"fraction_blood_{c} := cells_blood_{c}/cll_blood")
    add("fraction_persistent := cells_persistent/cells_total")
    if "ln" in tissues:
        add("ln_volume_cm3 := cells_ln*1e9/cells_per_cm3")
        # An involved node is not CLL cells alone: its non-leukemic tissue (expanded stroma,
        # vessels, follicular dendritic-cell meshworks, T cells, fibrosis) grows with the CLL
        # infiltrate and regresses far more slowly once the CLL cells have left, which keeps
        # residual nodes > 1.5 cm for years on a BTK inhibitor (K12). First-order lag toward
        # a share of the CLL nodal volume; frozen during pre-treatment equilibration.
        add(
            "ln_stroma_cm3' = (1 - cells_frozen)*nodal_stroma_regression_per_day/24"
            "*(nodal_stroma_ratio*ln_volume_cm3 - ln_stroma_cm3)"
        )
        add("ln_node_volume_cm3 := ln_volume_cm3 + ln_stroma_cm3")
        # SPD of the index nodes: each a sphere holding its share of the enlarged-node volume
        # (CLL cells and non-CLL nodal tissue) on top of a normal node (floor), product of
        # perpendicular diameters = diameter^2
        add(
            "ln_spd_cm2 := spd_index_nodes*(normal_node_diameter_cm^3 + 6/3.141592653589793"
            "*spd_index_volume_share*ln_node_volume_cm3/spd_index_nodes)^(2/3)"
        )
    if "spleen" in tissues:
        add("spleen_volume_cm3 := normal_spleen_volume_cm3 + cells_spleen*1e9/cells_per_cm3")
        # craniocaudal length scales with the cube root of volume (similar shapes)
        add(
            "spleen_length_cm := normal_spleen_length_cm"
            "*(spleen_volume_cm3/normal_spleen_volume_cm3)^(1/3)"
        )
    if "bm" in tissues:
        add("bm_infiltration_pct := 100*cells_bm/(cells_bm + marrow_normal_cells_1e9)")
    deaths, births = {}, {}
    for t in tissues:
        d = [f"death_free_{t}_per_day*cells_free_{t}", f"death_niche_{t}_per_day*cells_niche_{t}",
             f"persister_death_unsupported_per_day*cells_free_{t}_{PERSISTER}",
             f"persister_death_niche_per_day*cells_niche_{t}_{PERSISTER}"]
        b = [f"birth_niche_per_day*niche_crowding*cells_niche_{t}"]
        for c in RESISTANT_CLONES:
            d += [f"(death_unsupported_{c}_per_day + death_detached_tissue_per_day)*cells_free_{t}_{c}",
                  f"death_niche_{c}_per_day*cells_niche_{t}_{c}"]
            b.append(f"birth_niche_per_day_{c}*niche_crowding*cells_niche_{t}_{c}")
        deaths[t], births[t] = " + ".join(d), " + ".join(b)
        add(f"death_rate_{t}_pct_per_day := 100*({deaths[t]})/cells_{t}")
        add(f"birth_rate_{t}_pct_per_day := 100*({births[t]})/cells_{t}")
    deaths_tissue = " + ".join(f"({deaths[t]})" for t in tissues)
    births_tissue = " + ".join(f"({births[t]})" for t in tissues)
    vascular = ["death_blood_per_day*cells_blood", "death_marginated_per_day*cells_marg",
                f"persister_death_unsupported_per_day*(cells_blood_{PERSISTER} + cells_marg_{PERSISTER})"]
    for c in RESISTANT_CLONES:
        vascular.append(f"death_unsupported_{c}_per_day*(cells_blood_{c}"
                        f" + margination_death_factor*cells_marg_{c})")
    add("death_rate_blood_pct_per_day := 100*death_blood_per_day")
    add(f"death_rate_tissue_pct_per_day := 100*({deaths_tissue})/cells_tissue")
    add(f"birth_rate_tissue_pct_per_day := 100*({births_tissue})/cells_tissue")
    add(f"birth_rate_total_pct_per_day := 100*({births_tissue})/cells_total")
    add(f"death_rate_total_pct_per_day := 100*({' + '.join(vascular)} + {deaths_tissue})/cells_total")
    add("cxcr4_surface_blood_rel := cxcr4_surface_blood")
    add("cxcr4_ps339_blood_rel := cxcr4_ps339_blood")
    add("bcl2_blood_rel := bcl2_blood")
    return out


def _baseline_cells(tissue: str) -> str:
    """Expression for baseline CLL cells (1e9) of a tissue from its clinical baseline."""
    if tissue == "ln":
        return "baseline_ln_volume_cm3*cells_per_cm3*1e-9"
    if tissue == "spleen":
        return "(baseline_spleen_volume_cm3 - normal_spleen_volume_cm3)*cells_per_cm3*1e-9"
    if tissue == "bm":
        return (
            "baseline_bm_infiltration_pct/(100 - baseline_bm_infiltration_pct)"
            "*marrow_normal_cells_1e9"
        )
    return f"baseline_cells_1e9_{tissue}"

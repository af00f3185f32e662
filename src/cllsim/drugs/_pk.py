"""Pharmacokinetic models of the drugs, one structure description and one Antimony generator.

A :class:`PKModel` says which pieces a drug's population-PK model is built from; the numbers
live in the drug's parameters table (``drugs/data/<drug>_<species>.tsv``), every id prefixed
with the drug's name (``ibrutinib_cl_L_per_h``). The pieces, in the order a dose meets them:

1. absorption lag ``<d>_lag_h`` (h; optionally ``<d>_lag_fasted_h`` for fasted doses), then
   zero-order input into the depot for ``<d>_d1_fed_h`` / ``<d>_d1_fasted_h`` (h; 0 is a bolus
   into the depot). Both are applied by the dosing (:func:`pk_dose_inputs`), not by the equations;
2. the absorption chain: the depot ``<d>_depot_mg`` receives the dose; with ``n_transit`` > 0
   it empties through ``n_transit`` transit compartments into an absorption compartment
   (``<d>_gut_mg``), every transfer at ``ktr = (n_transit + 1)/<d>_mtt_h`` (the mean transit
   time covers the n + 1 transfers from the depot to the absorption compartment, as in the
   usual NONMEM transit-chain code); the absorption compartment feeds the central compartment
   at the first-order ``<d>_ka_per_h``. Without transit compartments the depot itself is the
   absorption compartment (sequential zero-/first-order absorption, PK1);
3. one or two disposition compartments (``<d>_cl_L_per_h``, ``<d>_vc_ref_L``,
   ``<d>_q_L_per_h``, ``<d>_vp_ref_L``), apparent (divided by the bioavailability of the
   food state named by :attr:`PKModel.clearance_food_state`);
4. allometric weight scaling of volumes, ``(body_weight_kg/<d>_wt_ref_kg)^<d>_wt_exponent``,
   and, when :attr:`PKModel.weight_on_clearance`, of CL and Q with their own exponent
   ``<d>_wt_exponent_cl``;
5. optionally an active metabolite formed from the fraction ``<d>_metabolite_fraction`` of the
   parent's clearance (converted mass for mass through the molar masses), with its own one or
   two compartments (``<d>_metabolite_cl_L_per_h`` ...);
6. outputs: plasma concentration ``<d>_plasma_ng_per_mL`` and the unbound molar concentration
   at the cells ``<d>_free_nM`` (``<d>_fu``, ``<d>_mw_g_per_mol``), and the same two for a
   metabolite (``<d>_metabolite_plasma_ng_per_mL``, ``<d>_metabolite_free_nM``).

Bioavailability (applied per dose by :func:`pk_dose_inputs`): ``<d>_frel_fasted_vs_fed`` is
F(fasted)/F(fed); the food state CL/F refers to carries 1, the other its ratio (ibrutinib: CL/F
is the fasted one, so fed doses carry 1/0.666; venetoclax: CL/F is the fed one, so fasted doses
carry 0.29). A high-fat meal may carry its own factor (``<d>_frel_high_fat_vs_fed``) and F may
depend on the dose, ``(dose/<d>_f_dose_ref_mg)^<d>_f_dose_exponent`` (venetoclax, PK11).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from .._errors import RegimenError, SpecError
from .._validation import InputModel

#: Food states a dose may be given in. ``"high_fat"`` is a fed dose with a high-fat meal, for
#: the models that give it its own bioavailability.
FOOD_STATES = ("fed", "fasted", "high_fat")

#: Shared model parameter every PK model reads (kg).
BODY_WEIGHT = "body_weight_kg"


class MetaboliteModel(InputModel):
    """An active metabolite formed from a fraction of the parent's clearance.

    Attributes
    ----------
    n_compartments
        Disposition compartments of the metabolite (1 or 2).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    n_compartments: Literal[1, 2] = 2


class PKModel(InputModel):
    """Structure of one drug's population-PK model (the numbers are in its parameters table).

    Attributes
    ----------
    n_compartments
        Disposition compartments of the parent (1 or 2).
    n_transit
        Transit compartments between the depot and the absorption compartment (0: none, the
        depot is the absorption compartment).
    first_order_absorption
        Whether the absorption compartment feeds the central compartment at ``<d>_ka_per_h``;
        ``False`` (only with transit compartments) lets the last transit compartment empty into
        the central compartment at the transit rate.
    weight_on_clearance
        Scale CL and Q allometrically with ``<d>_wt_exponent_cl`` (volumes always scale with
        ``<d>_wt_exponent``, which may be 0).
    metabolite
        The active metabolite, if the model has one.
    clearance_food_state
        Food state the apparent clearance refers to (bioavailability 1).
    high_fat_meal
        Whether a high-fat meal has its own bioavailability (``<d>_frel_high_fat_vs_fed``).
    dose_dependent_bioavailability
        Whether F scales with ``(dose/<d>_f_dose_ref_mg)^<d>_f_dose_exponent``.
    fasted_lag
        Whether fasted doses have their own lag ``<d>_lag_fasted_h`` (``<d>_lag_h`` is then the
        lag of fed doses; venetoclax has a lag only when fed, PK11).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    n_compartments: Literal[1, 2] = 2
    n_transit: int = Field(default=0, ge=0, le=20)
    first_order_absorption: bool = True
    weight_on_clearance: bool = False
    metabolite: MetaboliteModel | None = None
    clearance_food_state: Literal["fed", "fasted"] = "fasted"
    high_fat_meal: bool = False
    dose_dependent_bioavailability: bool = False
    fasted_lag: bool = False

    @model_validator(mode="after")
    def _absorbed_somehow(self) -> PKModel:
        if not self.first_order_absorption and self.n_transit == 0:
            raise ValueError("a PK model without first-order absorption needs transit compartments")
        return self


#: The PK structure of each drug with a parameters table (row ids of the calibration targets).
PK_MODELS: dict[str, PKModel] = {
    # PK1: lag + zero-order then first-order input, two compartments, volumes scale with weight
    "ibrutinib": PKModel(),
    # PK6: 5 transit compartments then ka, two compartments; ACP-5862 from 0.4 of CL, two compartments
    "acalabrutinib": PKModel(n_transit=5, metabolite=MetaboliteModel(n_compartments=2)),
    # PK8: zero-order input into the depot then ka, two compartments
    "zanubrutinib": PKModel(),
    # PK9: 4 transit compartments, two compartments, weight on clearances and volumes
    # (no first-order step: the last transit compartment empties into the central one)
    "pirtobrutinib": PKModel(n_transit=4, first_order_absorption=False, weight_on_clearance=True),
    # PK11: lag, first-order ka, two compartments; F relative to a low-fat meal, dose-dependent
    # lag only when fed; CL/F refers to a low-fat meal
    "venetoclax": PKModel(clearance_food_state="fed", high_fat_meal=True,
                          dose_dependent_bioavailability=True, fasted_lag=True),
}


def pk_input_id(drug: str) -> str:
    """Id of the zero-order input into the depot (mg/h), a parameter the dosing changes."""
    return f"{drug}_input_mg_per_h"


def pk_depot_id(drug: str) -> str:
    """Id of the state doses go into (mg; first compartment of the absorption chain)."""
    return f"{drug}_depot_mg"


def pk_states(drug: str, pk: PKModel) -> dict[str, float]:
    """The states of the PK layer (mg) and their initial values (all 0: no drug yet)."""
    ids = [pk_depot_id(drug)]
    if pk.n_transit:
        ids += [f"{drug}_transit{k}_mg" for k in range(1, pk.n_transit + 1)]
        if pk.first_order_absorption:
            ids.append(f"{drug}_gut_mg")
    ids.append(f"{drug}_central_mg")
    if pk.n_compartments == 2:
        ids.append(f"{drug}_periph_mg")
    if pk.metabolite is not None:
        ids.append(f"{drug}_metabolite_central_mg")
        if pk.metabolite.n_compartments == 2:
            ids.append(f"{drug}_metabolite_periph_mg")
    return dict.fromkeys(ids, 0.0)


def pk_dosing_parameter_ids(drug: str, pk: PKModel) -> frozenset[str]:
    """Parameters that shape the dosing (:func:`pk_dose_inputs`) rather than the equations."""
    ids = {f"{drug}_lag_h", f"{drug}_d1_fasted_h", f"{drug}_d1_fed_h", f"{drug}_frel_fasted_vs_fed"}
    if pk.high_fat_meal:
        ids.add(f"{drug}_frel_high_fat_vs_fed")
    if pk.fasted_lag:
        ids.add(f"{drug}_lag_fasted_h")
    if pk.dose_dependent_bioavailability:
        ids |= {f"{drug}_f_dose_ref_mg", f"{drug}_f_dose_exponent"}
    return frozenset(ids)


def pk_parameter_ids(drug: str, pk: PKModel) -> frozenset[str]:
    """Every ``<drug>_`` parameter the PK layer needs: those of :func:`pk_antimony`'s lines and
    those of the dosing. (The lines also read the shared :data:`BODY_WEIGHT` and the input
    :func:`pk_input_id`, which are not in the drug's table.)"""
    return _line_parameters(drug, pk) | pk_dosing_parameter_ids(drug, pk)


def _line_parameters(drug: str, pk: PKModel) -> frozenset[str]:
    d = drug
    ids = {f"{d}_cl_L_per_h", f"{d}_vc_ref_L", f"{d}_wt_ref_kg", f"{d}_wt_exponent", f"{d}_fu",
           f"{d}_mw_g_per_mol"}
    if pk.first_order_absorption:
        ids.add(f"{d}_ka_per_h")
    if pk.n_transit:
        ids.add(f"{d}_mtt_h")
    if pk.n_compartments == 2:
        ids |= {f"{d}_q_L_per_h", f"{d}_vp_ref_L"}
    if pk.weight_on_clearance:
        ids.add(f"{d}_wt_exponent_cl")
    if pk.metabolite is not None:
        m = f"{d}_metabolite"
        ids |= {f"{m}_fraction", f"{m}_cl_L_per_h", f"{m}_vc_ref_L", f"{m}_fu", f"{m}_mw_g_per_mol"}
        if pk.metabolite.n_compartments == 2:
            ids |= {f"{m}_q_L_per_h", f"{m}_vp_ref_L"}
    return frozenset(ids)


def pk_antimony(drug: str, pk: PKModel) -> list[str]:
    """Antimony lines of one drug's PK layer: assignments and rate rules, no initial values.

    Parameters
    ----------
    drug
        Drug name, the prefix of every id (``ibrutinib`` -> ``ibrutinib_cl_L_per_h``).
    pk
        Its PK structure.

    Returns
    -------
    list of str
        Lines without indentation. Doses enter as the zero-order input ``<drug>_input_mg_per_h``
        (mg/h) or as boluses into ``<drug>_depot_mg``; outputs are ``<drug>_plasma_ng_per_mL``
        and ``<drug>_free_nM`` (and ``<drug>_metabolite_...`` for a metabolite).
    """
    if not drug.isidentifier() or not drug.islower():
        raise SpecError(f"drug name {drug!r} must be a lower-case identifier (it prefixes ids)")
    d = drug
    wt = f"({BODY_WEIGHT}/{d}_wt_ref_kg)"
    lines = [f"// ---- {d} PK ({pk.n_compartments}-compartment"
             f"{f', {pk.n_transit} transit compartments' if pk.n_transit else ''}"
             f"{', active metabolite' if pk.metabolite else ''})"]
    add = lines.append
    vc, vp = f"{d}_vc_L", f"{d}_vp_L"
    add(f"{vc} := {d}_vc_ref_L*{wt}^{d}_wt_exponent")
    if pk.n_compartments == 2:
        add(f"{vp} := {d}_vp_ref_L*{wt}^{d}_wt_exponent")
    if pk.weight_on_clearance:
        cl, q = f"{d}_cl_ind_L_per_h", f"{d}_q_ind_L_per_h"
        add(f"{cl} := {d}_cl_L_per_h*{wt}^{d}_wt_exponent_cl")
        if pk.n_compartments == 2:
            add(f"{q} := {d}_q_L_per_h*{wt}^{d}_wt_exponent_cl")
    else:
        cl, q = f"{d}_cl_L_per_h", f"{d}_q_L_per_h"

    # absorption chain: depot -> transit_1..n -> gut (ka) -> central
    depot, inp = pk_depot_id(d), pk_input_id(d)
    if pk.n_transit:
        ktr = f"{d}_ktr_per_h"
        add(f"{ktr} := {pk.n_transit + 1}/{d}_mtt_h")
        chain = [depot] + [f"{d}_transit{k}_mg" for k in range(1, pk.n_transit + 1)]
        add(f"{depot}' = {inp} - {ktr}*{depot}")
        for prev, cur in zip(chain, chain[1:], strict=False):
            add(f"{cur}' = {ktr}*{prev} - {ktr}*{cur}")
        if pk.first_order_absorption:
            gut = f"{d}_gut_mg"
            add(f"{gut}' = {ktr}*{chain[-1]} - {d}_ka_per_h*{gut}")
            into_central = f"{d}_ka_per_h*{gut}"
        else:
            into_central = f"{ktr}*{chain[-1]}"
    else:
        add(f"{depot}' = {inp} - {d}_ka_per_h*{depot}")
        into_central = f"{d}_ka_per_h*{depot}"

    central = f"{d}_central_mg"
    rhs = f"{into_central} - {cl}/{vc}*{central}"
    if pk.n_compartments == 2:
        periph = f"{d}_periph_mg"
        add(f"{central}' = {rhs} - {q}/{vc}*{central} + {q}/{vp}*{periph}")
        add(f"{periph}' = {q}/{vc}*{central} - {q}/{vp}*{periph}")
    else:
        add(f"{central}' = {rhs}")
    add(f"{d}_plasma_ng_per_mL := 1000*{central}/{vc}")
    add(f"{d}_free_nM := {d}_fu*{d}_plasma_ng_per_mL/{d}_mw_g_per_mol*1000")

    if pk.metabolite is not None:
        m = f"{d}_metabolite"
        mvc, mvp = f"{m}_vc_L", f"{m}_vp_L"
        add(f"{mvc} := {m}_vc_ref_L*{wt}^{d}_wt_exponent")
        if pk.metabolite.n_compartments == 2:
            add(f"{mvp} := {m}_vp_ref_L*{wt}^{d}_wt_exponent")
        if pk.weight_on_clearance:
            mcl, mq = f"{m}_cl_ind_L_per_h", f"{m}_q_ind_L_per_h"
            add(f"{mcl} := {m}_cl_L_per_h*{wt}^{d}_wt_exponent_cl")
            if pk.metabolite.n_compartments == 2:
                add(f"{mq} := {m}_q_L_per_h*{wt}^{d}_wt_exponent_cl")
        else:
            mcl, mq = f"{m}_cl_L_per_h", f"{m}_q_L_per_h"
        # a fraction of what the parent's clearance removes becomes metabolite, mole for mole
        formation = f"{m}_fraction*{cl}/{vc}*{central}*{m}_mw_g_per_mol/{d}_mw_g_per_mol"
        mc = f"{m}_central_mg"
        mrhs = f"{formation} - {mcl}/{mvc}*{mc}"
        if pk.metabolite.n_compartments == 2:
            mp = f"{m}_periph_mg"
            add(f"{mc}' = {mrhs} - {mq}/{mvc}*{mc} + {mq}/{mvp}*{mp}")
            add(f"{mp}' = {mq}/{mvc}*{mc} - {mq}/{mvp}*{mp}")
        else:
            add(f"{mc}' = {mrhs}")
        add(f"{m}_plasma_ng_per_mL := 1000*{mc}/{mvc}")
        add(f"{m}_free_nM := {m}_fu*{m}_plasma_ng_per_mL/{m}_mw_g_per_mol*1000")
    return lines


def pk_dose_inputs(
    drug: str,
    pk: PKModel,
    doses: Iterable[tuple[float, float]],
    food: str,
    values: Mapping[str, float],
) -> list[tuple[float, float, float]]:
    """Absorption inputs of doses: ``(start_h, duration_h, absorbed_mg)`` each.

    Each dose enters the depot after the lag at a constant rate for the input duration of its
    food state (0: a bolus), carrying the bioavailability of its food state relative to the one
    CL/F refers to, and for dose-dependent models ``(dose/ref)^exponent``. For ibrutinib this
    is what :func:`cllsim.drugs.dose_inputs` gives.

    Parameters
    ----------
    drug, pk
        The drug and its PK structure.
    doses
        ``(time_h, amount_mg)`` of each dose (:meth:`cllsim.drugs.Regimen.doses`).
    food
        ``"fed"``, ``"fasted"`` or, for models with :attr:`PKModel.high_fat_meal`,
        ``"high_fat"``.
    values
        Parameter values by id (the ``<drug>_`` ids of :func:`pk_dosing_parameter_ids`).
    """
    if food not in FOOD_STATES or (food == "high_fat" and not pk.high_fat_meal):
        allowed = FOOD_STATES if pk.high_fat_meal else FOOD_STATES[:2]
        raise RegimenError(f"food state {food!r} is not one of {', '.join(allowed)} for {drug}")
    missing = sorted(pk_dosing_parameter_ids(drug, pk) - set(values))
    if missing:
        raise SpecError(f"{drug} dosing needs parameter values for {', '.join(missing)}")
    lag = values[f"{drug}_lag_fasted_h"] if pk.fasted_lag and food == "fasted" else values[f"{drug}_lag_h"]
    d1 = values[f"{drug}_d1_fasted_h"] if food == "fasted" else values[f"{drug}_d1_fed_h"]
    frel = values[f"{drug}_frel_fasted_vs_fed"]
    # the food state CL/F refers to carries F = 1; ratios are F(fasted)/F(fed)
    if pk.clearance_food_state == "fasted":
        bioavailability = 1.0 if food == "fasted" else 1.0 / frel
    else:
        bioavailability = frel if food == "fasted" else 1.0
    if food == "high_fat":
        bioavailability *= values[f"{drug}_frel_high_fat_vs_fed"]
    out = []
    for t, amount in doses:
        f = bioavailability
        if pk.dose_dependent_bioavailability:
            f *= (amount / values[f"{drug}_f_dose_ref_mg"]) ** values[f"{drug}_f_dose_exponent"]
        out.append((t + lag, d1, amount * f))
    return out


def pk_dosing_events(drug: str, inputs: Iterable[tuple[float, float, float]]) -> list[str]:
    """Antimony event lines applying :func:`pk_dose_inputs`' inputs of ``drug`` at their times.

    Each zero-order input becomes an on/off event pair on ``<drug>_input_mg_per_h``, each
    bolus one event adding to ``<drug>_depot_mg`` (as :func:`cllsim.drugs.dosing_events`).
    """
    events = []
    inp, depot = pk_input_id(drug), pk_depot_id(drug)
    for k, (t_on, d1, absorbed) in enumerate(inputs):
        if d1 > 0:
            rate = absorbed / d1
            events.append(f"{drug}_dose{k}_on: at time >= {t_on!r}, t0=false, persistent=true: "
                          f"{inp} = {inp} + {rate!r}")
            events.append(f"{drug}_dose{k}_off: at time >= {t_on + d1!r}, t0=false, persistent=true: "
                          f"{inp} = {inp} - {rate!r}")
        else:
            events.append(f"{drug}_dose{k}: at time >= {t_on!r}, t0=false, persistent=true: "
                          f"{depot} = {depot} + {absorbed!r}")
    return events


def pk_table_path(drug: str, species: str = "human") -> Path:
    """Packaged parameters table of ``drug`` in ``species`` (``"human"`` or ``"mouse"``).

    Raises
    ------
    SpecError
        When there is no such table (e.g. no published mouse PK of the drug).
    """
    path = Path(str(resources.files("cllsim.drugs") / "data" / f"{drug}_{species}.tsv"))
    if not path.is_file():
        have = sorted(p.name.removesuffix(".tsv") for p in path.parent.glob("*.tsv"))
        raise SpecError(f"no {species} PK parameters for drug {drug!r} (tables: {', '.join(have)})")
    return path

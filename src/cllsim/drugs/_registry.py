"""The drugs cllsim knows: each one object, registered here once.

A :class:`Drug` is its PK model (:mod:`cllsim.drugs._pk`), its target-binding model and its
parameter tables (``drugs/data/<drug>_<species>.tsv``, every id prefixed with the drug's name).
The model declaration builds one PK block per drug of a therapy and sums their effects on the
target; nothing in the engines knows a drug by name. Adding a drug is its table and its entry in
:data:`DRUGS`.

Target binding:

* ``covalent`` BTK inhibitors (ibrutinib, acalabrutinib and its active metabolite ACP-5862,
  zanubrutinib) inactivate free BTK at ``kinact/KI x unbound concentration``; occupied BTK is lost
  only by turnover (BTK2). They cannot bind BTK C481S (no cysteine 481).
* ``reversible`` BTK inhibitors (pirtobrutinib) occupy BTK at equilibrium with their unbound
  concentration, ``C/(C + Kd)``, wild type and C481S alike (PK10).
* venetoclax binds BCL2 reversibly (``C/(C + Ki)``), freeing BIM; the model's BCL2 layer turns the
  free BCL2 into death (V2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from .._errors import SpecError
from .._validation import did_you_mean
from . import _pk
from ._pk import PKModel


@dataclass(frozen=True)
class Drug:
    """One drug: PK, target binding, parameter tables and the regimen it is usually given at.

    Attributes
    ----------
    id
        Name in regimens, tables and ids (``ibrutinib``); every parameter of the drug is
        ``<id>_...``.
    target
        ``"BTK"`` or ``"BCL2"``.
    binding
        ``"covalent"`` (irreversible; occupied target lost by turnover) or ``"reversible"``.
    pk
        Structure of its PK model (the values are in its tables).
    standard_regimen
        Label dose (text form of :func:`cllsim.drugs.parse_regimen`).
    metabolite_binds
        Whether the PK model's active metabolite binds the target too (ACP-5862).
    ramp_up
        Labelled dose ramp-up, ``(mg daily, days)`` per step (venetoclax, V1); empty if none.
    """

    id: str
    target: Literal["BTK", "BCL2"]
    binding: Literal["covalent", "reversible"]
    pk: PKModel
    standard_regimen: str
    metabolite_binds: bool = False
    ramp_up: tuple[tuple[float, int], ...] = ()

    def table_path(self, species: str) -> Path:
        """The drug's parameter table for ``species`` (``"human"`` or ``"mouse"``).

        Raises
        ------
        SpecError
            When the drug has no published PK in that species.
        """
        path = Path(str(resources.files("cllsim.drugs") / "data" / f"{self.id}_{species}.tsv"))
        if not path.exists():
            have = ", ".join(self.species) or "none"
            raise SpecError(f"{self.id} has no {species} PK parameters (published PK only for: {have})")
        return path

    @property
    def species(self) -> tuple[str, ...]:
        """Species with a parameter table."""
        data = resources.files("cllsim.drugs") / "data"
        return tuple(s for s in ("human", "mouse") if (data / f"{self.id}_{s}.tsv").is_file())

    def antimony(self) -> list[str]:
        """Antimony lines of the drug's PK (rules, rate rules, initial values of its states and input).

        Outputs ``<id>_free_nM`` (unbound, nM) and ``<id>_plasma_ng_per_mL`` (total), and for an
        active metabolite ``<id>_metabolite_free_nM``.
        """
        init = {**_pk.pk_states(self.id, self.pk), self.input_id: 0.0}
        return [*_pk.pk_antimony(self.id, self.pk), *(f"{k} = {v!r}" for k, v in init.items())]

    @property
    def input_id(self) -> str:
        """Zero-order dosing input (mg/h), a piecewise-constant parameter changed at each dose."""
        return _pk.pk_input_id(self.id)

    @property
    def depot_id(self) -> str:
        """State a bolus dose is added to (mg)."""
        return _pk.pk_depot_id(self.id)

    @property
    def dosing_parameter_ids(self) -> frozenset[str]:
        """Parameters that shape each dose (lag, input duration, bioavailability), not the ODEs."""
        return _pk.pk_dosing_parameter_ids(self.id, self.pk)

    def dose_inputs(
        self, doses: Iterable[tuple[float, float]], food: str, values: Mapping[str, float]
    ) -> list[tuple[float, float, float]]:
        """Absorption of each dose ``(time_h, amount_mg)``: ``(start_h, duration_h, absorbed_mg)``."""
        return _pk.pk_dose_inputs(self.id, self.pk, doses, food, values)


#: Every drug, by id.
DRUGS: dict[str, Drug] = {
    d.id: d
    for d in (
        Drug("ibrutinib", "BTK", "covalent", _pk.PK_MODELS["ibrutinib"], "420 mg qd"),
        Drug("acalabrutinib", "BTK", "covalent", _pk.PK_MODELS["acalabrutinib"], "100 mg bid", metabolite_binds=True),
        Drug("zanubrutinib", "BTK", "covalent", _pk.PK_MODELS["zanubrutinib"], "160 mg bid"),
        Drug("pirtobrutinib", "BTK", "reversible", _pk.PK_MODELS["pirtobrutinib"], "200 mg qd"),
        Drug("venetoclax", "BCL2", "reversible", _pk.PK_MODELS["venetoclax"], "ramp-up; 400 mg qd",
             ramp_up=((20.0, 7), (50.0, 7), (100.0, 7), (200.0, 7))),
    )
}


def get_drug(drug: str | Drug) -> Drug:
    """The registered drug ``drug`` (a :class:`Drug` is returned as is).

    Raises
    ------
    SpecError
        Naming the closest registered drug.
    """
    if isinstance(drug, Drug):
        return drug
    key = str(drug).strip().lower()
    if key not in DRUGS:
        raise SpecError(f"unknown drug {drug!r}{did_you_mean(key, DRUGS)}; known: {', '.join(DRUGS)}")
    return DRUGS[key]


def drug_set(drugs: str | Drug | Sequence[str | Drug]) -> tuple[str, ...]:
    """Drug ids, validated, in order, without repeats (the key of a compiled model)."""
    items = [drugs] if isinstance(drugs, str | Drug) else list(drugs)
    if not items:
        raise SpecError("a model needs at least one drug")
    return tuple(dict.fromkeys(get_drug(d).id for d in items))

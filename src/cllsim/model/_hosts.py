"""Hosts: which tissues a body has and how its observables are read.

A host is data, not equations: the equations live once in :mod:`cllsim.model._antimony`
and are instantiated for each tissue listed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._errors import SpecError


@dataclass(frozen=True)
class Tissue:
    """A solid tissue holding a niche-bound and a free pool of CLL cells.

    Parameters
    ----------
    id
        Short identifier used as suffix of every tissue-level parameter and state
        (``egress_per_day_<id>``, ``cells_niche_<id>``...).
    label
        Human-readable name used in figures.
    """

    id: str
    label: str


@dataclass(frozen=True)
class Host:
    """A body in which CLL cells live: patient, TCL1-192 mouse or NSG xenograft.

    Parameters
    ----------
    id
        Identifier (``"patient"``...).
    label
        Human-readable name.
    tissues
        Solid tissues, each with niche-bound and free pools.
    parameter_overrides
        Name of a packaged TSV (``model/data/<name>.tsv``) whose rows replace the nominal rows
        of the patient table for this host; ``None`` for the patient.
    """

    id: str
    label: str
    tissues: tuple[Tissue, ...]
    parameter_overrides: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tissue_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tissues)


PATIENT = Host(
    id="patient",
    label="CLL patient",
    tissues=(
        Tissue("ln", "lymph nodes"),
        Tissue("spleen", "spleen"),
        Tissue("bm", "bone marrow"),
    ),
)

TCL1_192 = Host(
    id="tcl1",
    label="TCL1-192 transplanted mouse",
    tissues=(
        Tissue("spleen", "spleen"),
        Tissue("bm", "bone marrow"),
        Tissue("ln", "lymph nodes"),
        Tissue("peritoneum", "peritoneal cavity"),
    ),
    parameter_overrides="host_tcl1",
    extra={"species": "mouse", "model": "Eμ-TCL1 leukemia clone 192 transplanted into C57BL/6 mice"},
)

NSG_XENOGRAFT = Host(
    id="xenograft",
    label="NSG xenograft of primary CLL cells",
    tissues=(
        Tissue("spleen", "spleen"),
        Tissue("bm", "bone marrow"),
    ),
    parameter_overrides="host_xenograft",
    extra={"species": "mouse", "model": "primary CLL PBMC (with autologous T cells) in NOD/SCID/IL2Rγnull mice"},
)

HOSTS: dict[str, Host] = {h.id: h for h in (PATIENT, TCL1_192, NSG_XENOGRAFT)}


def get_host(host: str | Host) -> Host:
    """Return the host registered under ``host`` (or ``host`` itself)."""
    if isinstance(host, Host):
        return host
    try:
        return HOSTS[host]
    except KeyError:
        known = ", ".join(sorted(HOSTS))
        raise SpecError(f"unknown host {host!r}; known hosts: {known}") from None

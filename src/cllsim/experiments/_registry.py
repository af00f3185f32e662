"""The experiments F1-F10 by id, and running a selection of them."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from functools import cache

from .._errors import SpecError
from ._base import Experiment, ExperimentResult

#: Experiment id -> module:class (imported on first use).
_SPECS: dict[str, str] = {
    "F1": "f01_redistribution:Redistribution",
    "F2": "f02_homing:Homing",
    "F3": "f03_proliferation:Proliferation",
    "F4": "f04_recycling:RecyclingAssay",
    "F5": "f05_surface_cxcr4:SurfaceCXCR4",
    "F6": "f06_lymphocytosis:Lymphocytosis",
    "F7": "f07_ps339:PS339ByIGHV",
    "F8": "f08_bcl2:BCL2ByIGHV",
    "F9": "f09_xenograft:Xenograft",
    "F10": "f10_chemotaxis:ChemotaxisAdhesion",
}

EXPERIMENT_IDS: tuple[str, ...] = tuple(_SPECS)


@cache
def get(experiment_id: str) -> Experiment:
    """The experiment registered under ``experiment_id`` (``"F1"`` ... ``"F10"``)."""
    key = experiment_id.strip().upper()
    if key not in _SPECS:
        raise SpecError(f"unknown experiment {experiment_id!r}; known: {', '.join(EXPERIMENT_IDS)}")
    module, cls = _SPECS[key].split(":")
    return getattr(importlib.import_module(f"cllsim.experiments.{module}"), cls)()


def parse_ids(text: str | None) -> list[str]:
    """``"F4,F5"`` -> ``["F4", "F5"]`` (all when empty), validated, in registry order."""
    if not text or not text.strip():
        return list(EXPERIMENT_IDS)
    wanted = [t.strip().upper() for t in text.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in _SPECS]
    if unknown:
        raise SpecError(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENT_IDS)}")
    return [e for e in EXPERIMENT_IDS if e in wanted]


def run_experiments(
    ids: Iterable[str] | None = None, overrides: Mapping[str, float] | None = None
) -> list[ExperimentResult]:
    """Run the selected experiments (default: all) and return their results in order."""
    return [get(e).run(overrides) for e in (ids or EXPERIMENT_IDS)]

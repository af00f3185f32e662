"""SBML translation (Antimony to SBML), export and the libSBML consistency check."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .._errors import ModelBuildError


class SBMLConsistencyError(ModelBuildError):
    """The SBML document has errors according to libSBML."""


@lru_cache(maxsize=32)
def antimony_to_sbml(text: str) -> str:
    """Translate Antimony text to SBML (libantimony); the model is the text's first module.

    Cached by text: the same declaration is translated once per process.
    """
    import antimony

    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        raise ModelBuildError(f"Antimony rejected the model: {antimony.getLastError()}")
    sbml = antimony.getSBMLString(antimony.getMainModuleName())
    if not sbml:
        raise ModelBuildError(f"Antimony produced no SBML: {antimony.getLastError()}")
    return sbml


def sbml_errors(sbml: str) -> list[str]:
    """libSBML consistency errors (severity error or fatal) of an SBML string."""
    import libsbml  # imported here: only export and checks need it, not ``import cllsim.model``

    doc = libsbml.readSBMLFromString(sbml)
    doc.checkConsistency()
    out = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            out.append(f"line {err.getLine()}: {err.getMessage().strip()}")
    return out


def write_sbml(sbml: str, path: str | Path) -> Path:
    """Write ``sbml`` to ``path`` after checking it has no libSBML consistency errors."""
    errors = sbml_errors(sbml)
    if errors:
        raise SBMLConsistencyError("SBML has consistency errors:\n  " + "\n  ".join(errors))
    path = Path(path)
    path.write_text(sbml, encoding="utf-8")
    return path

"""SBML export and the libSBML consistency check."""

from __future__ import annotations

from pathlib import Path

import libsbml


class SBMLConsistencyError(ValueError):
    """The SBML document has errors according to libSBML."""


def sbml_errors(sbml: str) -> list[str]:
    """libSBML consistency errors (severity error or fatal) of an SBML string."""
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

"""One status vocabulary for every engine and every result.

A run of one patient ends in exactly one :class:`Status`; batch results store the status
values (strings, for tables) and results expose the enum. Each status names the exception that
``raise_for_status`` raises, so an error and a status never disagree.
"""

from __future__ import annotations

import enum

from .._errors import BaselineError, CllsimError, SolverError


class Status(enum.Enum):
    """Outcome of a simulated patient; ``.message`` says what it means."""

    SUCCESS = "success"
    INFEASIBLE_BASELINE = "infeasible_baseline"
    SOLVER_FAILURE = "solver_failure"
    NONFINITE = "nonfinite"
    INVARIANT_VIOLATION = "invariant_violation"

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def ok(self) -> bool:
        return self is Status.SUCCESS

    def error(self, detail: str) -> CllsimError:
        """The exception that stands for this (failed) status, with ``detail``."""
        cls = BaselineError if self is Status.INFEASIBLE_BASELINE else SolverError
        return cls(f"{self.message}: {detail}" if detail else self.message)


_MESSAGES = {
    Status.SUCCESS: "simulation finished",
    Status.INFEASIBLE_BASELINE: "the baseline values cannot be an untreated steady state",
    Status.SOLVER_FAILURE: "the ODE solver stopped before the end time",
    Status.NONFINITE: "the solution contains NaN or infinite values",
    Status.INVARIANT_VIOLATION: "a physical quantity (cells, drug, receptor level, BCL2) became negative",
}

"""Experiments, their checks and their results.

An experiment is a small object (docs/study.md): a protocol (host, cells, conditions,
treatment, schedule), a simulation, a readout as the lab measures it, a figure and checks.
Each check compares a simulated readout with the direction and minimum effect size stated
for the finding, and names its source (the study's abstract, a calibration row, or the
prediction the experiment makes where the study gives no number).
"""

from __future__ import annotations

import datetime as _dt
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from .. import __version__
from .._errors import SpecError
from ..model import parameter_hash

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The study (Chen SS, Feinstein Institute; see shared/study/abstract.txt).
STUDY = "Chen SS (Feinstein Institute), study abstract"

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class Check:
    """One check of an experiment against its finding.

    Attributes
    ----------
    id
        ``"F4.pim1_recycling"`` style identifier.
    claim
        What must hold, in words.
    quantity
        What is measured (the simulated readout).
    op, threshold
        The simulated value must satisfy ``value <op> threshold``.
    value
        Simulated value.
    unit
        Unit of value and threshold.
    source
        Where the expected direction/size comes from.
    """

    id: str
    claim: str
    quantity: str
    op: str
    threshold: float
    value: float
    unit: str
    source: str

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise SpecError(f"unknown comparison {self.op!r}; use one of {sorted(_OPS)}")

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.value) and _OPS[self.op](self.value, self.threshold))

    @property
    def expected(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.quantity} {self.op} {self.threshold:.4g}{unit}"

    def as_row(self) -> dict[str, Any]:
        return {
            "check": self.id,
            "claim": self.claim,
            "expected": self.expected,
            "simulated": self.value,
            "unit": self.unit,
            "passed": self.passed,
            "source": self.source,
        }


@dataclass(frozen=True)
class ExperimentResult:
    """Immutable outcome of one in-silico experiment.

    Attributes
    ----------
    id
        Finding id (``"F1"`` ... ``"F10"``).
    title
        One line.
    finding
        The study's finding being reproduced.
    protocol
        The protocol as a plain dict (host, arms, doses, sampling times, readout).
    data
        Tidy readouts: one row per (group, subject, time, readout) with value and unit.
    checks
        The experiment's checks.
    summary
        Extra key numbers (statistics, effect sizes) for the report.
    metadata
        Version, parameter hash, seed, time of creation.
    """

    id: str
    title: str
    finding: str
    protocol: Mapping[str, Any]
    data: pd.DataFrame
    checks: tuple[Check, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_df(self) -> pd.DataFrame:
        """Tidy readouts (a copy)."""
        return self.data.copy()

    def checks_df(self) -> pd.DataFrame:
        """One row per check: expected, simulated, unit, pass/fail, source."""
        return pd.DataFrame([c.as_row() for c in self.checks])

    @property
    def description(self) -> str:
        """Protocol and mechanism in words: the experiment module's docstring without its title line."""
        import inspect
        import sys

        from . import _registry

        doc = inspect.getdoc(sys.modules[type(_registry.get(self.id)).__module__]) or ""
        return doc.split("\n\n", 1)[1] if "\n\n" in doc else ""

    def plot(self) -> Figure:
        """The experiment's figure."""
        from . import _registry

        return _registry.get(self.id).figure(self)


class Experiment(ABC):
    """Base of the in-silico experiments F1-F10."""

    id: ClassVar[str]
    title: ClassVar[str]
    finding: ClassVar[str]

    @abstractmethod
    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        """Run the protocol.

        Parameters
        ----------
        overrides
            Parameter values (table units) applied to every simulated subject on top of the
            host's table; used to test that a check fails when a mechanism is cut.
        """

    @abstractmethod
    def figure(self, result: ExperimentResult) -> Figure:
        """Draw ``result`` (labelled axes with units, a caption-like title)."""

    def _result(
        self,
        protocol: Mapping[str, Any],
        data: pd.DataFrame,
        checks: list[Check],
        *,
        summary: Mapping[str, Any] | None = None,
        values: Mapping[str, float] | None = None,
        overrides: Mapping[str, float] | None = None,
        seed: int | None = None,
    ) -> ExperimentResult:
        meta = {
            "cllsim_version": __version__,
            "experiment": self.id,
            "parameter_hash": parameter_hash(values) if values else "",
            "overrides": dict(overrides or {}),
            "seed": seed,
            "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        return ExperimentResult(
            self.id, self.title, self.finding, dict(protocol), data, tuple(checks), dict(summary or {}), meta
        )


def tidy(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Readout rows -> DataFrame with the standard column order."""
    cols = ["group", "subject", "time", "time_unit", "readout", "value", "unit"]
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df.columns:
            df[c] = ""
    return df[cols + [c for c in df.columns if c not in cols]]

"""The result of a simulation: tidy data, metadata, and a status that explains failure."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..model import _columns as C

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class Status(enum.Enum):
    """Outcome of a simulation; ``.message`` says what it means."""

    SUCCESS = "success"
    SOLVER_FAILURE = "solver_failure"
    NONFINITE = "nonfinite"

    @property
    def message(self) -> str:
        return {
            Status.SUCCESS: "simulation finished",
            Status.SOLVER_FAILURE: "the ODE solver stopped before the end time",
            Status.NONFINITE: "the solution contains NaN or infinite values",
        }[self]


@dataclass(frozen=True)
class SimulationResult:
    """Immutable result of one simulated patient (or mouse).

    Attributes
    ----------
    data
        Tidy table with columns ``id, time, observable, value, unit``; time in days.
    metadata
        How it was made: package version, engine, tolerances, host, drug, regimen, IGHV,
        parameter values and their hash.
    status
        :class:`Status`; anything but ``SUCCESS`` means ``data`` stops early or is empty.
    detail
        Solver message for failures.
    """

    data: pd.DataFrame
    metadata: Mapping[str, Any]
    status: Status = Status.SUCCESS
    detail: str = ""
    units: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCESS

    def raise_for_status(self) -> SimulationResult:
        """Return self, or raise ``RuntimeError`` naming the failure."""
        if not self.ok:
            raise RuntimeError(f"{self.status.message}: {self.detail}")
        return self

    def to_df(self) -> pd.DataFrame:
        """Tidy table (a copy)."""
        return self.data.copy()

    def wide(self) -> pd.DataFrame:
        """One column per observable, indexed by time (days)."""
        return self.data.pivot_table(
            index=C.TIME, columns=C.OBSERVABLE, values=C.VALUE, sort=False
        ).sort_index()

    def __getitem__(self, observable: str) -> pd.Series:
        sel = self.data[self.data[C.OBSERVABLE] == observable]
        if sel.empty:
            known = ", ".join(sorted(self.data[C.OBSERVABLE].unique()))
            raise KeyError(f"no observable {observable!r}; available: {known}")
        return pd.Series(sel[C.VALUE].to_numpy(), index=sel[C.TIME].to_numpy(), name=observable)

    @property
    def observables(self) -> list[str]:
        return list(dict.fromkeys(self.data[C.OBSERVABLE]))

    def at(self, day: float, observable: str) -> float:
        """Value of ``observable`` at the output time nearest to ``day``."""
        s = self[observable]
        return float(s.iloc[(abs(s.index - day)).argmin()])

    def plot(self, observables: list[str] | None = None) -> Figure:
        """Panel of time courses (see :func:`cllsim.report.plot_panel`)."""
        from ..report import plot_panel

        return plot_panel(self, observables)

    def to_parquet(self, path: str | Path) -> Path:
        """Write tidy data with metadata embedded in the Parquet schema."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.data, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"cllsim"] = json.dumps(self.provenance(), default=str).encode()
        pq.write_table(table.replace_schema_metadata(meta), path)
        return Path(path)

    def provenance(self) -> dict[str, Any]:
        """Metadata plus status, JSON-serialisable."""
        return {**self.metadata, "status": self.status.value, "detail": self.detail}

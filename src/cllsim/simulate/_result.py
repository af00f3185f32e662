"""The result of a simulation: tidy data, metadata, and a status that explains failure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..model import C
from ._status import Status

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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
    units
        Unit of each observable.
    warnings
        What the solver reported without stopping (e.g. CVODE step-size warnings at a dose).
    """

    data: pd.DataFrame
    metadata: Mapping[str, Any]
    status: Status = Status.SUCCESS
    detail: str = ""
    units: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCESS

    def raise_for_status(self) -> SimulationResult:
        """Return self, or raise the error of the status (:class:`cllsim.SolverError`, a ``RuntimeError``)."""
        if not self.ok:
            raise self.status.error(self.detail)
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
    def observables(self) -> dict[str, str]:
        """The reported observables and their units, in report order."""
        return {o: self.units.get(o, "") for o in dict.fromkeys(self.data[C.OBSERVABLE])}

    def __repr__(self) -> str:
        meta = self.metadata
        n_t = self.data[C.TIME].nunique() if len(self.data) else 0
        return (f"SimulationResult({meta.get('patient_id', '?')!r}, {meta.get('regimen', '')!r}, "
                f"host={meta.get('host', '?')!r}, engine={meta.get('engine', '?')!r}, status={self.status.value}, "
                f"{len(self.observables)} observables x {n_t} times)")

    def at(self, day: float, observable: str) -> float:
        """Value of ``observable`` at the output time nearest to ``day``."""
        s = self[observable]
        return float(s.iloc[(abs(s.index - day)).argmin()])

    def plot(
        self, observables: str | Sequence[str] | None = None, *, ax: Axes | Sequence[Axes] | None = None
    ) -> Figure:
        """Panel of time courses, or one observable drawn into ``ax`` (see :func:`cllsim.report.plot_panel`).

        ``result.plot("alc_per_uL", ax=ax)`` draws into an existing axes; ``ax=`` a sequence of
        axes takes the default panel (one axes per panel). To overlay several results use
        :func:`cllsim.plot_compare`.
        """
        from ..report import plot_panel

        return plot_panel(self, observables, ax=ax)

    def to_parquet(self, path: str | Path) -> Path:
        """Write tidy data with metadata embedded in the Parquet schema."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..execution import json_text

        table = pa.Table.from_pandas(self.data, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"cllsim"] = json_text(self.provenance(), indent=None).encode()
        pq.write_table(table.replace_schema_metadata(meta), path)
        return Path(path)

    def provenance(self) -> dict[str, Any]:
        """Metadata plus status and warnings, JSON-serialisable."""
        return {**self.metadata, "status": self.status.value, "detail": self.detail, "warnings": list(self.warnings)}

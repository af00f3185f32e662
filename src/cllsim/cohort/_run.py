"""Virtual trials: chunked, resumable cohort runs streamed to Parquet.

Layout of an output folder::

    cohort.json                       the spec and provenance; a restart must match it
    chunks/trajectories-00003.parquet daily observables of chunk 3 (long in time, wide in observables)
    chunks/patients-00003.parquet     chunk 3: id, IGHV, status, sampled parameters, endpoints
    patients.parquet                  all patient rows (endpoints) once every chunk is done
    summary.csv, bands.csv            endpoint summary; daily 5/50/95% quantiles
    alc_tissue_bands.png, lymphocytosis_resolution_km.png
    metadata.json                     written last: the run is complete

A chunk counts as done when its ``patients`` file exists; both files of a chunk are written to a
temporary name and renamed, so a run killed at any moment (even by SIGKILL) leaves only whole
chunks, and the same command resumes with the missing ones: no patient lost or duplicated.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..model import load_table, parameter_hash
from ._endpoints import patient_endpoints, summarize
from ._engines import Engine, SerialEngine
from ._population import CohortSpec, sample_chunk

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Observables stored per patient and day: (column, model variable).
TRAJECTORY_COLUMNS = (
    ("alc_per_uL", "alc_per_uL"),
    ("cells_blood_1e9", "cells_blood"),
    ("cells_tissue_1e9", "cells_tissue"),
    ("cells_total_1e9", "cells_total"),
    ("ln_volume_cm3", "ln_volume_cm3"),
    ("spleen_volume_cm3", "spleen_volume_cm3"),
    ("btk_occupancy_pct", "btk_occupancy_pct"),
)

#: Quantile bands drawn from the trajectories: (column, log10 range of the histogram).
BAND_COLUMNS = {"alc_per_uL": (2.0, 7.0), "cells_tissue_1e9": (-4.0, 5.0)}
BAND_BINS = 1000
QUANTILES = (0.05, 0.5, 0.95)


class CohortMismatchError(ValueError):
    """The output folder holds another cohort (different spec, version or parameters)."""


def provenance(spec: CohortSpec) -> dict[str, Any]:
    """What identifies a cohort run: spec, package version, parameters-table hash, seed."""
    return {
        "spec": spec.model_dump(),
        "cllsim_version": __version__,
        "parameter_hash": parameter_hash(load_table().values()),
        "seed": spec.seed,
        "engine": "cohort engine (RODAS4 on code generated from the SBML declaration; numba backend, NumPy fallback)",
    }


def _chunk_paths(out: Path, chunk: int) -> tuple[Path, Path]:
    d = out / "chunks"
    return d / f"trajectories-{chunk:05d}.parquet", d / f"patients-{chunk:05d}.parquet"


def _write_atomic(table: pa.Table, path: Path, meta: dict[str, Any]) -> None:
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[b"cllsim"] = json.dumps(meta, default=str).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table.replace_schema_metadata(schema_meta), tmp)
    os.replace(tmp, path)


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: simulate chunk ``chunk`` of ``spec`` and write it under ``out``."""

    spec_json: str
    chunk: int
    out: str


@dataclass(frozen=True)
class ChunkDone:
    chunk: int
    n_patients: int
    n_failed: int


def simulate_chunk(spec: CohortSpec, chunk: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample and simulate one chunk; return (trajectories, patients) tables."""
    from ..simulate import run_batch

    pop = sample_chunk(spec, chunk)
    days = np.arange(0.0, np.floor(spec.days) + 1.0)
    if days[-1] < spec.days:
        days = np.append(days, spec.days)
    traj = run_batch(
        spec.regimen, pop.values, days * 24.0, [v for _, v in TRAJECTORY_COLUMNS], rtol=spec.rtol, atol=spec.atol
    )
    n, t = len(pop.ids), days.size
    cols: dict[str, Any] = {"id": np.repeat(pop.ids, t), "time_day": np.tile(days, n)}
    for col, var in TRAJECTORY_COLUMNS:
        cols[col] = traj.values[var].reshape(-1)
    trajectories = pd.DataFrame(cols)
    ends = patient_endpoints(
        days,
        traj.values["alc_per_uL"],
        traj.values["ln_volume_cm3"],
        traj.values["spleen_volume_cm3"],
        pop.values["normal_spleen_volume_cm3"],
    )
    ends = ends.astype(float)
    ends.loc[~traj.ok, :] = np.nan
    patients = pd.DataFrame(
        {"id": pop.ids, "chunk": chunk, "ighv": pop.ighv, "status": traj.status, "detail": traj.detail,
         "n_steps": traj.n_steps}
    )
    for pid in pop.varied:
        patients[pid] = pop.values[pid]
    patients = pd.concat([patients, ends], axis=1)
    return trajectories, patients


def run_chunk(task: ChunkTask) -> ChunkDone:
    """Simulate one chunk and write its two files atomically (patients file last)."""
    spec = CohortSpec.model_validate_json(task.spec_json)
    out = Path(task.out)
    traj_path, pat_path = _chunk_paths(out, task.chunk)
    trajectories, patients = simulate_chunk(spec, task.chunk)
    meta = {**provenance(spec), "chunk": task.chunk}
    traj_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(pa.Table.from_pandas(trajectories, preserve_index=False), traj_path, meta)
    _write_atomic(pa.Table.from_pandas(patients, preserve_index=False), pat_path, meta)
    return ChunkDone(task.chunk, len(patients), int((patients["status"] != "success").sum()))


def done_chunks(out: Path, spec: CohortSpec) -> set[int]:
    """Chunks whose files are complete and readable."""
    done = set()
    for c in range(spec.n_chunks):
        traj_path, pat_path = _chunk_paths(out, c)
        if traj_path.exists() and pat_path.exists():
            try:
                pq.read_metadata(pat_path)
                pq.read_metadata(traj_path)
            except (OSError, pa.ArrowInvalid):
                continue
            done.add(c)
    return done


def _check_manifest(out: Path, spec: CohortSpec) -> None:
    manifest = out / "cohort.json"
    prov = provenance(spec)
    if manifest.exists():
        old = json.loads(manifest.read_text())
        for key in ("spec", "cllsim_version", "parameter_hash"):
            if old.get(key) != prov[key]:
                raise CohortMismatchError(
                    f"{out} holds another cohort ({key} differs); use a new --out folder or the same options"
                )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_name(".cohort.json.tmp")
    tmp.write_text(json.dumps(prov, indent=2, default=str))
    os.replace(tmp, manifest)


@dataclass(frozen=True)
class CohortResult:
    """A finished cohort run: per-patient endpoints, summary and quantile bands.

    Attributes
    ----------
    out
        Output folder (trajectories stay on disk, in ``chunks/``).
    patients
        One row per patient: id, IGHV, status, sampled parameters, endpoints.
    summary
        Endpoints overall and by IGHV.
    bands
        Daily 5/50/95% quantiles of ALC and tissue burden, overall and by IGHV.
    metadata
        Spec, version, parameter hash, seed, engine, timing.
    """

    out: Path
    patients: pd.DataFrame
    summary: pd.DataFrame
    bands: pd.DataFrame
    metadata: dict[str, Any]

    def to_df(self) -> pd.DataFrame:
        """Per-patient table (a copy)."""
        return self.patients.copy()

    def trajectories(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Read the daily trajectories of every patient (all in memory: mind large cohorts)."""
        files = sorted((self.out / "chunks").glob("trajectories-*.parquet"))
        return pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)

    def plot(self) -> tuple[Figure, Figure]:
        """Quantile-band figure and Kaplan-Meier figure (see :mod:`cllsim.cohort._plots`)."""
        from ._plots import plot_bands, plot_resolution_km

        return plot_bands(self.bands, self.metadata), plot_resolution_km(self.patients, self.metadata)


def _bands(out: Path, spec: CohortSpec, patients: pd.DataFrame) -> pd.DataFrame:
    """Daily quantiles from log-scale histograms accumulated chunk by chunk (bounded memory)."""
    ighv = patients.set_index("id")["ighv"]
    ok_ids = set(patients.loc[patients["status"] == "success", "id"])
    hist: dict[tuple[str, str], np.ndarray] = {}
    days = None
    for c in range(spec.n_chunks):
        traj_path, _ = _chunk_paths(out, c)
        df = pd.read_parquet(traj_path, columns=["id", "time_day", *BAND_COLUMNS])
        df = df[df["id"].isin(ok_ids)]
        if days is None:
            days = np.unique(df["time_day"].to_numpy()) if len(df) else None
        if days is None:
            continue
        day_idx = np.searchsorted(days, df["time_day"].to_numpy())
        group = df["id"].map(ighv).to_numpy()
        for col, (lo, hi) in BAND_COLUMNS.items():
            x = np.log10(np.clip(df[col].to_numpy(), 10**lo, 10**hi))
            b = np.clip(((x - lo) / (hi - lo) * BAND_BINS).astype(int), 0, BAND_BINS - 1)
            for g, sel in (("overall", slice(None)), ("U-CLL", group == "U"), ("M-CLL", group == "M")):
                h = hist.setdefault((col, g), np.zeros((days.size, BAND_BINS)))
                np.add.at(h, (day_idx[sel], b[sel]), 1.0)
    rows = []
    for (col, g), h in hist.items():
        lo, hi = BAND_COLUMNS[col]
        edges = lo + (hi - lo) * (np.arange(BAND_BINS) + 0.5) / BAND_BINS
        cum = np.cumsum(h, axis=1)
        total = cum[:, -1]
        for i, day in enumerate(days):
            if total[i] == 0:
                continue
            q = [10 ** edges[min(np.searchsorted(cum[i], p * total[i]), BAND_BINS - 1)] for p in QUANTILES]
            rows.append({"observable": col, "group": g, "time_day": day, "p5": q[0], "p50": q[1], "p95": q[2]})
    return pd.DataFrame(rows, columns=["observable", "group", "time_day", "p5", "p50", "p95"])


def run_cohort(
    spec: CohortSpec,
    out: str | Path,
    engine: Engine | None = None,
    *,
    progress: bool = True,
    on_chunk: Callable[[ChunkDone], None] | None = None,
) -> CohortResult:
    """Simulate a virtual cohort into ``out``, resuming if the folder holds part of the same cohort.

    Parameters
    ----------
    spec
        Population, regimen, follow-up and numerics.
    out
        Output folder (see the module docstring for its layout).
    engine
        Execution engine (default: serial in this process).
    progress
        Show a progress bar (rich).
    on_chunk
        Called after each chunk is written (for tests and monitoring).

    Returns
    -------
    CohortResult
    """
    out = Path(out)
    _check_manifest(out, spec)
    engine = engine or SerialEngine()
    todo = [c for c in range(spec.n_chunks) if c not in done_chunks(out, spec)]
    tasks = [ChunkTask(spec.model_dump_json(), c, str(out)) for c in todo]
    started = _dt.datetime.now(_dt.UTC)
    if tasks:
        _run_tasks(engine, tasks, spec, progress, on_chunk)
    files = [_chunk_paths(out, c)[1] for c in range(spec.n_chunks)]
    patients = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values("id", ignore_index=True)
    if patients["id"].duplicated().any() or len(patients) != spec.n:
        raise RuntimeError(f"cohort in {out} is inconsistent: {len(patients)} rows for {spec.n} patients")
    summary = summarize(patients)
    bands = _bands(out, spec, patients)
    meta = {
        **provenance(spec),
        "execution": engine.describe(),
        "resumed_chunks": spec.n_chunks - len(tasks),
        "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "started_utc": started.isoformat(timespec="seconds"),
        "status_counts": patients["status"].value_counts().to_dict(),
    }
    return CohortResult(out, patients, summary, bands, meta)


def _run_tasks(engine: Engine, tasks: list[ChunkTask], spec: CohortSpec, progress: bool,
               on_chunk: Callable[[ChunkDone], None] | None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = sum(spec.chunk_range(t.chunk)[1] - spec.chunk_range(t.chunk)[0] for t in tasks)
    with Progress(
        TextColumn("[bold]cohort"), BarColumn(), MofNCompleteColumn(), TextColumn("patients"),
        TimeRemainingColumn(), disable=not progress, transient=False,
    ) as bar:
        job = bar.add_task("simulate", total=total)
        for done in engine.map_unordered(run_chunk, tasks):
            bar.advance(job, done.n_patients)
            if on_chunk is not None:
                on_chunk(done)


def write_outputs(result: CohortResult) -> list[Path]:
    """Write patients table, summary, bands, figures, then ``metadata.json`` (completion marker)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = result.out
    written = []
    tmp = out / ".patients.parquet.tmp"
    result.patients.to_parquet(tmp, index=False)
    os.replace(tmp, out / "patients.parquet")
    written.append(out / "patients.parquet")
    result.summary.to_csv(out / "summary.csv")
    result.bands.to_csv(out / "bands.csv", index=False)
    written += [out / "summary.csv", out / "bands.csv"]
    fig_bands, fig_km = result.plot()
    for fig, name in ((fig_bands, "alc_tissue_bands.png"), (fig_km, "lymphocytosis_resolution_km.png")):
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(out / name)
    (out / "metadata.json").write_text(json.dumps(result.metadata, indent=2, default=str))
    written.append(out / "metadata.json")
    return written

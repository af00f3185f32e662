"""Virtual trials: chunked, resumable cohort runs streamed to Parquet.

Layout of an output folder::

    cohort.json                       the spec and provenance; a restart must match it
    chunks/trajectories-00003.parquet observables of chunk 3, tidy: id, time (days), observable, value, unit;
                                      daily or on --times/--step
    chunks/patients-00003.parquet     chunk 3: id, IGHV, status, draws, parameters, endpoints
    patients.parquet                  all patient rows (endpoints) once every chunk is done
    population.csv                    the patients' IGHV and drawn parameters (a --population file)
    summary.csv, bands.csv            endpoint summary; 5/50/95% quantiles at each output time
    alc_tissue_bands.png, lymphocytosis_resolution_km.png, progression_free_km.png
    metadata.json                     written last: the run is complete

A chunk counts as done when its ``patients`` file exists and its stored provenance (spec hash,
seed, chunk index, patient ids; Parquet schema metadata ``cllsim``) is this cohort's; a chunk
from any other cohort is refused (:class:`ForeignChunkError`), never merged. Both files of a
chunk are written to a temporary name and renamed (patients last), so a run killed at any
moment (even by SIGKILL) leaves only whole chunks, and the same command resumes with the missing
ones: no patient lost or duplicated. The final files are written the same way, after the old
``metadata.json`` is removed and before the new one is renamed into place; temporary files of
killed runs are removed by the next run.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from .._errors import SpecError
from ..execution import (
    MARKER,
    Executor,
    SerialExecutor,
    invalidate,
    json_text,
    remove_stale,
    write_atomic,
    write_text_atomic,
)
from ..model import C, load_table, parameter_hash
from ._courses import end_of_treatment_day, fixed_duration_endpoints, run_sequence, second_progression
from ._endpoints import patient_endpoints, summarize
from ._population import (
    COVARIATES,
    MAX_BASELINE_DRAWS,
    CohortSpec,
    PopulationChunk,
    check_population,
    patient_ids,
    redraw_patients,
    sample_chunk,
)
from ._response import CLONES, INPUTS, patient_responses, progression_clones

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Observables stored per patient and day (ids of the observables registry, one column each; those
#: the declaration does not have are skipped).
TRAJECTORY_OBSERVABLES = (
    "alc_per_uL", "cells_blood_1e9", "cells_tissue_1e9", "cells_total_1e9", "ln_volume_cm3", "spleen_volume_cm3",
    "btk_occupancy_pct", "mrd_blood", "ln_spd_cm2", "spleen_length_cm", "bm_infiltration_pct",
    *(f"fraction_{clone}" for clone in CLONES),
)

#: Quantile bands drawn from the trajectories: (column, log10 range of the histogram).
BAND_COLUMNS = {"alc_per_uL": (2.0, 7.0), "cells_tissue_1e9": (-4.0, 5.0), "mrd_blood": (-8.0, 0.0)}
BAND_BINS = 1000
QUANTILES = (0.05, 0.5, 0.95)


#: CPU time of one patient-year on the cohort engine, s (measured: 200 patients x 365 days in
#: 9.5 s of CPU on one core, start-up included; ``--workers`` divides the wall time, not this).
CPU_SECONDS_PER_PATIENT_YEAR = 0.04
#: Disk taken by the chunk files, bytes per patient-day (tidy trajectories, Parquet with zstd) and
#: per patient (patients table): measured 5.8 MB and 105 kB for 200 patients x 366 days.
BYTES_PER_PATIENT_DAY = 80
BYTES_PER_PATIENT = 550
#: Estimated CPU time above which a cohort is refused unless forced, h.
MAX_CPU_HOURS = 24.0


@dataclass(frozen=True)
class CohortCost:
    """What a cohort will take before it runs: CPU hours (all workers together) and disk bytes."""

    cpu_hours: float
    disk_bytes: int


def estimate_cost(spec: CohortSpec, n_patients: int | None = None) -> CohortCost:
    """CPU time and chunk-file disk space of ``n_patients`` (default: all) of ``spec``."""
    n = spec.n if n_patients is None else n_patients
    n_times = spec.output_days().size + 1
    return CohortCost(n * spec.days / 365.25 * CPU_SECONDS_PER_PATIENT_YEAR / 3600,
                      n * (n_times * BYTES_PER_PATIENT_DAY + BYTES_PER_PATIENT))


def check_cost(spec: CohortSpec, out: Path, todo: list[int], force: bool = False) -> CohortCost:
    """Refuse a cohort estimated above :data:`MAX_CPU_HOURS` (unless ``force``) or larger than the free disk.

    Parameters
    ----------
    spec
        The cohort.
    out
        Output folder (its file system's free space is checked).
    todo
        Chunks still to simulate.
    force
        Run however long it is estimated to take.
    """
    n_todo = sum(spec.chunk_range(c)[1] - spec.chunk_range(c)[0] for c in todo)
    cost = estimate_cost(spec, n_todo)
    if cost.cpu_hours > MAX_CPU_HOURS and not force:
        raise SpecError(
            f"{n_todo:,} patients x {spec.days:g} days would take about {cost.cpu_hours:,.0f} CPU-hours "
            f"({CPU_SECONDS_PER_PATIENT_YEAR * 1000:g} ms a patient-year), more than {MAX_CPU_HOURS:g}; "
            "give --force (force=True) to run it anyway, with --workers or --scheduler to share it"
        )
    probe = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    free = shutil.disk_usage(probe).free
    if cost.disk_bytes > free:
        raise SpecError(
            f"the chunk files need about {cost.disk_bytes / 1e9:,.1f} GB and {str(probe)!r} has "
            f"{free / 1e9:,.1f} GB free; free some space or use another --out"
        )
    return cost


class CohortMismatchError(SpecError):
    """The output folder holds another cohort (different spec, version or parameters)."""


class ForeignChunkError(CohortMismatchError):
    """A chunk file in the output folder was written for another cohort (or its provenance is unreadable)."""


def spec_hash(spec: CohortSpec) -> str:
    """SHA-256 of the spec's canonical JSON: equal exactly when two specs describe the same cohort."""
    return hashlib.sha256(json.dumps(spec.model_dump(), sort_keys=True, default=str).encode()).hexdigest()


#: Layout of the chunk files; folders of another layout (the wide trajectories of earlier
#: versions) are refused rather than mixed.
LAYOUT = "tidy-1"
#: Columns of the trajectory files (those of :class:`cllsim.simulate.SimulationResult` data).
TRAJECTORY_COLUMNS = C.RESULT_COLUMNS


def provenance(spec: CohortSpec) -> dict[str, Any]:
    """What identifies a cohort run: spec (and its hash), package version, parameters-table hash, seed, layout."""
    return {
        "layout": LAYOUT,
        "spec": spec.model_dump(),
        "spec_hash": spec_hash(spec),
        "cllsim_version": __version__,
        "parameter_hash": parameter_hash(spec.table().values()),
        "seed": spec.seed,
        "engine": "cohort engine (RODAS4 on code generated from the SBML declaration; numba backend, NumPy fallback)",
    }


def _chunk_paths(out: Path, chunk: int) -> tuple[Path, Path]:
    d = out / "chunks"
    return d / f"trajectories-{chunk:05d}.parquet", d / f"patients-{chunk:05d}.parquet"


_CHUNK_FILE = re.compile(r"^(trajectories|patients)-(\d+)\.parquet$")
# temporaries of cllsim <= 0.x: ".patients-00003.parquet.<pid>.tmp", ".cohort.json.tmp", ".patients.parquet.tmp"
_LEGACY_TMP = re.compile(r"^\.(?:(?:trajectories|patients)-\d+\.parquet\.\d+|cohort\.json|patients\.parquet)\.tmp$")


def _remove_leftovers(out: Path) -> None:
    """Remove temporary files of killed runs (this version's, and the older naming)."""
    for folder in (out, out / "chunks"):
        remove_stale(folder)
        if folder.is_dir():
            for f in folder.iterdir():
                if _LEGACY_TMP.match(f.name) and f.is_file():
                    f.unlink(missing_ok=True)


def _write_atomic(table: pa.Table, path: Path, meta: dict[str, Any]) -> None:
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[b"cllsim"] = json.dumps(meta, default=str).encode()
    table = table.replace_schema_metadata(schema_meta)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def chunk_ids(spec: CohortSpec, chunk: int) -> list[str]:
    """Patient ids of ``chunk``: ``p0000042`` when sampled, the file's when supplied."""
    start, stop = spec.chunk_range(chunk)
    if spec.population is not None:
        from ._supplied import population_ids

        return population_ids(spec.population, start, stop)
    return list(patient_ids(start, stop))


def chunk_provenance(spec: CohortSpec, chunk: int) -> dict[str, Any]:
    """Provenance stored in both files of ``chunk``: the cohort's, the chunk index and its patient ids."""
    start, stop = spec.chunk_range(chunk)
    if spec.population is not None:
        ids = chunk_ids(spec, chunk)
        first, last = ids[0], ids[-1]
    else:
        first, last = patient_ids(start, start + 1)[0], patient_ids(stop - 1, stop)[0]
    return {**provenance(spec), "chunk": chunk, "first_patient": first, "last_patient": last,
            "n_patients": stop - start}


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: simulate chunk ``chunk`` of ``spec`` and write it under ``out``."""

    spec_json: str
    chunk: int
    out: str

    def execute(self) -> ChunkDone:
        return run_chunk(self)


@dataclass(frozen=True)
class ChunkDone:
    chunk: int
    n_patients: int
    n_failed: int
    n_redraws: int = 0


class BaselineDrawError(SpecError):
    """A sampled patient had an infeasible baseline at every one of its :data:`MAX_BASELINE_DRAWS` draws."""


@dataclass(frozen=True)
class ChunkTrajectories:
    """Observables of one chunk, shape ``(patients, output times)`` each, and how to write them tidy.

    Attributes
    ----------
    ids
        Patient ids (rows).
    time_day
        Output times, days (columns).
    values
        Observable id -> values, in ``units[id]``.
    units
        Observable id -> unit.
    """

    ids: np.ndarray
    time_day: np.ndarray
    values: dict[str, np.ndarray]
    units: dict[str, str]

    def tables(self) -> Iterator[pa.Table]:
        """One tidy table per observable (``id, time, observable, value, unit``; categories as dictionaries).

        Made one at a time, so a writer holds one observable's rows (28 bytes a patient-time) at once.
        """
        names = list(self.values)
        unit_names = sorted(set(self.units.values()))
        n, t = len(self.ids), self.time_day.size
        id_dict = pa.array([str(i) for i in self.ids], pa.string())
        id_col = pa.DictionaryArray.from_arrays(pa.array(np.repeat(np.arange(n, dtype=np.int32), t)), id_dict)
        time_col = pa.array(np.tile(self.time_day.astype(float), n))
        for j, name in enumerate(names):
            obs = pa.DictionaryArray.from_arrays(pa.array(np.full(n * t, j, dtype=np.int32)), pa.array(names))
            unit = pa.DictionaryArray.from_arrays(
                pa.array(np.full(n * t, unit_names.index(self.units[name]), dtype=np.int32)), pa.array(unit_names))
            yield pa.table([id_col, time_col, obs, pa.array(self.values[name].reshape(-1)), unit],
                           names=list(TRAJECTORY_COLUMNS))

    def to_df(self) -> pd.DataFrame:
        """The tidy table in memory (as written to ``chunks/trajectories-*.parquet``)."""
        return pa.concat_tables(list(self.tables())).to_pandas()


def _simulate(spec: CohortSpec, pop: PopulationChunk, index: np.ndarray | None = None) -> dict[str, Any]:
    """Run patients ``index`` (default: all) of ``pop``; observables and per-patient status."""
    from ..model import PATIENT
    from ..simulate import observables, observe, run_batch

    obs = [o for o in observables(PATIENT, spec.drugs) if o.id in TRAJECTORY_OBSERVABLES]
    values = pop.values if index is None else {k: v[index] for k, v in pop.values.items()}
    therapy = spec.parsed_regimen()
    run_days = spec.run_days()
    daily = np.isin(run_days, spec.assessment_days())
    last: dict[str, Any] = {}

    def run(therapies: Any) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        traj = run_batch(therapies, values, run_days * 24.0, [o.variable for o in obs], rtol=spec.rtol,
                         atol=spec.atol, drug=spec.drugs)
        last["traj"] = traj
        observed = observe(obs, traj.values)
        return run_days[daily], {k: observed[k][:, daily] for k in INPUTS if k in observed}, traj.ok

    n = len(next(iter(values.values())))
    switch = np.full(n, np.nan)
    if therapy.at_progression is None:
        run(therapy)
    else:  # progression on the first therapy (daily assessment), then each progressing patient switched
        _, _, _, switch = run_sequence(therapy, run, float(run_days[-1]) * 24.0)
    traj = last["traj"]
    return {"observed": observe(obs, traj.values), "status": np.asarray(traj.status, dtype=object),
            "detail": np.asarray(traj.detail, dtype=object), "n_steps": np.asarray(traj.n_steps),
            "units": {o.id: o.unit for o in obs}, "switch_day": switch}


def _simulate_evaluable(spec: CohortSpec, pop: PopulationChunk, first: int) -> dict[str, Any]:
    """Simulate ``pop``, drawing again (in place) every sampled patient whose baseline is infeasible.

    Solver failures are kept as they are; a supplied population is never redrawn.
    """
    from ..simulate import Status

    run = _simulate(spec, pop)
    if spec.population is not None:
        return run
    for attempt in range(1, MAX_BASELINE_DRAWS + 1):
        bad = np.flatnonzero(run["status"] == Status.INFEASIBLE_BASELINE.value)
        if bad.size == 0:
            return run
        if attempt == MAX_BASELINE_DRAWS:
            raise BaselineDrawError(
                f"patient {pop.ids[bad[0]]} (and {bad.size - 1} more in its chunk) had no feasible untreated "
                f"baseline in {MAX_BASELINE_DRAWS} draws: the covariate distributions put too many patients "
                "where no untreated steady state exists; narrow them or move their medians toward the table's"
            )
        redraw_patients(spec, pop, bad, first, attempt)
        again = _simulate(spec, pop, bad)
        for key in ("status", "detail", "n_steps", "switch_day"):
            run[key][bad] = again[key]
        for k, v in again["observed"].items():
            run["observed"][k][bad] = v
    return run


def _therapy_endpoints(spec: CohortSpec, days: np.ndarray, assessed: dict[str, np.ndarray],
                       responses: pd.DataFrame, run: dict[str, Any]) -> pd.DataFrame:
    """Fixed-duration endpoints (a therapy that stops) and PFS2 (one switched at progression); empty otherwise."""
    therapy = spec.parsed_regimen()
    parts = []
    eot = end_of_treatment_day(therapy, float(days[-1]) * 24.0) if therapy.at_progression is None else None
    if eot is not None and "mrd_blood" in assessed:
        parts.append(fixed_duration_endpoints(days, assessed["mrd_blood"], eot, responses["ttp_day"].to_numpy(float),
                                              responses["progressed"].to_numpy(bool)))
    if therapy.at_progression is not None:
        parts.append(second_progression(days, assessed, run["switch_day"]))
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=responses.index)
    for col in [c for c in out.columns if pd.api.types.is_bool_dtype(out[c])]:
        out[col] = out[col].astype("boolean")  # nullable: missing when not evaluable
    return out


def simulate_chunk_tidy(spec: CohortSpec, chunk: int) -> tuple[ChunkTrajectories, pd.DataFrame]:
    """Sample (redrawing infeasible baselines) and simulate one chunk; return its trajectories and patients."""
    pop = sample_chunk(spec, chunk)
    run = _simulate_evaluable(spec, pop, spec.chunk_range(chunk)[0])
    everything = run["observed"]
    run_days, days, out_days = spec.run_days(), spec.assessment_days(), spec.output_days()
    # endpoints on the daily grid whatever the output grid, so --times/--step never change them
    daily, shown = np.isin(run_days, days), np.isin(run_days, out_days)
    reported = {k: v[:, daily] for k, v in everything.items()}
    # no copy on the default grid (every integration time is shown)
    trajectories = ChunkTrajectories(pop.ids, out_days, {k: v if shown.all() else v[:, shown]
                                                         for k, v in everything.items()}, run["units"])
    ok = run["status"] == "success"
    ends = patient_endpoints(
        days,
        reported["alc_per_uL"],
        reported["ln_volume_cm3"],
        reported["spleen_volume_cm3"],
        pop.values["normal_spleen_volume_cm3"],
    )
    ends = ends.astype(float)
    ends.loc[~ok, :] = np.nan
    assessed = {k: v for k, v in reported.items() if k in INPUTS or k.startswith("fraction_")}
    responses = patient_responses(days, assessed)
    clones = progression_clones(days, assessed, responses["ttp_day"].to_numpy(), responses["progressed"].to_numpy())
    course = pd.concat([responses, clones, _therapy_endpoints(spec, days, assessed, responses, run)], axis=1)
    course["progressed"] = course["progressed"].astype("boolean")  # nullable: missing when not evaluable
    course.loc[~ok, :] = pd.NA
    draws = pop.draws if pop.draws is not None else np.ones(len(pop.ids), dtype=np.int64)
    patients = pd.DataFrame(
        {"id": pop.ids, "chunk": chunk, "ighv": pop.ighv, "status": run["status"].astype(str),
         "detail": run["detail"].astype(str), "n_steps": run["n_steps"], "baseline_redraws": draws - 1}
    )
    # every covariate (also when fixed) and every varied or supplied parameter: the patient as simulated
    for pid in sorted({*COVARIATES, *pop.varied}):
        patients[pid] = pop.values[pid]
    patients = pd.concat([patients, ends, course], axis=1)
    return trajectories, patients


def simulate_chunk(spec: CohortSpec, chunk: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample (redrawing infeasible baselines) and simulate one chunk; return tidy trajectories and patients."""
    trajectories, patients = simulate_chunk_tidy(spec, chunk)
    return trajectories.to_df(), patients


def _write_trajectories(trajectories: ChunkTrajectories, path: Path, meta: dict[str, Any]) -> None:
    """One row group per observable, so a chunk never holds its whole tidy table in memory."""

    def write(tmp: Path) -> None:
        tables = trajectories.tables()
        first = next(tables)
        schema = first.schema.with_metadata({b"cllsim": json.dumps(meta, default=str).encode()})
        # zstd with the floats' bytes split by significance: 78 bytes a patient-day instead of 131
        with pq.ParquetWriter(tmp, schema, compression="zstd", use_byte_stream_split=[C.TIME, C.VALUE],
                              use_dictionary=[C.ID, C.OBSERVABLE, C.UNIT]) as writer:
            for t in itertools.chain([first], tables):  # one observable's rows in memory at a time
                writer.write_table(t.replace_schema_metadata(schema.metadata))

    write_atomic(path, write)


def run_chunk(task: ChunkTask) -> ChunkDone:
    """Simulate one chunk and write its two files atomically (patients file last)."""
    spec = CohortSpec.model_validate_json(task.spec_json)
    out = Path(task.out)
    traj_path, pat_path = _chunk_paths(out, task.chunk)
    trajectories, patients = simulate_chunk_tidy(spec, task.chunk)
    meta = chunk_provenance(spec, task.chunk)
    traj_path.parent.mkdir(parents=True, exist_ok=True)
    _write_trajectories(trajectories, traj_path, meta)
    _write_atomic(pa.Table.from_pandas(patients, preserve_index=False), pat_path, meta)
    return ChunkDone(task.chunk, len(patients), int((patients["status"] != "success").sum()),
                     int(patients["baseline_redraws"].sum()))


#: Provenance keys a chunk must share with the cohort to be resumed (spec hash, seed, ids, ...).
_CHUNK_KEYS = ("layout", "seed", "chunk", "first_patient", "last_patient", "n_patients", "cllsim_version",
               "parameter_hash", "spec_hash")


def _foreign(path: Path, why: str) -> ForeignChunkError:
    return ForeignChunkError(
        f"{path} does not belong to this cohort ({why}); remove it, or use a new --out folder"
    )


def _verify_chunk(path: Path, spec: CohortSpec, chunk: int) -> bool:
    """True if ``path`` is a complete chunk file of this cohort; False if unreadable (to be rewritten).

    Raises
    ------
    ForeignChunkError
        If the file is readable but was written for another cohort or chunk.
    """
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid):
        return False
    raw = (schema.metadata or {}).get(b"cllsim")
    try:
        stored = json.loads(raw) if raw is not None else None
    except ValueError:
        stored = None
    if not isinstance(stored, dict):
        raise _foreign(path, "it has no readable cllsim provenance")
    expected = chunk_provenance(spec, chunk)
    for key in _CHUNK_KEYS:
        if stored.get(key) == expected[key]:
            continue
        if key == "spec_hash":
            theirs_raw = stored.get("spec")
            theirs: dict[str, Any] = theirs_raw if isinstance(theirs_raw, dict) else {}
            fields = sorted(k for k, v in expected["spec"].items() if theirs.get(k) != v)
            raise _foreign(path, f"its spec differs in {', '.join(fields) or 'its hash'}")
        raise _foreign(path, f"{key} is {stored.get(key)!r}, this cohort's is {expected[key]!r}")
    if path.name.startswith("patients-"):
        try:
            ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
        except (OSError, pa.ArrowInvalid, KeyError):
            return False
        if ids != chunk_ids(spec, chunk):
            raise _foreign(path, f"its patient ids are not {expected['first_patient']}..{expected['last_patient']}")
    return True


def done_chunks(out: Path, spec: CohortSpec) -> set[int]:
    """Chunks whose two files are complete, readable and this cohort's.

    Raises
    ------
    ForeignChunkError
        If ``out/chunks`` holds a chunk file of another cohort, or one beyond this cohort's chunks.
    """
    chunks_dir = out / "chunks"
    if chunks_dir.is_dir():
        for f in chunks_dir.iterdir():
            m = _CHUNK_FILE.match(f.name)
            if m is not None and int(m[2]) >= spec.n_chunks:
                raise _foreign(f, f"this cohort has {spec.n_chunks} chunks")
    done = set()
    for c in range(spec.n_chunks):
        traj_path, pat_path = _chunk_paths(out, c)
        if not pat_path.exists():
            continue  # an unfinished chunk: both files are (re)written
        if _verify_chunk(pat_path, spec, c) and traj_path.exists() and _verify_chunk(traj_path, spec, c):
            done.add(c)
    return done


def _check_manifest(out: Path, spec: CohortSpec) -> None:
    manifest = out / "cohort.json"
    prov = provenance(spec)
    if manifest.exists():
        old = json.loads(manifest.read_text())
        if old.get("layout") != LAYOUT:
            raise CohortMismatchError(
                f"{out} was written by an earlier cllsim (wide trajectory files, layout "
                f"{old.get('layout', 'wide')!r}, this version writes {LAYOUT!r}); use a new --out folder"
            )
        for key in ("spec", "cllsim_version", "parameter_hash"):
            if old.get(key) != prov[key]:
                raise CohortMismatchError(
                    f"{out} holds another cohort ({key} differs); use a new --out folder or the same options"
                )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(manifest, json.dumps(prov, indent=2, default=str))


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

    @property
    def n_succeeded(self) -> int:
        """Patients whose simulation succeeded (the others are excluded from every rate)."""
        return int((self.patients["status"] == "success").sum())

    def to_df(self) -> pd.DataFrame:
        """Per-patient table (a copy)."""
        return self.patients.copy()

    def trajectories(self, observables: list[str] | None = None, *, wide: bool = False) -> pd.DataFrame:
        """Read the trajectories of every patient (all in memory: mind large cohorts).

        Parameters
        ----------
        observables
            Observable ids to read (default: all).
        wide
            One column per observable (``id, time`` and the observables) instead of the tidy
            ``id, time, observable, value, unit`` of the files (time in days).
        """
        files = sorted((self.out / "chunks").glob("trajectories-*.parquet"))
        filters = None if observables is None else [(C.OBSERVABLE, "in", list(observables))]
        tidy = pd.concat([pq.read_table(f, filters=filters).to_pandas() for f in files], ignore_index=True)
        if not wide:
            return tidy
        return to_wide(tidy)

    def population(self) -> pd.DataFrame:
        """The patients as a population table (``id``, ``ighv``, covariates and varied parameters).

        :func:`cllsim.cohort.write_population` writes it as a CSV that ``--population`` reads back.
        """
        spec = self.metadata.get("spec", {})
        known = load_table(drug=CohortSpec.model_validate(spec).drugs if spec else "ibrutinib").rows
        return self.patients[["id", "ighv", *(c for c in self.patients.columns if c in known)]].copy()

    def plot(self) -> tuple[Figure, Figure, Figure]:
        """Quantile bands, lymphocytosis resolution and progression-free survival (see :mod:`cllsim.cohort._plots`)."""
        from ._plots import plot_bands, plot_progression_km, plot_resolution_km

        return (plot_bands(self.bands, self.metadata), plot_resolution_km(self.patients, self.metadata),
                plot_progression_km(self.patients, self.metadata))


def to_wide(tidy: pd.DataFrame) -> pd.DataFrame:
    """Tidy trajectories as one column per observable (``id``, ``time`` in days, then the observables)."""
    wide = tidy.pivot_table(index=[C.ID, C.TIME], columns=C.OBSERVABLE, values=C.VALUE, sort=True, observed=True)
    wide.columns = [str(c) for c in wide.columns]
    wide = wide.reset_index()
    wide[C.ID] = wide[C.ID].astype(str)
    return wide


def _bands(out: Path, spec: CohortSpec, patients: pd.DataFrame) -> pd.DataFrame:
    """Daily quantiles from log-scale histograms accumulated chunk by chunk (bounded memory)."""
    ighv = patients.set_index("id")["ighv"]
    ok_ids = set(patients.loc[patients["status"] == "success", "id"])
    hist: dict[tuple[str, str], np.ndarray] = {}
    days = None
    for c in range(spec.n_chunks):
        traj_path, _ = _chunk_paths(out, c)
        table = pq.read_table(traj_path, columns=[C.ID, C.TIME, C.OBSERVABLE, C.VALUE],
                              filters=[(C.OBSERVABLE, "in", list(BAND_COLUMNS))])
        df = table.to_pandas()
        df = df[df[C.ID].isin(ok_ids)]
        if days is None:
            days = np.unique(df[C.TIME].to_numpy()) if len(df) else None
        if days is None:
            continue
        for col, (lo, hi) in BAND_COLUMNS.items():
            sub = df[df[C.OBSERVABLE] == col]
            if sub.empty:
                continue
            day_idx = np.searchsorted(days, sub[C.TIME].to_numpy())
            group = np.asarray(sub[C.ID].map(ighv), dtype=object)
            x = np.log10(np.clip(sub[C.VALUE].to_numpy(), 10**lo, 10**hi))
            b = np.clip(((x - lo) / (hi - lo) * BAND_BINS).astype(int), 0, BAND_BINS - 1)
            for g, sel in (("overall", slice(None)), ("U-CLL", group == "U"), ("M-CLL", group == "M")):
                h = hist.setdefault((col, g), np.zeros((days.size, BAND_BINS)))
                np.add.at(h, (day_idx[sel], b[sel]), 1.0)
    rows = []
    for (col, g), h in hist.items():
        assert days is not None  # a histogram exists only once the days are known
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
    executor: Executor | None = None,
    *,
    progress: bool = True,
    on_chunk: Callable[[ChunkDone], None] | None = None,
    force: bool = False,
) -> CohortResult:
    """Simulate a virtual cohort into ``out``, resuming if the folder holds part of the same cohort.

    Parameters
    ----------
    spec
        Population, regimen, follow-up and numerics.
    out
        Output folder (see the module docstring for its layout).
    executor
        Where the chunks run (:mod:`cllsim.execution`; default: serial in this process).
    progress
        Show a progress bar (rich).
    on_chunk
        Called after each chunk is written (for tests and monitoring).
    force
        Run even when estimated above :data:`MAX_CPU_HOURS` (see :func:`check_cost`).

    Returns
    -------
    CohortResult

    Raises
    ------
    CohortMismatchError
        ``out`` holds another cohort (:class:`ForeignChunkError`: one of its chunk files does).
    SpecError
        The cohort is estimated to take too long or more disk than is free (:func:`check_cost`),
        or its spreads would put patients at the bounds (:func:`check_population`); nothing is
        written then.
    """
    out = Path(out)
    check_population(spec)
    if not out.exists():
        check_cost(spec, out, list(range(spec.n_chunks)), force)
    _check_manifest(out, spec)
    _remove_leftovers(out)
    executor = executor or SerialExecutor()
    todo = [c for c in range(spec.n_chunks) if c not in done_chunks(out, spec)]
    check_cost(spec, out, todo, force)
    tasks = [ChunkTask(spec.model_dump_json(), c, str(out)) for c in todo]
    started = _dt.datetime.now(_dt.UTC)
    if tasks:
        _run_tasks(executor, tasks, spec, progress, on_chunk)
    files = [_chunk_paths(out, c)[1] for c in range(spec.n_chunks)]
    # chunk order is patient order (p0000000... when sampled, file order when supplied)
    patients = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    if patients["id"].duplicated().any() or len(patients) != spec.n:
        raise RuntimeError(f"cohort in {out} is inconsistent: {len(patients)} rows for {spec.n} patients")
    summary = cohort_summary(patients)
    bands = _bands(out, spec, patients)
    meta = {
        **provenance(spec),
        "population": "supplied" if spec.population is not None else "sampled",
        "covariates": {pid: {**spec.covariates()[pid].model_dump(), "description": text}
                       for pid, text in COVARIATES.items()} if spec.population is None else None,
        "baseline_redraws": int(patients["baseline_redraws"].sum()),
        "execution": executor.describe(),
        "resumed_chunks": spec.n_chunks - len(tasks),
        "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "started_utc": started.isoformat(timespec="seconds"),
        "status_counts": patients["status"].value_counts().to_dict(),
    }
    return CohortResult(out, patients, summary, bands, meta)


def cohort_summary(patients: pd.DataFrame) -> pd.DataFrame:
    """:func:`summarize` plus the baseline redraws and the drawn covariates' medians, by group."""
    summary = summarize(patients)
    groups = {"overall": patients, "U-CLL": patients[patients["ighv"] == "U"],
              "M-CLL": patients[patients["ighv"] == "M"]}
    extra = {"n_baseline_redraws": {g: float(df["baseline_redraws"].sum()) for g, df in groups.items()}}
    for pid in COVARIATES:
        if pid in patients:
            extra[f"{pid}_median"] = {g: float(df[pid].median()) if len(df) else float("nan")
                                      for g, df in groups.items()}
    rows = pd.DataFrame(extra).T[summary.columns]
    rows.index.name = summary.index.name
    # after the patient counts, so the redraws read next to n_not_evaluable
    return pd.concat([summary.iloc[:2], rows, summary.iloc[2:]])


def _run_tasks(executor: Executor, tasks: list[ChunkTask], spec: CohortSpec, progress: bool,
               on_chunk: Callable[[ChunkDone], None] | None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = sum(spec.chunk_range(t.chunk)[1] - spec.chunk_range(t.chunk)[0] for t in tasks)
    with Progress(
        TextColumn("[bold]cohort"), BarColumn(), MofNCompleteColumn(), TextColumn("patients"),
        TimeRemainingColumn(), disable=not progress, transient=False,
    ) as bar:
        job = bar.add_task("simulate", total=total)

        def advance(_: int, done: ChunkDone) -> None:
            bar.advance(job, done.n_patients)
            if on_chunk is not None:
                on_chunk(done)

        executor.execute(tasks, progress=advance)


def write_outputs(result: CohortResult) -> list[Path]:
    """Write patients table, summary, bands and figures, then ``metadata.json`` (completion marker).

    An existing ``metadata.json`` is removed first and the new one renamed into place after
    every other file, each of which is written atomically: a run killed at any point leaves
    either a complete folder or one without marker (which the next run completes).
    """
    out = result.out
    invalidate(out, MARKER)
    from ._supplied import write_population

    written = [
        write_atomic(out / "patients.parquet", lambda p: result.patients.to_parquet(p, index=False)),
        write_atomic(out / "population.csv", lambda p: write_population(result.population(), p)),
        write_atomic(out / "summary.csv", lambda p: result.summary.to_csv(p)),
        write_atomic(out / "bands.csv", lambda p: result.bands.to_csv(p, index=False)),
    ]
    fig_bands, fig_km, fig_pfs = result.plot()
    figures = ((fig_bands, "alc_tissue_bands.png"), (fig_km, "lymphocytosis_resolution_km.png"),
               (fig_pfs, "progression_free_km.png"))
    for fig, name in figures:
        written.append(write_atomic(out / name, partial(fig.savefig, dpi=110, format="png")))
    written.append(write_text_atomic(out / MARKER, json_text(result.metadata)))
    return written

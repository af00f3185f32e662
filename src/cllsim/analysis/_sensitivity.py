"""Global sensitivity of model outputs over time: Sobol' (Saltelli sampling) and Morris, with SALib.

The fluent form follows SALib's ``ProblemSpec`` (define -> sample -> evaluate -> analyze)::

    from cllsim.analysis import Sensitivity

    sa = (Sensitivity(outputs=["alc_per_uL@1,28,180", "cells_tissue_1e9@365"])   # define
          .sample_sobol(256)                                                      # sample
          .evaluate(workers=2, out="sa_out", progress=True)                       # evaluate
          .analyze_sobol())                                                       # analyze
    sa.to_df()                 # tidy: output, parameter, index (S1/ST), value, ci_low, ci_high, ...
    fig_time, fig_bars = sa.plot()

Evaluation runs the sample rows on the cohort engine (:func:`cllsim.simulate.run_batch`) in
chunks, each chunk one task of the shared executors (:mod:`cllsim.execution`). With ``out`` the
chunks are written as Parquet files carrying their provenance (question, sample, chunk, rows);
a rerun of the same analysis into the same folder evaluates only the missing chunks, and a
chunk of any other analysis is refused (:class:`AnalysisMismatchError`), never merged.

**Failed evaluations.** An evaluation fails when the engine does not succeed for that row
(``infeasible_baseline``: the sampled baseline cannot be an untreated steady state;
``solver_failure``; ``nonfinite``) or an output is not a finite number (e.g. ``log10`` of 0).
SALib's estimators need complete designs: Sobol' indices are means over *groups* of rows (a
base point's A and B rows and the D rows mixing them), Morris effects over *trajectories* of
D + 1 rows. A group or trajectory with a failed row is therefore dropped whole, per output,
and the indices are computed from the rest; the table reports how many were used and dropped,
and :meth:`Sensitivity.failures` lists every failed row with its status and reason. Dropping
turns the indices into those of the feasible part of the distribution, so more than
``max_dropped_fraction`` (default 10%) dropped raises :class:`InfeasibleSampleError` instead
of answering another question quietly. Nothing is imputed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import __version__
from .._errors import SpecError
from ..execution import (
    MARKER,
    Executor,
    invalidate,
    json_text,
    make_executor,
    remove_stale,
    write_atomic,
    write_text_atomic,
)
from ..model import parameter_hash
from ._spec import DEFAULT_OUTPUTS, Distribution, SensitivitySpec, describe_factors

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: ``evaluator(values, spec) -> (n, n_outputs)``: replaces the model (tests, synthetic functions);
#: NaN marks a failed evaluation. Must be picklable (a module-level function) for worker processes.
Evaluator = Callable[[Mapping[str, np.ndarray], SensitivitySpec], np.ndarray]

METHODS = ("sobol", "morris")
SUCCESS = "success"
NONFINITE_OUTPUT = "nonfinite_output"


class AnalysisMismatchError(SpecError):
    """The output folder holds another analysis (question, sample, version or parameters differ)."""


class InfeasibleSampleError(SpecError):
    """Too many sample groups contain a failed evaluation for the indices to answer the question asked."""


# ---------------------------------------------------------------------------------------------
# evaluation of sample rows (runs in workers)


def evaluate_rows(spec: SensitivitySpec, quantiles: np.ndarray,
                  evaluator: Evaluator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outputs of sample rows given as quantiles ``(n, D)``.

    Returns
    -------
    tuple
        ``Y`` of shape ``(n, n_outputs)`` (NaN where an evaluation failed; ``log10`` applied when
        the spec asks), status per row (strings of :class:`cllsim.simulate.Status`, or
        ``"nonfinite_output"``) and a reason per row (empty on success).
    """
    from ..simulate import observables, observe, run_batch

    factor_values = spec.to_values(quantiles)
    n = len(quantiles)
    if evaluator is not None:
        y = np.asarray(evaluator(factor_values, spec), dtype=float).reshape(n, len(spec.outputs))
        status = np.full(n, SUCCESS, dtype=object)
        detail = np.full(n, "", dtype=object)
    else:
        values: dict[str, Any] = {**spec.base_values(), **factor_values}
        pairs = spec.output_pairs()
        registry = {o.id: o for o in observables(spec.host)}
        chosen = [registry[name] for name in dict.fromkeys(name for name, _ in pairs)]
        days = sorted({0.0, *(day for _, day in pairs)})  # time 0: per-baseline observables need it
        traj = run_batch(spec.regimen, values, np.asarray(days) * 24.0, [o.variable for o in chosen],
                         host=spec.host, rtol=spec.rtol, atol=spec.atol)
        observed = observe(chosen, traj.values)
        y = np.column_stack([observed[name][:, days.index(day)] for name, day in pairs])
        status = traj.status.astype(object)
        detail = traj.detail.astype(object)
        y[status != SUCCESS, :] = np.nan
    if spec.log10_outputs:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
    bad = (status == SUCCESS) & ~np.isfinite(y).all(axis=1)
    status[bad] = NONFINITE_OUTPUT
    detail[bad] = ["output not finite: " + ", ".join(o for o, ok in zip(spec.outputs, row, strict=True) if not ok)
                   for row in np.isfinite(y[bad])]
    return y, status, detail


@dataclass(frozen=True)
class ChunkOutputs:
    """Outputs of rows ``start..stop-1`` of the sample."""

    chunk: int
    start: int
    stop: int
    y: np.ndarray
    status: np.ndarray
    detail: np.ndarray


@dataclass(frozen=True)
class EvaluationTask:
    """One unit of work for an executor: evaluate one chunk of sample rows, write it when ``out`` is set."""

    spec_json: str
    chunk: int
    start: int
    quantiles: np.ndarray
    out: str | None = None
    provenance_json: str = "{}"
    evaluator: Evaluator | None = None

    def execute(self) -> ChunkOutputs:
        spec = SensitivitySpec.model_validate_json(self.spec_json)
        y, status, detail = evaluate_rows(spec, self.quantiles, self.evaluator)
        done = ChunkOutputs(self.chunk, self.start, self.start + len(self.quantiles), y, status, detail)
        if self.out is not None:
            _write_chunk(Path(self.out), done, spec, json.loads(self.provenance_json))
        return done


# ---------------------------------------------------------------------------------------------
# chunk files and provenance

_CHUNK_FILE = re.compile(r"^outputs-(\d+)\.parquet$")
MANIFEST = "sensitivity.json"


def _chunk_path(out: Path, chunk: int) -> Path:
    return out / "chunks" / f"outputs-{chunk:05d}.parquet"


def _chunk_meta(provenance: Mapping[str, Any], chunk: int, start: int, stop: int) -> dict[str, Any]:
    return {"analysis_digest": provenance["analysis_digest"], "chunk": chunk, "start": start, "stop": stop}


def _write_chunk(out: Path, done: ChunkOutputs, spec: SensitivitySpec, provenance: Mapping[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, Any] = {"row": np.arange(done.start, done.stop), "status": done.status.astype(str),
                            "detail": done.detail.astype(str)}
    for k, label in enumerate(spec.outputs):
        cols[label] = done.y[:, k]
    table = pa.Table.from_pandas(pd.DataFrame(cols), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"cllsim"] = json.dumps(_chunk_meta(provenance, done.chunk, done.start, done.stop)).encode()
    table = table.replace_schema_metadata(meta)
    path = _chunk_path(out, done.chunk)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def _read_chunk(out: Path, chunk: int, start: int, stop: int, spec: SensitivitySpec,
                provenance: Mapping[str, Any]) -> ChunkOutputs | None:
    """The chunk's outputs if its file is complete and this analysis's; None if missing or unreadable.

    Raises
    ------
    AnalysisMismatchError
        If the file is readable but was written for another analysis or other rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _chunk_path(out, chunk)
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid):
        return None  # a torn file (cannot happen with atomic writes, but never trust a disk): redo
    raw = (table.schema.metadata or {}).get(b"cllsim")
    try:
        stored = json.loads(raw) if raw is not None else None
    except ValueError:
        stored = None
    expected = _chunk_meta(provenance, chunk, start, stop)
    if stored != expected:
        why = "it has no readable cllsim provenance" if not isinstance(stored, dict) else next(
            f"{k} is {stored.get(k)!r}, this analysis's is {v!r}" for k, v in expected.items() if stored.get(k) != v)
        raise AnalysisMismatchError(f"{path} does not belong to this analysis ({why}); remove it or use a new folder")
    df = table.to_pandas()
    if df["row"].tolist() != list(range(start, stop)):
        raise AnalysisMismatchError(f"{path} holds rows other than {start}..{stop - 1}; remove it or use a new folder")
    y = df[list(spec.outputs)].to_numpy(dtype=float)
    return ChunkOutputs(chunk, start, stop, y, df["status"].to_numpy(object), df["detail"].to_numpy(object))


def _check_manifest(out: Path, provenance: Mapping[str, Any]) -> None:
    manifest = out / MANIFEST
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text())
        except ValueError:
            old = {}
        if old.get("analysis_digest") != provenance["analysis_digest"]:
            keys = [k for k in ("spec", "method", "sampling", "cllsim_version", "parameter_hash")
                    if old.get(k) != provenance.get(k)]
            raise AnalysisMismatchError(
                f"{out} holds another sensitivity analysis ({', '.join(keys) or 'its digest'} differ); "
                "use a new folder or the same options")
        return
    for stray in (out / "chunks").glob("outputs-*.parquet") if (out / "chunks").is_dir() else []:
        if _CHUNK_FILE.match(stray.name):
            raise AnalysisMismatchError(f"{stray} has no manifest of its analysis; remove it or use a new folder")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(manifest, json_text(provenance))


# ---------------------------------------------------------------------------------------------
# the fluent object


@dataclass
class _State:
    method: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    quantiles: np.ndarray | None = None
    y: np.ndarray | None = None
    status: np.ndarray | None = None
    detail: np.ndarray | None = None
    indices: pd.DataFrame | None = None
    execution: str = ""
    resumed_chunks: int = 0
    evaluation_seconds: float = 0.0


class Sensitivity:
    """A global sensitivity analysis of the model: define, sample, evaluate, analyze (see the module docstring).

    Parameters
    ----------
    parameters
        Parameter ids to vary; ``None``: every row with between-patient variability (``iivSD > 0``).
    outputs
        ``"OBSERVABLE@DAY"`` strings (``"alc_per_uL@1,28,180"`` gives three); default
        ALC at days 1, 28 and 180 and tissue burden at day 365.
    distribution
        ``"population"`` (between-patient log-normal, truncated to bounds) or ``"bounds"``
        (uniform on the row's scale between its bounds).
    regimen, ighv, host, drug
        The treatment and the patient around whom the factors vary.
    log10_outputs
        Analyse ``log10`` of the outputs.
    rtol, atol
        Cohort-engine tolerances.
    spec
        A ready :class:`SensitivitySpec` instead of the arguments above.
    """

    def __init__(
        self,
        parameters: Sequence[str] | None = None,
        outputs: Sequence[str] = DEFAULT_OUTPUTS,
        *,
        distribution: Distribution = "population",
        regimen: str = "420 mg qd",
        ighv: str = "U",
        host: str = "patient",
        drug: str = "ibrutinib",
        log10_outputs: bool = False,
        rtol: float = 1e-5,
        atol: float = 1e-9,
        spec: SensitivitySpec | None = None,
    ) -> None:
        self.spec = spec or SensitivitySpec(
            parameters=tuple(parameters or ()), outputs=tuple(outputs), distribution=distribution, regimen=regimen,
            ighv=ighv, host=host, drug=drug, log10_outputs=log10_outputs, rtol=rtol, atol=atol)
        self._s = _State()

    # -- define ---------------------------------------------------------------------------
    @property
    def factors(self) -> tuple[str, ...]:
        """Varied parameter ids."""
        return self.spec.factors()

    @property
    def problem(self) -> dict[str, object]:
        """The SALib problem (factors as quantiles on [0, 1])."""
        return self.spec.problem()

    def describe(self) -> pd.DataFrame:
        """The factors: unit, nominal value, bounds, scale, iivSD and distribution."""
        return pd.DataFrame(describe_factors(self.spec)).set_index("parameter")

    # -- sample ---------------------------------------------------------------------------
    def sample_sobol(self, n: int, *, second_order: bool = False, seed: int = 0) -> Sensitivity:
        """Saltelli's extension of the scrambled Sobol' sequence: ``n (D + 2)`` rows (``n (2D + 2)`` with second order).

        Parameters
        ----------
        n
            Base samples; a power of 2 keeps the Sobol' sequence balanced.
        second_order
            Also estimate second-order indices (S2).
        seed
            Seed of the scrambling.
        """
        from SALib.sample import sobol as sobol_sample

        if n < 2:
            raise SpecError(f"n must be >= 2, got {n}")
        if n & (n - 1):
            raise SpecError(f"n must be a power of 2 for Sobol' sampling, got {n}")
        q = sobol_sample.sample(self.problem, n, calc_second_order=second_order, seed=seed)
        return self._set_sample("sobol", {"n": n, "second_order": second_order, "seed": seed}, q)

    def sample_morris(self, trajectories: int, *, levels: int = 4, seed: int = 0) -> Sensitivity:
        """Morris one-at-a-time trajectories: ``trajectories (D + 1)`` rows on a ``levels``-level grid.

        Parameters
        ----------
        trajectories
            Number of trajectories (10-50 is customary for screening).
        levels
            Grid levels per factor (even).
        seed
            Seed of the trajectory draw.

        Notes
        -----
        With ``distribution="bounds"`` the grid is SALib's, from quantile 0 to 1 (the bounds).
        With ``"population"`` the levels sit at the centres of ``levels`` equal-probability bins
        (quantiles 1/8, 3/8, 5/8, 7/8 for 4 levels): quantiles 0 and 1 would be the bounds, far
        in the tails of the between-patient distribution, where baselines are often infeasible.
        Effects stay per unit quantile either way.
        """
        from SALib.sample import morris as morris_sample

        if trajectories < 2:
            raise SpecError(f"trajectories must be >= 2, got {trajectories}")
        if levels < 2 or levels % 2:
            raise SpecError(f"levels must be even and >= 2, got {levels}")
        q = morris_sample.sample(self.problem, trajectories, num_levels=levels, seed=seed)
        grid = "bounds"
        if self.spec.distribution == "population":
            q, grid = (q * (levels - 1) + 0.5) / levels, "bin centres"
        return self._set_sample("morris", {"trajectories": trajectories, "levels": levels, "seed": seed,
                                           "grid": grid}, q)

    def _set_sample(self, method: str, sampling: dict[str, Any], q: np.ndarray) -> Sensitivity:
        self._s = _State(method=method, sampling=sampling, quantiles=np.asarray(q, dtype=float))
        return self

    @property
    def sample(self) -> pd.DataFrame:
        """The sample in table units, one row per evaluation (columns: the factors)."""
        q = self._need("quantiles", "sample first (sample_sobol or sample_morris)")
        return pd.DataFrame(self.spec.to_values(q))

    def provenance(self) -> dict[str, Any]:
        """What identifies this analysis: question, method, sampling, sample digest, version, parameters."""
        q = self._need("quantiles", "sample first (sample_sobol or sample_morris)")
        base = {
            "spec": self.spec.model_dump(),
            "spec_digest": self.spec.digest(),
            "method": self._s.method,
            "sampling": self._s.sampling,
            "n_rows": int(len(q)),
            "sample_digest": hashlib.sha256(np.ascontiguousarray(q).tobytes()).hexdigest(),
            "cllsim_version": __version__,
            "parameter_hash": parameter_hash(self.spec.table().values()),
        }
        base["analysis_digest"] = hashlib.sha256(json.dumps(base, sort_keys=True, default=str).encode()).hexdigest()
        return base

    # -- evaluate -------------------------------------------------------------------------
    def evaluate(
        self,
        *,
        workers: int | None = 1,
        executor: Executor | None = None,
        out: str | Path | None = None,
        chunk_size: int = 256,
        progress: bool = False,
        evaluator: Evaluator | None = None,
    ) -> Sensitivity:
        """Evaluate every sample row on the cohort engine, in chunks through an executor.

        Parameters
        ----------
        workers
            Local worker processes (1: this process; ``None``: one per core) when no
            ``executor`` is given.
        executor
            Where the chunks run (:mod:`cllsim.execution`); the caller keeps it open and closes it.
        out
            Folder for the chunk files; a rerun into it resumes (only missing chunks run).
        chunk_size
            Sample rows per task (and per file).
        progress
            Show a progress bar (rich).
        evaluator
            Replace the model by a function of the parameter values (tests, synthetic problems).
        """
        q = self._need("quantiles", "sample first (sample_sobol or sample_morris)")
        if chunk_size < 1:
            raise SpecError(f"chunk_size must be >= 1, got {chunk_size}")
        prov = self.provenance()
        out_path = Path(out) if out is not None else None
        starts = list(range(0, len(q), chunk_size))
        chunks: dict[int, ChunkOutputs] = {}
        if out_path is not None:
            _check_manifest(out_path, prov)
            remove_stale(out_path)
            remove_stale(out_path / "chunks")
            for c, start in enumerate(starts):
                found = _read_chunk(out_path, c, start, min(start + chunk_size, len(q)), self.spec, prov)
                if found is not None:
                    chunks[c] = found
            on_disk = {int(m[1]) for f in (out_path / "chunks").glob("outputs-*.parquet")
                       if (m := _CHUNK_FILE.match(f.name))} if (out_path / "chunks").is_dir() else set()
            if extra := sorted(c for c in on_disk if c >= len(starts)):
                raise AnalysisMismatchError(f"{out_path}/chunks has chunk {extra[0]} beyond this analysis's "
                                            f"{len(starts)} chunks (another chunk size?); use a new folder")
        spec_json, prov_json = self.spec.model_dump_json(), json.dumps(prov, default=str)
        tasks = [EvaluationTask(spec_json, c, start, q[start:start + chunk_size],
                                None if out_path is None else str(out_path), prov_json, evaluator)
                 for c, start in enumerate(starts) if c not in chunks]
        own = executor is None
        started = time.perf_counter()
        ex = executor or make_executor(workers, n_tasks=max(1, len(tasks)))
        try:
            for done in _run_tasks(ex, tasks, progress):
                chunks[done.chunk] = done
        finally:
            if own:
                ex.close()
        ordered = [chunks[c] for c in range(len(starts))]
        self._s.y = np.concatenate([c.y for c in ordered]) if ordered else np.empty((0, len(self.spec.outputs)))
        self._s.status = np.concatenate([c.status for c in ordered]) if ordered else np.empty(0, object)
        self._s.detail = np.concatenate([c.detail for c in ordered]) if ordered else np.empty(0, object)
        self._s.execution = ex.describe() if tasks else "resumed: every chunk was on disk"
        self._s.resumed_chunks = len(starts) - len(tasks)
        self._s.evaluation_seconds = time.perf_counter() - started
        self._s.indices = None
        return self

    @property
    def outputs(self) -> pd.DataFrame:
        """Evaluated outputs, one row per sample row (columns: outputs, ``status``, ``detail``)."""
        y = self._need("y", "evaluate first")
        df = pd.DataFrame(y, columns=list(self.spec.outputs))
        df["status"], df["detail"] = self._s.status, self._s.detail
        return df

    def failures(self) -> pd.DataFrame:
        """Every failed evaluation: sample row, status, reason and the factor values."""
        df = pd.concat([self.sample, self.outputs[["status", "detail"]]], axis=1)
        df.index.name = "row"
        return df[df["status"] != SUCCESS].reset_index()

    # -- analyze --------------------------------------------------------------------------
    def analyze(self, **kwargs: Any) -> Sensitivity:
        """Analyze with the method the sample was drawn for (:meth:`analyze_sobol` or :meth:`analyze_morris`)."""
        if self._s.method == "morris":
            return self.analyze_morris(**kwargs)
        return self.analyze_sobol(**kwargs)

    def analyze_sobol(self, *, num_resamples: int = 200, conf_level: float = 0.95, seed: int = 0,
                      max_dropped_fraction: float = 0.1) -> Sensitivity:
        """First-order (S1) and total (ST) Sobol' indices with bootstrap confidence intervals (and S2 if sampled).

        Parameters
        ----------
        num_resamples
            Bootstrap resamples of the base points.
        conf_level
            Confidence level of the intervals.
        seed
            Seed of the bootstrap.
        max_dropped_fraction
            Largest share of groups that may be dropped for failed evaluations (see the module docstring).
        """
        from SALib.analyze import sobol

        if self._s.method != "sobol":
            raise SpecError("analyze_sobol needs a Sobol' sample (sample_sobol)")
        y = self._need("y", "evaluate first")
        d = len(self.factors)
        second = bool(self._s.sampling["second_order"])
        group = 2 * d + 2 if second else d + 2
        rows = []
        for k, label in enumerate(self.spec.outputs):
            keep, n_groups = self._complete_groups(y[:, k], group, label, max_dropped_fraction)
            yk = y[:, k].reshape(n_groups, group)[keep].reshape(-1)
            base = {"n_groups": int(keep.sum()), "n_dropped": int(n_groups - keep.sum())}
            if keep.sum() < 2 or np.ptp(yk) == 0:
                for pid in self.factors:
                    for index in ("S1", "ST"):
                        rows.append(self._row(label, pid, index, np.nan, np.nan, np.nan, conf_level, base,
                                              note="output does not vary" if keep.sum() >= 2 else "too few groups"))
                continue
            # a Generator, not the int: SALib 1.6 seeds its bootstrap only ``if seed:``, so seed 0 was random
            res = sobol.analyze(self.problem, yk, calc_second_order=second, num_resamples=num_resamples,
                                conf_level=conf_level, seed=np.random.default_rng(seed))
            for j, pid in enumerate(self.factors):
                for index in ("S1", "ST"):
                    v, c = float(res[index][j]), float(res[f"{index}_conf"][j])
                    rows.append(self._row(label, pid, index, v, v - c, v + c, conf_level, base))
                if second:
                    for j2 in range(j + 1, d):
                        v, c = float(res["S2"][j, j2]), float(res["S2_conf"][j, j2])
                        rows.append(self._row(label, f"{pid}:{self.factors[j2]}", "S2", v, v - c, v + c,
                                              conf_level, base))
        self._s.indices = pd.DataFrame(rows)
        return self

    def analyze_morris(self, *, num_resamples: int = 200, conf_level: float = 0.95, seed: int = 0,
                       max_dropped_fraction: float = 0.1) -> Sensitivity:
        """Morris elementary effects: mu*, with a bootstrap interval, mu and sigma.

        Effects are per unit change of a factor's quantile (its whole distribution spans 1), so
        they compare across parameters of different units; they are in the output's unit.
        """
        from SALib.analyze import morris

        if self._s.method != "morris":
            raise SpecError("analyze_morris needs a Morris sample (sample_morris)")
        y = self._need("y", "evaluate first")
        q = self._need("quantiles", "sample first")
        d = len(self.factors)
        group = d + 1
        rows = []
        for k, label in enumerate(self.spec.outputs):
            keep, n_groups = self._complete_groups(y[:, k], group, label, max_dropped_fraction)
            mask = np.repeat(keep, group)
            base = {"n_groups": int(keep.sum()), "n_dropped": int(n_groups - keep.sum())}
            if keep.sum() < 2:
                for pid in self.factors:
                    for index in ("mu_star", "mu", "sigma"):
                        rows.append(self._row(label, pid, index, np.nan, np.nan, np.nan, conf_level, base,
                                              note="too few trajectories"))
                continue
            levels = int(self._s.sampling["levels"])
            res = morris.analyze(self.problem, q[mask], y[mask, k], num_resamples=num_resamples,
                                 conf_level=conf_level, num_levels=levels, seed=seed)
            # SALib divides by the step of its [0, 1] grid; bin-centred levels step (levels - 1) / levels of it
            per_quantile = levels / (levels - 1) if self._s.sampling.get("grid") == "bin centres" else 1.0
            for j, pid in enumerate(self.factors):
                v, c = per_quantile * float(res["mu_star"][j]), per_quantile * float(res["mu_star_conf"][j])
                rows.append(self._row(label, pid, "mu_star", v, v - c, v + c, conf_level, base))
                for index in ("mu", "sigma"):
                    rows.append(self._row(label, pid, index, per_quantile * float(res[index][j]), np.nan, np.nan,
                                          conf_level, base))
        self._s.indices = pd.DataFrame(rows)
        return self

    def _complete_groups(self, yk: np.ndarray, group: int, label: str, max_dropped: float) -> tuple[np.ndarray, int]:
        n_groups = len(yk) // group
        keep = np.isfinite(yk[: n_groups * group].reshape(n_groups, group)).all(axis=1)
        dropped = n_groups - int(keep.sum())
        if n_groups and dropped / n_groups > max_dropped:
            statuses = pd.Series(self._s.status).value_counts().to_dict()
            unit = "trajectories" if self._s.method == "morris" else "Saltelli groups"
            advice = ("narrow the parameters or use distribution 'population'" if self.spec.distribution == "bounds"
                      else "use more samples, fewer parameters, or a larger max_dropped_fraction")
            raise InfeasibleSampleError(
                f"{label}: {dropped} of {n_groups} {unit} contain a failed evaluation (statuses {statuses}), more "
                f"than max_dropped_fraction={max_dropped:g}; {advice} (failures() lists them)")
        return keep, n_groups

    def _row(self, label: str, pid: str, index: str, value: float, lo: float, hi: float, conf_level: float,
             counts: Mapping[str, int], note: str = "") -> dict[str, Any]:
        name, day = label.split("@")
        output_units, parameter_units = self._units()
        unit = output_units[name]
        return {
            "method": self._s.method, "output": label, "observable": name, "day": float(day),
            "output_unit": f"log10({unit})" if self.spec.log10_outputs else unit,
            "parameter": pid, "parameter_unit": parameter_units.get(pid, ""),
            "index": index, "value": value, "ci_low": lo, "ci_high": hi, "conf_level": conf_level,
            **counts, "note": note,
        }

    def _units(self) -> tuple[dict[str, str], dict[str, str]]:
        """Units of the observables and of the parameters (looked up once per object)."""
        if not hasattr(self, "_unit_cache"):
            from ..simulate import observables

            self._unit_cache = ({o.id: o.unit for o in observables(self.spec.host)},
                                {pid: row.unit for pid, row in self.spec.table().rows.items()})
        return self._unit_cache

    # -- results --------------------------------------------------------------------------
    def to_df(self) -> pd.DataFrame:
        """Tidy table of indices: method, output, observable, day, units, parameter, index, value, CI, counts."""
        return self._need("indices", "analyze first (analyze_sobol or analyze_morris)").copy()

    def plot(self, top: int = 6) -> tuple[Figure, Figure]:
        """Indices over time (per observable) and bar charts with CIs (per output); see :mod:`._plots`."""
        from ._plots import plot_bars, plot_over_time

        df, meta = self.to_df(), self.metadata()
        return plot_over_time(df, meta, top=top), plot_bars(df, meta, top=top)

    def metadata(self) -> dict[str, Any]:
        """Provenance, execution and failure counts of the analysis."""
        meta = self.provenance()
        status = self._s.status
        meta.update({
            "factors": describe_factors(self.spec),
            "execution": self._s.execution,
            "resumed_chunks": self._s.resumed_chunks,
            "evaluation_seconds": round(self._s.evaluation_seconds, 3),
            "status_counts": {} if status is None else pd.Series(status).value_counts().to_dict(),
            "engine": "cohort engine (cllsim.simulate.run_batch)",
        })
        return meta

    def write(self, out: str | Path) -> list[Path]:
        """Write the indices, failures, sample, figures, then ``metadata.json`` (completion marker) into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        invalidate(out, MARKER)
        df, failures = self.to_df(), self.failures()
        samples = pd.concat([self.sample, self.outputs], axis=1)
        written = [
            write_atomic(out / "indices.csv", lambda p: df.to_csv(p, index=False)),
            write_atomic(out / "failures.csv", lambda p: failures.to_csv(p, index=False)),
            write_atomic(out / "samples.parquet", lambda p: samples.to_parquet(p, index=True)),
        ]
        fig_time, fig_bars = self.plot()
        for fig, name in ((fig_time, "indices_over_time.png"), (fig_bars, "indices_bars.png")):
            written.append(write_atomic(out / name, partial(fig.savefig, dpi=110, format="png")))
        meta = {**self.metadata(), "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        written.append(write_text_atomic(out / MARKER, json_text(meta)))
        return written

    def _need(self, attr: str, hint: str) -> Any:
        value = getattr(self._s, attr)
        if value is None:
            raise SpecError(f"nothing to use yet: {hint}")
        return value

    def __repr__(self) -> str:
        stage = "defined"
        if self._s.quantiles is not None:
            stage = f"{self._s.method} sample of {len(self._s.quantiles)} rows"
        if self._s.y is not None:
            stage += ", evaluated"
        if self._s.indices is not None:
            stage += ", analyzed"
        return f"Sensitivity({len(self.factors)} factors, {len(self.spec.outputs)} outputs; {stage})"


def _run_tasks(executor: Executor, tasks: list[EvaluationTask], progress: bool) -> list[ChunkOutputs]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not tasks:
        return []
    total = sum(len(t.quantiles) for t in tasks)
    with Progress(TextColumn("[bold]sensitivity"), BarColumn(), MofNCompleteColumn(), TextColumn("evaluations"),
                  TimeRemainingColumn(), disable=not progress, transient=False) as bar:
        job = bar.add_task("evaluate", total=total)

        def advance(_: int, done: ChunkOutputs) -> None:
            bar.advance(job, done.stop - done.start)

        return list(executor.execute(tasks, progress=advance))


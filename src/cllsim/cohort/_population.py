"""Virtual populations: between-patient variability from the parameters table, IGHV mix, baseline ALC.

Each row of the parameters table with ``iivSD > 0`` varies between patients log-normally around
its nominal value (the median), with the row's SD on the natural-log scale; draws outside the
row's bounds are redrawn (then clipped after 50 tries), so every patient is inside the table's
bounds; a spread so wide (or a median so far outside the bounds) that more than
:data:`MAX_CLIPPED_SHARE` of the draws would end clipped is refused, not silently clipped. IGHV
status is drawn first and sets the IGHV condition values (``ighv.tsv``), on which the
variability then acts. The cohort is cut into chunks; chunk ``c`` draws from the ``c``-th child
of ``numpy.random.SeedSequence(seed)`` (made directly, ``spawn_key=(c,)``), so a chunk can be
regenerated alone (resume, workers) and a seed with the same ``n`` and ``chunk_size`` gives an
identical cohort.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from .._errors import SpecError
from .._validation import InputModel
from ..drugs import RegimenText, parse_regimen
from ..model import ParameterTable, ighv_conditions, load_table

#: Redraws of an out-of-bounds sample before it is clipped to the bound.
MAX_REDRAWS = 50
#: Largest expected share of a varied parameter's draws that end clipped to a bound (after
#: :data:`MAX_REDRAWS` redraws); above it the spread is not what the cohort would have.
MAX_CLIPPED_SHARE = 0.01
#: Most patient-times (patients x integration times; daily by default) in one chunk (about 200 bytes each in
#: memory, so about 1.5 GB per worker); the default chunk of 2000 patients fits ten years.
MAX_CHUNK_PATIENT_DAYS = 7_500_000
#: Largest cohort, patients, whatever ``force`` says (ids, task lists and files scale with it).
MAX_PATIENTS = 100_000_000


class CohortSpec(InputModel):
    """What to simulate: population, regimen, follow-up and numerics.

    Attributes
    ----------
    n
        Number of virtual patients.
    ighv_u_fraction
        Share of U-CLL (unmutated IGHV) patients, 0-1.
    regimen
        Regimen text, e.g. ``"420 mg qd"``.
    days
        Follow-up after treatment start, days.
    times, step
        Output grid of the chunk trajectories, days: explicit times, or every ``step`` days (see
        :func:`cllsim.simulate.output_times`); default (both ``None``): daily, at the clock time
        of the first dose. Endpoints and responses are always assessed on the daily grid.
    seed
        Seed of the population draw.
    chunk_size
        Patients per chunk (one task, one Parquet file each).
    baseline_alc_median_per_uL
        Median baseline ALC, /uL; ``None``: the table's nominal value.
    baseline_alc_sd_log
        Between-patient SD of log baseline ALC; ``None``: the table's ``iivSD``.
    rtol, atol
        Cohort-engine tolerances (relative; absolute in model units). The default keeps every
        observable within 1e-4 (relative) of the reference engine.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = SpecError
    n: int = Field(gt=0, le=MAX_PATIENTS)
    ighv_u_fraction: float = Field(default=0.55, ge=0, le=1)
    regimen: RegimenText = "420 mg qd"
    days: float = Field(default=365.0, gt=0, le=3650)
    times: tuple[float, ...] | None = None
    step: float | None = None
    seed: int = Field(default=0, ge=0)
    chunk_size: int = Field(default=2000, gt=0)
    baseline_alc_median_per_uL: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    baseline_alc_sd_log: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    # 1e-5 keeps the cohort engine (RODAS4) within 1e-4 of the reference over a year on every
    # observable with a 10x margin (benchmarks/verify_agreement.py, 50 patients: 1.1e-5 at 1e-5,
    # 3.3e-5 at 2e-5, 1.4e-4 at 1e-4); atol in model units (1e9 cells, mg)
    rtol: float = Field(default=1e-5, gt=0, lt=1)
    atol: float = Field(default=1e-9, gt=0)

    def assessment_days(self) -> np.ndarray:
        """The daily grid endpoints and responses are assessed on, days (``days`` itself last)."""
        days = np.arange(0.0, np.floor(self.days) + 1.0)
        return days if days[-1] >= self.days else np.append(days, self.days)

    def output_days(self) -> np.ndarray:
        """Times of the chunk trajectories, days (daily unless ``times`` or ``step`` is given)."""
        from ..simulate import output_times

        if self.times is None and self.step is None:
            return self.assessment_days()
        return output_times(self.days, self.times, self.step)

    def run_days(self) -> np.ndarray:
        """Every time each patient is integrated to: assessment and output grids together, days."""
        return np.union1d(self.assessment_days(), self.output_days())

    @model_validator(mode="after")
    def _bounded(self) -> CohortSpec:
        n_times = self.run_days().size + 1  # output_times refuses a malformed grid (SpecError)
        patient_days = min(self.n, self.chunk_size) * n_times
        if patient_days > MAX_CHUNK_PATIENT_DAYS:
            fits = max(1, MAX_CHUNK_PATIENT_DAYS // n_times)
            raise ValueError(
                f"a chunk of {self.chunk_size:,} patients x {n_times:,} output times is {patient_days:,} "
                f"patient-times, more than {MAX_CHUNK_PATIENT_DAYS:,} in memory at once; give a chunk size of "
                f"at most {fits:,}"
            )
        parse_regimen(self.regimen).check_dose_count(self.days * 24.0)
        return self

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n / self.chunk_size)

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        """First and one-past-last patient index of ``chunk``."""
        if not 0 <= chunk < self.n_chunks:
            raise IndexError(f"chunk {chunk} outside 0..{self.n_chunks - 1}")
        start = chunk * self.chunk_size
        return start, min(self.n, start + self.chunk_size)


@dataclass(frozen=True)
class PopulationChunk:
    """Sampled patients of one chunk.

    Attributes
    ----------
    ids
        Patient ids (``"p000042"``), unique across the cohort.
    ighv
        ``"U"`` or ``"M"`` per patient.
    values
        Every model parameter (table units) as an array over the chunk's patients.
    varied
        Ids of the parameters that vary between patients.
    """

    ids: np.ndarray
    ighv: np.ndarray
    values: dict[str, np.ndarray]
    varied: tuple[str, ...]


def patient_ids(start: int, stop: int) -> np.ndarray:
    return np.array([f"p{i:07d}" for i in range(start, stop)])


def sample_chunk(spec: CohortSpec, chunk: int, table: ParameterTable | None = None) -> PopulationChunk:
    """Draw the patients of ``chunk`` (deterministic in ``spec.seed``, ``spec.n``, ``spec.chunk_size``)."""
    table = table or load_table()
    check_population(spec, table)
    start, stop = spec.chunk_range(chunk)
    m = stop - start
    # the chunk-th child of SeedSequence(seed), made without spawning every other child first
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(chunk,)))
    is_u = rng.random(m) < spec.ighv_u_fraction
    values = {pid: np.full(m, row.nominalValue) for pid, row in table.rows.items()}
    cond = ighv_conditions()
    for pid in sorted(set(cond["U"]) | set(cond["M"])):
        u_val = cond["U"].get(pid, table.rows[pid].nominalValue)
        m_val = cond["M"].get(pid, table.rows[pid].nominalValue)
        values[pid] = np.where(is_u, u_val, m_val)
    varied = []
    for pid in sorted(table.rows):
        row = table.rows[pid]
        sd = row.iivSD
        median = values[pid]
        if pid == "baseline_alc_per_uL":
            if spec.baseline_alc_median_per_uL is not None:
                median = np.full(m, spec.baseline_alc_median_per_uL)
            if spec.baseline_alc_sd_log is not None:
                sd = spec.baseline_alc_sd_log
        if sd <= 0:
            values[pid] = np.clip(median, row.lowerBound, row.upperBound)
            continue
        varied.append(pid)
        values[pid] = draw_lognormal_within_bounds(median, sd, row.lowerBound, row.upperBound, rng)
    return PopulationChunk(patient_ids(start, stop), np.where(is_u, "U", "M"), values, tuple(varied))


def draw_lognormal_within_bounds(
    median: np.ndarray, sd: float, lower: float, upper: float, rng: np.random.Generator
) -> np.ndarray:
    """One log-normal draw per entry of ``median`` (log-SD ``sd``), inside ``[lower, upper]``.

    Draws outside the bounds are redrawn up to :data:`MAX_REDRAWS` times, then clipped: the
    population sampling of :func:`sample_chunk`, shared with the fit's prediction band.
    """
    median = np.asarray(median, dtype=float)
    draw = median * np.exp(sd * rng.standard_normal(median.size))
    for _ in range(MAX_REDRAWS):
        out = (draw < lower) | (draw > upper)
        if not out.any():
            break
        draw[out] = median[out] * np.exp(sd * rng.standard_normal(int(out.sum())))
    return np.clip(draw, lower, upper)


def clipped_share(median: float, sd: float, lower: float, upper: float) -> float:
    """Expected share of log-normal draws (``median``, log-SD ``sd``) still outside the bounds after the redraws."""
    from scipy.stats import norm

    if median <= 0 or upper <= 0:
        return 1.0
    if sd == 0:
        return 0.0 if lower <= median <= upper else 1.0
    inside = norm.cdf(math.log(upper / median) / sd) - (norm.cdf(math.log(lower / median) / sd) if lower > 0 else 0.0)
    return float((1.0 - inside) ** (MAX_REDRAWS + 1))


def check_spread(pid: str, median: np.ndarray, sd: float, lower: float, upper: float) -> None:
    """Refuse a spread whose draws would mostly end clipped to the bounds (:data:`MAX_CLIPPED_SHARE`)."""
    if not math.isfinite(sd):
        raise SpecError(f"{pid}: between-patient SD must be finite, got {sd}")
    for m in np.unique(median):
        share = clipped_share(float(m), sd, lower, upper)
        if share > MAX_CLIPPED_SHARE:
            raise SpecError(
                f"{pid}: a log-normal spread of SD {sd:g} around {float(m):g} puts {share:.0%} of the patients "
                f"at the bounds [{lower:g}, {upper:g}] (more than {MAX_CLIPPED_SHARE:.0%}); give a smaller SD "
                "or a median inside the bounds"
            )


def check_population(spec: CohortSpec, table: ParameterTable | None = None) -> None:
    """Refuse, before anything runs, a population whose draws would end clipped (see :func:`check_spread`)."""
    table = table or load_table()
    cond = ighv_conditions()
    for pid, row in table.rows.items():
        sd, medians = row.iivSD, np.array([cond[g].get(pid, row.nominalValue) for g in ("U", "M")])
        if pid == "baseline_alc_per_uL":
            if spec.baseline_alc_median_per_uL is not None:
                medians = np.array([spec.baseline_alc_median_per_uL])
            if spec.baseline_alc_sd_log is not None:
                sd = spec.baseline_alc_sd_log
        if sd > 0 or pid == "baseline_alc_per_uL":
            check_spread(pid, medians, sd, row.lowerBound, row.upperBound)


def sample_within_bounds(
    n: int, seed: int, table: ParameterTable | None = None, exclude: tuple[str, ...] = ("inhibition_",)
) -> dict[str, np.ndarray]:
    """Stress-test parameter sets: every row drawn uniformly on its scale between its bounds.

    Rows whose id starts with a prefix in ``exclude`` (experimental conditions) keep their nominal
    value; IGHV is not applied (``bcr_strength`` is drawn like any row).

    Returns
    -------
    dict
        Parameter id -> array of ``n`` values (table units).
    """
    table = table or load_table()
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    out = {}
    for pid in sorted(table.rows):
        row = table.rows[pid]
        if row.lowerBound == row.upperBound or pid.startswith(exclude):
            out[pid] = np.full(n, row.nominalValue)
        elif row.parameterScale == "lin":
            out[pid] = rng.uniform(row.lowerBound, row.upperBound, n)
        else:
            out[pid] = np.exp(rng.uniform(np.log(row.lowerBound), np.log(row.upperBound), n))
    return out

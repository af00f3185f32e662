"""Virtual populations: between-patient variability from the parameters table, IGHV mix, covariates.

Each row of the parameters table with ``iivSD > 0`` varies between patients log-normally around
its nominal value (the median), with the row's SD on the natural-log scale; draws outside the
row's bounds are redrawn (then clipped after 50 tries), so every patient is inside the table's
bounds; a spread so wide (or a median so far outside the bounds) that more than
:data:`MAX_CLIPPED_SHARE` of the draws would end clipped is refused, not silently clipped. IGHV
status is drawn first and sets the IGHV condition values (``ighv.tsv``), on which the
variability then acts. The baseline covariates (:data:`COVARIATES`: body weight, baseline ALC,
node, spleen and marrow burden) are stated in the spec (:class:`LogNormal`, defaults: the
table's nominal value and ``iivSD``), so a cohort says what population it drew.

Patients are drawn in blocks of :data:`DRAW_BLOCK`: block ``b`` draws from the ``b``-th child of
``numpy.random.SeedSequence(seed)`` (made directly, ``spawn_key=(b,)``), whatever the chunk size,
so a chunk can be regenerated alone (resume, workers) and a seed with the same ``n`` gives an
identical cohort for every ``chunk_size`` and worker count. A patient whose draw has no feasible
untreated baseline is drawn again (:func:`redraw_patients`) from a stream of its own (seed,
patient index, attempt), keeping its IGHV status, so a cohort of ``n`` has ``n`` evaluable
baselines whatever the chunking.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field, field_validator, model_validator

from .._errors import SpecError
from .._validation import InputModel
from ..drugs import DEFAULT_DRUG, DRUGS, RegimenText, Therapy, drug_set, get_drug, parse_therapy
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
#: Patients drawn from one random stream (the chunk size of earlier versions' default, so cohorts
#: with ``chunk_size`` 2000, or one chunk of at most 2000, keep their patients).
DRAW_BLOCK = 2000
#: Most draws of one patient (the first and its redraws) before an infeasible baseline is an error.
MAX_BASELINE_DRAWS = 10
#: First word of the spawn key of a redraw stream (block streams have one-word keys ``(b,)``).
REDRAW_STREAM = 2**32 - 1
#: Baseline covariates stated in the spec: parameter id -> what it is (unit in the id).
COVARIATES = {
    "body_weight_kg": "body weight, kg",
    "baseline_alc_per_uL": "baseline absolute lymphocyte count, 1/uL",
    "baseline_ln_volume_cm3": "baseline lymph-node volume, cm3",
    "baseline_spleen_volume_cm3": "baseline spleen volume, cm3",
    "baseline_bm_infiltration_pct": "baseline bone-marrow infiltration, %",
}


class LogNormal(InputModel):
    """A covariate's between-patient distribution: log-normal, truncated to the table's bounds.

    Attributes
    ----------
    median
        Median, in the covariate's unit (the unit is in its id, e.g. ``body_weight_kg``).
    sd_log
        SD of the natural log (0: every patient at the median).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = SpecError
    median: float = Field(gt=0, allow_inf_nan=False)
    sd_log: float = Field(ge=0, allow_inf_nan=False)


@lru_cache(maxsize=1)
def table_covariates() -> dict[str, dict[str, float]]:
    """Default covariate distributions: the packaged table's nominal value and ``iivSD`` of each."""
    rows = load_table().rows
    return {pid: {"median": rows[pid].nominalValue, "sd_log": rows[pid].iivSD} for pid in COVARIATES}


class SuppliedPopulation(InputModel):
    """A population file in a spec: where it is, its content hash and its number of patients.

    Build it with :func:`cllsim.cohort.read_population` (or give ``CohortSpec(population=path)``),
    which validates the file; workers read the file again and refuse it if the hash changed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = SpecError
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    n: int = Field(gt=0, le=MAX_PATIENTS)


class CohortSpec(InputModel):
    """What to simulate: population, regimen, follow-up and numerics.

    Attributes
    ----------
    n
        Number of virtual patients with an evaluable (feasible) baseline: sampled patients whose
        baseline is infeasible are drawn again (at most :data:`MAX_BASELINE_DRAWS` times each).
        With ``population``: the number of rows of the file (filled in when not given).
    ighv_u_fraction
        Share of U-CLL (unmutated IGHV) patients, 0-1.
    body_weight_kg, baseline_alc_per_uL, baseline_ln_volume_cm3, baseline_spleen_volume_cm3,
    baseline_bm_infiltration_pct
        Distributions of the baseline covariates (:class:`LogNormal`: median in the unit of the
        id, SD of its log; truncated to the table's bounds). Default: the table's nominal value and
        ``iivSD``. ``baseline_alc_median_per_uL=`` and ``baseline_alc_sd_log=`` (earlier names)
        set the ALC one.
    population
        A supplied population (:class:`SuppliedPopulation`, or the path of its CSV, see
        :func:`cllsim.cohort.read_population`) instead of sampling: one patient per row, no
        redraws (an infeasible baseline is reported); ``seed``, ``ighv_u_fraction`` and the
        covariate distributions are then not used.
    regimen
        Regimen text, e.g. ``"420 mg qd"``.
    max_doses
        Most doses the regimen may have in ``days`` (default: the regimen's limit, 100 000).
    days
        Follow-up after treatment start, days.
    times, step
        Output grid of the chunk trajectories, days: explicit times, or every ``step`` days (see
        :func:`cllsim.simulate.output_times`); default (both ``None``): daily, at the clock time
        of the first dose. Endpoints and responses are always assessed on the daily grid.
    seed
        Seed of the population draw.
    chunk_size
        Patients per chunk (one task, one Parquet file each); the patients do not depend on it.
    rtol, atol
        Cohort-engine tolerances (relative; absolute in model units). The default keeps every
        observable within 1e-4 (relative) of the reference engine.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = SpecError
    n: int = Field(gt=0, le=MAX_PATIENTS)
    ighv_u_fraction: float = Field(default=0.55, ge=0, le=1)
    body_weight_kg: LogNormal = Field(default_factory=lambda: LogNormal(**table_covariates()["body_weight_kg"]))
    baseline_alc_per_uL: LogNormal = Field(
        default_factory=lambda: LogNormal(**table_covariates()["baseline_alc_per_uL"]))
    baseline_ln_volume_cm3: LogNormal = Field(
        default_factory=lambda: LogNormal(**table_covariates()["baseline_ln_volume_cm3"]))
    baseline_spleen_volume_cm3: LogNormal = Field(
        default_factory=lambda: LogNormal(**table_covariates()["baseline_spleen_volume_cm3"]))
    baseline_bm_infiltration_pct: LogNormal = Field(
        default_factory=lambda: LogNormal(**table_covariates()["baseline_bm_infiltration_pct"]))
    population: SuppliedPopulation | None = None
    regimen: RegimenText = "420 mg qd"
    drug: str = DEFAULT_DRUG
    max_doses: int | None = Field(default=None, gt=0)
    days: float = Field(default=365.0, gt=0, le=3650)
    times: tuple[float, ...] | None = None
    step: float | None = None
    seed: int = Field(default=0, ge=0)
    chunk_size: int = Field(default=2000, gt=0)
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

    @model_validator(mode="before")
    @classmethod
    def _inputs(cls, data: Any) -> Any:
        """Earlier ALC options into ``baseline_alc_per_uL``; a population path read, ``n`` from it."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        median, sd = data.pop("baseline_alc_median_per_uL", None), data.pop("baseline_alc_sd_log", None)
        if median is not None or sd is not None:
            if "baseline_alc_per_uL" in data:
                raise ValueError("give baseline_alc_per_uL or baseline_alc_median_per_uL/baseline_alc_sd_log, not both")
            alc = table_covariates()["baseline_alc_per_uL"]
            data["baseline_alc_per_uL"] = {"median": alc["median"] if median is None else median,
                                           "sd_log": alc["sd_log"] if sd is None else sd}
        pop = data.get("population")
        if isinstance(pop, str | Path):
            from ._supplied import read_population

            pop = data["population"] = read_population(pop).spec
        if pop is not None:
            rows = pop.n if isinstance(pop, SuppliedPopulation) else (pop.get("n") if isinstance(pop, dict) else None)
            if data.get("n") is None:
                data["n"] = rows
            elif rows is not None and data["n"] != rows:
                raise ValueError(f"n is {data['n']} but the population has {rows} patients (give one or the other)")
        return data

    def covariates(self) -> dict[str, LogNormal]:
        """The covariate distributions, by parameter id (see :data:`COVARIATES`)."""
        return {pid: getattr(self, pid) for pid in COVARIATES}

    def parsed_regimen(self) -> Therapy:
        """The therapy (``regimen`` of ``drug``, or naming its drugs), with ``max_doses`` as its dose limit."""
        th = parse_therapy(self.regimen, self.drug)
        return th if self.max_doses is None else th.with_max_doses(self.max_doses)

    @property
    def drugs(self) -> tuple[str, ...]:
        """Drugs of the model: ``drug`` first, then every drug the therapy gives (its switch target included)."""
        return drug_set([self.drug, *self.parsed_regimen().drugs])

    def table(self) -> ParameterTable:
        """The packaged parameters with the tables of :attr:`drugs`."""
        return load_table(drug=self.drugs)

    @field_validator("drug")
    @classmethod
    def _known_drug(cls, v: str) -> str:
        return get_drug(v).id

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
        self.parsed_regimen().check_dose_count(self.days * 24.0)
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
        Ids of the parameters that vary between patients (or that the population file gives).
    draws
        Per patient, how many times it was drawn (1: the first draw; more after infeasible baselines).
    """

    ids: np.ndarray
    ighv: np.ndarray
    values: dict[str, np.ndarray]
    varied: tuple[str, ...]
    draws: np.ndarray | None = None


def patient_ids(start: int, stop: int) -> np.ndarray:
    return np.array([f"p{i:07d}" for i in range(start, stop)])


def _draw(spec: CohortSpec, is_u: np.ndarray, rng: np.random.Generator, table: ParameterTable,
          cond: dict[str, dict[str, float]]) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Every parameter of ``is_u.size`` patients of known IGHV, drawn from ``rng`` (sorted ids)."""
    m = is_u.size
    values = {pid: np.full(m, row.nominalValue) for pid, row in table.rows.items()}
    for pid in sorted(set(cond["U"]) | set(cond["M"])):
        u_val = cond["U"].get(pid, table.rows[pid].nominalValue)
        m_val = cond["M"].get(pid, table.rows[pid].nominalValue)
        values[pid] = np.where(is_u, u_val, m_val)
    covariates = spec.covariates()
    varied = []
    # a drug's parameters come from a stream of their own, so the patient (IGHV, disease, the other
    # drugs' PK) is the same whichever drugs a cohort gives (arms of cllsim compare)
    drug_rows = {d: sorted(p for p in table.rows if p.startswith(f"{d}_")) for d in DRUGS}
    own = {p for ids in drug_rows.values() for p in ids}
    order = [(rng, pid) for pid in sorted(table.rows) if pid not in own]
    for d, ids in drug_rows.items():
        if ids:
            drug_rng = _drug_stream(rng, d)
            order += [(drug_rng, pid) for pid in ids]
    for stream, pid in order:
        row = table.rows[pid]
        sd = row.iivSD
        median = values[pid]
        if pid in covariates:
            median, sd = np.full(m, covariates[pid].median), covariates[pid].sd_log
        if sd <= 0:
            values[pid] = np.clip(median, row.lowerBound, row.upperBound)
            continue
        varied.append(pid)
        values[pid] = draw_lognormal_within_bounds(median, sd, row.lowerBound, row.upperBound, stream)
    return values, tuple(sorted(varied))


def _drug_stream(rng: np.random.Generator, drug: str) -> np.random.Generator:
    """A generator for ``drug``'s parameters, a child of ``rng``'s seed (``rng`` itself is not advanced)."""
    seq = rng.bit_generator.seed_seq
    if not isinstance(seq, np.random.SeedSequence):  # the cohort's generators are all made from one
        raise TypeError("a drug stream needs a generator made from a SeedSequence")
    key = (*seq.spawn_key, zlib.crc32(drug.encode()))
    return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=key))


def sample_patients(spec: CohortSpec, start: int, stop: int, table: ParameterTable | None = None) -> PopulationChunk:
    """First draws of patients ``start``..``stop - 1`` (deterministic in ``spec.seed`` and ``spec.n`` only).

    The blocks of :data:`DRAW_BLOCK` patients that overlap the range are drawn whole and cut, so
    a patient is the same whatever range (chunk) it is asked in.
    """
    table = table or spec.table()
    cond = ighv_conditions()
    parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    varied: tuple[str, ...] = ()
    for block in range(start // DRAW_BLOCK, (stop - 1) // DRAW_BLOCK + 1):
        b0, b1 = block * DRAW_BLOCK, min(spec.n, (block + 1) * DRAW_BLOCK)
        # the block-th child of SeedSequence(seed), made without spawning every other child first
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(block,)))
        is_u = rng.random(b1 - b0) < spec.ighv_u_fraction
        values, varied = _draw(spec, is_u, rng, table, cond)
        cut = slice(max(start, b0) - b0, min(stop, b1) - b0)
        parts.append((is_u[cut], {k: v[cut] for k, v in values.items()}))
    is_u = np.concatenate([p[0] for p in parts])
    values = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}
    return PopulationChunk(patient_ids(start, stop), np.where(is_u, "U", "M"), values, varied,
                           np.ones(stop - start, dtype=np.int64))


def redraw_patients(spec: CohortSpec, pop: PopulationChunk, index: np.ndarray, first: int,
                    attempt: int, table: ParameterTable | None = None) -> None:
    """Draw again, in place, the patients at positions ``index`` of ``pop`` (attempt ``attempt`` >= 1).

    Each patient's new draw comes from its own stream (seed, cohort index ``first + position``,
    attempt), so it does not depend on the chunking; IGHV status is kept, so the stated IGHV
    share holds among evaluable patients.
    """
    table = table or spec.table()
    cond = ighv_conditions()
    for pos in np.asarray(index, dtype=int):
        key = (REDRAW_STREAM, first + int(pos), attempt)
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=key))
        values, _ = _draw(spec, np.array([pop.ighv[pos] == "U"]), rng, table, cond)
        for pid, v in values.items():
            pop.values[pid][pos] = v[0]
    if pop.draws is not None:
        pop.draws[np.asarray(index, dtype=int)] = attempt + 1


def sample_chunk(spec: CohortSpec, chunk: int, table: ParameterTable | None = None) -> PopulationChunk:
    """The patients of ``chunk`` as first drawn (or as the population file gives them).

    Sampled patients are deterministic in ``spec.seed`` and ``spec.n`` (not ``chunk_size``);
    infeasible baselines are replaced when the chunk is simulated (:func:`redraw_patients`).
    """
    start, stop = spec.chunk_range(chunk)
    if spec.population is not None:
        from ._supplied import supplied_chunk

        return supplied_chunk(spec.population, start, stop, table)
    table = table or spec.table()
    check_population(spec, table)
    return sample_patients(spec, start, stop, table)


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
    if spec.population is not None:
        return  # supplied values are checked against the bounds when the file is read
    table = table or spec.table()
    cond = ighv_conditions()
    covariates = spec.covariates()
    for pid, row in table.rows.items():
        sd, medians = row.iivSD, np.array([cond[g].get(pid, row.nominalValue) for g in ("U", "M")])
        if pid in covariates:
            medians, sd = np.array([covariates[pid].median]), covariates[pid].sd_log
        if sd > 0 or pid in covariates:
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

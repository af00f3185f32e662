"""The estimation problem: which parameters, their priors, the noise model, the residuals.

Parameters are estimated on the natural-log scale. Each has a log-normal prior whose median is
the patient's nominal value (table, then IGHV condition) and whose SD is the table's ``iivSD``
(between-patient log-normal SD). Fit bounds are the table bounds narrowed to the prior median
x exp(+-4 SD).

Estimated subset. :data:`DEFAULT_ESTIMATED` (5 parameters) is the subset that is jointly
identifiable from typical data (ALC every 1-4 weeks for 6 months, CT of nodes and spleen three
times): chosen greedily, adding at each step the parameter that keeps every posterior/prior SD
ratio (Laplace approximation at the nominal patient) lowest, stopping when no further parameter
keeps all ratios <= 0.7 (the identifiability rule of the fit report). Measured on this model:

* ``baseline_alc_per_uL``, ``baseline_ln_volume_cm3``, ``baseline_spleen_volume_cm3`` (ratios
  0.15-0.35): the scale of each measured series;
* ``adhesion_btk_dependence`` (0.28): how much niche retention is lost on drug, i.e. the
  redistribution into blood (K3) and the height of the lymphocytosis;
* ``death_max_per_day`` (0.25): the contraction after the peak (death rates, K1/K2).

:data:`EXTENDED_ESTIMATED` (10 parameters) adds ``bcr_strength``, ``egress_per_day_ln``,
``detach_per_day_ln``, ``homing_btk_dependence`` and ``death_detached_tissue_per_day``. Each
is informed by the data alone (ratio 0.1-0.9 one at a time) but not jointly with the others:
``bcr_strength`` trades off against ``death_max_per_day`` (both set BCL2-dependent death) and
the trafficking rates against ``adhesion_btk_dependence``. Fitting them is allowed; the report
then flags them as prior-dominated. Without CT data the volume baselines are prior-dominated too.

Fixed on purpose: ``birth_niche_bcr_per_day`` and ``birth_niche_indep_per_day`` (division in
niches). With blood counts and volumes only, a higher birth rate is compensated by a higher death
rate (not identifiable from ALC and volumes alone); the fit keeps division at its IGHV-specific nominal value and
says so in its report. PK and dosing parameters are fixed (the fast engine reads the schedule once).

Noise model (:data:`NOISE_SD_LOG`): log-normal measurement error with fixed SD of the natural log:
ALC 0.15 (counting error ~5% plus day-to-day variation), lymph-node CT volume 0.25 (summed
volumetry of several nodes, inter-reader variation), spleen CT volume 0.15.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .._errors import ParameterError
from ..model import ParameterTable, ighv_conditions, load_table, unknown_parameter
from ._data import ALC, LN_VOLUME, SPLEEN_VOLUME, PatientData
from ._engine import EngineOutput, FitEngine

DEFAULT_ESTIMATED: tuple[str, ...] = (
    "baseline_alc_per_uL",
    "baseline_ln_volume_cm3",
    "baseline_spleen_volume_cm3",
    "adhesion_btk_dependence",
    "death_max_per_day",
)

EXTENDED_ESTIMATED: tuple[str, ...] = (
    *DEFAULT_ESTIMATED,
    "bcr_strength",
    "egress_per_day_ln",
    "detach_per_day_ln",
    "homing_btk_dependence",
    "death_detached_tissue_per_day",
)

#: Named subsets accepted wherever a list of estimated ids is (CLI ``--estimate``, benchmarks).
SUBSETS: dict[str, tuple[str, ...]] = {"default": DEFAULT_ESTIMATED, "extended": EXTENDED_ESTIMATED}


def parse_subset(text: str | None) -> tuple[str, ...]:
    """``"default"``, ``"extended"`` or comma-separated ids -> ids (``None``: default)."""
    if text is None or not text.strip():
        return DEFAULT_ESTIMATED
    if text.strip().lower() in SUBSETS:
        return SUBSETS[text.strip().lower()]
    ids = tuple(s.strip() for s in text.split(",") if s.strip())
    if not ids:
        raise ParameterError(f"no parameter id in {text!r}")
    if len(set(ids)) != len(ids):
        raise ParameterError(f"a parameter is listed twice in {text!r}")
    return ids


#: Parameters never estimated here, with the reason given in reports.
NOT_ESTIMATED_REASONS: dict[str, str] = {
    "birth_niche_bcr_per_day": "not separable from death rates with blood counts and volumes alone",
    "birth_niche_indep_per_day": "not separable from death rates with blood counts and volumes alone",
}

#: SD of ln(measurement) for each observable (log-normal noise).
NOISE_SD_LOG: dict[str, float] = {ALC: 0.15, LN_VOLUME: 0.25, SPLEEN_VOLUME: 0.15}

#: Prior SD (natural log) for a parameter whose table row has no between-patient SD.
FALLBACK_PRIOR_SD = 0.5
#: Half-width of the fit bounds around the prior median, in prior SDs.
BOUND_SDS = 4.0
#: Residual given to every data point when a parameter vector cannot be simulated.
FAILURE_RESIDUAL = 30.0

# IGHV unknown: BCR strength prior spans both IGHV values (geometric mean, SD covering both).
_IGHV_UNKNOWN_SPREAD = 0.5


@dataclass(frozen=True)
class EstimatedParameter:
    """One estimated parameter with its log-normal prior and fit bounds (table units)."""

    id: str
    name: str
    unit: str
    prior_median: float
    prior_sd_log: float
    lower: float
    upper: float

    @property
    def log_bounds(self) -> tuple[float, float]:
        return math.log(self.lower), math.log(self.upper)

    def prior_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Central prior interval, table units."""
        z = _z(level)
        lo = max(self.lower, self.prior_median * math.exp(-z * self.prior_sd_log))
        hi = min(self.upper, self.prior_median * math.exp(z * self.prior_sd_log))
        return lo, hi


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def estimated_parameters(
    ids: Sequence[str],
    ighv: str | None,
    table: ParameterTable | None = None,
) -> list[EstimatedParameter]:
    """Priors and bounds of ``ids`` for a patient of IGHV status ``ighv`` (``None``: unknown)."""
    table = table or load_table()
    nominal = table.with_values(ighv_conditions()[ighv or "U"]).values()
    out = []
    for pid in ids:
        if pid not in table.rows:
            raise ParameterError(f"cannot estimate {pid!r}: {unknown_parameter(pid, table.rows)}")
        if pid in NOT_ESTIMATED_REASONS:
            raise ParameterError(f"cannot estimate {pid!r}: {NOT_ESTIMATED_REASONS[pid]}")
        row = table.rows[pid]
        median = nominal[pid]
        sd = row.iivSD if row.iivSD > 0 else FALLBACK_PRIOR_SD
        if pid == "bcr_strength" and ighv is None:
            u, m = ighv_conditions()["U"][pid], ighv_conditions()["M"][pid]
            median = math.sqrt(u * m)
            sd = math.hypot(sd, abs(math.log(u / m)) * _IGHV_UNKNOWN_SPREAD)
        if median <= 0:
            raise ParameterError(f"cannot estimate {pid!r} on the log scale: nominal value {median:g} <= 0")
        lower = max(row.lowerBound, median * math.exp(-BOUND_SDS * sd))
        upper = min(row.upperBound, median * math.exp(BOUND_SDS * sd))
        lower = lower if lower > 0 else median * math.exp(-BOUND_SDS * sd)
        out.append(EstimatedParameter(pid, row.parameterName, row.unit, median, sd, lower, upper))
    return out


@dataclass
class FitProblem:
    """Residuals, negative log-posterior and its pieces for one patient's data.

    Parameters
    ----------
    data
        The patient's validated measurements.
    estimated
        Ids to estimate (default :data:`DEFAULT_ESTIMATED`; see also :data:`EXTENDED_ESTIMATED`).
    horizon_days
        Longest simulated time (predictions), days; at least the last data day.
    table
        Parameters table (default: packaged).
    rtol, atol
        Solver tolerances.
    drug
        Drug of a regimen that names none (its PK table is used).
    """

    data: PatientData
    estimated: Sequence[str] = DEFAULT_ESTIMATED
    horizon_days: float = 365.0
    table: ParameterTable | None = None
    rtol: float = 3e-6
    atol: float = 3e-8
    drug: str = "ibrutinib"
    n_evaluations: int = field(default=0, init=False)
    n_failures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.horizon_days = max(float(self.horizon_days), self.data.last_day)
        self.ighv_model = self.data.ighv or "U"
        self.parameters = estimated_parameters(list(self.estimated), self.data.ighv, self.table)
        self.ids = [p.id for p in self.parameters]
        self.engine = FitEngine(
            self.data.regimen, self.ighv_model, self.horizon_days, table=self.table, rtol=self.rtol, atol=self.atol,
            drug=self.drug,
        )
        m = self.data.measurements()
        self.obs_names = list(self.data.observed)
        self.days = np.unique(m["day"].to_numpy(dtype=float))
        if self.days[0] != 0.0:
            self.days = np.concatenate([[0.0], self.days])
        self._rows = [(int(np.searchsorted(self.days, d)), o) for d, o in zip(m["day"], m["observable"], strict=True)]
        self.log_y = np.log(m["value"].to_numpy(dtype=float))
        self.sigma = np.array([NOISE_SD_LOG[o] for o in m["observable"]])
        self.obs_of_row = m["observable"].to_numpy()
        self.lb = np.array([p.log_bounds[0] for p in self.parameters])
        self.ub = np.array([p.log_bounds[1] for p in self.parameters])
        self.prior_mu = np.log([p.prior_median for p in self.parameters])
        self.prior_sd = np.array([p.prior_sd_log for p in self.parameters])
        self._cache: tuple[bytes, np.ndarray] | None = None

    # -- parameter vectors -------------------------------------------------------------------
    @property
    def n_data(self) -> int:
        return int(self.log_y.size)

    def to_values(self, x: np.ndarray) -> dict[str, float]:
        """Parameter values (table units) of a log-scale vector."""
        return {pid: float(math.exp(v)) for pid, v in zip(self.ids, np.asarray(x, dtype=float), strict=True)}

    def x_prior(self) -> np.ndarray:
        return self.prior_mu.copy()

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` start vectors drawn from the priors, clipped inside the bounds."""
        x = self.prior_mu + rng.standard_normal((n, len(self.ids))) * self.prior_sd
        margin = 1e-6 * (self.ub - self.lb)
        return np.clip(x, self.lb + margin, self.ub - margin)

    # -- model ---------------------------------------------------------------------------------
    def predict(self, x: np.ndarray, days: npt.ArrayLike, variables: Sequence[str]) -> EngineOutput:
        """Engine output for log-scale vector ``x``; raises BaselineError for impossible baselines."""
        return self.engine.simulate(self.to_values(x), days, variables)

    def data_residuals(self, x: np.ndarray) -> np.ndarray | None:
        """Weighted log residuals of the data, or ``None`` when ``x`` cannot be simulated."""
        return self._data_residuals_many([x])[0]

    def _data_residuals_many(self, xs: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        """:meth:`data_residuals` of several vectors, simulated in one engine call."""
        outs = self.engine.simulate_many([self.to_values(x) for x in xs], self.days, self.obs_names)
        res: list[np.ndarray | None] = []
        for out in outs:
            sim = np.array([out.values[o][i] for i, o in self._rows]) if out.ok else None
            if sim is None or np.any(sim <= 0) or not np.all(np.isfinite(sim)):
                res.append(None)
            else:
                res.append((np.log(sim) - self.log_y) / self.sigma)
        return res

    def _full_residuals(self, x: np.ndarray, r_data: np.ndarray | None) -> np.ndarray:
        self.n_evaluations += 1
        if r_data is None:
            self.n_failures += 1
            r_data = np.full(self.n_data, FAILURE_RESIDUAL)
        return np.concatenate([r_data, (x - self.prior_mu) / self.prior_sd])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """Data residuals followed by prior residuals (cached for the last ``x``)."""
        x = np.asarray(x, dtype=float)
        key = x.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        r = self._full_residuals(x, self.data_residuals(x))
        self._cache = (key, r)
        return r

    def jacobian(self, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
        """Forward-difference Jacobian of :meth:`residuals` (log scale); the shifted vectors run as one batch."""
        x = np.asarray(x, dtype=float)
        shifted, steps = [], []
        for j in range(x.size):
            xj = x.copy()
            h = step if xj[j] + step <= self.ub[j] else -step
            xj[j] += h
            shifted.append(xj)
            steps.append(h)
        cached = self._cache is not None and self._cache[0] == x.tobytes()
        batch = shifted if cached else [x, *shifted]
        r_batch = [self._full_residuals(v, r) for v, r in zip(batch, self._data_residuals_many(batch), strict=True)]
        r0 = self._cache[1] if cached else r_batch.pop(0)  # type: ignore[index]
        jac = np.empty((r0.size, x.size))
        for j, (rj, h) in enumerate(zip(r_batch, steps, strict=True)):
            jac[:, j] = (rj - r0) / h
        self._cache = (x.tobytes(), r0)
        return jac

    def neg_log_posterior(self, x: np.ndarray) -> float:
        """0.5 * sum of squared residuals (data and priors), up to a constant."""
        r = self.residuals(x)
        return float(0.5 * np.dot(r, r))

    def gradient(self, x: np.ndarray) -> np.ndarray:
        r = self.residuals(x).copy()
        return self.jacobian(x).T @ r

    def pypesto_problem(self):
        """pyPESTO problem (objective with residuals and FD residual sensitivities)."""
        import pypesto

        objective = pypesto.Objective(
            fun=self.neg_log_posterior,
            grad=self.gradient,
            res=self.residuals,
            sres=self.jacobian,
            x_names=list(self.ids),
        )
        return pypesto.Problem(
            objective, lb=self.lb, ub=self.ub, x_names=list(self.ids), copy_objective=False
        )

    def nominal_values(self) -> Mapping[str, float]:
        return self.engine.values

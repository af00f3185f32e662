"""Fit one patient: pyPESTO multistart, uncertainty, clinician quantities, prediction band.

Why our own pyPESTO objective instead of importing the PEtab export with pyPESTO's roadrunner
bridge: every parameter vector needs the untreated steady state of the cell-carried BCL2 and
CXCR4 re-established by a frozen-cell run before the first dose. PEtab can only express this as
pre-equilibration of the whole model, during which the dosing events would fire; and the bridge
re-simulates 730 SBML events per patient-year. The objective here wraps :class:`FitEngine`
(the cohort engine's compiled backend, code generated from the same SBML, re-equilibration per
vector; the finite-difference Jacobian's shifted vectors run as one batch) and gives pyPESTO
residuals for its least-squares optimizer; priors enter as extra residuals, so the optimum is
the maximum a posteriori (MAP) estimate.

Uncertainty:

* ``"laplace"``: Gauss-Newton approximation of the posterior at the MAP (covariance from the
  residual Jacobian, data and priors), 95% intervals and samples from it;
* ``"mcmc"``: pyPESTO adaptive Metropolis chain started at the MAP with the Laplace covariance
  as initial proposal; burn-in by pyPESTO's Geweke test; intervals are sample percentiles;
* ``"profile"``: pyPESTO profiles of the negative log-posterior, one per parameter, with the
  other parameters re-optimised at each step; 95% interval where the posterior ratio falls
  below exp(-1.92).

Recovery benchmark (``benchmarks/fit_recovery.py``, 20 synthetic patients, default subset,
3 starts, seed 2024, current calibration): profile intervals held the truth for 95% of
patient-parameter pairs (median 84 s per patient in one process), Laplace intervals for 93%
(7 s per patient). Profiles are the default: they do not assume a Gaussian posterior, which
matters for the prior-dominated parameters the report flags. An earlier calibration gave MCMC
with 300 samples only 76% (the chain had not mixed): MCMC needs chains of several thousand.

Forecasts. The prediction band's vectors combine a draw of the estimated parameters (from the
chosen uncertainty method) with a draw from the population of the persistence and resistance
parameters (:data:`PERSISTENCE_RESISTANCE`, ``population_draws``): data of the first months
carry almost no information on them. ``benchmarks/fit_recovery.py --early 84 --patients 20``
(fits of days 0-84, held-back ALC, node volume and blood MRD at months 6, 12, 24): 89% of the
held-back measurements inside the 95% interval with the population draws, 74% with those
parameters fixed at nominal (44% for MRD and node volume at month 24).

A parameter is reported as not identifiable from the data when its posterior SD (log scale) is
more than :data:`IDENTIFIABILITY_RATIO` of its prior SD: its interval then reflects the prior.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .. import __version__
from ..drugs import parse_therapy
from ..execution import Executor, make_executor
from ..model import ParameterTable, load_table, parameter_hash
from ..simulate import model_drugs
from ._data import ALC, LN_VOLUME, SPLEEN_VOLUME, PatientData
from ._problem import DEFAULT_ESTIMATED, NOISE_SD_LOG, NOT_ESTIMATED_REASONS, FitProblem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Posterior/prior SD ratio above which a parameter counts as not identifiable from the data.
IDENTIFIABILITY_RATIO = 0.7
#: Starts whose final objective is within this of the best count as converged to it.
CONVERGED_TOL = 0.5
#: ALC below which counts are normal (iwCLL: < 4,000/µL).
ALC_NORMAL_PER_UL = 4000.0
#: Window for mean on-treatment death rates (K1), days.
DEATH_WINDOW_DAYS = (0.0, 180.0)
#: Prediction times for nodal volume, days (6 and 12 months).
MONTH_6_DAY, MONTH_12_DAY = 182.625, 365.25
#: Month 24, days (forecast horizon asked for most after 6 and 12 months).
MONTH_24_DAY = 730.5
#: Blood MRD: CLL cells among blood leukocytes (fraction), predicted and banded.
MRD_BLOOD = "mrd_blood"

#: Persistence and resistance parameters: they shape the course after the first months (the
#: slow second phase, the resistant subclones' outgrowth) and are not determined by data of the
#: first months. Unless estimated, the prediction band draws those with a between-patient SD
#: (``iivSD > 0`` in the parameters table) from the population for each band vector.
PERSISTENCE_RESISTANCE: tuple[str, ...] = (
    "persister_entry_per_day",
    "persister_release_per_day",
    "persister_death_per_day",
    "clone_fraction_c481s",
    "clone_fraction_plcg2",
    "clone_birth_factor_c481s",
    "clone_birth_factor_plcg2",
)

PREDICTED = (
    ALC,
    LN_VOLUME,
    SPLEEN_VOLUME,
    "death_rate_blood_pct_per_day",
    "death_rate_tissue_pct_per_day",
    "cum_net_efflux",
    "cells_tissue",
    MRD_BLOOD,
)
#: Observables of the prediction band (``FitResult.band``).
BANDED = (ALC, LN_VOLUME, SPLEEN_VOLUME, MRD_BLOOD)


@dataclass(frozen=True)
class FitResult:
    """Immutable result of a patient fit.

    Attributes
    ----------
    estimates
        One row per estimated parameter: MAP ``estimate``, 95% interval ``ci_low``/``ci_high``
        (from the chosen method), prior median and 95% prior interval, ``identifiable``, a
        ``note``, and the Laplace interval ``ci_low_laplace``/``ci_high_laplace`` for
        comparison; table units.
    quantities
        Clinician quantities with 95% intervals (see :func:`clinical_quantities`).
    band
        Prediction: ``day, observable, map``; ``param_low, param_high``: the 95% *parameter
        band*, where the model course lies (parameter uncertainty, and the between-patient
        spread of the parameters in ``metadata["population_drawn"]``); ``pi_low, pi_high``: the
        95% *prediction interval*, where a new measurement falls (the band's draws with the
        residual noise of the noise model, :data:`~cllsim.fit.NOISE_SD_LOG`; equal to the band
        for observables without a noise model, e.g. ``mrd_blood``: flagged by
        ``has_noise_model``); and ``population_drawn`` (the drawn parameters, comma-separated;
        empty when none). Observables: :data:`BANDED`.
    starts
        One row per optimizer start: final objective, exit flag, message, evaluations, seconds,
        whether it reached the best optimum, whether it failed.
    data
        The patient's data.
    metadata
        Version, parameter hash, seed, settings, timings, fixed parameters and why.
    """

    estimates: pd.DataFrame
    quantities: pd.DataFrame
    band: pd.DataFrame
    starts: pd.DataFrame
    data: PatientData
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_df(self) -> pd.DataFrame:
        """Parameter estimates with intervals (a copy)."""
        return self.estimates.copy()

    @property
    def non_identifiable(self) -> list[str]:
        return list(self.estimates.loc[~self.estimates["identifiable"], "parameterId"])

    @property
    def failed_starts(self) -> int:
        return int(self.starts["failed"].sum())

    @property
    def observations(self) -> pd.DataFrame:
        """Each measured value against the fit: ``day, observable, value, map, param_low,
        param_high, pi_low, pi_high, outside_pi`` (True when the value lies outside the 95%
        prediction interval; about 1 in 20 measurements of a well-fitting model do)."""
        m = self.data.measurements()
        b = self.band.set_index(["day", "observable"])
        cols = ["map", "param_low", "param_high", "pi_low", "pi_high"]
        at = b.reindex(pd.MultiIndex.from_frame(m[["day", "observable"]]))[cols].reset_index(drop=True)
        out = pd.concat([m.reset_index(drop=True), at], axis=1)
        out["outside_pi"] = (out["value"] < out["pi_low"]) | (out["value"] > out["pi_high"])
        return out

    def summary(self) -> str:
        """Plain-text report of estimates, quantities, identifiability, starts and outlying data."""
        lines = [f"patient {self.data.patient_id}: {len(self.starts)} starts, {self.failed_starts} failed, "
                 f"{int(self.starts['converged'].sum())} reached the best optimum"]
        lines.append("estimates (MAP, 95% interval):")
        for r in self.estimates.itertuples():
            flag = "" if r.identifiable else "  [not identifiable: prior-dominated]"
            lines.append(f"  {r.parameterId} = {r.estimate:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}] {r.unit}{flag}")
        lines.append("clinician quantities (95% interval):")
        for r in self.quantities.itertuples():
            lines.append(f"  {r.quantity}: {_fmt(r.estimate)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] {r.unit}")
        if "alc_normalisation_date" in self.metadata:
            lines.append(f"  predicted date of ALC normalisation: {self.metadata['alc_normalisation_date']}")
        drawn = self.metadata.get("population_drawn", {})
        lines.append("prediction band: parameter uncertainty"
                     + (f"; drawn from the population (not determined by these data): {', '.join(drawn)}"
                        if drawn else "; persistence and resistance fixed at nominal"))
        for pid, why in self.metadata.get("fixed_parameters", {}).items():
            lines.append(f"fixed: {pid} ({why})")
        obs = self.observations
        outside = obs[obs["outside_pi"]]
        lines.append(f"measurements outside the 95% prediction interval (residual noise included): "
                     f"{len(outside)} of {len(obs)}" + ("" if outside.empty else ":"))
        for r in outside.itertuples():
            lines.append(f"  day {r.day:g} {r.observable} = {r.value:.4g}, interval [{r.pi_low:.4g}, {r.pi_high:.4g}]")
        return "\n".join(lines)

    def plot(self) -> Figure:
        """Data, fit and prediction band (see :func:`cllsim.fit.plot_fit`)."""
        from ._plots import plot_fit

        return plot_fit(self)

    def save(self, out: str | Path) -> list[Path]:
        """Write estimates, quantities, band, observations, starts (CSV), figure (PNG) and metadata (JSON)."""
        import matplotlib.pyplot as plt

        out = Path(out)
        paths = []
        for name, df in (("estimates", self.estimates), ("quantities", self.quantities),
                         ("prediction_band", self.band), ("observations", self.observations),
                         ("starts", self.starts)):
            p = out / f"{name}.csv"
            df.to_csv(p, index=False)
            paths.append(p)
        fig = self.plot()
        fig.savefig(out / "fit.png", dpi=120)
        plt.close(fig)
        paths.append(out / "fit.png")
        (out / "summary.txt").write_text(self.summary() + "\n", encoding="utf-8")
        paths.append(out / "summary.txt")
        # metadata last: its presence marks a complete output folder
        from ..execution import json_text

        (out / "metadata.json").write_text(json_text(self.metadata), encoding="utf-8")
        paths.append(out / "metadata.json")
        return paths


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else (
        "not reached" if math.isinf(v) else f"{v:.4g}")


def clinical_quantities(traj: dict[str, np.ndarray], days: np.ndarray) -> dict[str, float]:
    """Quantities a clinician asks for, from one predicted course.

    Returns
    -------
    dict
        ``death_rate_blood_pct_per_day`` and ``death_rate_tissue_pct_per_day``: mean over
        :data:`DEATH_WINDOW_DAYS` (K1); ``redistributed_fraction_pct``: largest cumulative net
        tissue-to-blood flux over the initial tissue burden (K3); ``alc_normalisation_day``:
        first day after the ALC peak with ALC < 4,000/µL (inf if not within the horizon);
        ``ln_volume_6mo_cm3``, ``ln_volume_12mo_cm3``: nodal volume at 6 and 12 months.
    """
    lo, hi = DEATH_WINDOW_DAYS
    w = (days >= lo) & (days <= hi)
    alc = traj[ALC]
    peak = int(np.argmax(alc))
    below = np.nonzero(alc[peak:] < ALC_NORMAL_PER_UL)[0]
    norm_day = float(days[peak + below[0]]) if below.size else math.inf
    return {
        "death_rate_blood_pct_per_day": float(np.mean(traj["death_rate_blood_pct_per_day"][w])),
        "death_rate_tissue_pct_per_day": float(np.mean(traj["death_rate_tissue_pct_per_day"][w])),
        "redistributed_fraction_pct": float(100.0 * np.max(traj["cum_net_efflux"]) / traj["cells_tissue"][0]),
        "alc_normalisation_day": norm_day,
        "ln_volume_6mo_cm3": float(np.interp(MONTH_6_DAY, days, traj[LN_VOLUME])),
        "ln_volume_12mo_cm3": float(np.interp(MONTH_12_DAY, days, traj[LN_VOLUME])),
    }


QUANTITY_INFO = {
    "death_rate_blood_pct_per_day": ("%/day", "mean blood death rate, days 0-180 on treatment (K1)"),
    "death_rate_tissue_pct_per_day": ("%/day", "mean tissue death rate, days 0-180 on treatment (K1)"),
    "redistributed_fraction_pct": ("%", "tissue burden redistributed into blood (K3)"),
    "alc_normalisation_day": ("day", "first day after the peak with ALC < 4,000/µL (iwCLL)"),
    "ln_volume_6mo_cm3": ("cm3", "predicted lymph-node volume at 6 months"),
    "ln_volume_12mo_cm3": ("cm3", "predicted lymph-node volume at 12 months"),
}


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        disable=not enabled, transient=False,
    )


def fit_patient(
    data: PatientData,
    *,
    estimated: Sequence[str] = DEFAULT_ESTIMATED,
    n_starts: int = 20,
    seed: int = 0,
    uncertainty: Literal["laplace", "mcmc", "profile"] = "profile",
    n_samples: int = 1000,
    n_band: int = 40,
    horizon_days: float = 400.0,
    population_draws: Sequence[str] | None = PERSISTENCE_RESISTANCE,
    max_nfev: int = 40,
    table: ParameterTable | None = None,
    rtol: float = 3e-6,
    atol: float = 3e-8,
    drug: str = "ibrutinib",
    progress: bool = False,
    start_date: _dt.date | None = None,
    workers: int | None = 1,
    executor: Executor | None = None,
    n_procs: int | None = None,
) -> FitResult:
    """Fit a patient's kinetic parameters, with uncertainty and predictions.

    Parameters
    ----------
    data
        Validated measurements (:func:`read_patient_csv`).
    estimated
        Parameter ids to estimate (default: :data:`DEFAULT_ESTIMATED`, the jointly identifiable
        5; :data:`EXTENDED_ESTIMATED` has 10). When the IGHV status is unknown, ``bcr_strength``
        is added, with a prior spanning the U- and M-CLL values.
    n_starts
        Optimizer starts: the prior median, then draws from the priors.
    seed
        Seed of the start points, MCMC and band samples (recorded in metadata).
    uncertainty
        ``"profile"`` (default: profile posterior per parameter, ~10-20 s each for 6 months of
        data, run as tasks of the executor like the starts; band from the Laplace
        approximation), ``"laplace"`` (Gauss-Newton at the MAP, seconds) or ``"mcmc"``
        (adaptive Metropolis, ``n_samples`` steps; short chains undercover). Coverage of each in
        the recovery benchmark: see the module docstring.
    n_samples
        MCMC chain length.
    n_band
        Parameter vectors simulated for the prediction band and quantity intervals.
    horizon_days
        Prediction horizon, days (at least 366 to report 12-month volumes; extended to the last
        data day); e.g. 731 to forecast month 24 (:data:`MONTH_24_DAY`).
    population_draws
        Parameters not estimated whose value in each band vector is drawn from the population
        (log-normal around the patient's nominal value with the table's ``iivSD``, redrawn inside
        the table's bounds, as :mod:`cllsim.cohort` samples patients) instead of being fixed at
        nominal; the MAP course keeps them nominal. Default :data:`PERSISTENCE_RESISTANCE`: data
        of the first months cannot determine persistence and resistance, so a forecast of months
        6-24 must carry their spread. Ids that are estimated or have no between-patient SD are
        skipped; ``None`` or ``()`` fixes all at nominal. The drawn ids are in the band's
        ``population_drawn`` column and ``metadata["population_drawn"]``.
    max_nfev
        Most objective evaluations per start (excluding finite-difference Jacobians).
    table
        Parameters table (default: packaged, with the tables of the drugs taken).
    drug
        Drug of a regimen that names none (``"acalabrutinib"`` for ``"100 mg bid"``); a regimen
        may also name its drugs (``"zanubrutinib 160 mg bid"``).
    rtol, atol
        Solver tolerances of the fit engine. At rtol 3e-6 the residuals agree with rtol 1e-9 to
        ~5e-7 noise SDs and the finite-difference Jacobian to ~1e-7 relative (measured on the
        10-parameter speed benchmark's patient), at 3/4 of the cost of rtol 1e-6.
    progress
        Show rich progress bars.
    start_date
        Calendar date of day 0; adds the calendar date of ALC normalisation to the metadata
        (default: ``data.first_dose``).
    workers
        Local worker processes for the multistart starts and the profiles (tasks of a
        :class:`cllsim.execution.ProcessExecutor`; processes because libRoadRunner and the
        optimizer hold the GIL); 1 (default) runs them in this process; ``None``: one per
        usable core, at most one per task (the CLI's default). Workers are spawned: scripts
        calling this with ``workers > 1`` need the ``if __name__ == "__main__":`` guard.
    executor
        Run the starts and profiles on this executor instead (e.g. a
        :class:`cllsim.execution.DaskExecutor`); it is left open. Excludes ``workers``.
    n_procs
        Deprecated name of ``workers``.
    """
    if n_procs is not None:
        warnings.warn("fit_patient(n_procs=) is deprecated: use workers=", DeprecationWarning, stacklevel=2)
        workers = n_procs
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    if uncertainty not in ("laplace", "mcmc", "profile"):
        raise ValueError(f"uncertainty must be 'laplace', 'mcmc' or 'profile', got {uncertainty!r}")
    t_start = time.perf_counter()
    estimated = tuple(estimated)
    if data.ighv is None and "bcr_strength" not in estimated:
        # IGHV unknown: the BCR drive is estimated with a prior spanning U- and M-CLL values
        estimated = (*estimated, "bcr_strength")
    horizon = max(float(horizon_days), MONTH_12_DAY + 1.0, data.last_day)
    if table is None:  # the tables of every drug the patient took
        table = load_table(drug=model_drugs(parse_therapy(data.regimen, drug), drug))
    problem = FitProblem(data, estimated, horizon, table, rtol=rtol, atol=atol, drug=drug)
    drawn = _population_drawn(population_draws, estimated, table)
    ss = np.random.SeedSequence(seed)
    rng_start, rng_mcmc, rng_band = (np.random.default_rng(s) for s in ss.spawn(3))
    # own stream, so fixing the population draws leaves the posterior draws unchanged
    rng_population, rng_noise = (np.random.default_rng(s) for s in ss.spawn(2))
    x_starts = np.vstack([problem.x_prior()[None, :], problem.sample_prior(n_starts - 1, rng_start)])[:n_starts]
    pp = problem.pypesto_problem()
    optimizer = _optimizer(max_nfev)
    rows = []
    setup = _FitSetup(uuid.uuid4().hex, data, estimated, horizon, table, rtol, atol, max_nfev)
    # tasks run in this process (serial executor) reuse this problem instead of building another
    _PROBLEMS[_cache_key(setup)] = (problem, pp, optimizer)
    remote = _RemoteCount(problem)
    with _progress(progress) as bar, contextlib.ExitStack() as stack:
        stack.callback(_PROBLEMS.pop, _cache_key(setup), None)
        if executor is None:
            # one executor for the multistart and the profiles (worker start-up is paid once)
            n_tasks = max(n_starts, len(problem.ids) if uncertainty == "profile" else 0)
            executor = stack.enter_context(make_executor(workers, n_tasks=n_tasks))
        task = bar.add_task("multistart (pyPESTO, least squares)", total=n_starts)
        with remote.counting():
            rows = executor.execute([_StartTask(setup, i, x0) for i, x0 in enumerate(x_starts)],
                                    progress=lambda _i, _r: bar.advance(task))
        remote.add(sum(r["n_evaluations"] for r in rows))
        starts = pd.DataFrame(rows)
        ok = starts[~starts["failed"]]
        if ok.empty:
            raise RuntimeError("every optimizer start failed: the data cannot be fitted by this model")
        best = ok.loc[ok["fval"].idxmin()]
        x_map = np.asarray(best["x"], dtype=float)
        starts["converged"] = (~starts["failed"]) & (starts["fval"] <= best["fval"] + CONVERGED_TOL)
        t_opt = time.perf_counter() - t_start

        # --- uncertainty
        jac = problem.jacobian(x_map)
        cov = np.linalg.pinv(jac.T @ jac)
        sd_lap = np.sqrt(np.clip(np.diag(cov), 0, None))
        chain_info: dict[str, Any] = {}
        if uncertainty in ("laplace", "profile"):
            lo_x = x_map - 1.959964 * sd_lap
            hi_x = x_map + 1.959964 * sd_lap
            post_sd = sd_lap
            draws = rng_band.multivariate_normal(x_map, cov, size=n_band, method="svd")
            if uncertainty == "profile":
                lo_x, hi_x, chain_info = _profiles(setup, x_map, bar, executor, remote)
                # width of the profile interval in SD units, for the identifiability rule
                post_sd = (hi_x - lo_x) / (2 * 1.959964)
        else:
            chain, chain_info = _mcmc(problem, pp, x_map, cov, n_samples, rng_mcmc, bar)
            lo_x, hi_x = np.percentile(chain, [2.5, 97.5], axis=0)
            post_sd = np.std(chain, axis=0)
            draws = chain[rng_band.choice(len(chain), size=min(n_band, len(chain)), replace=False)]
        draws = np.clip(draws, problem.lb, problem.ub)
        lo_x, hi_x = np.maximum(lo_x, problem.lb), np.minimum(hi_x, problem.ub)

        t_unc = time.perf_counter() - t_start - t_opt

        # --- predictions
        days = np.union1d(np.arange(0.0, math.floor(horizon) + 1.0), problem.days)
        days = days[days <= horizon]
        task = bar.add_task("prediction band", total=len(draws) + 1)
        map_traj = _predict(problem, x_map, days)
        bar.advance(task)
        population = _draw_population(problem, drawn, len(draws), rng_population, table)
        band_values = [{**problem.to_values(x), **{pid: float(v[i]) for pid, v in population.items()}}
                       for i, x in enumerate(draws)]
        # one engine call: the compiled backend simulates the band's vectors as one batch
        outs = problem.engine.simulate_many(band_values, days, PREDICTED)
        trajs = [out.values for out in outs if out.ok]
        bar.advance(task, len(draws))
    if map_traj is None:
        raise RuntimeError("the best fit could not be simulated over the prediction horizon")

    estimates = _estimates_table(problem, x_map, lo_x, hi_x, post_sd)
    estimates["ci_low_laplace"] = np.exp(np.maximum(x_map - 1.959964 * sd_lap, problem.lb))
    estimates["ci_high_laplace"] = np.exp(np.minimum(x_map + 1.959964 * sd_lap, problem.ub))
    quantities = _quantities_table(map_traj, trajs, days)
    band = _band_table(map_traj, trajs, days, drawn, rng_noise)
    values_map = {**problem.nominal_values(), **problem.to_values(x_map)}
    metadata = {
        "cllsim_version": __version__,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "patient_id": data.patient_id,
        "source": data.source,
        "regimen": data.regimen.describe(),
        "dosing": data.dosing,
        "first_dose": day0.isoformat() if (day0 := start_date or data.first_dose) is not None else None,
        "ighv": data.ighv or "unknown",
        "ighv_model": problem.ighv_model,
        "seed": seed,
        "n_starts": n_starts,
        "execution": executor.describe(),
        "optimizer": "pyPESTO ScipyOptimizer ls_trf (trust-region reflective, FD Jacobian), log-scale parameters",
        "uncertainty": uncertainty,
        "mcmc" if uncertainty == "mcmc" else "profiles": chain_info,
        "n_band": len(trajs),
        "population_drawn": {pid: f"log-normal, median = nominal, SD of ln = {_iiv_sd(pid, table):g}, "
                                  "inside the table bounds" for pid in drawn},
        "noise_model": {k: f"log-normal, SD of ln = {v}" for k, v in NOISE_SD_LOG.items() if k in data.observed},
        "bands": {"param_low/param_high": "95% parameter band: the model course under parameter uncertainty "
                                          "(and the population draws)",
                  "pi_low/pi_high": "95% prediction interval: a new measurement, the parameter band's draws "
                                    f"with log-normal residual noise ({NOISE_DRAWS_PER_VECTOR} per draw); equal "
                                    "to the parameter band where there is no noise model"},
        "priors": "log-normal, median = nominal (IGHV), SD = iivSD of the parameters table",
        "estimated_parameters": list(problem.ids),
        "fixed_parameters": dict(NOT_ESTIMATED_REASONS),
        "not_identifiable": [p for p, s in zip(problem.ids, post_sd / problem.prior_sd, strict=True)
                             if s > IDENTIFIABILITY_RATIO],
        "failed_starts": int(starts["failed"].sum()),
        "parameter_hash": parameter_hash(values_map),
        "map_parameters": problem.to_values(x_map),
        "best_neg_log_posterior": float(best["fval"]),
        "n_data": problem.n_data,
        "horizon_days": horizon,
        "rtol": rtol,
        "atol": atol,
        "seconds_optimization": t_opt,
        "seconds_uncertainty": t_unc,
        "seconds_total": time.perf_counter() - t_start,
        "n_simulations": problem.n_evaluations + remote.count,
    }
    start_date = start_date or data.first_dose
    nd = quantities.set_index("quantity").loc["alc_normalisation_day", "estimate"]
    if start_date is not None and np.isfinite(nd):
        metadata["alc_normalisation_date"] = (start_date + _dt.timedelta(days=float(nd))).isoformat()
    result = FitResult(estimates, quantities, band, starts.drop(columns="x"), data, metadata)
    obs = result.observations
    metadata["n_outside_pi"] = int(obs["outside_pi"].sum())
    metadata["n_measurements"] = len(obs)
    return result


def _optimizer(max_nfev: int):
    import pypesto.optimize as optimize

    return optimize.ScipyOptimizer(method="ls_trf", options={"max_nfev": max_nfev})


def _run_start(problem: FitProblem, pp, optimizer, i: int, x0: np.ndarray) -> dict[str, Any]:
    """One pyPESTO start from ``x0``; a row of the starts table (with the end point ``x``)."""
    import pypesto
    import pypesto.optimize as optimize

    t0 = time.perf_counter()
    n0, f0 = problem.n_evaluations, problem.n_failures
    pp.startpoint_method = pypesto.startpoint.FunctionStartpoints(
        lambda n_starts, lb, ub, priors=None: np.asarray(x0)[None, :], use_guesses=False
    )
    result = optimize.minimize(
        pp, optimizer=optimizer, n_starts=1, ids=[f"start{i}"], progress_bar=False,
        options=optimize.OptimizeOptions(allow_failed_starts=True),
    )
    r = result.optimize_result.list[0]
    fval = float(r.fval) if r.fval is not None and np.isfinite(r.fval) else math.inf
    x = np.asarray(r.x, dtype=float) if r.x is not None else np.asarray(x0, dtype=float)
    failed = (not np.isfinite(fval)) or (r.exitflag is not None and r.exitflag < 0) or (
        problem.n_failures > f0 and problem.data_residuals(x) is None)
    return {"start": i, "fval": fval, "exitflag": r.exitflag, "message": str(r.message),
            "n_evaluations": problem.n_evaluations - n0, "failed_evaluations": problem.n_failures - f0,
            "seconds": time.perf_counter() - t0, "failed": bool(failed), "x": x}


# --- tasks of the multistart and the profiles (pyPESTO-style split: the executor decides where they run)


@dataclass(frozen=True, eq=False)
class _FitSetup:
    """What a worker needs to rebuild the fit problem; ``token`` names one fit_patient call."""

    token: str
    data: PatientData
    estimated: tuple[str, ...]
    horizon: float
    table: ParameterTable | None
    rtol: float
    atol: float
    max_nfev: int


#: Problems built per process and thread, by setup token (the calling thread registers its own).
_PROBLEMS: dict[tuple[str, int], tuple[FitProblem, Any, Any]] = {}
#: Fits (setup tokens) whose problems a worker keeps for later tasks (a Dask worker serves many fits).
_FITS_KEPT = 2


def _cache_key(setup: _FitSetup) -> tuple[str, int]:
    # per thread: a problem and its solver are not thread-safe (threaded Dask workers share a process)
    return setup.token, threading.get_ident()


def _problem_for(setup: _FitSetup) -> tuple[FitProblem, Any, Any]:
    """(problem, pyPESTO problem, optimizer) of ``setup`` in this thread, built on first use."""
    state = _PROBLEMS.get(_cache_key(setup))
    if state is None:
        problem = FitProblem(setup.data, setup.estimated, setup.horizon, setup.table, rtol=setup.rtol,
                             atol=setup.atol)
        state = (problem, problem.pypesto_problem(), _optimizer(setup.max_nfev))
        tokens = list(dict.fromkeys(token for token, _ in _PROBLEMS if token != setup.token))
        for old in tokens[: max(0, len(tokens) - (_FITS_KEPT - 1))]:  # oldest fits first
            for key in [k for k in _PROBLEMS if k[0] == old]:
                del _PROBLEMS[key]
        _PROBLEMS[_cache_key(setup)] = state
    return state


@dataclass(frozen=True, eq=False)
class _StartTask:
    """One optimizer start from ``x0``."""

    setup: _FitSetup
    index: int
    x0: np.ndarray

    def execute(self) -> dict[str, Any]:
        problem, pp, optimizer = _problem_for(self.setup)
        return _run_start(problem, pp, optimizer, self.index, self.x0)


@dataclass(frozen=True, eq=False)
class _ProfileTask:
    """The profile of parameter ``index`` from the MAP: (lower, upper, points, simulations)."""

    setup: _FitSetup
    x_map: np.ndarray
    index: int

    def execute(self) -> tuple[float, float, int, int]:
        problem, pp, _ = _problem_for(self.setup)
        n0 = problem.n_evaluations
        low, high, points = _profile_one(problem, pp, self.x_map, self.index)
        return low, high, points, problem.n_evaluations - n0


class _RemoteCount:
    """Simulations done by tasks in other processes (those in this one count on ``problem``)."""

    def __init__(self, problem: FitProblem):
        self.problem = problem
        self.count = 0
        self._local = 0

    @contextlib.contextmanager
    def counting(self):
        n0 = self.problem.n_evaluations
        try:
            yield
        finally:
            self._local += self.problem.n_evaluations - n0

    def add(self, n_by_tasks: int) -> None:
        """Credit ``n_by_tasks`` simulations reported by the tasks just run (minus those done here)."""
        self.count += max(0, n_by_tasks - self._local)
        self._local = 0


#: Likelihood ratio at the edge of a 95% profile interval: exp(-chi2_1(0.95) / 2).
PROFILE_RATIO_95 = 0.1465


def _profiles(setup: _FitSetup, x_map: np.ndarray, bar, executor: Executor, remote: _RemoteCount):
    """95% intervals from pyPESTO profiles of the posterior (one task per parameter)."""
    n = len(x_map)
    task = bar.add_task("profiles (pyPESTO)", total=n)
    with remote.counting():
        results = executor.execute([_ProfileTask(setup, x_map, j) for j in range(n)],
                                   progress=lambda _j, _r: bar.advance(task))
    remote.add(sum(r[3] for r in results))
    lo = np.array([r[0] for r in results])
    hi = np.array([r[1] for r in results])
    points = [r[2] for r in results]
    return lo, hi, {"points_per_profile": points, "confidence_ratio": PROFILE_RATIO_95}


def _profile_one(problem: FitProblem, pp, x_map: np.ndarray, j: int) -> tuple[float, float, int]:
    """Profile of parameter ``j`` from the MAP: (lower, upper) 95% bound (log scale) and points used."""
    import pypesto
    import pypesto.optimize as optimize
    import pypesto.profile as profile

    pp.startpoint_method = pypesto.startpoint.FunctionStartpoints(
        lambda n_starts, lb, ub, priors=None: np.asarray(x_map)[None, :], use_guesses=False
    )
    res = optimize.minimize(pp, optimizer=_optimizer(10), n_starts=1, progress_bar=False,
                            options=optimize.OptimizeOptions(allow_failed_starts=True))
    options = profile.ProfileOptions(default_step_size_absolute=0.1, min_step_size_absolute=0.02,
                                     max_step_size_absolute=0.5,
                                     ratio_min=PROFILE_RATIO_95 * 0.9)
    res = profile.parameter_profile(problem=pp, result=res, optimizer=_optimizer(10), profile_index=[j],
                                    profile_options=options, progress_bar=False)
    prof = res.profile_result.list[-1][j]
    xs, ratios = np.asarray(prof.x_path)[j, :], np.asarray(prof.ratio_path)
    order = np.argsort(xs)
    low, high = profile.calculate_approximate_ci(xs[order], ratios[order], PROFILE_RATIO_95)
    return float(low), float(high), int(xs.size)


def _mcmc(problem: FitProblem, pp, x_map, cov, n_samples: int, rng: np.random.Generator, bar):
    import logging

    import pypesto.sample as sample

    # pyPESTO's samplers draw from numpy's global state: seed it from this fit's own stream
    np.random.seed(int(rng.integers(2**31 - 1)))  # noqa: NPY002
    cov0 = cov + 1e-8 * np.eye(len(x_map))
    sampler = sample.AdaptiveMetropolisSampler(options={"cov0": cov0, "show_progress": False})
    task = bar.add_task(f"MCMC (pyPESTO adaptive Metropolis, {n_samples} samples)", total=None)
    log = logging.getLogger("pypesto")
    level = log.level
    log.setLevel(logging.WARNING)  # pyPESTO logs timings and the burn-in at INFO; they go in metadata
    try:
        res = sample.sample(pp, n_samples=n_samples, sampler=sampler, x0=x_map)
        burn_in = int(sample.geweke_test(res))
    finally:
        log.setLevel(level)
    bar.update(task, total=1, completed=1)
    trace = np.asarray(res.sample_result.trace_x[0])
    chain = trace[burn_in:] if len(trace) - burn_in >= 20 else trace[len(trace) // 2:]
    acc = float(np.mean(np.any(np.diff(trace, axis=0) != 0, axis=1))) if len(trace) > 1 else math.nan
    return chain, {"n_samples": n_samples, "burn_in": burn_in, "acceptance_rate": acc, "n_kept": len(chain)}


def _predict(problem: FitProblem, x: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray] | None:
    from .._errors import BaselineError

    try:
        out = problem.predict(x, days, PREDICTED)
    except BaselineError:
        return None
    return out.values if out.ok else None


def _estimates_table(problem: FitProblem, x_map, lo_x, hi_x, post_sd) -> pd.DataFrame:
    rows = []
    for j, p in enumerate(problem.parameters):
        ratio = float(post_sd[j] / p.prior_sd_log)
        identifiable = ratio <= IDENTIFIABILITY_RATIO
        plo, phi = p.prior_interval()
        rows.append({
            "parameterId": p.id, "parameterName": p.name, "unit": p.unit,
            "estimate": math.exp(x_map[j]), "ci_low": math.exp(lo_x[j]), "ci_high": math.exp(hi_x[j]),
            "prior_median": p.prior_median, "prior_low": plo, "prior_high": phi,
            "posterior_to_prior_sd": ratio, "identifiable": identifiable,
            "note": "" if identifiable else "not identifiable from these data: interval set by the prior",
        })
    return pd.DataFrame(rows)


def _quantities_table(map_traj, trajs, days) -> pd.DataFrame:
    q_map = clinical_quantities(map_traj, days)
    samples = [clinical_quantities(t, days) for t in trajs]
    rows = []
    for k, (unit, definition) in QUANTITY_INFO.items():
        vals = np.array([s[k] for s in samples]) if samples else np.array([q_map[k]])
        # "nearest": no interpolation, so a course that never normalises (inf) stays inf, not NaN
        lo, hi = np.percentile(vals, [2.5, 97.5], method="nearest")
        rows.append({"quantity": k, "unit": unit, "estimate": q_map[k], "ci_low": float(lo), "ci_high": float(hi),
                     "definition": definition})
    return pd.DataFrame(rows)


#: Measurement-noise draws per band vector for the interval of a new measurement.
NOISE_DRAWS_PER_VECTOR = 25


def _band_table(map_traj, trajs, days, drawn: Sequence[str], rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    for obs in BANDED:
        stack = np.array([t[obs] for t in trajs]) if trajs else np.array([map_traj[obs]])
        lo, hi = np.percentile(stack, [2.5, 97.5], axis=0)
        obs_lo, obs_hi = lo, hi
        if obs in NOISE_SD_LOG:
            # log-normal measurement error on every draw: the interval a new measurement falls in
            # the same draws on every day (common random numbers): each day's interval has the same
            # distribution as with independent draws, and the edges are smooth curves, not sampling noise
            noise = np.exp(NOISE_SD_LOG[obs] * rng.standard_normal((NOISE_DRAWS_PER_VECTOR, stack.shape[0], 1)))
            obs_lo, obs_hi = np.percentile((stack[None] * noise).reshape(-1, stack.shape[1]), [2.5, 97.5], axis=0)
        frames.append(pd.DataFrame({"day": days, "observable": obs, "map": map_traj[obs],
                                    "param_low": lo, "param_high": hi, "pi_low": obs_lo, "pi_high": obs_hi,
                                    "has_noise_model": obs in NOISE_SD_LOG, "population_drawn": ",".join(drawn)}))
    return pd.concat(frames, ignore_index=True)


def _iiv_sd(pid: str, table: ParameterTable | None) -> float:
    return (table or load_table()).rows[pid].iivSD


def _population_drawn(
    population_draws: Sequence[str] | None, estimated: Sequence[str], table: ParameterTable | None
) -> tuple[str, ...]:
    """Ids of ``population_draws`` to draw: known, not estimated, with a between-patient SD."""
    from .._errors import ParameterError
    from ..model import unknown_parameter

    if population_draws is None:
        return ()
    if isinstance(population_draws, str):
        raise ParameterError("population_draws must be a sequence of parameter ids, not one string")
    rows = (table or load_table()).rows
    for pid in population_draws:
        if pid not in rows:
            raise ParameterError(f"cannot draw {pid!r} from the population: {unknown_parameter(pid, rows)}")
    return tuple(pid for pid in dict.fromkeys(population_draws) if pid not in estimated and rows[pid].iivSD > 0)


def _draw_population(
    problem: FitProblem, drawn: Sequence[str], n: int, rng: np.random.Generator, table: ParameterTable | None
) -> dict[str, np.ndarray]:
    """``n`` values of each ``drawn`` id around the patient's nominal value (cohort sampling)."""
    from ..cohort import draw_lognormal_within_bounds

    rows = (table or load_table()).rows
    nominal = problem.nominal_values()
    return {pid: draw_lognormal_within_bounds(np.full(n, nominal[pid]), rows[pid].iivSD, rows[pid].lowerBound,
                                              rows[pid].upperBound, rng) for pid in drawn}

"""PEtab (v1) export of a patient's estimation problem, checked with ``petablint``.

Files written into the output folder:

``model.xml``
    The patient's SBML (:func:`cllsim.simulate.prepare`): dosing events of the regimen and the
    pre-treatment steady state of cell-carried states at the nominal parameters. Time is in
    hours, cells in 1e9.
``conditions.tsv``
    One condition, ``on_treatment`` (the regimen is in the model's events).
``observables.tsv``
    ALC, lymph-node and spleen CT volume, each with log-normal noise (``observableTransformation``
    ``log``; ``noiseFormula`` a fixed SD of the natural log, rows ``sigma_*`` of the parameters
    table; values from :data:`cllsim.fit.NOISE_SD_LOG`).
``measurements.tsv``
    The patient's data (``time`` in hours = day x 24). Without data: the noise-free course of the
    nominal patient at a standard visit schedule, as a worked example.
``parameters.tsv``
    Every model parameter; the estimated subset (:data:`cllsim.fit.DEFAULT_ESTIMATED`) on the
    natural-log scale with a ``parameterScaleNormal`` prior (median = nominal, SD = ``iivSD``),
    exactly the priors of ``cllsim fit``.
``problem.yaml``
    The PEtab problem file.

Caveat, also written into ``README.txt``: the SBML's initial cell-carried states (BCL2, CXCR4
expression) are those of the nominal parameters. A generic PEtab tool that changes trafficking or
BCR parameters starts from that state; ``cllsim fit`` re-establishes the untreated steady state
for each parameter vector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import SolverError
from ..drugs import DoseRecords, Regimen, parse_regimen
from ..model import DOSING_PARAMETER_IDS, ighv_conditions, load_table, write_sbml
from ._data import ALC, DAY, LN_VOLUME, SPLEEN_VOLUME, PatientData
from ._problem import DEFAULT_ESTIMATED, NOISE_SD_LOG, estimated_parameters

CONDITION_ID = "on_treatment"
OBSERVABLE_IDS = {ALC: "obs_alc_per_uL", LN_VOLUME: "obs_ln_volume_cm3", SPLEEN_VOLUME: "obs_spleen_volume_cm3"}
SIGMA_IDS = {ALC: "sigma_log_alc", LN_VOLUME: "sigma_log_ln_volume", SPLEEN_VOLUME: "sigma_log_spleen_volume"}
#: Visit days of the example data set written when no patient data is given.
EXAMPLE_DAYS = (0, 7, 14, 28, 56, 84, 112, 168, 252, 336)
FILES = ("model.xml", "conditions.tsv", "observables.tsv", "measurements.tsv", "parameters.tsv", "problem.yaml")


def _measurements(data: PatientData | None, regimen: Regimen | DoseRecords, ighv: str) -> pd.DataFrame:
    if data is None:
        # the fit engine: same model as cllsim.simulate (tested), without 700 SBML dosing events
        from ._engine import FitEngine

        days = np.asarray(EXAMPLE_DAYS, dtype=float)
        out = FitEngine(regimen, ighv, days=float(days[-1])).simulate({}, days, [ALC, LN_VOLUME, SPLEEN_VOLUME])
        if not out.ok:
            raise SolverError(f"example course could not be simulated: {out.detail}")
        table = pd.DataFrame({DAY: days, **{k: v for k, v in out.values.items()}})
    else:
        table = data.table
    rows = []
    for rec in table.to_dict("records"):
        for obs, oid in OBSERVABLE_IDS.items():
            v = rec.get(obs, math.nan)
            if v is not None and np.isfinite(v):
                rows.append({"observableId": oid, "simulationConditionId": CONDITION_ID,
                             "time": float(rec[DAY]) * 24.0, "measurement": float(v)})
    return pd.DataFrame(rows, columns=["observableId", "simulationConditionId", "time", "measurement"])


def petab_tables(
    regimen: Regimen | DoseRecords | str = "420 mg qd",
    ighv: str | None = "U",
    data: PatientData | None = None,
    estimated: Sequence[str] = DEFAULT_ESTIMATED,
) -> dict[str, pd.DataFrame]:
    """The PEtab tables (conditions, observables, measurements, parameters) as DataFrames.

    ``ighv=None`` (unknown): the model takes the U-CLL values and ``bcr_strength`` is estimated
    with a prior spanning both IGHV values, as in :func:`cllsim.fit.fit_patient`.
    """
    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    table = load_table()
    if ighv is None and "bcr_strength" not in estimated:
        estimated = (*estimated, "bcr_strength")
    nominal = table.with_values(ighv_conditions()[ighv or "U"]).values()
    est = {p.id: p for p in estimated_parameters(list(estimated), ighv, table)}
    observed = data.observed if data is not None else (ALC, LN_VOLUME, SPLEEN_VOLUME)

    conditions = pd.DataFrame({"conditionId": [CONDITION_ID], "conditionName": ["on the BTK-inhibitor regimen"]})
    observables = pd.DataFrame([
        {"observableId": OBSERVABLE_IDS[o], "observableName": o, "observableFormula": o,
         "observableTransformation": "log", "noiseFormula": SIGMA_IDS[o], "noiseDistribution": "normal"}
        for o in observed
    ])
    rows = []
    for pid, row in sorted(table.rows.items()):
        if pid in DOSING_PARAMETER_IDS:
            continue  # shapes the events written into the SBML; not a parameter the ODEs read
        if pid in est:
            p = est[pid]
            rows.append({"parameterId": pid, "parameterName": row.parameterName, "parameterScale": "log",
                         "lowerBound": p.lower, "upperBound": p.upper, "nominalValue": p.prior_median,
                         "estimate": 1, "objectivePriorType": "parameterScaleNormal",
                         "objectivePriorParameters": f"{math.log(p.prior_median)!r};{p.prior_sd_log!r}"})
        else:
            rows.append({"parameterId": pid, "parameterName": row.parameterName, "parameterScale": "lin",
                         "lowerBound": row.lowerBound, "upperBound": row.upperBound, "nominalValue": nominal[pid],
                         "estimate": 0, "objectivePriorType": "", "objectivePriorParameters": ""})
    for o in observed:
        rows.append({"parameterId": SIGMA_IDS[o], "parameterName": f"SD of ln({o}) measurement error",
                     "parameterScale": "lin", "lowerBound": 0.01, "upperBound": 2.0, "nominalValue": NOISE_SD_LOG[o],
                     "estimate": 0, "objectivePriorType": "", "objectivePriorParameters": ""})
    parameters = pd.DataFrame(rows)
    return {
        "conditions": conditions,
        "observables": observables,
        "measurements": _measurements(data, reg, ighv or "U"),
        "parameters": parameters,
    }


def export_petab(
    out: str | Path,
    *,
    regimen: Regimen | DoseRecords | str = "420 mg qd",
    ighv: str | None = "U",
    data: PatientData | None = None,
    days: float | None = None,
    estimated: Sequence[str] = DEFAULT_ESTIMATED,
) -> list[Path]:
    """Write a PEtab v1 problem for one patient into the folder ``out``.

    Parameters
    ----------
    out
        Output folder (created).
    regimen, ighv
        Regimen and IGHV status (``None``: unknown); with ``data``, its regimen and IGHV (when
        known) are used.
    data
        Patient measurements; ``None`` writes the nominal patient's course as example data.
    days
        Horizon of the dosing events, days (default: last measurement, at least 365).
    estimated
        Parameters marked for estimation.

    Returns
    -------
    list of Path
        Files written, ``problem.yaml`` last.
    """
    import yaml

    from ..simulate import Patient, prepare

    if data is not None:
        regimen = data.regimen
        ighv = data.ighv if data.ighv is not None else ighv
    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    tables = petab_tables(reg, ighv, data, estimated)
    last = float(tables["measurements"]["time"].max()) / 24.0 if len(tables["measurements"]) else 0.0
    horizon = float(days) if days is not None else max(365.0, last + 1.0)
    model = prepare(reg, Patient(ighv=ighv or "U"), days=horizon)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_sbml(model.sbml, out / "model.xml")]
    for name in ("conditions", "observables", "measurements", "parameters"):
        p = out / f"{name}.tsv"
        tables[name].to_csv(p, sep="\t", index=False)
        paths.append(p)
    readme = out / "README.txt"
    readme.write_text(
        "PEtab v1 problem written by cllsim (fit._petab).\n"
        f"Regimen: {reg.describe()}; IGHV: {ighv or 'unknown (model: U; bcr_strength estimated)'}.\n"
        "Model time unit: hour (measurement time = day x 24).\n"
        f"Data: {'patient ' + data.patient_id if data is not None else 'example: nominal patient, noise-free'}.\n"
        "Noise: log-normal, SD of ln(y) fixed by the sigma_* parameters.\n"
        "Priors: estimated parameters on natural-log scale, parameterScaleNormal(ln median, iivSD).\n"
        "Caveat: initial cell-carried states (BCL2, CXCR4 expression) in model.xml are the untreated\n"
        "steady state of the nominal parameters; cllsim fit re-equilibrates them per parameter vector.\n",
        encoding="utf-8",
    )
    paths.append(readme)
    problem = {
        "format_version": 1,
        "parameter_file": "parameters.tsv",
        "problems": [{
            "sbml_files": ["model.xml"],
            "condition_files": ["conditions.tsv"],
            "measurement_files": ["measurements.tsv"],
            "observable_files": ["observables.tsv"],
        }],
    }
    (out / "problem.yaml").write_text(yaml.safe_dump(problem, sort_keys=False), encoding="utf-8")
    paths.append(out / "problem.yaml")
    return paths

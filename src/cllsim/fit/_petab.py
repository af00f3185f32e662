"""PEtab (v1) export of a patient's estimation problem, built, checked and written with ``petab``.

The tables are :class:`pandas.DataFrame` objects with the column names of ``petab.v1.C``; the
problem is a ``petab.v1.Problem``, checked with ``petab.v1.lint_problem`` before anything is
written, written with petab's own writers into a staging folder, read back with
``petab.v1.Problem.from_yaml`` and checked again, and only then moved into the output folder
(``problem.yaml`` last). A problem petab refuses raises :class:`PetabLintError` naming petab's
complaints; no folder that looks complete is left behind.

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
    The PEtab problem file (written last: its presence marks a complete folder).

Caveat, also written into ``README.txt``: the SBML's initial cell-carried states (BCL2, CXCR4
expression) are those of the nominal parameters. A generic PEtab tool that changes trafficking or
BCR parameters starts from that state; ``cllsim fit`` re-establishes the untreated steady state
for each parameter vector.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ModelBuildError, SolverError
from ..drugs import DoseRecords, Regimen, parse_regimen
from ..model import DOSING_PARAMETER_IDS, ighv_conditions, load_table
from ._data import ALC, DAY, LN_VOLUME, SPLEEN_VOLUME, PatientData
from ._problem import DEFAULT_ESTIMATED, NOISE_SD_LOG, estimated_parameters

CONDITION_ID = "on_treatment"
OBSERVABLE_IDS = {ALC: "obs_alc_per_uL", LN_VOLUME: "obs_ln_volume_cm3", SPLEEN_VOLUME: "obs_spleen_volume_cm3"}
SIGMA_IDS = {ALC: "sigma_log_alc", LN_VOLUME: "sigma_log_ln_volume", SPLEEN_VOLUME: "sigma_log_spleen_volume"}
#: Visit days of the example data set written when no patient data is given.
EXAMPLE_DAYS = (0, 7, 14, 28, 56, 84, 112, 168, 252, 336)
#: Files of an exported problem, the completion marker ``problem.yaml`` last.
FILES = ("model.xml", "conditions.tsv", "observables.tsv", "measurements.tsv", "parameters.tsv", "problem.yaml")
#: Marker of a complete export folder.
MARKER = "problem.yaml"
#: Most of petab's complaints repeated in one error message.
MAX_LINT_MESSAGES = 5


class PetabLintError(ModelBuildError):
    """A PEtab problem that ``petab.v1.lint_problem`` refuses; the message carries petab's complaints."""


def _measurements(data: PatientData | None, regimen: Regimen | DoseRecords, ighv: str,
                  drug: str = "ibrutinib") -> pd.DataFrame:
    from petab.v1 import C

    if data is None:
        # the fit engine: same model as cllsim.simulate (tested), without 700 SBML dosing events
        from ._engine import FitEngine

        days = np.asarray(EXAMPLE_DAYS, dtype=float)
        out = FitEngine(regimen, ighv, days=float(days[-1]), drug=drug).simulate(
            {}, days, [ALC, LN_VOLUME, SPLEEN_VOLUME])
        if not out.ok:
            raise SolverError(f"example course could not be simulated: {out.detail}")
        table = pd.DataFrame({DAY: days, **{k: v for k, v in out.values.items()}})
    else:
        table = data.table
    columns = [C.OBSERVABLE_ID, C.SIMULATION_CONDITION_ID, C.TIME, C.MEASUREMENT]
    rows = []
    for rec in table.to_dict("records"):
        for obs, oid in OBSERVABLE_IDS.items():
            v = rec.get(obs, math.nan)
            if v is not None and np.isfinite(v):
                rows.append(dict(zip(columns, (oid, CONDITION_ID, float(rec[DAY]) * 24.0, float(v)), strict=True)))
    return pd.DataFrame(rows, columns=columns)


def petab_tables(
    regimen: Regimen | DoseRecords | str = "420 mg qd",
    ighv: str | None = "U",
    data: PatientData | None = None,
    estimated: Sequence[str] = DEFAULT_ESTIMATED,
    drug: str = "ibrutinib",
) -> dict[str, pd.DataFrame]:
    """The PEtab tables as DataFrames with petab's column names (``petab.v1.C``), not yet indexed.

    Keys ``conditions``, ``observables``, ``measurements``, ``parameters``. ``ighv=None``
    (unknown): the model takes the U-CLL values and ``bcr_strength`` is estimated with a prior
    spanning both IGHV values, as in :func:`cllsim.fit.fit_patient`.
    """
    from petab.v1 import C

    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    table = load_table(drug=drug)
    if ighv is None and "bcr_strength" not in estimated:
        estimated = (*estimated, "bcr_strength")
    nominal = table.with_values(ighv_conditions()[ighv or "U"]).values()
    est = {p.id: p for p in estimated_parameters(list(estimated), ighv, table)}
    observed = data.observed if data is not None else (ALC, LN_VOLUME, SPLEEN_VOLUME)

    conditions = pd.DataFrame({C.CONDITION_ID: [CONDITION_ID], C.CONDITION_NAME: ["on the BTK-inhibitor regimen"]})
    observables = pd.DataFrame([
        {C.OBSERVABLE_ID: OBSERVABLE_IDS[o], C.OBSERVABLE_NAME: o, C.OBSERVABLE_FORMULA: o,
         C.OBSERVABLE_TRANSFORMATION: C.LOG, C.NOISE_FORMULA: SIGMA_IDS[o], C.NOISE_DISTRIBUTION: C.NORMAL}
        for o in observed
    ])

    def fixed(pid: str, name: str, lower: float, upper: float, value: float) -> dict[str, Any]:
        return {C.PARAMETER_ID: pid, C.PARAMETER_NAME: name, C.PARAMETER_SCALE: C.LIN, C.LOWER_BOUND: lower,
                C.UPPER_BOUND: upper, C.NOMINAL_VALUE: value, C.ESTIMATE: 0, C.OBJECTIVE_PRIOR_TYPE: "",
                C.OBJECTIVE_PRIOR_PARAMETERS: ""}

    rows = []
    for pid, row in sorted(table.rows.items()):
        if pid in DOSING_PARAMETER_IDS:
            continue  # shapes the events written into the SBML; not a parameter the ODEs read
        if pid in est:
            p = est[pid]
            rows.append({C.PARAMETER_ID: pid, C.PARAMETER_NAME: row.parameterName, C.PARAMETER_SCALE: C.LOG,
                         C.LOWER_BOUND: p.lower, C.UPPER_BOUND: p.upper, C.NOMINAL_VALUE: p.prior_median,
                         C.ESTIMATE: 1, C.OBJECTIVE_PRIOR_TYPE: C.PARAMETER_SCALE_NORMAL,
                         C.OBJECTIVE_PRIOR_PARAMETERS: f"{math.log(p.prior_median)!r};{p.prior_sd_log!r}"})
        else:
            rows.append(fixed(pid, row.parameterName, row.lowerBound, row.upperBound, nominal[pid]))
    for o in observed:
        rows.append(fixed(SIGMA_IDS[o], f"SD of ln({o}) measurement error", 0.01, 2.0, NOISE_SD_LOG[o]))
    return {
        "conditions": conditions,
        "observables": observables,
        "measurements": _measurements(data, reg, ighv or "U", drug),
        "parameters": pd.DataFrame(rows),
    }


def problem_from_tables(sbml: str, tables: dict[str, pd.DataFrame]) -> Any:
    """A ``petab.v1.Problem`` of the SBML text and the tables of :func:`petab_tables` (indexed as petab wants).

    Not checked; :func:`lint_petab` or :func:`write_petab` check it.
    """
    import petab.v1 as petab
    from petab.v1.models.sbml_model import SbmlModel

    return petab.Problem(
        model=SbmlModel.from_string(sbml),
        condition_df=petab.get_condition_df(tables["conditions"].copy()),
        observable_df=petab.get_observable_df(tables["observables"].copy()),
        measurement_df=petab.get_measurement_df(tables["measurements"].copy()),
        parameter_df=petab.get_parameter_df(tables["parameters"].copy()),
    )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())
        if text and text != "Not OK":  # petab's closing verdict, not a complaint
            self.messages.append(text)


@contextmanager
def _petab_errors() -> Iterator[_Collect]:
    """Collect what petab logs as errors instead of letting it print to the root logger."""
    handler = _Collect()
    logger = logging.getLogger("petab")
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def lint_petab(problem: Any) -> list[str]:
    """petab's complaints about ``problem`` (``petab.v1.lint_problem``): empty when it passes."""
    import petab.v1 as petab

    with _petab_errors() as errors:
        try:
            failed = petab.lint_problem(problem)
        except Exception as exc:  # a table petab cannot even read (missing column): also a refusal
            errors.messages.append(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
            failed = True
    if failed and not errors.messages:
        errors.messages.append("petab's lint failed without a message")
    return errors.messages if failed else []


def _refuse(what: str, messages: list[str]) -> PetabLintError:
    shown = messages[:MAX_LINT_MESSAGES]
    more = f" (+{len(messages) - len(shown)} more)" if len(messages) > len(shown) else ""
    return PetabLintError(f"PEtab problem {what} fails petab's lint: " + "; ".join(shown) + more)


def write_petab(problem: Any, out: str | Path, *, readme: str | None = None, name: str = "") -> list[Path]:
    """Check ``problem`` with petab's lint, write it with petab's writers, check it again, publish it.

    Parameters
    ----------
    problem
        A ``petab.v1.Problem`` with an SBML model and the four tables.
    out
        Output folder (created). Files appear there only if both checks pass, ``problem.yaml`` last.
    readme
        Text of a ``README.txt`` written alongside (optional).
    name
        What the problem is, for error messages (e.g. the patient).

    Returns
    -------
    list of Path
        The files in ``out``, ``problem.yaml`` last.

    Raises
    ------
    PetabLintError
        When petab refuses the problem, before or after writing; ``out`` is then left unchanged.
    """
    import petab.v1 as petab

    from ..execution import staged_output

    what = f"{name!r}" if name else "(export)"
    messages = lint_petab(problem)
    if messages:
        raise _refuse(what, messages)
    with staged_output(out, marker=MARKER) as stage:
        problem.to_files(
            model_file="model.xml", condition_file="conditions.tsv", observable_file="observables.tsv",
            measurement_file="measurements.tsv", parameter_file="parameters.tsv", yaml_file=MARKER,
            prefix_path=stage,
        )
        # read back what was written: a table that does not survive the round trip is refused too
        with _petab_errors() as errors:
            try:
                again = petab.Problem.from_yaml(stage / MARKER)
            except Exception as exc:
                raise _refuse(f"{what} as written", [*errors.messages, f"{type(exc).__name__}: {exc}"]) from None
        messages = lint_petab(again)
        if messages:
            raise _refuse(f"{what} as written", messages)
        if readme is not None:
            (stage / "README.txt").write_text(readme, encoding="utf-8")
        names = sorted(p.name for p in stage.iterdir() if p.name != MARKER)
    out = Path(out)
    return [out / n for n in names] + [out / MARKER]


def petab_problem(
    *,
    regimen: Regimen | DoseRecords | str = "420 mg qd",
    ighv: str | None = "U",
    data: PatientData | None = None,
    days: float | None = None,
    estimated: Sequence[str] = DEFAULT_ESTIMATED,
    drug: str = "ibrutinib",
) -> Any:
    """The patient's ``petab.v1.Problem`` (see :func:`export_petab` for the arguments); not yet linted."""
    from ..simulate import Patient, prepare

    if data is not None:
        regimen = data.regimen
        ighv = data.ighv if data.ighv is not None else ighv
    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    tables = petab_tables(reg, ighv, data, estimated, drug)
    from petab.v1 import C

    times = tables["measurements"][C.TIME]
    last = float(times.max()) / 24.0 if len(times) else 0.0
    horizon = float(days) if days is not None else max(365.0, last + 1.0)
    model = prepare(reg, Patient(ighv=ighv or "U"), days=horizon, drug=drug)
    return problem_from_tables(model.sbml, tables)


def export_petab(
    out: str | Path,
    *,
    regimen: Regimen | DoseRecords | str = "420 mg qd",
    ighv: str | None = "U",
    data: PatientData | None = None,
    days: float | None = None,
    estimated: Sequence[str] = DEFAULT_ESTIMATED,
    drug: str = "ibrutinib",
) -> list[Path]:
    """Write a PEtab v1 problem for one patient into the folder ``out``, checked by petab's lint.

    Parameters
    ----------
    out
        Output folder (created); files appear only when petab's lint passes, ``problem.yaml`` last.
    regimen, ighv
        Regimen and IGHV status (``None``: unknown); with ``data``, its regimen and IGHV (when
        known) are used.
    data
        Patient measurements; ``None`` writes the nominal patient's course as example data.
    days
        Horizon of the dosing events, days (default: last measurement, at least 365).
    estimated
        Parameters marked for estimation.
    drug
        Drug of the regimen (its PK table and block in the model).

    Returns
    -------
    list of Path
        Files written, ``problem.yaml`` last.

    Raises
    ------
    PetabLintError
        When petab refuses the problem (nothing is written).
    """
    if data is not None:
        regimen = data.regimen
        ighv = data.ighv if data.ighv is not None else ighv
    reg = parse_regimen(regimen) if isinstance(regimen, str) else regimen
    problem = petab_problem(regimen=reg, ighv=ighv, data=data, days=days, estimated=estimated, drug=drug)
    readme = (
        "PEtab v1 problem written by cllsim with the petab library, checked by petab's lint.\n"
        f"Regimen: {reg.describe()}; IGHV: {ighv or 'unknown (model: U; bcr_strength estimated)'}.\n"
        "Model time unit: hour (measurement time = day x 24).\n"
        f"Data: {'patient ' + data.patient_id if data is not None else 'example: nominal patient, noise-free'}.\n"
        "Noise: log-normal, SD of ln(y) fixed by the sigma_* parameters.\n"
        "Priors: estimated parameters on natural-log scale, parameterScaleNormal(ln median, iivSD).\n"
        "Caveat: initial cell-carried states (BCL2, CXCR4 expression) in model.xml are the untreated\n"
        "steady state of the nominal parameters; cllsim fit re-equilibrates them per parameter vector.\n"
    )
    name = f"patient {data.patient_id}" if data is not None else "example patient"
    return write_petab(problem, out, readme=readme, name=name)

"""CLI: ``cllsim fit`` and ``cllsim export petab`` (attached by :mod:`cllsim.cli`)."""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Annotated

import typer

from ..execution import SchedulerOpt, TlsCaOpt, TlsCertOpt, TlsKeyOpt, WorkersOpt, output_path

#: Fewest parameter draws for the 95% prediction band: its 2.5% and 97.5% percentiles fall
#: between draws only from 40 draws on (1 / 0.025); fewer give the range of the draws instead.
MIN_BAND_DRAWS = 40
#: Longest prediction horizon ``--days`` accepts, days (10 years).
MAX_HORIZON_DAYS = 3652.5

MaxDosesOpt = Annotated[
    int | None,
    typer.Option("--max-doses", help="Most doses the regimen may have up to the last visit (default 100000)."),
]


def _ighv(value: str | None) -> str | None:
    from ..cli import UsageError

    if value is None:
        return None
    v = value.strip().upper().removesuffix("-CLL")
    if v in {"", "UNKNOWN", "?"}:
        return None
    if v not in {"U", "M"}:
        raise UsageError(f"--ighv must be U or M (omit it when unknown), got {value!r}")
    return v


DrugOpt = Annotated[str, typer.Option(
    "--drug", help="Drug of a regimen that names none: ibrutinib, acalabrutinib, zanubrutinib, pirtobrutinib.")]


def _one_drug(text: str, max_doses: int | None, drug: str):
    """The regimen of ``--regimen`` and its drug: a fit takes one drug (a course may name it)."""
    from ..cli import UsageError, regimen_option

    therapy = regimen_option(text, max_doses, drug)
    if len(therapy.courses) > 1 or therapy.at_progression is not None:
        raise UsageError("fit takes one drug's regimen (dose records may name several drugs); "
                         f"got {therapy.describe()!r}")
    if not therapy.courses:
        from ..drugs import Regimen

        return Regimen.untreated(), drug
    return therapy.courses[0].regimen, therapy.courses[0].drug


def _date_option(text: str | None, option: str) -> _dt.date | None:
    from ..cli import UsageError

    if text is None:
        return None
    try:
        return _dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} must be YYYY-MM-DD, got {text!r}") from None


def _fit_many(patients, out: Path, settings: dict, n_workers: int | None, scheduler: str | None,
              tls: tuple[Path | None, Path | None, Path | None]) -> None:
    """``cllsim fit`` of a file with patient ids: one task per patient, ``out/<id>/``, ``out/summary.csv``."""
    from ..cli import console, fail
    from ..execution import executor_from_options
    from ._multi import fit_patients

    executor = executor_from_options(n_workers, scheduler, *tls, n_tasks=len(patients))
    with executor:
        summary = fit_patients(patients.patients, out, executor=executor, progress=True, **settings)
    for r in summary.itertuples():
        if r.status == "fitted":
            flag = f", {r.n_outside_pi} of {r.n_measurements} measurements outside the 95% prediction interval"
            console.print(f"patient {r.id}: fitted{flag}", highlight=False)
        else:
            console.print(f"patient {r.id}: FAILED: {r.error}", highlight=False)
    console.print(f"wrote {out}/<id>/ for each fitted patient, {out}/summary.csv, estimates.csv, observations.csv, "
                  "metadata.json", highlight=False)
    failed = summary[summary["status"] != "fitted"]
    if len(failed):
        fail(f"{len(failed)} of {len(summary)} patients could not be fitted ({', '.join(failed['id'])}); "
             f"the others are in {out}/ (see summary.csv)")


def fit_command(
    data: Annotated[Path, typer.Argument(
        help="CSV with day (or date), alc_per_uL [, ln_volume_cm3, spleen_volume_cm3, id, ighv], or a NONMEM-style "
             "dataset (ID, TIME or DATE, DV, CMT or DVID, MDV, EVID, AMT, II, ADDL); see docs/fitting.md.")],
    regimen: Annotated[str, typer.Option("--regimen", help='Regimen taken, day 0 = first dose, e.g. "420 mg qd".')] = (
        "420 mg qd"
    ),
    ighv: Annotated[str | None, typer.Option("--ighv", help="IGHV status U or M; omit when unknown.")] = None,
    out: Annotated[Path, typer.Option("--out", parser=output_path, help="Output folder.")] = Path("cllsim_fit"),
    starts: Annotated[int, typer.Option("--starts", help="Optimizer starts (multistart).")] = 20,
    uncertainty: Annotated[
        str, typer.Option("--uncertainty", help="profile (pyPESTO profile likelihood), laplace (fast) or mcmc.")
    ] = "profile",
    samples: Annotated[int, typer.Option("--samples", help="MCMC chain length.")] = 1000,
    band: Annotated[int, typer.Option("--band", help="Parameter draws simulated for the prediction band.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (starts, MCMC, band).")] = 0,
    days: Annotated[
        float, typer.Option("--days", help="Prediction horizon, days (>= 366; 731 forecasts month 24).")
    ] = 400.0,
    population: Annotated[
        bool,
        typer.Option("--population/--fixed-population",
                     help="Draw persistence/resistance parameters from the population in the band (default) "
                          "or fix them at nominal."),
    ] = True,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    scheduler_tls_ca: TlsCaOpt = None,
    scheduler_tls_cert: TlsCertOpt = None,
    scheduler_tls_key: TlsKeyOpt = None,
    procs: Annotated[
        int | None, typer.Option("--procs", hidden=True, help="Deprecated: use --workers (0: one per core).")
    ] = None,
    estimate: Annotated[
        str | None, typer.Option("--estimate", help="default (5, identifiable), extended (10) or comma-separated ids.")
    ] = None,
    start_date: Annotated[
        str | None, typer.Option("--start-date", help="Same as --first-dose (older name).")
    ] = None,
    first_dose: Annotated[
        str | None,
        typer.Option("--first-dose", help="Date of the first dose (YYYY-MM-DD): day 0 of a date column; dates the "
                                          "predictions. Default with dated dose records: the first record."),
    ] = None,
    cmt: Annotated[
        str | None,
        typer.Option("--cmt", help="NONMEM observation types (CMT or DVID codes), e.g. "
                                   "'1=alc_per_uL,2=ln_volume_cm3,3=spleen_volume_cm3' (the default)."),
    ] = None,
    time_unit: Annotated[
        str, typer.Option("--time-unit", help="Unit of a NONMEM dataset's TIME and II: h (default) or day.")
    ] = "h",
    max_doses: MaxDosesOpt = None,
    drug: DrugOpt = "ibrutinib",
) -> None:
    """Fit the model to a patient's counts and CT volumes; estimates, intervals, predictions, figure."""
    from ..cli import UsageError, console, run_guarded, warn
    from ..execution import staged_output

    def go() -> None:
        from .._errors import InputError, ModelError
        from ..execution import executor_from_options
        from ..model import PATIENT, load_table
        from ..simulate import host_regimen_warnings
        from ._dataset import TIME_UNITS, parse_cmt, read_patients
        from ._fit import PERSISTENCE_RESISTANCE, fit_patient
        from ._problem import parse_subset

        if starts < 1:
            raise UsageError(f"--starts must be >= 1, got {starts}")
        if uncertainty not in {"mcmc", "laplace", "profile"}:
            raise UsageError(f"--uncertainty must be mcmc, profile or laplace, got {uncertainty!r}")
        if uncertainty == "mcmc" and samples < 50:
            raise UsageError(f"--samples must be >= 50 for MCMC, got {samples}")
        n_workers = workers
        if procs is not None:
            warn("--procs is deprecated, use --workers")
            if workers is not None:
                raise UsageError("give --workers only (--procs is its deprecated name)")
            if procs < 0:
                raise UsageError(f"--procs must be >= 0 (0: one per CPU core), got {procs}")
            n_workers = procs or None
        if band < MIN_BAND_DRAWS:
            raise UsageError(
                f"--band must be >= {MIN_BAND_DRAWS} for a 95% prediction band (fewer draws give their range), "
                f"got {band}"
            )
        if not math.isfinite(days) or days < 1 or days > MAX_HORIZON_DAYS:
            raise UsageError(f"--days must be between 1 and {MAX_HORIZON_DAYS:g} days, got {days:g}")
        date = _date_option(first_dose, "--first-dose")
        older = _date_option(start_date, "--start-date")
        if date is not None and older is not None and date != older:
            raise UsageError("--start-date is the older name of --first-dose: give one")
        date = date or older
        try:
            ids = parse_subset(estimate)
        except InputError as exc:
            raise UsageError(f"--estimate: {exc}") from None
        try:
            cmt_map = parse_cmt(cmt)
        except InputError as exc:
            raise UsageError(f"--cmt: {exc}") from None
        if time_unit not in TIME_UNITS:
            raise UsageError(f"--time-unit must be h or day, got {time_unit!r}")
        reg, drug_name = _one_drug(regimen, max_doses, drug)
        patients = read_patients(data, regimen=reg, ighv=_ighv(ighv),
                                 first_dose=date, cmt=cmt_map, time_unit=time_unit)
        for note in patients.notes:
            warn(note)
        if any(p.dosing == "dose records" for p in patients):
            warn("dosing from the file's dose records (--regimen applies only to patients without any)")
        values = load_table().values()
        for patient in patients:
            # doses up to the prediction horizon (at least 366 days: the 12-month quantities)
            patient.regimen.check_dose_count(max(patient.last_day, days, 366.25) * 24.0)
            for message in host_regimen_warnings(patient.regimen, PATIENT, patient.last_day, values):
                warn(f"patient {patient.patient_id}: {message}" if patients.by_id else message)
            records = getattr(patient.regimen, "records", None)
            if records:
                last_dose_day = max(r.time_h + r.addl * r.ii_h for r in records) / 24.0
                horizon = max(days, 366.25, patient.last_day)
                if last_dose_day + 1.0 < horizon:
                    warn(f"patient {patient.patient_id}: the dose records end on day {last_dose_day:g}; the prediction "
                         f"to day {horizon:g} assumes no dose after it (add ADDL to continue the dosing)")
        settings = {"estimated": ids, "n_starts": starts, "seed": seed, "uncertainty": uncertainty,
                    "n_samples": samples, "n_band": band, "horizon_days": days,
                    "population_draws": PERSISTENCE_RESISTANCE if population else None, "drug": drug_name}
        if patients.by_id:
            _fit_many(patients, out, settings, n_workers, scheduler, (scheduler_tls_ca, scheduler_tls_cert,
                                                                       scheduler_tls_key))
            return
        patient = patients.patients[0]
        n_tasks = max(starts, len(ids) + (patient.ighv is None) if uncertainty == "profile" else 0)
        executor = executor_from_options(
            n_workers, scheduler, scheduler_tls_ca, scheduler_tls_cert, scheduler_tls_key, n_tasks=n_tasks
        )
        with executor, staged_output(out) as stage:
            try:
                result = fit_patient(
                    patient, progress=True, start_date=date, executor=executor, **settings,
                )
            except ModelError:
                raise  # an engine failure is not the user's mistake (exit 1)
            except RuntimeError as exc:
                # no start could be fitted (e.g. every start left the model's feasible baselines):
                # these data cannot be fitted as given, which the user must hear as such
                raise UsageError(f"fit failed: {exc}") from None
            result.save(stage)
        console.print(result.summary(), highlight=False)
        if result.non_identifiable:
            console.print(f"not identifiable from these data: {', '.join(result.non_identifiable)}", highlight=False)
        console.print(f"wrote {out}/estimates.csv, quantities.csv, prediction_band.csv, observations.csv, starts.csv, "
                      "fit.png, summary.txt, metadata.json")

    run_guarded(go)


def export_petab_command(
    out: Annotated[Path, typer.Argument(parser=output_path, help="Folder to write the PEtab problem into.")],
    data: Annotated[Path | None, typer.Option("--data", help="Patient CSV to use as measurements.")] = None,
    regimen: Annotated[str, typer.Option("--regimen", help='Regimen, e.g. "420 mg qd".')] = "420 mg qd",
    ighv: Annotated[str | None, typer.Option("--ighv", help="IGHV status U or M; omit when unknown.")] = None,
    max_doses: MaxDosesOpt = None,
    drug: DrugOpt = "ibrutinib",
) -> None:
    """Export a PEtab problem (model, conditions, observables, measurements, parameters with priors)."""
    from ..cli import console, run_guarded

    def go() -> None:
        from ._data import read_patient_csv
        from ._petab import export_petab

        status = _ighv(ighv)
        reg, drug_name = _one_drug(regimen, max_doses, drug)
        patient = read_patient_csv(data, regimen=reg, ighv=status) if data is not None else None
        # export_petab lints the problem with petab and stages its files itself
        export_petab(out, regimen=reg, ighv=status, data=patient, drug=drug_name)
        console.print(f"wrote PEtab problem {out}/problem.yaml (checked with petab's lint)")

    run_guarded(go)


def register(app: typer.Typer) -> None:
    """Add ``fit`` and ``export petab`` to the cllsim app."""
    app.command("fit")(fit_command)
    export = next((g.typer_instance for g in app.registered_groups if g.name == "export"), None)
    if export is not None:
        export.command("petab")(export_petab_command)
    else:  # pragma: no cover - the core app always has an export group
        app.command("export-petab")(export_petab_command)

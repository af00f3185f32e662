"""``cllsim cohort``: a virtual trial from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..execution import SchedulerOpt, TlsCaOpt, TlsCertOpt, TlsKeyOpt, WorkersOpt, output_path

#: Patients of a sampled cohort when ``--n`` is not given.
DEFAULT_N = 1000


def parse_covariates(items: list[str]) -> dict[str, dict[str, float]]:
    """``--covariate body_weight_kg=70:0.25`` (median in the id's unit, optional SD of its log) as spec fields."""
    from .._validation import did_you_mean
    from ..cli import UsageError
    from ._population import COVARIATES, table_covariates

    out: dict[str, dict[str, float]] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"--covariate {item!r}: expected NAME=MEDIAN or NAME=MEDIAN:SD_LOG")
        if name not in COVARIATES:
            raise UsageError(f"--covariate: unknown covariate {name!r}{did_you_mean(name, COVARIATES)} "
                             f"(covariates: {', '.join(COVARIATES)})")
        if name in out:
            raise UsageError(f"--covariate {name} given twice")
        median_text, _, sd_text = rest.partition(":")
        try:
            median = float(median_text)
            sd = float(sd_text) if sd_text.strip() else table_covariates()[name]["sd_log"]
        except ValueError:
            raise UsageError(f"--covariate {item!r}: MEDIAN and SD_LOG must be numbers") from None
        out[name] = {"median": median, "sd_log": sd}
    return out


def read_spec_file(path: Path) -> dict[str, Any]:
    """The spec fields of ``--spec FILE``: a JSON object of :class:`CohortSpec` fields, or a ``cohort.json``."""
    import json

    from ..cli import UsageError

    try:
        if path.stat().st_size > 10_000_000:
            raise UsageError(f"--spec {str(path)!r} is over 10 MB; a cohort spec is a few hundred bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--spec {str(path)!r}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--spec {str(path)!r} cannot be read ({exc})") from None
    except ValueError as exc:
        raise UsageError(f"--spec {str(path)!r} is not JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("spec"), dict):
        data = data["spec"]  # the cohort.json (or metadata.json) of an earlier run
    if not isinstance(data, dict):
        raise UsageError(f"--spec {str(path)!r}: expected a JSON object of cohort spec fields")
    return data


def given_options(ctx: typer.Context) -> set[str]:
    """Parameters of the command given on its command line (not left at their defaults)."""
    # by name: typer may carry its own copy of click, whose ParameterSource is another enum
    return {k for k in ctx.params if getattr(ctx.get_parameter_source(k), "name", None) == "COMMANDLINE"}


def merge_spec(base: dict[str, Any], options: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """Spec fields of ``--spec`` with those of the options given on the command line (``given``) on top."""
    fields = dict(base)
    for name in ("ighv_u_fraction", "regimen", "drug", "days", "seed", "chunk_size", "max_doses"):
        if name in given:
            fields[name] = options[name]
    if "n" in given:
        fields["n"] = options["n"]
    if "population" in given:
        fields["population"] = options["population"]
        if "n" not in given:
            fields.pop("n", None)  # the new file's rows
    if "rtol" in given:
        fields["rtol"], fields["atol"] = options["rtol"], options["atol"]
    if {"times", "step"} & given:
        fields["times"], fields["step"] = options["times"], options["step"]
    for key, value in options.items():
        if key.startswith(("body_weight_", "baseline_")) and "covariate" in given and isinstance(value, dict):
            fields[key] = value
    alc = {"baseline_alc": "median", "baseline_alc_sd_log": "sd_log"}
    if set(alc) & given:
        merged = dict(fields.get("baseline_alc_per_uL") or {})
        from ._population import table_covariates

        merged = {**table_covariates()["baseline_alc_per_uL"], **merged}
        for opt, key in alc.items():
            if opt in given:
                merged[key] = options[opt]
        fields["baseline_alc_per_uL"] = merged
    return fields


def register(app: typer.Typer) -> None:
    """Attach the ``cohort`` command to the cllsim app."""

    @app.command()
    def cohort(
        ctx: typer.Context,
        n: Annotated[
            int | None,
            typer.Option("--n", help="Number of evaluable virtual patients (infeasible baselines are drawn again); "
                         f"default {DEFAULT_N}, or the rows of --population."),
        ] = None,
        population: Annotated[
            Path | None,
            typer.Option("--population", help="CSV of patients (id, ighv, covariates/parameter ids in table units) "
                         "to simulate instead of sampling."),
        ] = None,
        covariate: Annotated[
            list[str] | None,
            typer.Option("--covariate", help="Covariate distribution NAME=MEDIAN[:SD_LOG], e.g. body_weight_kg=70:0.25 "
                         "(log-normal; repeatable; names: body_weight_kg, baseline_alc_per_uL, baseline_ln_volume_cm3, "
                         "baseline_spleen_volume_cm3, baseline_bm_infiltration_pct)."),
        ] = None,
        max_doses: Annotated[
            int | None,
            typer.Option("--max-doses", help="Most doses the regimen may have in the simulated time (default 100000)."),
        ] = None,
        spec_file: Annotated[
            Path | None,
            typer.Option("--spec", help="JSON of cohort spec fields (or an earlier run's cohort.json); options given "
                         "on the command line override it."),
        ] = None,
        ighv_u_fraction: Annotated[
            float, typer.Option("--ighv-u-fraction", help="Share of U-CLL (unmutated IGHV) patients, 0-1.")
        ] = 0.55,
        regimen: Annotated[str, typer.Option(
            "--regimen", help='Regimen or therapy, e.g. "420 mg qd", "ibrutinib 420 mg qd x 420 + venetoclax '
            'ramp-up; 400 mg qd x 301 from day 84", "420 mg qd until progression then pirtobrutinib 200 mg qd".')
        ] = "420 mg qd",
        drug: Annotated[str, typer.Option("--drug", help="Drug of a regimen that names none.")] = "ibrutinib",
        days: Annotated[float, typer.Option("--days", help="Follow-up after treatment start, days.")] = 365.0,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the population draw.")] = 0,
        out: Annotated[
            Path, typer.Option("--out", parser=output_path, help="Output folder (a rerun resumes it).")
        ] = Path("cohort_out"),
        workers: WorkersOpt = None,
        scheduler: SchedulerOpt = None,
        scheduler_tls_ca: TlsCaOpt = None,
        scheduler_tls_cert: TlsCertOpt = None,
        scheduler_tls_key: TlsKeyOpt = None,
        chunk_size: Annotated[int, typer.Option("--chunk-size", help="Patients per chunk / Parquet file.")] = 2000,
        rtol: Annotated[
            float | None,
            typer.Option("--rtol", help="Relative tolerance of the cohort engine (atol = rtol x 1e-4); default 1e-5."),
        ] = None,
        baseline_alc: Annotated[
            float | None, typer.Option("--baseline-alc", help="Median baseline ALC (/µL); default: table value.")
        ] = None,
        baseline_alc_sd_log: Annotated[
            float | None, typer.Option("--baseline-alc-sd-log", help="SD of log baseline ALC; default: table iivSD.")
        ] = None,
        times: Annotated[
            str | None,
            typer.Option("--times", help="Trajectory output times, days, comma-separated (default: daily)."),
        ] = None,
        step: Annotated[
            float | None, typer.Option("--step", help="Trajectory output every STEP days (e.g. 0.125 = 3 h).")
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Run a cohort estimated above 24 CPU-hours (refused without it).")
        ] = False,
    ) -> None:
        """Simulate a virtual cohort; write chunked Parquet, iwCLL endpoint summary and figures."""
        from ..cli import UsageError, console, err_console, parse_times, run_guarded, times_option

        def go() -> None:
            from ..execution import executor_from_options
            from ._population import CohortSpec
            from ._run import CohortMismatchError, run_cohort, write_outputs

            if n is not None and n < 1:
                raise UsageError(f"--n must be >= 1, got {n}")
            if max_doses is not None and max_doses < 1:
                raise UsageError(f"--max-doses must be >= 1, got {max_doses}")
            covariates = parse_covariates(covariate or [])
            if "baseline_alc_per_uL" in covariates and (baseline_alc is not None or baseline_alc_sd_log is not None):
                raise UsageError("give --covariate baseline_alc_per_uL=... or --baseline-alc/--baseline-alc-sd-log, "
                                 "not both")
            if population is not None and covariates:
                raise UsageError("--covariate draws a population; --population gives one (use one or the other)")
            if not 0.0 <= ighv_u_fraction <= 1.0:
                raise UsageError(f"--ighv-u-fraction must be between 0 and 1, got {ighv_u_fraction:g}")
            if not days > 0:
                raise UsageError(f"--days must be > 0, got {days:g}")
            if out.exists() and not out.is_dir():
                raise UsageError(f"--out {str(out)!r} exists and is not a folder")
            if rtol is not None and not 0 < rtol < 1:
                raise UsageError(f"--rtol must be between 0 and 1, got {rtol:g}")  # atol follows from it
            tolerances = {} if rtol is None else {"rtol": rtol, "atol": rtol * 1e-4}
            base = read_spec_file(spec_file) if spec_file is not None else None
            grid_days = days if base is None or "days" in given_options(ctx) else base.get("days", days)
            if isinstance(grid_days, int | float):
                times_option(grid_days, times, step)  # a malformed grid is refused in one line before anything runs
            grid_times = tuple(parse_times(times) or ()) or None
            fields: dict[str, Any] = {
                "n": n if n is not None or population is not None else DEFAULT_N, "ighv_u_fraction": ighv_u_fraction,
                "regimen": regimen, "drug": drug, "days": days, "seed": seed, "chunk_size": chunk_size,
                "times": grid_times,
                "step": step, "max_doses": max_doses, "population": population, **covariates, **tolerances,
            }
            if base is not None:
                options = {**fields, "rtol": rtol, "atol": None if rtol is None else rtol * 1e-4, "n": n,
                           "baseline_alc": baseline_alc, "baseline_alc_sd_log": baseline_alc_sd_log}
                fields = merge_spec(base, options, given_options(ctx))
                if "n" not in fields and fields.get("population") is None:
                    fields["n"] = DEFAULT_N
            elif baseline_alc is not None or baseline_alc_sd_log is not None:
                fields |= {"baseline_alc_median_per_uL": baseline_alc, "baseline_alc_sd_log": baseline_alc_sd_log}
            spec = CohortSpec(**fields)
            executor = executor_from_options(
                workers, scheduler, scheduler_tls_ca, scheduler_tls_cert, scheduler_tls_key, n_tasks=spec.n_chunks
            )
            try:
                with executor:
                    result = run_cohort(spec, out, executor, force=force)
            except CohortMismatchError as exc:
                raise UsageError(str(exc)) from None
            except OSError as exc:
                raise UsageError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
            counts = result.metadata["status_counts"]
            if result.n_succeeded == 0:
                # nothing to summarise: no marker, so the folder does not look like a finished trial
                detail = result.patients["detail"].mode()
                err_console.print(
                    f"[bold red]error:[/] every patient failed ({counts}); most common reason: "
                    f"{detail.iloc[0] if len(detail) else 'unknown'}; per-patient status in {out}/chunks/",
                    highlight=False, soft_wrap=True,
                )
                raise typer.Exit(code=1)
            try:
                write_outputs(result)
            except OSError as exc:  # disk full, a folder where a file must go: no marker is written
                raise UsageError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
            s = result.summary
            if spec.population is None:
                dists = ", ".join(f"{k} median {v.median:g} sd_log {v.sd_log:g}" for k, v in spec.covariates().items())
                drawn = (f"population: sampled, IGHV U share {spec.ighv_u_fraction:g}; {dists}\n"
                         f"baseline redraws (infeasible baselines drawn again): {result.metadata['baseline_redraws']}")
            else:
                drawn = f"population: {spec.population.n} patients from {population} (not redrawn)"
            console.print(
                f"wrote {out}: chunks/ (tidy Parquet), patients.parquet, population.csv, summary.csv, bands.csv, "
                f"figures, metadata.json\n"
                f"{drawn}\n"
                f"patients: {counts}\n"
                f"lymphocytosis: {s.loc['lymphocytosis_pct', 'overall']:.1f}% overall, "
                f"U-CLL {s.loc['lymphocytosis_pct', 'U-CLL']:.1f}%, M-CLL {s.loc['lymphocytosis_pct', 'M-CLL']:.1f}%"
            )

        run_guarded(go)

    @app.command()
    def compare(
        arm: Annotated[list[str], typer.Option(
            "--arm", help='A therapy to compare (give 2 to 8), e.g. --arm "420 mg qd" --arm "ibrutinib 420 mg qd '
            'x 420 + venetoclax ramp-up; 400 mg qd x 301 from day 84".')],
        n: Annotated[int, typer.Option("--n", help="Evaluable virtual patients per arm (the same patients).")] = 200,
        days: Annotated[float, typer.Option("--days", help="Follow-up after treatment start, days.")] = 1826.0,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the population draw.")] = 0,
        ighv_u_fraction: Annotated[
            float, typer.Option("--ighv-u-fraction", help="Share of U-CLL patients.")] = 0.55,
        drug: Annotated[str, typer.Option("--drug", help="Drug of an arm that names none.")] = "ibrutinib",
        out: Annotated[Path, typer.Option("--out", parser=output_path, help="Output folder.")] = Path("compare_out"),
        workers: WorkersOpt = None,
        scheduler: SchedulerOpt = None,
        scheduler_tls_ca: TlsCaOpt = None,
        scheduler_tls_cert: TlsCertOpt = None,
        scheduler_tls_key: TlsKeyOpt = None,
        force: Annotated[bool, typer.Option("--force", help="Run even when the estimated CPU time is large.")] = False,
    ) -> None:
        """Run several therapies on one virtual cohort; write a side-by-side comparison with 95% CIs."""
        from ..cli import UsageError, console, run_guarded

        def go() -> None:
            from rich.table import Table

            from ..execution import executor_from_options
            from ._compare import compare as run_compare
            from ._population import CohortSpec

            if n < 1:
                raise UsageError(f"--n must be >= 1, got {n}")
            if not 0.0 <= ighv_u_fraction <= 1.0:
                raise UsageError(f"--ighv-u-fraction must be between 0 and 1, got {ighv_u_fraction:g}")
            if out.exists() and not out.is_dir():
                raise UsageError(f"--out {str(out)!r} exists and is not a folder")
            spec = CohortSpec(n=n, days=days, seed=seed, ighv_u_fraction=ighv_u_fraction, drug=drug,
                              regimen=arm[0] if arm else "420 mg qd")
            executor = executor_from_options(workers, scheduler, scheduler_tls_ca, scheduler_tls_cert,
                                             scheduler_tls_key, n_tasks=spec.n_chunks)
            with executor:
                cmp = run_compare(arm, spec, out, executor, force=force)
            t = cmp.table[cmp.table["group"] == "overall"]
            shown = [m for m in dict.fromkeys(t["metric"]) if m.startswith(
                ("evaluable", "response_at", "cr_at", "umrd_at", "pfs_at", "pfs_median", "treatment_free", "pfs2"))]
            table = Table(title=f"{n} virtual patients per arm, {days:g} days (overall; 95% CI)")
            table.add_column("metric")
            for k in range(len(arm)):
                table.add_column(f"arm {k + 1}")
            for m in shown:
                cells = []
                for k in range(len(arm)):
                    r = t[(t["arm"] == k + 1) & (t["metric"] == m)]
                    if r.empty:
                        cells.append("")
                        continue
                    e, lo, hi = (float(r[c].iloc[0]) for c in ("estimate", "lower", "upper"))
                    share = r["unit"].iloc[0].startswith("share")
                    def fmt(x: float, share: bool = share) -> str:
                        if x != x:
                            return "not reached"
                        return f"{100 * x:.0f}%" if share else f"{x:g}"

                    cells.append(fmt(e) + ("" if lo != lo and hi != hi else f" ({fmt(lo)} to {fmt(hi)})"))
                table.add_row(m, *cells)
            console.print(table)
            for k, a in enumerate(arm):
                console.print(f"arm {k + 1}: {a}", highlight=False)
            console.print(f"wrote {out}: comparison.csv, pfs_by_arm.png, mrd_by_arm.png, comparison.json, arm-*/")

        run_guarded(go)

"""``cllsim cohort``: a virtual trial from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..execution import SchedulerOpt, TlsCaOpt, TlsCertOpt, TlsKeyOpt, WorkersOpt, output_path


def register(app: typer.Typer) -> None:
    """Attach the ``cohort`` command to the cllsim app."""

    @app.command()
    def cohort(
        n: Annotated[int, typer.Option("--n", help="Number of virtual patients.")] = 1000,
        ighv_u_fraction: Annotated[
            float, typer.Option("--ighv-u-fraction", help="Share of U-CLL (unmutated IGHV) patients, 0-1.")
        ] = 0.55,
        regimen: Annotated[str, typer.Option("--regimen", help='Regimen, e.g. "420 mg qd".')] = "420 mg qd",
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

            if n < 1:
                raise UsageError(f"--n must be >= 1, got {n}")
            if not 0.0 <= ighv_u_fraction <= 1.0:
                raise UsageError(f"--ighv-u-fraction must be between 0 and 1, got {ighv_u_fraction:g}")
            if not days > 0:
                raise UsageError(f"--days must be > 0, got {days:g}")
            if out.exists() and not out.is_dir():
                raise UsageError(f"--out {str(out)!r} exists and is not a folder")
            if rtol is not None and not 0 < rtol < 1:
                raise UsageError(f"--rtol must be between 0 and 1, got {rtol:g}")  # atol follows from it
            tolerances = {} if rtol is None else {"rtol": rtol, "atol": rtol * 1e-4}
            times_option(days, times, step)  # a malformed grid is refused in one line before anything runs
            grid_times = tuple(parse_times(times) or ()) or None
            spec = CohortSpec(
                n=n, ighv_u_fraction=ighv_u_fraction, regimen=regimen, days=days, seed=seed, chunk_size=chunk_size,
                baseline_alc_median_per_uL=baseline_alc, baseline_alc_sd_log=baseline_alc_sd_log, times=grid_times,
                step=step, **tolerances,
            )
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
            console.print(
                f"wrote {out}: chunks/ (Parquet), patients.parquet, summary.csv, bands.csv, figures, metadata.json\n"
                f"patients: {counts}\n"
                f"lymphocytosis: {s.loc['lymphocytosis_pct', 'overall']:.1f}% overall, "
                f"U-CLL {s.loc['lymphocytosis_pct', 'U-CLL']:.1f}%, M-CLL {s.loc['lymphocytosis_pct', 'M-CLL']:.1f}%"
            )

        run_guarded(go)

"""``cllsim sensitivity``: global sensitivity of outputs over time from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..execution import SchedulerOpt, TlsCaOpt, TlsCertOpt, TlsKeyOpt, WorkersOpt, output_path


def register(app: typer.Typer) -> None:
    """Attach the ``sensitivity`` command to the cllsim app."""

    @app.command()
    def sensitivity(
        method: Annotated[str, typer.Option("--method", help="sobol (Saltelli sampling) or morris.")] = "sobol",
        n: Annotated[
            int, typer.Option("--n", help="Sobol: base samples (power of 2; n(D+2) runs). Morris: trajectories.")
        ] = 64,
        parameters: Annotated[
            str | None,
            typer.Option("--parameters", help="Comma-separated parameter ids; default: all with iivSD > 0."),
        ] = None,
        output: Annotated[
            list[str] | None,
            typer.Option("--output", help="OBSERVABLE@DAY[,DAY...], repeatable; default: alc_per_uL@1,28,180 and "
                                          "cells_tissue_1e9@365."),
        ] = None,
        distribution: Annotated[
            str, typer.Option("--distribution", help="population (between-patient, iivSD) or bounds (table bounds).")
        ] = "population",
        regimen: Annotated[str, typer.Option("--regimen", help='Regimen, e.g. "420 mg qd".')] = "420 mg qd",
        ighv: Annotated[str, typer.Option("--ighv", help="IGHV status U or M of the patient varied around.")] = "U",
        log10: Annotated[bool, typer.Option("--log10/--linear", help="Analyse log10 of the outputs.")] = False,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the sample and the bootstrap.")] = 0,
        levels: Annotated[int, typer.Option("--levels", help="Morris grid levels (even).")] = 4,
        resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples for the CIs.")] = 200,
        max_dropped: Annotated[
            float,
            typer.Option("--max-dropped", help="Largest share of sample groups that may be dropped because an "
                                               "evaluation failed (0-1)."),
        ] = 0.1,
        out: Annotated[
            Path, typer.Option("--out", parser=output_path, help="Output folder (a rerun resumes it).")
        ] = Path("sensitivity_out"),
        chunk_size: Annotated[int, typer.Option("--chunk-size", help="Evaluations per chunk / task.")] = 256,
        workers: WorkersOpt = None,
        scheduler: SchedulerOpt = None,
        scheduler_tls_ca: TlsCaOpt = None,
        scheduler_tls_cert: TlsCertOpt = None,
        scheduler_tls_key: TlsKeyOpt = None,
    ) -> None:
        """Sobol' or Morris sensitivity of model outputs at chosen days; tidy indices, figures, resumable chunks."""
        from ..cli import UsageError, console, err_console, run_guarded

        def go() -> None:
            import math

            from ..execution import executor_from_options
            from ._sensitivity import AnalysisMismatchError, Sensitivity
            from ._spec import DEFAULT_OUTPUTS

            if method not in ("sobol", "morris"):
                raise UsageError(f"--method must be sobol or morris, got {method!r}")
            if distribution not in ("population", "bounds"):
                raise UsageError(f"--distribution must be population or bounds, got {distribution!r}")
            if not 0.0 <= max_dropped <= 1.0:
                raise UsageError(f"--max-dropped must be between 0 and 1, got {max_dropped:g}")
            if out.exists() and not out.is_dir():
                raise UsageError(f"--out {str(out)!r} exists and is not a folder")
            names = [p.strip() for p in parameters.split(",") if p.strip()] if parameters else []
            sa = Sensitivity(names, output or list(DEFAULT_OUTPUTS), distribution=distribution,  # type: ignore[arg-type]
                             regimen=regimen, ighv=ighv, log10_outputs=log10)
            if method == "sobol":
                sa.sample_sobol(n, seed=seed)
            else:
                sa.sample_morris(n, levels=levels, seed=seed)
            rows = len(sa.sample)
            n_tasks = math.ceil(rows / max(1, chunk_size))
            err_console.print(f"{method}: {len(sa.factors)} parameters, {len(sa.spec.outputs)} outputs, "
                              f"{rows} evaluations in {n_tasks} chunks", highlight=False)
            executor = executor_from_options(
                workers, scheduler, scheduler_tls_ca, scheduler_tls_cert, scheduler_tls_key, n_tasks=n_tasks)
            try:
                with executor:
                    sa.evaluate(executor=executor, out=out, chunk_size=chunk_size, progress=True)
            except AnalysisMismatchError as exc:
                raise UsageError(str(exc)) from None
            except OSError as exc:
                raise UsageError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
            sa.analyze(num_resamples=resamples, seed=seed, max_dropped_fraction=max_dropped)
            sa.write(out)
            df = sa.to_df()
            failed = len(sa.failures())
            main = "ST" if method == "sobol" else "mu_star"
            lines = []
            for label, g in df[df["index"] == main].groupby("output", sort=False):
                best = g.sort_values("value", ascending=False).head(3)
                lines.append(f"  {label}: " + ", ".join(f"{r.parameter} {r.value:.2f}" for r in best.itertuples()))
            console.print(
                f"wrote {out}: indices.csv, failures.csv, samples.parquet, indices_over_time.png, indices_bars.png, "
                f"metadata.json\nfailed evaluations: {failed} of {rows}\nlargest {main}:\n" + "\n".join(lines),
                highlight=False, soft_wrap=True,
            )

        run_guarded(go)

"""``cllsim reproduce``: run the in-silico experiments F1-F10 and write the report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..execution import output_path

#: Exit code of ``cllsim reproduce`` when it could not run (a model or engine failure, a bug): not 1,
#: which says that the experiments ran and a check failed.
INTERNAL_ERROR_EXIT = 3


def _command_line(only: str | None, sets: list[str] | None) -> str:
    """The run's options as a command line, for the report (the output folder left out)."""
    import shlex

    words = ["cllsim", "reproduce"]
    if only:
        words += ["--only", only]
    for item in sets or []:
        words += ["--set", item]
    return shlex.join(words)


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` to the cllsim command line."""

    @app.command()
    def reproduce(
        out: Annotated[
            Path, typer.Option("--out", parser=output_path, help="Output folder.")
        ] = Path("cllsim_reproduce"),
        only: Annotated[
            str | None, typer.Option("--only", help="Comma-separated experiment ids, e.g. F4,F5 (default: all).")
        ] = None,
        sets: Annotated[
            list[str] | None,
            typer.Option("--set", help="What-if: override a parameter for every subject, PARAM=VALUE. Repeatable."),
        ] = None,
    ) -> None:
        """Run the in-silico experiments F1-F10; write report.html, checks.csv and one CSV per experiment.

        Exit codes: 0 every check passes; 1 a check fails (the report is written); 2 bad input;
        3 an internal error (a model or engine failure, or a bug: no report).
        """
        from rich.progress import Progress
        from rich.table import Table

        from ..cli import UsageError, console, parse_sets, run_guarded, staged_output
        from ..model import load_table, unknown_parameter
        from ..report import write_report
        from ._registry import get, parse_ids

        failed: list[str] = []

        def go() -> None:
            ids = parse_ids(only)
            overrides = parse_sets(sets)
            known = load_table().rows
            unknown = sorted(set(overrides) - set(known))
            if unknown:
                raise UsageError("; ".join(unknown_parameter(pid, known, "--set") for pid in unknown))
            t0 = time.perf_counter()
            results = []
            with staged_output(out, marker="report.html") as stage:
                with Progress(console=console, transient=True) as progress:
                    task = progress.add_task("experiments", total=len(ids))
                    for eid in ids:
                        progress.update(task, description=f"{eid}: {get(eid).title[:60]}")
                        res = get(eid).run(overrides or None)  # solver output is captured by the engine
                        res.to_df().to_csv(stage / f"{eid}.csv", index=False)
                        results.append(res)
                        progress.advance(task)
                    import pandas as pd

                    checks = pd.concat([r.checks_df().assign(experiment=r.id) for r in results], ignore_index=True)
                    checks.to_csv(stage / "checks.csv", index=False)
                    progress.update(task, description="writing report.html")
                    # the report last: its presence marks a complete output folder
                    write_report(results, stage / "report.html", runtime_s=time.perf_counter() - t0,
                                 command=_command_line(only, sets))
            table = Table(title=f"cllsim reproduce ({time.perf_counter() - t0:.0f} s) -> {out}/report.html")
            for col in ("check", "expected", "simulated", "result"):
                table.add_column(col)
            for r in results:
                for c in r.checks:
                    table.add_row(c.id, c.expected, f"{c.value:.4g}", "[green]pass" if c.passed else "[red]FAIL")
                    if not c.passed:
                        failed.append(c.id)
            console.print(table)

        run_guarded(go, internal_exit=INTERNAL_ERROR_EXIT)
        if failed:
            console.print(f"[bold red]{len(failed)} check(s) failed:[/] {', '.join(failed)}")
            raise typer.Exit(code=1)

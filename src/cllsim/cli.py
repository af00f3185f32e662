"""Command line: a thin layer over the Python API.

Subpackages add their commands by exposing ``register(app)`` in ``cllsim/<pkg>/_cli.py``;
they are attached here so this module need not change when a layer gains a command.

Exit codes: 0 success; 2 an :class:`~cllsim.InputError` (the user's input is wrong: one line on
stderr saying what); 1 anything else, a model or engine failure or a bug (one short line; the
traceback with ``CLLSIM_DEBUG=1``). ``cllsim reproduce`` exits 1 when a check fails and 3 on such
an internal failure. Heavy libraries are imported inside the commands, so
``cllsim --help`` and ``cllsim --version`` load none of them.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from ._errors import InputError, ModelError, shorten
from .execution import json_text, output_path

try:  # typer vendors click from 0.2x on: its exceptions and context stack are not click's
    from typer._click import exceptions as click_exceptions
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]
    from click.globals import get_current_context  # type: ignore[no-redef]

#: Longest message printed for a refusal, characters (user input in it is already cut short;
#: this bounds what any other message may echo).
MAX_MESSAGE = 1000


class OneLineGroup(TyperGroup):
    """The command group, reporting click's own usage errors (unknown option, a value that is not
    a number) as one line and exit code 2, like every other refusal, instead of usage + hint + error."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exceptions.NoArgsIsHelpError as exc:
            exc.show()  # the help text, as click shows it
            sys.exit(exc.exit_code)
        except click_exceptions.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if isinstance(exc, click_exceptions.UsageError) and ctx else ""
            hint = f" (see: {where} --help)" if where else ""
            _print_error(f"{_cut(' '.join(exc.format_message().split()))}{hint}")
            sys.exit(exc.exit_code)
        except typer.Abort:
            _print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineGroup,
    help="cllsim: CLL under BTK inhibitors, from drug PK to cells in blood and tissues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help formatter: typer's rich one imports rich.markdown, pygments and attrs,
    # which doubles the start-up time of `cllsim --help`
    rich_markup_mode=None,
)
export_app = typer.Typer(help="Export the model.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(export_app, name="export")

err_console = Console(stderr=True)
console = Console()

PLUGIN_PACKAGES = ("experiments", "fit", "cohort", "analysis", "explore", "report")

#: Environment variable that shows the traceback of an internal failure instead of one line.
DEBUG_ENV = "CLLSIM_DEBUG"
#: Longest message of an internal failure, characters (the traceback has the rest).
MAX_INTERNAL_MESSAGE = 300


class UsageError(InputError):
    """Bad input from the user given on the command line: reported as one line, exit code 2."""


def _cut(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def _print_error(message: str) -> None:
    # soft_wrap: one line whatever the terminal width; escape: messages may contain [brackets]
    err_console.print(f"[bold red]error:[/] {escape(_cut(message))}", highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """A warning on stderr, one line: the command goes on."""
    err_console.print(f"[bold yellow]warning:[/] {escape(_cut(message))}", highlight=False, soft_wrap=True)


def _check_finite_options() -> None:
    """Refuse ``inf``/``nan`` in every numeric option of the running command (click parses them as floats)."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                flag = max(param.opts, key=len) if param.opts else param.name
                raise UsageError(f"{flag} must be a finite number, got {v}")


def fail(message: str) -> NoReturn:
    """Report a user error in one line on stderr and exit with code 2."""
    _print_error(message)
    raise typer.Exit(code=2)


def run_guarded(fn: Callable[[], None], *, internal_exit: int = 1) -> None:
    """Run ``fn``: an input error becomes one line and exit code 2, any other failure one line and
    exit code ``internal_exit`` (1; ``cllsim reproduce`` uses 3, its 1 meaning a failed check)."""
    try:
        _check_finite_options()
        fn()
    except (typer.Exit, typer.Abort, click_exceptions.ClickException):
        raise
    except InputError as exc:
        fail(_one_line(exc))
    except Exception as exc:
        if os.environ.get(DEBUG_ENV, "") not in {"", "0"}:
            raise
        _print_error(_internal_message(exc))
        raise typer.Exit(code=internal_exit) from None


def _one_line(exc: BaseException) -> str:
    """The message on one line: an indented list under a heading ending in ':' is joined with '; '."""
    # pydantic is imported by the commands, not here: no ValidationError can exist before it is
    pydantic_core = sys.modules.get("pydantic_core")
    if pydantic_core is not None and isinstance(exc, pydantic_core.ValidationError):
        from ._validation import validation_message

        return validation_message(exc)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} {'; '.join(lines[1:])}"
    return " ".join(" ".join(lines).split())


def _internal_message(exc: BaseException) -> str:
    text = _one_line(exc)
    if len(text) > MAX_INTERNAL_MESSAGE:
        text = text[: MAX_INTERNAL_MESSAGE - 3] + "..."
    kind = "the model failed" if isinstance(exc, ModelError) else "internal error"
    return f"{kind} ({type(exc).__name__}): {text} [not a problem with the input; {DEBUG_ENV}=1 shows the traceback]"


def _show_version(value: bool) -> None:
    if value:
        from . import __version__

        console.print(f"cllsim {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """cllsim: CLL under BTK inhibitors, from drug PK to cells in blood and tissues."""


def parse_sets(items: list[str] | None) -> dict[str, float]:
    """``["a=1", "b=2.5"]`` -> ``{"a": 1.0, "b": 2.5}``."""
    out: dict[str, float] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--set expects PARAM=VALUE, got {shorten(item)}")
        key, _, raw = item.partition("=")
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"--set {shorten(key)}: {shorten(raw)} is not a number") from None
        if not math.isfinite(value):
            raise UsageError(f"--set {shorten(key)}: must be a finite number, got {shorten(raw)}")
        out[key.strip()] = value
    return out


def staged_output(out: Path, marker: str = "metadata.json"):
    """The shared crash-safe output folder (:func:`cllsim.execution.staged_output`): files appear in
    ``out`` only when the command succeeds, ``marker`` last."""
    from .execution import staged_output as shared

    return shared(out, marker)


IGHVOpt = Annotated[str, typer.Option("--ighv", help="IGHV status: U (unmutated) or M (mutated).")]
RegimenOpt = Annotated[
    str, typer.Option("--regimen", help='Regimen or therapy, e.g. "420 mg qd", "420 mg qd x 28; hold 7 d; 280 mg qd", '
                      '"ibrutinib 420 mg qd x 420 + venetoclax ramp-up; 400 mg qd x 301 from day 84", "none".')
]
DaysOpt = Annotated[float, typer.Option("--days", help="Days to simulate after treatment start.")]
DrugOpt = Annotated[str, typer.Option(
    "--drug",
    help="Drug of a regimen that names none: ibrutinib, acalabrutinib, zanubrutinib, pirtobrutinib, venetoclax.")]
MaxDosesOpt = Annotated[
    int | None,
    typer.Option("--max-doses", help="Most doses the regimen may have in the simulated time (default 100000)."),
]
TimesOpt = Annotated[
    str | None,
    typer.Option("--times", help="Output times, days, comma-separated and increasing, e.g. 0,0.5,1,7,28."),
]
StepOpt = Annotated[
    float | None,
    typer.Option("--step", help="Output every STEP days instead (e.g. 0.125 = 3 h); default: hourly for a week, "
                 "then every 2 h."),
]


def parse_times(text: str | None) -> list[float] | None:
    """``"0, 0.5,1"`` -> ``[0.0, 0.5, 1.0]`` (``None`` stays ``None``); checked further by :func:`output_times`."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise UsageError("--times expects days separated by commas, e.g. 0,0.5,1,7")
    out = []
    for item in items:
        try:
            out.append(float(item))
        except ValueError:
            raise UsageError(f"--times: {shorten(item)!r} is not a number of days (e.g. 0,0.5,1,7)") from None
    return out


def times_option(days: float, times: str | None, step: float | None):
    """The output grid of ``--times`` / ``--step`` (days), refused in one line when malformed."""
    from ._errors import SpecError
    from .simulate import output_times

    try:
        return output_times(days, parse_times(times), step)
    except SpecError as exc:
        option = "--step" if step is not None else "--times"
        raise UsageError(f"{option}: {exc}") from None


SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a parameter: PARAM=VALUE (table units). Repeatable.")
]


def _patient(ighv: str, sets: list[str] | None):
    from .simulate import Patient

    if ighv.strip().upper().removesuffix("-CLL") not in {"U", "M"}:
        raise UsageError(f"--ighv must be U or M, got {shorten(ighv)}")
    return Patient(ighv=ighv, parameters=parse_sets(sets))


def _drug(drug: str) -> str:
    from ._validation import did_you_mean
    from .drugs import DRUGS

    name = drug.strip().lower()
    if name not in DRUGS:
        raise UsageError(
            f"--drug must be one of {', '.join(DRUGS)}, got {shorten(drug)}{did_you_mean(name, DRUGS)}")
    return name


def _check_days(days: float) -> None:
    from .simulate import MAX_DAYS

    if not days > 0:
        raise UsageError(f"--days must be > 0, got {days:g}")
    if days > MAX_DAYS:
        raise UsageError(f"--days must be at most {MAX_DAYS:g} (100 years), got {days:g}")


def regimen_option(text: str, max_doses: int | None, drug: str = "ibrutinib"):
    """The ``--regimen`` text as a therapy (``drug`` for a course naming none), with the ``--max-doses`` limit."""
    from .drugs import parse_therapy

    regimen = parse_therapy(text, _drug(drug))
    if max_doses is not None:
        if max_doses < 1:
            raise UsageError(f"--max-doses must be >= 1, got {max_doses}")
        regimen = regimen.with_max_doses(max_doses)
    return regimen


DosesOpt = Annotated[
    Path | None,
    typer.Option("--doses", help="Dose history as a CSV event table (time_h or day, amt, ii, addl, drug; NONMEM "
                 "TIME/AMT/II/ADDL/EVID accepted) instead of --regimen; see docs/regimens.md."),
]
DosesIdOpt = Annotated[
    str | None, typer.Option("--doses-id", help="With --doses holding several patients (ID column): the one to use.")
]
#: ``--regimen`` where ``--doses`` may replace it (``None``: not given).
RegimenOrDosesOpt = Annotated[
    str | None,
    typer.Option("--regimen", help='Regimen, e.g. "420 mg qd" (default), "420 mg qd x 28, hold 1 week, 280 mg qd", '
                 '"acalabrutinib 100 mg bid", "none"; see docs/regimens.md.'),
]


def dosing_option(regimen: str | None, doses: Path | None, doses_id: str | None, max_doses: int | None,
                  drug: str = "ibrutinib"):
    """``--regimen`` as a therapy or the ``--doses`` table (not both), with the ``--max-doses`` limit if given."""
    from .drugs import read_dose_records

    if doses is None:
        if doses_id is not None:
            raise UsageError("--doses-id needs --doses (a dose table with an ID column)")
        return regimen_option("420 mg qd" if regimen is None else regimen, max_doses, drug)
    if regimen is not None:
        raise UsageError("give either --regimen or --doses (a dose table), not both")
    if max_doses is not None and max_doses < 1:
        raise UsageError(f"--max-doses must be >= 1, got {max_doses}")
    return read_dose_records(doses, id=doses_id, max_doses=max_doses)


@app.command()
def simulate(
    ighv: IGHVOpt = "U",
    regimen: RegimenOrDosesOpt = None,
    days: DaysOpt = 365.0,
    out: Annotated[Path, typer.Option("--out", parser=output_path, help="Output folder.")] = Path("cllsim_out"),
    sets: SetOpt = None,
    drug: DrugOpt = "ibrutinib",
    engine: Annotated[
        str, typer.Option("--engine", help="roadrunner (reference, CVODE) or cohort (generated code, numba).")
    ] = "roadrunner",
    max_doses: MaxDosesOpt = None,
    times: TimesOpt = None,
    step: StepOpt = None,
    doses: DosesOpt = None,
    doses_id: DosesIdOpt = None,
) -> None:
    """Simulate one patient; write tidy Parquet + CSV, metadata.json and panel.png."""

    def go() -> None:
        from ._errors import SolverError
        from .model import PATIENT
        from .simulate import host_regimen_warnings
        from .simulate import simulate as api_simulate

        _check_days(days)
        grid = times_option(days, times, step)
        name = _drug(drug)
        reg = dosing_option(regimen, doses, doses_id, max_doses, name)
        reg.check_dose_count(days * 24.0)
        patient = _patient(ighv, sets)
        with staged_output(out) as stage:
            with console.status(f"simulating {patient.ighv}-CLL on {reg.describe()} for {days:g} days"):
                result = api_simulate(reg, patient, days=days, times=grid, drug=name, engine=engine)
            for message in host_regimen_warnings(reg, PATIENT, days, result.metadata["parameters"], name):
                warn(message)
            if not result.ok:
                raise SolverError(f"simulation failed: {result.status.message}: {result.detail}")
            result.to_parquet(stage / "simulation.parquet")
            result.data.to_csv(stage / "simulation.csv", index=False)
            result.plot().savefig(stage / "panel.png", dpi=120)
            # metadata last: its presence marks a complete output folder
            (stage / "metadata.json").write_text(json_text(result.provenance()))
        w = result.wide()
        console.print(
            f"wrote {out}/simulation.parquet, simulation.csv, panel.png, metadata.json\n"
            f"ALC {w['alc_per_uL'].iloc[0]:,.0f} -> peak {w['alc_per_uL'].max():,.0f} /µL "
            f"(day {w['alc_per_uL'].idxmax():g}) -> {w['alc_per_uL'].iloc[-1]:,.0f} /µL at day {w.index[-1]:g}"
        )

    run_guarded(go)


@export_app.command("sbml")
def export_sbml(
    file: Annotated[Path, typer.Argument(parser=output_path, help="SBML file to write.")],
    ighv: IGHVOpt = "U",
    regimen: RegimenOrDosesOpt = None,
    days: DaysOpt = 365.0,
    sets: SetOpt = None,
    drug: DrugOpt = "ibrutinib",
    max_doses: MaxDosesOpt = None,
    doses: DosesOpt = None,
    doses_id: DosesIdOpt = None,
) -> None:
    """Export the patient's model, with its dosing events, as SBML (libSBML-checked)."""

    def go() -> None:
        from .model import PATIENT, write_sbml
        from .simulate import host_regimen_warnings, prepare

        _check_days(days)
        reg = dosing_option(regimen, doses, doses_id, max_doses, drug)
        reg.check_dose_count(days * 24.0)
        model = prepare(reg, _patient(ighv, sets), days=days, drug=_drug(drug))
        for message in host_regimen_warnings(reg, PATIENT, days, model.values, _drug(drug)):
            warn(message)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            write_sbml(model.sbml, file)
        except OSError as exc:
            raise UsageError(f"cannot write {str(file)!r}: {exc.strerror or _cut(str(exc))}") from None
        console.print(f"wrote {file} (SBML, time in hours, cells in 1e9)")

    run_guarded(go)


@app.command()
def parameters(
    out: Annotated[
        Path | None, typer.Option("--out", parser=output_path, help="Write the table here (TSV, or --format csv).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Host: patient, tcl1 or xenograft.")] = "patient",
    drug: DrugOpt = "ibrutinib",
    ighv: Annotated[str | None, typer.Option("--ighv", help="Show the U- or M-CLL values (IGHV condition).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table (terminal), csv or tsv (full ids, never cut).")] = "table",
) -> None:
    """Show the parameters table of a host and drug (value, unit, bounds, between-patient SD, source)."""

    def go() -> None:
        from .model import HOSTS, ighv_conditions, load_table

        if host not in HOSTS:
            raise UsageError(f"unknown host {shorten(host)}; known: {', '.join(HOSTS)}")
        if fmt not in ("table", "csv", "tsv"):
            raise UsageError(f"--format must be table, csv or tsv, got {shorten(fmt)}")
        table = load_table(host=host, drug=_drug(drug))
        if ighv is not None:
            status = ighv.strip().upper().removesuffix("-CLL")
            if status not in ("U", "M"):
                raise UsageError(f"--ighv must be U or M, got {shorten(ighv)}")
            table = table.with_values(ighv_conditions()[status], what=f"IGHV {status}")
        df = table.to_df()
        sep = "," if fmt == "csv" else "\t"
        if out is not None:
            try:
                df.to_csv(out, sep=sep)
            except OSError as exc:
                raise UsageError(f"cannot write {str(out)!r}: {exc.strerror or _cut(str(exc))}") from None
            console.print(f"wrote {out}")
            return
        if fmt != "table":
            import os
            import sys

            try:
                df.to_csv(sys.stdout, sep=sep)
                sys.stdout.flush()
            except BrokenPipeError:  # e.g. `| head`: the reader has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        from rich.table import Table

        t = Table("parameter", "value", "unit", "bounds", "iivSD", "source", show_lines=False)
        for pid, r in df.iterrows():
            t.add_row(pid, f"{r.nominalValue:g}", r.unit, f"[{r.lowerBound:g}, {r.upperBound:g}]", f"{r.iivSD:g}",
                      r.source)
        # the ids are what --set needs: never fold or cut them
        t.columns[0].no_wrap = True
        t.columns[0].overflow = "fold" if console.width < 40 else "ignore"
        t.columns[0].min_width = max(len(str(pid)) for pid in df.index)
        console.print(t)

    run_guarded(go)


@app.command()
def observables(
    host: Annotated[str, typer.Option("--host", help="Host: patient, tcl1 or xenograft.")] = "patient",
    out: Annotated[Path | None, typer.Option("--out", parser=output_path, help="Write the list as CSV here.")] = None,
    drug: Annotated[str, typer.Option("--drug", help="Drug(s) of the model, comma-separated (per-drug read-outs).")] = (
        "ibrutinib"),
) -> None:
    """List the observables a simulation reports: id, unit, model variable, normalisation, meaning."""

    def go() -> None:
        from .model import HOSTS
        from .simulate import observables as registry

        if host not in HOSTS:
            raise UsageError(f"unknown host {host!r}; known: {', '.join(HOSTS)}")
        rows = [
            (o.id, o.unit, o.variable, "per baseline (t = 0)" if o.per_baseline else "", o.description)
            for o in registry(host, [_drug(d) for d in drug.split(",") if d.strip()] or ["ibrutinib"])
        ]
        if out is not None:
            import csv

            try:
                with open(out, "w", newline="", encoding="utf-8") as fh:
                    writer = csv.writer(fh)
                    writer.writerow(["id", "unit", "variable", "normalisation", "description"])
                    writer.writerows(rows)
            except OSError as exc:
                raise UsageError(f"cannot write {str(out)!r}: {exc.strerror or _cut(str(exc))}") from None
            console.print(f"wrote {out}")
            return
        from rich.table import Table

        t = Table(show_lines=False)
        # ids are what users type: never cut (the meaning wraps instead)
        t.add_column("observable", no_wrap=True, overflow="ignore")
        t.add_column("unit", no_wrap=True)
        t.add_column("normalisation")
        t.add_column("meaning", ratio=1)
        for oid, unit, _variable, norm, meaning in rows:
            t.add_row(oid, unit, norm, meaning)
        console.print(t)

    run_guarded(go)


def _register_plugins() -> None:
    for name in PLUGIN_PACKAGES:
        try:
            mod = importlib.import_module(f"cllsim.{name}._cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"cllsim.{name}._cli":
                raise
            continue
        mod.register(app)


_register_plugins()


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover - ``python -m cllsim.cli``
    main()

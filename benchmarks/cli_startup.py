"""Start-up cost of ``cllsim --help`` against importing the CLI's own framework, in one run.

Issue 10's target: ``cllsim --help`` costs at most 2x ``python -c "import typer, rich, pydantic"``
(the libraries every CLI invocation needs anyway), measured side by side. Both commands run as
fresh subprocesses of this interpreter, interleaved (A, B, A, B, ...) so that a busy machine
slows both alike, after one untimed warm-up each (file cache, bytecode). Reported per command:
the median CPU seconds of the child (user + system, from ``resource.getrusage``; robust when the
cores are shared) and the median wall-clock seconds; the verdict uses the CPU ratio.

    python benchmarks/cli_startup.py            # 15 runs of each (~30 s)
    python benchmarks/cli_startup.py --quick    # 5 runs of each
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter

#: Issue 10's target: ``cllsim --help`` / framework imports.
MAX_RATIO = 2.0
FRAMEWORK_IMPORTS = "import typer, rich, pydantic"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=None, help="timed runs of each command (default 15, --quick 5)")
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the target FAILs")
    args = ap.parse_args(argv)
    if args.runs is None:
        args.runs = 5 if args.quick else 15
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    return args


def cllsim_command() -> list[str]:
    """``cllsim --help`` as installed beside this interpreter, else the same entry point through ``-c``."""
    script = Path(sys.executable).with_name("cllsim")
    if script.exists():
        return [str(script), "--help"]
    found = shutil.which("cllsim")
    if found:
        return [found, "--help"]
    return [sys.executable, "-c", "from cllsim.cli import app; app()", "--help"]


def timed(command: list[str]) -> tuple[float, float]:
    """CPU seconds (user + system of the child) and wall seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    commands = {"cllsim --help": cllsim_command(), FRAMEWORK_IMPORTS: [sys.executable, "-c", FRAMEWORK_IMPORTS]}
    for command in commands.values():
        timed(command)  # warm-up: file cache and bytecode, not start-up
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    wall: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            c, w = timed(command)
            cpu[name].append(c)
            wall[name].append(w)
    print(f"{args.runs} runs each, interleaved; medians")
    print(f"{'command':32s} {'CPU s':>8s} {'wall s':>8s}")
    for name in commands:
        print(f"{name:32s} {statistics.median(cpu[name]):8.3f} {statistics.median(wall[name]):8.3f}")
    cli, base = (statistics.median(cpu[name]) for name in commands)
    ratio = cli / base
    wall_ratio = statistics.median(wall["cllsim --help"]) / statistics.median(wall[FRAMEWORK_IMPORTS])
    verdict = "PASS" if ratio <= MAX_RATIO else "FAIL"
    print(f"target: cllsim --help <= {MAX_RATIO:g}x '{FRAMEWORK_IMPORTS}': {ratio:.2f}x CPU "
          f"({wall_ratio:.2f}x wall) -> {verdict}")
    return 1 if args.strict and verdict == "FAIL" else 0


if __name__ == "__main__":
    raise SystemExit(main())

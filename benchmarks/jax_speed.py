"""JAX/diffrax cohort engine vs the NumPy cohort engine on the same virtual patients, timed in one run.

Meant for GPU machines (``pip install "cllsim[jax]"`` with a CUDA jaxlib, ``JAX_PLATFORMS=cuda``):
on CPUs the NumPy engine is expected to be faster. Both engines solve the same ``--n`` patients
over ``--days`` days with daily outputs. The JAX engine is called twice: the first call includes
tracing and XLA compilation (once per batch shape), the second is the steady-state cost. Prints
wall-clock seconds per patient of each engine, their ratio and the largest relative difference
between the engines on the returned variables.

    JAX_PLATFORMS=cuda python benchmarks/jax_speed.py --n 200 --days 365
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cllsim.cohort import CohortSpec, sample_chunk
from cllsim.model import PATIENT
from cllsim.simulate import run_batch, run_batch_jax
from cllsim.simulate._codegen import compile_host

VARIABLES = ["alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3", "btk_occupancy_pct"]


def max_rel_diff(a: np.ndarray, ref: np.ndarray, ok: np.ndarray) -> float:
    """Largest relative difference over patients that both engines solved (floor: 1e-6 of each row's max)."""
    a, ref = a[ok], ref[ok]
    if not ref.size:
        return float("nan")
    den = np.maximum(np.abs(ref), 1e-6 * np.max(np.abs(ref), axis=1, keepdims=True) + 1e-300)
    return float(np.max(np.abs(a - ref) / den))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="patients (one batch)")
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance of both engines")
    ap.add_argument("--atol", type=float, default=1e-9, help="absolute tolerance of both engines")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import jax

    spec = CohortSpec(n=args.n, chunk_size=args.n, days=args.days, seed=args.seed)
    pop = sample_chunk(spec, 0)
    times_h = np.arange(0.0, np.floor(args.days) + 1.0) * 24.0
    tol = {"rtol": args.rtol, "atol": args.atol}
    print(f"{args.n} patients, {args.days:g} days, {spec.regimen!r}, rtol {args.rtol:g}, atol {args.atol:g}; "
          f"JAX devices: {jax.devices()}", flush=True)

    compile_host(PATIENT)  # code generation is cached: not part of the NumPy engine's per-batch cost
    t0 = time.perf_counter()
    ref = run_batch(spec.regimen, pop.values, times_h, VARIABLES, **tol)
    numpy_s = time.perf_counter() - t0
    print(f"NumPy engine: {numpy_s:.1f} s ({numpy_s / args.n * 1e3:.1f} ms per patient, {ref.ok.sum()} ok, "
          f"median {np.median(ref.n_steps):.0f} steps)", flush=True)

    t0 = time.perf_counter()
    run_batch_jax(spec.regimen, pop.values, times_h, VARIABLES, **tol)
    first_s = time.perf_counter() - t0
    print(f"JAX engine, first call (with compilation): {first_s:.1f} s", flush=True)
    t0 = time.perf_counter()
    got = run_batch_jax(spec.regimen, pop.values, times_h, VARIABLES, **tol)
    jax_s = time.perf_counter() - t0
    print(f"JAX engine: {jax_s:.1f} s ({jax_s / args.n * 1e3:.1f} ms per patient, {got.ok.sum()} ok, "
          f"median {np.median(got.n_steps):.0f} steps)")
    print(f"per-patient cost ratio (JAX / NumPy): {jax_s / numpy_s:.2f}  (< 1: the JAX engine is faster)")
    ok = ref.ok & got.ok
    worst = max(max_rel_diff(got.values[v], ref.values[v], ok) for v in VARIABLES)
    print(f"largest relative difference between the engines: {worst:.2e} ({ok.sum()} patients solved by both)")


if __name__ == "__main__":
    main()

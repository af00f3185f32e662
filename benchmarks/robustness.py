"""Robustness sweep of the cohort engine over random parameter sets inside the table's bounds.

Every parameter row (except experimental inhibitor conditions) is drawn uniformly on its scale
between its bounds. Checks: every patient gets a status; successful patients have no NaN and no
negative value in any physical observable (cells, volumes, drug, occupancy, kinase activities,
CXCR4 and pS339, BCL2, rates; every observable of the registry except signed net fluxes), checked
here independently of the engine's own invariant check; failures are counted per status with
their reasons.

    python benchmarks/robustness.py --n 10000 --days 365 --chunk 1000
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np

from cllsim.cohort import CohortSpec
from cllsim.cohort._population import sample_within_bounds
from cllsim.model import PATIENT, must_be_nonnegative
from cllsim.simulate import Status, observables, observe, run_batch

SUCCESS = Status.SUCCESS.value

OBSERVABLES = observables(PATIENT)
CELLS = ("cells_blood", "cells_tissue", "cells_free_ln", "cells_niche_ln", "cells_free_spleen",
         "cells_niche_spleen", "cells_free_bm", "cells_niche_bm")
PHYSICAL = [o.id for o in OBSERVABLES if must_be_nonnegative(o.variable)]


def sweep(n: int, days: float, chunk: int, seed: int, rtol: float) -> dict:
    values = sample_within_bounds(n, seed)
    times = np.arange(0.0, days + 1.0) * 24.0
    statuses: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    negative = nonfinite = 0
    min_cells = np.inf
    for start in range(0, n, chunk):
        part = {k: v[start:start + chunk] for k, v in values.items()}
        variables = list(dict.fromkeys([*CELLS, *(o.variable for o in OBSERVABLES)]))
        b = run_batch("420 mg qd", part, times, variables, rtol=rtol, atol=rtol * 1e-4)
        assert len(b.status) == len(part["ibrutinib_cl_L_per_h"]), "a patient was dropped"
        statuses.update(b.status)
        reasons.update(f"{s}: {d.split(' at day')[0]}" for s, d in zip(b.status, b.detail, strict=True) if s != SUCCESS)
        ok = b.ok
        cells = np.stack([b.values[c][ok] for c in CELLS])
        reported = observe(OBSERVABLES, {k: v[ok] for k, v in b.values.items()})
        every = np.stack([reported[o] for o in PHYSICAL])  # (observables, patients, times)
        nonfinite += int((~np.isfinite(every)).any(axis=(0, 2)).sum())
        # negative beyond round-off of the solver: -1e-6 x max(1, the patient's scale of that observable)
        scale = np.maximum(1.0, np.nanmax(np.abs(every), axis=2, initial=0.0))
        neg = (every < -1e-6 * scale[:, :, None]).any(axis=(0, 2))
        negative += int(neg.sum())
        if cells.size:
            min_cells = min(min_cells, float(np.nanmin(cells)))
        print(f"  {start + len(b.status)}/{n} patients: {dict(statuses)}", flush=True)
    return {"statuses": dict(statuses), "reasons": dict(reasons), "negative": negative, "nonfinite": nonfinite,
            "min_cells_1e9": min_cells}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rtol", type=float, default=CohortSpec.model_fields["rtol"].default)
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = sweep(args.n, args.days, args.chunk, args.seed, args.rtol)
    print(f"{args.n} parameter sets x {args.days:g} days in {time.perf_counter() - t0:.0f} s")
    print(f"status counts: {res['statuses']}")
    for reason, count in sorted(res["reasons"].items(), key=lambda kv: -kv[1]):
        print(f"  {count:6d}  {reason}")
    print(f"successful patients with a negative physical observable ({len(PHYSICAL)} checked): {res['negative']}; "
          f"with NaN/inf: {res['nonfinite']}")
    print(f"smallest cell count among successful patients: {res['min_cells_1e9']:.3g} x 1e9")
    ok = res["negative"] == 0 and res["nonfinite"] == 0 and sum(res["statuses"].values()) == args.n
    print("PASS" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

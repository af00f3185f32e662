"""Cost of a virtual-patient group: one compiled model re-used (GroupModel) vs one model per
patient (cllsim.simulate). Prints seconds per patient and the ratio, in the same process.

Run: ``python benchmarks/group_model.py [n_patients]``
"""

import sys
import time

import numpy as np

import cllsim
from cllsim.experiments import GroupModel, sample_subjects


def main(n: int = 6) -> None:
    days = 150.0
    times = np.arange(0.0, days + 1.0)
    t0 = time.perf_counter()
    model = GroupModel("patient", "420 mg qd", days)
    build = time.perf_counter() - t0
    patients = sample_subjects(model, "U", n, seed=1, prefix="U-")
    t0 = time.perf_counter()
    for p in patients:
        model.run(p, times, ["alc_per_uL"])
    reuse = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for p in patients:
        cllsim.simulate("420 mg qd", p, days=days, times=times).raise_for_status()
    fresh = (time.perf_counter() - t0) / n
    print(f"GroupModel build (once): {build:.2f} s")
    print(f"per patient, re-used model: {reuse:.3f} s; cllsim.simulate: {fresh:.3f} s; ratio {fresh / reuse:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)

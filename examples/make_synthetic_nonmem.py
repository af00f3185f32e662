"""Write ``patients_nonmem.csv``: two synthetic patients as a NONMEM-style dataset (not real data).

Patient 101: U-CLL on ibrutinib 420 mg daily, baseline ALC 70,000/uL. Patient 102: M-CLL, baseline
ALC 40,000/uL, 420 mg daily for 8 weeks, a one-week interruption, then 280 mg daily. Dose records
(``EVID`` 1, ``AMT`` mg, ``II`` h, ``ADDL``) run past a year; observations (``EVID`` 0): ALC
(``CMT`` 1, cells/uL) at the visits of a typical trial schedule, lymph-node CT volume (``CMT`` 2,
cm3) at baseline, 8 and 24 weeks; ``TIME`` in hours since the first dose; log-normal noise at the
SDs of the fit's noise model (seed 11); ``IGHV`` per patient. ``WT`` is a covariate the fit
ignores. Fit them with::

    cllsim fit examples/patients_nonmem.csv --out fits --uncertainty laplace
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cllsim.drugs import DoseRecord, DoseRecords
from cllsim.fit import FitEngine
from cllsim.fit._problem import NOISE_SD_LOG

ALC_DAYS = (0, 7, 14, 21, 28, 42, 56, 84, 112, 140, 168)
CT_DAYS = (0, 56, 168)
#: id: (IGHV, baseline ALC per uL, dose records as (time h, amount mg, ADDL), weight kg)
PATIENTS = {
    "101": ("U", 70000.0, [(0.0, 420.0, 450)], 78.0),
    "102": ("M", 40000.0, [(0.0, 420.0, 55), (63 * 24.0, 280.0, 400)], 64.0),
}


def main() -> None:
    rng = np.random.default_rng(11)
    days = np.union1d(ALC_DAYS, CT_DAYS).astype(float)
    rows = []
    for pid, (ighv, baseline, doses, weight) in PATIENTS.items():
        records = DoseRecords(records=tuple(DoseRecord(time_h=t, amount=a, ii_h=24.0, addl=n) for t, a, n in doses))
        out = FitEngine(records, ighv, days=float(days[-1])).simulate(
            {"baseline_alc_per_uL": baseline}, days, ["alc_per_uL", "ln_volume_cm3"])
        for t, a, n in doses:
            rows.append({"ID": pid, "TIME": t, "DV": ".", "CMT": 1, "MDV": 1, "EVID": 1, "AMT": a, "II": 24,
                         "ADDL": n, "WT": weight, "IGHV": ighv})
        for cmt, obs, keep in ((1, "alc_per_uL", ALC_DAYS), (2, "ln_volume_cm3", CT_DAYS)):
            noisy = out.values[obs] * np.exp(NOISE_SD_LOG[obs] * rng.standard_normal(days.size))
            for d, v in zip(days, noisy, strict=True):
                if d in keep:
                    dv = int(round(float(v))) if cmt == 1 else round(float(v), 1)
                    rows.append({"ID": pid, "TIME": d * 24.0, "DV": dv, "CMT": cmt, "MDV": 0, "EVID": 0,
                                 "AMT": ".", "II": ".", "ADDL": ".", "WT": weight, "IGHV": ighv})
    table = pd.DataFrame(rows).sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False], kind="stable")
    path = Path(__file__).with_name("patients_nonmem.csv")
    table.to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Write ``patient_synthetic.csv``: a synthetic U-CLL patient on ibrutinib 420 mg qd (not real data).

Truth: the typical U-CLL patient of the parameters table with baseline ALC 70,000/uL and
``death_max_per_day`` 0.18; blood counts at the visits of a typical trial schedule, CT volumes of
nodes and spleen at baseline, 8 and 24 weeks; log-normal noise at the SDs of the fit's noise model
(seed 7). Fit it with::

    cllsim fit examples/patient_synthetic.csv --regimen "420 mg qd" --ighv U --out fit_out
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cllsim.fit import FitEngine
from cllsim.fit._problem import NOISE_SD_LOG

ALC_DAYS = (0, 7, 14, 21, 28, 42, 56, 84, 112, 140, 168)
CT_DAYS = (0, 56, 168)
TRUTH = {"baseline_alc_per_uL": 70000.0, "death_max_per_day": 0.18}


def main() -> None:
    days = np.union1d(ALC_DAYS, CT_DAYS).astype(float)
    obs = ["alc_per_uL", "ln_volume_cm3", "spleen_volume_cm3"]
    out = FitEngine("420 mg qd", "U", days=float(days[-1])).simulate(TRUTH, days, obs)
    rng = np.random.default_rng(7)
    table = pd.DataFrame({"day": days.astype(int)})
    for o in obs:
        keep = np.isin(days, ALC_DAYS if o == "alc_per_uL" else CT_DAYS)
        noisy = out.values[o] * np.exp(NOISE_SD_LOG[o] * rng.standard_normal(days.size))
        table[o] = pd.Series(np.where(keep, noisy, np.nan)).round(0 if o == "alc_per_uL" else 1)
    table["alc_per_uL"] = table["alc_per_uL"].astype("Int64")
    path = Path(__file__).with_name("patient_synthetic.csv")
    table.to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

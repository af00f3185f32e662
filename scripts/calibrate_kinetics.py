"""Least-squares calibration of cell-kinetics parameters to targets K1-K5, K3, P4.

Development aid: prints the best parameter set found; values are then copied into
``src/cllsim/model/data/parameters.tsv`` with ``calibrated to <row>`` sources.
"""

import json
import sys

import numpy as np
from scipy.optimize import least_squares

import cllsim

FREE = {
    "death_max_per_day": (0.005, 1.0),
    "bcl2_half_death": (0.1, 3.0),
    "bcl2_death_hill": (1.0, 8.0),
    "bcl2_tonic_btk_dependence": (0.0, 0.9),
    "bcl2_niche_support": (0.0, 3.0),
    "bcl2_bcr_gain": (0.0, 3.0),
    "death_detached_tissue_per_day": (0.0, 0.2),
    "niche_fraction": (0.5, 0.98),
    "egress_per_day": (0.01, 5.0),
    "detach_per_day": (0.005, 2.0),
    "homing_btk_dependence": (0.5, 1.0),
    "adhesion_btk_dependence": (0.0, 1.0),
    "birth_niche_indep_per_day": (0.0, 0.02),
    "birth_niche_bcr_per_day": (0.0005, 0.05),
}
SHARED = {"niche_fraction", "egress_per_day", "detach_per_day"}
TISSUES = ("ln", "spleen", "bm")


def expand(x):
    out = {}
    for (k, _), v in zip(FREE.items(), x, strict=True):
        if k in SHARED:
            for t in TISSUES:
                out[f"{k}_{t}"] = float(v)
        else:
            out[k] = float(v)
    return out


def run(ighv, params):
    r = cllsim.simulate(
        "420 mg qd", cllsim.Patient(ighv=ighv, parameters=params), days=180,
        times=np.arange(0, 181.0), rtol=1e-6, atol=1e-9,
    )
    if not r.ok:
        return None
    return r.wide()


def residuals(x):
    p = expand(x)
    try:
        wu, wm = run("U", p), run("M", p)
    except Exception as exc:  # noqa: BLE001 - infeasible baseline
        print("infeasible", exc, file=sys.stderr)
        return np.full(16, 10.0)
    if wu is None or wm is None:
        return np.full(16, 10.0)
    on = slice(30, 180)
    bd0 = wu["death_rate_blood_pct_per_day"].iloc[0]
    bd1 = wu["death_rate_blood_pct_per_day"].loc[on].mean()
    td0 = wu["death_rate_tissue_pct_per_day"].iloc[0]
    td1 = wu["death_rate_tissue_pct_per_day"].loc[on].mean()
    b0 = wu["birth_rate_total_pct_per_day"].iloc[0]
    b1 = wu["birth_rate_total_pct_per_day"].loc[on].mean()
    net_u = b0 - wu["death_rate_total_pct_per_day"].iloc[0]
    net_m = wm["birth_rate_total_pct_per_day"].iloc[0] - wm["death_rate_total_pct_per_day"].iloc[0]
    k3 = wu["cum_net_efflux_1e9"].max() / wu["cells_tissue_1e9"].iloc[0]
    alc = wu["alc_per_uL"]
    peak_x = alc.max() / alc.iloc[0]
    t_peak = alc.idxmax()
    alc_m = wm["alc_per_uL"]
    peak_m = alc_m.max() / alc_m.iloc[0]
    L = np.log
    res = np.array([
        L(bd0 / 0.35) / 0.5,
        L(bd1 / bd0 / 2.8) / 0.2,
        L(bd1 / 1.1) / 0.3,
        L(td1 / 2.7) / 0.2,
        L(td1 / td0 / 5.0) / 0.2,
        L(b0 / 0.39) / 0.2,
        L(max(b1, 1e-4) / 0.05) / 0.4,
        L(k3 / 0.30) / 0.1,
        (net_u - 0.05) / 0.05,
        min(0.0, net_m + 0.02) / 0.02,
        min(0.0, L(peak_x / 1.62)) / 0.05,
        (L(max(t_peak, 1.0) / 28.0)) / 0.4,
        min(0.0, L(peak_m / peak_x)) / 0.1,  # F6: M-CLL lymphocytosis at least as large
        max(0.0, L(wu["homing_capacity"].loc[7:30].mean() / 0.5)) / 0.1,  # F2: homing blocked
        min(0.0, L(wu["cxcr4_surface_blood"].loc[28] / 1.1)) / 0.05,  # F5: surface rises (patients)
        min(0.0, L(wm["alc_per_uL"].loc[90] / wu["alc_per_uL"].loc[90])) / 0.1,  # F6: M lasts longer
    ])
    print(json.dumps({"res": float(res @ res), "x": expand(x)}), flush=True)
    return res


if __name__ == "__main__":
    best = json.loads(open(sys.argv[1]).read()) if len(sys.argv) > 1 else {}
    table = cllsim.load_table().values()
    x0 = []
    for k in FREE:
        if k in SHARED:
            x0.append(best.get(f"{k}_ln", table[f"{k}_ln"]))
        else:
            x0.append(best.get(k, table[k]))
    x0 = np.array(x0)
    lo = np.array([b[0] for b in FREE.values()])
    hi = np.array([b[1] for b in FREE.values()])
    sol = least_squares(residuals, x0, bounds=(lo, hi), diff_step=0.05, max_nfev=400, x_scale="jac")
    print("BEST", json.dumps(expand(sol.x)), float(sol.cost))

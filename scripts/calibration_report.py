"""Print the calibration metrics of the typical U- and M-CLL patient (development aid)."""

import sys

import numpy as np

import cllsim


def metrics(ighv: str, overrides: dict[str, float]) -> dict[str, float]:
    r = cllsim.simulate("420 mg qd", cllsim.Patient(ighv=ighv, parameters=overrides), days=365)
    w = r.wide()
    on = w.loc[(w.index >= 30) & (w.index <= 180)]
    alc = w["alc_per_uL"]
    t_peak = float(alc.idxmax())
    after = alc[alc.index > t_peak]
    below = after[after < alc.iloc[0]]
    return {
        "bd_pre": w["death_rate_blood_pct_per_day"].iloc[0],
        "bd_on": on["death_rate_blood_pct_per_day"].mean(),
        "td_pre": w["death_rate_tissue_pct_per_day"].iloc[0],
        "td_on": on["death_rate_tissue_pct_per_day"].mean(),
        "b_pre": w["birth_rate_total_pct_per_day"].iloc[0],
        "b_on": on["birth_rate_total_pct_per_day"].mean(),
        "net_pre": w["birth_rate_total_pct_per_day"].iloc[0] - w["death_rate_total_pct_per_day"].iloc[0],
        "K3": w["cum_net_efflux_1e9"].max() / w["cells_tissue_1e9"].iloc[0],
        "alc_peak_x": alc.max() / alc.iloc[0],
        "t_peak": t_peak,
        "t_below_base": float(below.index[0]) if len(below) else np.nan,
        "ln_d90": w["ln_volume_cm3"].loc[90] / w["ln_volume_cm3"].iloc[0],
        "ln_d365": w["ln_volume_cm3"].loc[365] / w["ln_volume_cm3"].iloc[0],
        "cx_surf_d28": w["cxcr4_surface_blood"].loc[28],
        "ps339_d28": w["cxcr4_ps339_blood"].loc[28],
        "bcl2_d28": w["bcl2_blood"].loc[28],
        "occ_d1": w["btk_occupancy_pct"].loc[1],
        "homing_on": w["homing_capacity"].loc[7:30].mean(),
        "cxfun_on": w["cxcr4_function"].loc[7:30].mean(),
    }


if __name__ == "__main__":
    over = {k: float(v) for k, v in (a.split("=") for a in sys.argv[1:])}
    for ighv in "UM":
        m = metrics(ighv, over)
        print(ighv, "  ".join(f"{k}={v:.3g}" for k, v in m.items()))

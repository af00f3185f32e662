"""F3: ibrutinib blocks proliferation of CLL cells in tissue niches.

Protocol: TCL1-192 mice with established leukemia receive vehicle or ibrutinib (25 mg/kg/day,
gavage) for 7 days; BrdU is given for the last 24 h; spleen, lymph nodes and marrow are
harvested on day 7. Readout: BrdU+ CLL cells as % of CLL cells in each organ (cells that
divided during the 24 h pulse).

Simulation: division happens in niche-bound cells at ``birth_niche_per_day``; the fraction of
an organ's CLL cells that divide during the pulse is ``1 - exp(-∫ b dt)`` with ``b`` the
organ's division rate (niche division rate × niche-bound share of the organ's CLL cells),
integrated over the pulse from the simulated course.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._base import STUDY, Check, Experiment, ExperimentResult, tidy
from ._engine import shared_model
from ._plotting import COLORS, dots, finish, subplots
from ._population import sample_subjects
from .f01_redistribution import ARMS, MOUSE_DAYS

PULSE_DAYS = (6.0, 7.0)
TIMES = (0.0, *np.round(np.linspace(PULSE_DAYS[0], PULSE_DAYS[1], 9), 6))
ORGANS = {"spleen": "spleen", "ln": "lymph nodes", "bm": "bone marrow"}


class Proliferation(Experiment):
    """BrdU-labelled (dividing) fraction of CLL cells in tissues, vehicle vs ibrutinib."""

    id = "F3"
    title = "TCL1-192 mice: proliferating (BrdU+) CLL cells in tissue niches"
    finding = "Ibrutinib blocks proliferation in tissue niches."
    mice_per_arm = 5
    seed = 303

    def run(self, overrides: Mapping[str, float] | None = None) -> ExperimentResult:
        variables = ["birth_niche_per_day", *(f"cells_niche_{t}" for t in ORGANS), *(f"cells_{t}" for t in ORGANS)]
        rows: list[dict[str, object]] = []
        labelled: dict[str, dict[str, list[float]]] = {}
        values = None
        for arm, regimen in ARMS.items():
            model = shared_model("tcl1", regimen, MOUSE_DAYS)
            mice = sample_subjects(model, "U", self.mice_per_arm, seed=self.seed, prefix=f"{arm}-", overrides=overrides)
            values = values or model.values_for(mice[0])
            labelled[arm] = {t: [] for t in ORGANS}
            for mouse in mice:
                r = model.run(mouse, TIMES, variables)
                pulse = r.time_days >= PULSE_DAYS[0]
                for organ in ORGANS:
                    rate = r["birth_niche_per_day"] * r[f"cells_niche_{organ}"] / r[f"cells_{organ}"]
                    pct = 100.0 * (1.0 - np.exp(-np.trapezoid(rate[pulse], r.time_days[pulse])))
                    baseline = 100.0 * (1.0 - np.exp(-rate[0]))
                    labelled[arm][organ].append(pct)
                    rows.append({"group": arm, "subject": mouse.id, "time": PULSE_DAYS[1], "time_unit": "day",
                                 "readout": f"brdu_{organ}_pct", "value": float(pct), "unit": "% of CLL cells"})
                    rows.append({"group": arm, "subject": mouse.id, "time": 0.0, "time_unit": "day",
                                 "readout": f"brdu_{organ}_pct", "value": float(baseline), "unit": "% of CLL cells"})
        ratios = {t: float(np.mean(labelled["ibrutinib"][t]) / np.mean(labelled["vehicle"][t])) for t in ORGANS}
        src = f"{STUDY}: 'Ibrutinib also blocked B-cell homing and proliferation in tissue niches'"
        checks = [
            Check(f"F3.{t}", f"fewer CLL cells divide in {label} on ibrutinib",
                  f"BrdU+ CLL in {label} (24 h pulse, day 6-7), drug/vehicle", "<=", 0.5, ratios[t], "ratio",
                  src + "; minimum size: prediction (>=50% fewer)")
            for t, label in ORGANS.items()
        ]
        protocol = {
            "host": "tcl1 (TCL1-192 transplanted mouse)",
            "arms": ARMS,
            "mice_per_arm": self.mice_per_arm,
            "brdu_pulse_days": PULSE_DAYS,
            "readout": "BrdU+ CLL cells as % of CLL cells per organ",
        }
        return self._result(protocol, tidy(rows), checks, values=values, overrides=overrides, seed=self.seed)

    def figure(self, result: ExperimentResult):
        df = result.data[result.data.time == PULSE_DAYS[1]]
        fig, axes = subplots(1, width=5.5)
        ax = axes[0, 0]
        for i, organ in enumerate(ORGANS):
            for j, arm in enumerate(ARMS):
                sel = df[(df.readout == f"brdu_{organ}_pct") & (df.group == arm)]
                dots(ax, i + (j - 0.5) * 0.45, sel.value.to_numpy(), COLORS[arm], label=arm if i == 0 else None)
        ax.set_xticks(range(len(ORGANS)), list(ORGANS.values()))
        ax.set_ylabel("BrdU+ CLL cells (% of CLL cells)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return finish(fig, "F3 · dividing CLL cells, 24 h BrdU pulse on day 6-7 of ibrutinib or vehicle")

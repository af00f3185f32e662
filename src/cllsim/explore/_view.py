"""What the explorer shows, computed without any web framework (so it is tested without a browser).

A :class:`View` is the explorer's state (host, drug, IGHV, patient parameters, one or two
regimens, follow-up, optional virtual cohort). :func:`compute_view` simulates it and returns
the tidy data the figure is drawn from, and :func:`python_call` the Python code that reproduces
it: the patient runs are exactly ``cllsim.simulate(..., engine="cohort")``, the cohort band is
:func:`cohort_band`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, field_validator

from .._errors import SpecError
from .._validation import InputModel
from ..drugs import parse_therapy
from ..model import get_host, load_table

#: Observables of the figure, in panel order: (id, title, log-scale y axis).
PANELS = (
    ("alc_per_uL", "ALC", True),
    ("ln_volume_cm3", "lymph-node volume", False),
    ("spleen_volume_cm3", "spleen volume", False),
    ("btk_occupancy_pct", "BTK occupancy", False),
    ("drug_plasma_ng_per_mL", "plasma drug", False),
    ("cxcr4_surface_blood", "surface CXCR4, blood cells", False),
    ("cxcr4_ps339_blood", "pS339 CXCR4, blood cells", False),
    ("bcl2_blood", "BCL2, blood cells", False),
)

#: Patient parameters offered as sliders (rows of the patients table).
MAIN_PARAMETERS = (
    "baseline_alc_per_uL",
    "baseline_ln_volume_cm3",
    "baseline_spleen_volume_cm3",
    "body_weight_kg",
    "bcr_strength",
    "death_max_per_day",
    "birth_niche_bcr_per_day",
    "btk_turnover_per_day",
    "ibrutinib_cl_L_per_h",
)

#: Regimen presets per drug (text form of :func:`cllsim.drugs.parse_regimen`).
PRESETS = {
    "ibrutinib": ("420 mg qd", "560 mg qd", "280 mg qd", "140 mg qd", "420 mg qd x 28; hold 7 d; 420 mg qd",
                  "420 mg qd x 28; 280 mg qd", "none"),
    "acalabrutinib": ("100 mg bid", "100 mg qd", "200 mg qd", "none"),
    "zanubrutinib": ("160 mg bid", "320 mg qd", "80 mg bid", "none"),
    "pirtobrutinib": ("200 mg qd", "100 mg qd", "none"),
}
#: Therapies with other drugs, offered whatever the drug (CAPTIVATE-style fixed duration).
COMBINATION_PRESETS = ("ibrutinib 420 mg qd x 420 + venetoclax ramp-up; 400 mg qd x 301 from day 84",)

#: Regimen presets of the mouse hosts (per body weight; ibrutinib, the drug with a mouse PK table).
MOUSE_PRESETS = ("25 mg/kg qd", "12.5 mg/kg qd", "50 mg/kg qd", "none")


def presets(host: str, drug: str) -> tuple[str, ...]:
    """Regimen presets offered for ``host`` and ``drug``."""
    return (*PRESETS.get(drug, ()), *COMBINATION_PRESETS) if host == "patient" else MOUSE_PRESETS


#: The cohort engine's tolerances in the explorer: within 1e-4 of the reference engine over a year
#: (the cohort default; see cllsim.cohort.CohortSpec) and fast enough for ~1 s updates.
RTOL, ATOL = 1e-5, 1e-9


class View(InputModel):
    """The explorer's state.

    Attributes
    ----------
    host, drug
        Registered host and BTK inhibitor.
    ighv
        ``"U"`` or ``"M"``.
    parameters
        Patient parameter values differing from the table (table units; checked against bounds).
    regimens
        One regimen, or two shown side by side (text form): panel A and panel B.
    ighv_b
        IGHV status of panel B's patient (``None``: as A), to compare two patients; parameters
        not set in ``parameters`` take B's IGHV values.
    days
        Follow-up after the start of treatment, days.
    cohort_n
        Virtual patients around this one for the median and 5-95% band (0: none).
    seed
        Seed of the virtual cohort.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = SpecError
    host: str = "patient"
    drug: str = "ibrutinib"
    ighv: str = "U"
    parameters: dict[str, float] = Field(default_factory=dict)
    regimens: tuple[str, ...] = ("420 mg qd",)
    ighv_b: str | None = None
    days: float = Field(default=365.0, gt=0, le=3650)
    cohort_n: int = Field(default=0, ge=0, le=500)
    seed: int = Field(default=0, ge=0)

    @field_validator("regimens")
    @classmethod
    def _regimens(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        v = tuple(r.strip() for r in v if r.strip())
        if not 1 <= len(v) <= 2:
            raise ValueError("give one regimen, or two to compare")
        for r in v:
            parse_therapy(r)  # a regimen of the view's drug, or a therapy naming its drugs
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        get_host(v)
        return v

    def patient(self, panel: str = "A") -> Any:
        """The :class:`cllsim.Patient` of panel ``"A"`` or ``"B"`` (parameters checked against the host's table)."""
        from ..simulate import Patient

        ighv = self.ighv_b if panel == "B" and self.ighv_b else self.ighv
        patient = Patient(id=f"patient {panel}", ighv=ighv, parameters=self.parameters)
        load_table(host=self.host, drug=self.drug).with_values(self.parameters, what="patient")
        return patient

    def panels(self) -> dict[str, tuple[Any, str]]:
        """``{"A": (patient, regimen), "B": ...}``: what each panel simulates."""
        return {label: (self.patient(label), regimen) for label, regimen in zip("AB", self.regimens, strict=False)}


@dataclass(frozen=True)
class ViewResult:
    """Tidy data of a view and how long it took.

    Attributes
    ----------
    data
        Columns ``panel`` (``"A"``/``"B"``), ``regimen``, ``ighv``, ``series`` (``patient``, ``p5``,
        ``p50``, ``p95``), ``time_day``, ``observable``, ``value``, ``unit``.
    notes
        What the user should know (failed virtual patients, observables the host lacks).
    seconds
        Wall time of the computation, s.
    """

    data: pd.DataFrame
    notes: tuple[str, ...]
    seconds: float


def panel_observables(host: str) -> list[tuple[str, str, bool, str]]:
    """``(id, title, log axis, unit)`` of the panels the host has."""
    from ..simulate import observables

    units = {o.id: o.unit for o in observables(host)}
    return [(oid, title, log, units[oid]) for oid, title, log in PANELS if oid in units]


def cohort_band(
    patient: Any,
    regimen: str,
    *,
    n: int,
    days: float,
    seed: int = 0,
    host: str = "patient",
    drug: str = "ibrutinib",
    observables: Sequence[str] | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> tuple[pd.DataFrame, int]:
    """Daily 5/50/95% quantiles of ``n`` virtual patients varying around ``patient``.

    Every row with between-patient variability (``iivSD > 0``) is drawn log-normally around the
    patient's value, truncated to the row's bounds (the population distribution of
    :mod:`cllsim.cohort`, via :func:`cllsim.analysis.factor_values`); the batch runs on the
    cohort engine.

    Returns
    -------
    tuple
        Tidy quantiles (``series``, ``time_day``, ``observable``, ``value``, ``unit``) over the
        patients whose simulation succeeded, and the number that failed.
    """
    from ..analysis import factor_values
    from ..simulate import model_drugs, observe, patient_values, run_batch
    from ..simulate import observables as registry

    drugs = model_drugs(parse_therapy(regimen, drug), drug)  # a therapy may name other drugs
    table = load_table(host=host, drug=drugs)
    values: dict[str, Any] = dict(patient_values(patient, host, table, drugs))
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    for pid in sorted(table.rows):
        row = table.rows[pid]
        if row.iivSD > 0:
            values[pid] = factor_values(rng.random(n), row.lowerBound, row.upperBound, row.parameterScale,
                                        "population", float(values[pid]), row.iivSD)
    wanted = list(observables or [oid for oid, *_ in panel_observables(host)])
    obs = [o for o in registry(host) if o.id in wanted]
    grid = np.arange(0.0, np.floor(days) + 1.0)
    if grid[-1] < days:
        grid = np.append(grid, days)
    traj = run_batch(regimen, values, grid * 24.0, [o.variable for o in obs], host=host, rtol=rtol, atol=atol,
                     drug=drugs)
    observed = observe(obs, traj.values)
    ok = traj.ok
    frames = []
    for o in obs:
        if not ok.any():
            break
        q = np.nanquantile(observed[o.id][ok], [0.05, 0.5, 0.95], axis=0)
        for name, row_q in zip(("p5", "p50", "p95"), q, strict=True):
            frames.append(pd.DataFrame({"series": name, "time_day": grid, "observable": o.id, "value": row_q,
                                        "unit": o.unit}))
    cols = ["series", "time_day", "observable", "value", "unit"]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)), int((~ok).sum())


def compute_view(view: View) -> ViewResult:
    """Simulate the view's patient on each regimen (and its virtual cohort, if asked).

    Raises
    ------
    cllsim.InputError
        For a view that cannot be simulated as given (bounds, regimen, infeasible baseline).
    cllsim.ModelError
        If the engine fails.
    """
    import cllsim

    started = time.perf_counter()
    panels = panel_observables(view.host)
    wanted = [oid for oid, *_ in panels]
    frames, notes = [], []
    for label, (patient, regimen) in view.panels().items():
        result = cllsim.simulate(regimen, patient, days=view.days, host=view.host, drug=view.drug, engine="cohort",
                                 rtol=RTOL, atol=ATOL)
        result.raise_for_status()
        df = result.to_df()
        df = df[df["observable"].isin(wanted)]
        frames.append(pd.DataFrame({"panel": label, "regimen": regimen, "ighv": patient.ighv, "series": "patient",
                                    "time_day": df["time"].to_numpy(), "observable": df["observable"].to_numpy(),
                                    "value": df["value"].to_numpy(), "unit": df["unit"].to_numpy()}))
        if view.cohort_n:
            band, failed = cohort_band(patient, regimen, n=view.cohort_n, days=view.days, seed=view.seed,
                                       host=view.host, drug=view.drug, observables=wanted)
            band.insert(0, "ighv", patient.ighv)
            band.insert(0, "regimen", regimen)
            band.insert(0, "panel", label)
            frames.append(band)
            if failed:
                notes.append(f"{label}: {failed} of {view.cohort_n} virtual patients had no feasible baseline or "
                             "failed and are left out of the band")
    missing = [title for oid, title, _ in PANELS if oid not in wanted]
    if missing:
        notes.append(f"host {view.host!r} has no {', '.join(missing)}")
    data = pd.concat(frames, ignore_index=True)
    return ViewResult(data, tuple(notes), time.perf_counter() - started)


def python_call(view: View) -> str:
    """A script that reproduces the view's data with the public API (the calls the explorer makes)."""
    lines = ['"""Reproduces a cllsim explorer view: the same calls the explorer made."""', "import cllsim"]
    if view.cohort_n:
        lines.append("from cllsim.explore import cohort_band")
    lines += ["", "patients = {"]
    for label, (patient, _) in view.panels().items():
        params = dict(sorted(patient.parameters.items()))
        lines.append(f"    {label!r}: cllsim.Patient(id={patient.id!r}, ighv={patient.ighv!r}, parameters={params!r}),")
    regimens = dict(zip("AB", view.regimens, strict=False))
    lines += ["}", f"regimens = {regimens!r}", "results = {}", "for panel, regimen in regimens.items():",
              f"    results[panel] = cllsim.simulate(regimen, patients[panel], days={view.days!r}, host={view.host!r}, "
              f"drug={view.drug!r},",
              f'                                     engine="cohort", rtol={RTOL!r}, atol={ATOL!r}).raise_for_status()']
    if view.cohort_n:
        lines += ["bands = {}", "for panel, regimen in regimens.items():",
                  f"    bands[panel], n_failed = cohort_band(patients[panel], regimen, n={view.cohort_n}, "
                  f"days={view.days!r}, seed={view.seed},",
                  f"                                         host={view.host!r}, drug={view.drug!r})"]
    lines += ["", "for panel, result in results.items():", "    print(panel, regimens[panel])",
              "    print(result.wide().iloc[::30])", ""]
    return "\n".join(lines)


def view_from_controls(controls: Mapping[str, Any], parameter_values: Mapping[str, Any]) -> View:
    """A :class:`View` from the explorer's controls; parameters equal to the patient's nominal are left out.

    Raises
    ------
    cllsim.InputError
        For a missing or unusable control value (named in the message).
    """
    from ..simulate import Patient, patient_values

    nominal = patient_values(Patient(ighv=controls.get("ighv") or "U"), controls.get("host") or "patient",
                             drug=controls.get("drug") or "ibrutinib")
    params = {}
    for pid, value in parameter_values.items():
        if value is None or value == "":
            raise SpecError(f"{pid}: give a number")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise SpecError(f"{pid}: {value!r} is not a number") from None
        if pid in nominal and not np.isclose(v, nominal[pid], rtol=1e-9, atol=0):
            params[pid] = v
    days = controls.get("days")
    if days is None or days == "":
        raise SpecError("days: give a number of days")
    regimens = [controls.get("regimen_a") or ""]
    if controls.get("compare"):
        regimens.append(controls.get("regimen_b") or "")
        if not regimens[1].strip():
            raise SpecError("regimen B: give a regimen to compare, or untick 'compare'")
    if not regimens[0].strip():
        raise SpecError("regimen A: give a regimen, e.g. '420 mg qd'")
    return View(host=controls.get("host") or "patient", drug=controls.get("drug") or "ibrutinib",
                ighv=controls.get("ighv") or "U", parameters=params, regimens=tuple(regimens), days=float(days),
                ighv_b=(controls.get("ighv_b") or None) if controls.get("compare") else None,
                cohort_n=int(controls.get("cohort_n") or 0) if controls.get("cohort") else 0,
                seed=int(controls.get("seed") or 0))

"""What a sensitivity analysis asks: factors (parameters and their distributions) and outputs.

Every factor is sampled by SALib on the unit interval (a *quantile* ``u``) and mapped to table
units here, so one sample design serves both kinds of distribution:

``"bounds"``
    uniform between the row's ``lowerBound`` and ``upperBound`` on the row's ``parameterScale``
    (``lin``: uniform; ``log``/``log10``: log-uniform). This is the "what could matter at all"
    question; wide bounds include patients whose baseline cannot be an untreated steady state
    (those evaluations fail and are handled as described in :mod:`._sensitivity`).
``"population"``
    the between-patient distribution of :mod:`cllsim.cohort`: log-normal around the patient's
    value (the IGHV-conditioned nominal) with the row's ``iivSD`` on the natural-log scale,
    truncated to the row's bounds (exact inverse CDF of the truncated normal, where the cohort
    redraws out-of-bounds draws: the same distribution). This is the "what explains the spread
    between real patients" question; only rows with ``iivSD > 0`` can be chosen.

An output is an observable of the registry (:func:`cllsim.simulate.observables`) at one time
after the start of treatment, written ``"alc_per_uL@28"`` (day 28).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field, field_validator, model_validator
from scipy import special

from .._errors import SpecError
from .._validation import InputModel
from ..drugs import RegimenText
from ..model import ParameterTable, get_host, load_table
from ..simulate import Patient, observables, patient_values

#: Outputs analysed when none are given: ALC early (redistribution), at 1 and 6 months, and the
#: tissue burden at one year.
DEFAULT_OUTPUTS = ("alc_per_uL@1", "alc_per_uL@28", "alc_per_uL@180", "cells_tissue_1e9@365")

Distribution = Literal["bounds", "population"]


def parse_output(text: str) -> tuple[str, float]:
    """``"alc_per_uL@28"`` -> ``("alc_per_uL", 28.0)`` (day after the start of treatment).

    Raises
    ------
    SpecError
        If the text is not ``OBSERVABLE@DAY`` with a day > 0.
    """
    name, sep, day_text = str(text).strip().partition("@")
    try:
        day = float(day_text)
    except ValueError:
        day = math.nan
    if not sep or not name or not math.isfinite(day) or day <= 0:
        raise SpecError(f"output {text!r} must be OBSERVABLE@DAY with a day > 0, e.g. 'alc_per_uL@28'")
    return name.strip(), day


def expand_outputs(texts: Sequence[str]) -> list[str]:
    """Outputs with several days written once: ``"alc_per_uL@1,28,180"`` -> three outputs."""
    out: list[str] = []
    for text in texts:
        name, _, days = str(text).partition("@")
        for day in days.split(",") if days else [""]:
            out.append(f"{name.strip()}@{day.strip()}")
    return out


def output_label(observable: str, day: float) -> str:
    """Canonical output name: ``alc_per_uL@28`` (integer days without decimals)."""
    return f"{observable}@{day:g}"


class SensitivitySpec(InputModel):
    """A global sensitivity question about the model (validated, JSON-serialisable).

    Attributes
    ----------
    parameters
        Parameter ids of the table to vary; empty: every row with ``iivSD > 0`` (the ones that
        vary between patients).
    outputs
        ``"OBSERVABLE@DAY"`` strings (``"alc_per_uL@28"``); several days may be given as
        ``"alc_per_uL@1,28,180"``.
    distribution
        ``"bounds"`` or ``"population"`` (see the module docstring).
    regimen
        Regimen text, the same for every evaluation.
    ighv
        IGHV status of the patient the factors vary around (``"U"`` or ``"M"``).
    host, drug
        Host and BTK inhibitor whose tables are used.
    log10_outputs
        Analyse ``log10`` of each output (counts and volumes span orders of magnitude; a
        non-positive value then counts as a failed evaluation).
    rtol, atol
        Cohort-engine tolerances (as for :class:`cllsim.cohort.CohortSpec`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = SpecError
    parameters: tuple[str, ...] = ()
    outputs: tuple[str, ...] = DEFAULT_OUTPUTS
    distribution: Distribution = "population"
    regimen: RegimenText = "420 mg qd"
    ighv: str = "U"
    host: str = "patient"
    drug: str = "ibrutinib"
    log10_outputs: bool = False
    rtol: float = Field(default=1e-5, gt=0, lt=1)
    atol: float = Field(default=1e-9, gt=0)

    @field_validator("outputs", mode="before")
    @classmethod
    def _expand(cls, v: object) -> object:
        if isinstance(v, str):
            v = (v,)
        if isinstance(v, list | tuple):
            labels = []
            for text in expand_outputs([str(x) for x in v]):
                labels.append(output_label(*parse_output(text)))
            if not labels:
                raise ValueError("give at least one output")
            return tuple(dict.fromkeys(labels))  # keep order, drop repeats
        return v

    @field_validator("ighv", mode="before")
    @classmethod
    def _ighv(cls, v: object) -> object:
        return Patient(ighv=v).ighv if isinstance(v, str) else v  # one place knows IGHV spelling

    @model_validator(mode="after")
    def _known(self) -> SensitivitySpec:
        get_host(self.host)
        known = {o.id for o in observables(self.host)}
        for label in self.outputs:
            name, _ = parse_output(label)
            if name not in known:
                raise SpecError(f"unknown observable {name!r} in output {label!r}; see `cllsim observables`")
        rows = self.table().rows
        for pid in self.parameters:
            if pid not in rows:
                from difflib import get_close_matches

                near = get_close_matches(pid, list(rows), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise SpecError(f"unknown parameter {pid!r}{hint}")
        if len(set(self.parameters)) != len(self.parameters):
            raise SpecError("parameters: each parameter may be given once")
        factors = self.factors()
        if not factors:
            raise SpecError("no parameter to vary: the table has no row with iivSD > 0; name parameters")
        for pid in factors:
            row = rows[pid]
            if self.distribution == "population" and row.iivSD <= 0:
                raise SpecError(
                    f"parameter {pid!r} has no between-patient variability (iivSD 0): "
                    "use distribution 'bounds' for it"
                )
            if self.distribution == "bounds":
                if not row.lowerBound < row.upperBound:
                    raise SpecError(f"parameter {pid!r} has equal bounds: nothing to vary")
                if row.parameterScale != "lin" and row.lowerBound <= 0:
                    raise SpecError(f"parameter {pid!r} is on a log scale but its lower bound is {row.lowerBound:g}")
        return self

    def table(self) -> ParameterTable:
        """The parameters table of this host and drug."""
        return load_table(host=self.host, drug=self.drug)

    def factors(self) -> tuple[str, ...]:
        """The varied parameter ids, in analysis order."""
        if self.parameters:
            return self.parameters
        return tuple(pid for pid, row in self.table().rows.items() if row.iivSD > 0)

    def output_pairs(self) -> list[tuple[str, float]]:
        """``(observable, day)`` of every output, in order."""
        return [parse_output(label) for label in self.outputs]

    def base_values(self) -> dict[str, float]:
        """Every parameter of the patient the factors vary around (nominal, IGHV condition applied)."""
        return patient_values(Patient(ighv=self.ighv), self.host, self.table(), self.drug)

    def problem(self) -> dict[str, object]:
        """SALib problem: every factor on the unit interval (quantiles; :meth:`to_values` maps them)."""
        names = list(self.factors())
        return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}

    def to_values(self, quantiles: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter values (table units) of sample rows given as quantiles, shape ``(n, D)``.

        Returns
        -------
        dict
            Every varied parameter id -> array of shape ``(n,)``.
        """
        q = np.asarray(quantiles, dtype=float)
        if q.ndim != 2 or q.shape[1] != len(self.factors()):
            raise SpecError(f"sample must have shape (n, {len(self.factors())}), got {q.shape}")
        rows, base = self.table().rows, self.base_values()
        out = {}
        for k, pid in enumerate(self.factors()):
            out[pid] = factor_values(q[:, k], rows[pid].lowerBound, rows[pid].upperBound,
                                     rows[pid].parameterScale, self.distribution, base[pid], rows[pid].iivSD)
        return out

    def digest(self) -> str:
        """SHA-256 of the canonical JSON: equal exactly when two specs ask the same question."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()


def factor_values(u: np.ndarray, lower: float, upper: float, scale: str, distribution: str,
                  median: float, sd_log: float) -> np.ndarray:
    """Map quantiles ``u`` in [0, 1] to parameter values (see the module docstring).

    Parameters
    ----------
    u
        Quantiles.
    lower, upper
        The row's bounds (table units).
    scale
        The row's ``parameterScale`` (``lin``, ``log``, ``log10``).
    distribution
        ``"bounds"`` or ``"population"``.
    median, sd_log
        Median (table units) and natural-log SD of the population distribution.
    """
    u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
    if distribution == "bounds":
        if scale == "lin":
            return lower + u * (upper - lower)
        return np.exp(np.log(lower) + u * (np.log(upper) - np.log(lower)))
    # truncated log-normal: uniform between the normal CDF values of the two bounds, then back
    a = -np.inf if lower <= 0 else (math.log(lower) - math.log(median)) / sd_log
    b = (math.log(upper) - math.log(median)) / sd_log
    pa, pb = special.ndtr(a), special.ndtr(b)
    z = special.ndtri(np.clip(pa + u * (pb - pa), 1e-300, 1 - 1e-16))
    return np.clip(median * np.exp(sd_log * z), lower, upper)


def describe_factors(spec: SensitivitySpec) -> list[dict[str, object]]:
    """One record per factor: id, unit, distribution and its range (for tables and captions)."""
    rows, base = spec.table().rows, spec.base_values()
    out = []
    for pid in spec.factors():
        row = rows[pid]
        out.append({"parameter": pid, "unit": row.unit, "nominal": base[pid], "lower": row.lowerBound,
                    "upper": row.upperBound, "scale": row.parameterScale, "iivSD": row.iivSD,
                    "distribution": spec.distribution})
    return out

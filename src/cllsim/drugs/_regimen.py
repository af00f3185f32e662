"""Oral dosing regimens, written the pharmacometric way, and their dosing events.

A regimen is a sequence of segments: dosing blocks (amount, interval, number of doses) and
holds (interruptions). Text form, segments separated by ``;``::

    "420 mg qd"                         # daily, until the end of the simulation
    "420 mg qd x 28; hold 7 d; 280 mg qd"
    "560 mg qd x 14; 420 mg bid"        # dose change
    "25 mg/kg qd"                       # mouse dosing per body weight
    "420 mg qd fasted"                  # food state (default fed, as in CLL trials)
    "none"                              # untreated

Every dose is applied exactly at its time: each becomes a pair of SBML events that start and
stop its zero-order input after the absorption lag (PK1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from .._errors import RegimenError
from .._validation import InputModel

FREQUENCIES_H: dict[str, float] = {
    "qd": 24.0,
    "daily": 24.0,
    "q24h": 24.0,
    "bid": 12.0,
    "q12h": 12.0,
    "tid": 8.0,
    "q8h": 8.0,
    "qod": 48.0,
    "qw": 168.0,
    "weekly": 168.0,
}


class DoseBlock(InputModel):
    """Repeated oral doses.

    Attributes
    ----------
    amount
        Dose per administration, in ``amount_unit``.
    amount_unit
        ``"mg"`` or ``"mg/kg"`` (multiplied by body weight).
    interval_h
        Time between doses, h.
    n_doses
        Number of doses; ``None`` repeats until the end of the simulation (last block only).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = RegimenError
    kind: Literal["dose"] = "dose"
    amount: float = Field(gt=0)
    amount_unit: Literal["mg", "mg/kg"] = "mg"
    interval_h: float = Field(gt=0)
    n_doses: int | None = Field(default=None, ge=1)

    def duration_h(self) -> float | None:
        return None if self.n_doses is None else self.n_doses * self.interval_h


class Hold(InputModel):
    """A treatment interruption of ``days`` days."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = RegimenError
    kind: Literal["hold"] = "hold"
    days: float = Field(gt=0)

    def duration_h(self) -> float:
        return self.days * 24.0


class Regimen(InputModel):
    """An oral regimen: segments in order, starting at ``start_day``.

    Attributes
    ----------
    segments
        Dose blocks and holds, applied one after the other.
    start_day
        Day of the first segment (day 0 = start of the simulation), days.
    food
        ``"fed"`` (default: CLL trials dosed without regard to food) or ``"fasted"``;
        sets input duration and relative bioavailability (PK1).
    text
        The text the regimen was parsed from, if any (kept for metadata).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = RegimenError
    segments: tuple[DoseBlock | Hold, ...] = ()
    start_day: float = Field(default=0.0, ge=0)
    food: Literal["fed", "fasted"] = "fed"
    text: str | None = None

    @model_validator(mode="after")
    def _open_end_last(self) -> Regimen:
        for seg in self.segments[:-1]:
            if isinstance(seg, DoseBlock) and seg.n_doses is None:
                raise ValueError(
                    "only the last dosing block may be open-ended; give 'x N' doses for the others"
                )
        return self

    @classmethod
    def untreated(cls) -> Regimen:
        """No drug."""
        return cls(text="none")

    @classmethod
    def parse(cls, text: str) -> Regimen:
        """Parse the text form (see module docstring); raise :class:`RegimenError` if invalid."""
        return parse_regimen(text)

    @property
    def is_untreated(self) -> bool:
        return not any(isinstance(s, DoseBlock) for s in self.segments)

    def describe(self) -> str:
        """Canonical text form."""
        if self.is_untreated:
            return "none"
        parts = []
        for seg in self.segments:
            if isinstance(seg, Hold):
                parts.append(f"hold {seg.days:g} d")
            else:
                freq = next((k for k, v in FREQUENCIES_H.items() if v == seg.interval_h), None)
                freq = freq or f"q{seg.interval_h:g}h"
                count = f" x {seg.n_doses}" if seg.n_doses else ""
                parts.append(f"{seg.amount:g} {seg.amount_unit} {freq}{count}")
        text = "; ".join(parts)
        if self.food != "fed":
            text += f" {self.food}"
        if self.start_day:
            text += f" from day {self.start_day:g}"
        return text

    def doses(self, until_h: float, body_weight_kg: float = 80.4) -> list[tuple[float, float]]:
        """Dose times and amounts up to (excluding) ``until_h``.

        Returns
        -------
        list of (time_h, amount_mg)
        """
        out: list[tuple[float, float]] = []
        t = self.start_day * 24.0
        for seg in self.segments:
            if isinstance(seg, Hold):
                t += seg.duration_h()
                continue
            amount = seg.amount * (body_weight_kg if seg.amount_unit == "mg/kg" else 1.0)
            k = 0
            while (seg.n_doses is None or k < seg.n_doses) and t < until_h:
                out.append((t, amount))
                t += seg.interval_h
                k += 1
            if seg.n_doses is not None and k < seg.n_doses:
                t += (seg.n_doses - k) * seg.interval_h
            if t >= until_h:
                break
        return out


_DOSE = re.compile(
    r"^(?P<amount>[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*(?P<unit>mg/kg|mg)\s+"
    r"(?P<freq>qd|daily|q24h|bid|q12h|tid|q8h|qod|qw|weekly|q\d+(?:\.\d+)?h|once)"
    r"(?:\s*[x×]\s*(?P<n>\d+))?$"
)
_HOLD = re.compile(r"^(?:hold|pause|interrupt(?:ion)?)\s+(?P<days>[-+]?\d+(?:\.\d+)?)\s*(?:d|days?)$")
_FROM = re.compile(r"\s+from\s+day\s+(?P<day>[-+]?\d+(?:\.\d+)?)$")


def parse_regimen(text: str) -> Regimen:
    """Parse a regimen text; see the module docstring for the grammar."""
    if not isinstance(text, str) or not text.strip():
        raise RegimenError("empty regimen; use e.g. '420 mg qd' or 'none'")
    raw = " ".join(text.strip().lower().split())
    if raw in {"none", "untreated", "vehicle", "0"}:
        return Regimen(text=text)
    food: Literal["fed", "fasted"] = "fed"
    start_day = 0.0
    changed = True
    while changed:  # trailing qualifiers, in any order
        changed = False
        for word in ("fasted", "fed"):
            if raw.endswith(" " + word):
                food = word
                raw = raw[: -len(word) - 1]
                changed = True
        m = _FROM.search(raw)
        if m:
            start_day = float(m.group("day"))
            if start_day < 0:
                raise RegimenError(f"start day must be >= 0, got {start_day:g}")
            raw = raw[: m.start()]
            changed = True
    segments: list[DoseBlock | Hold] = []
    for part in (p.strip() for p in raw.split(";")):
        if not part:
            continue
        md = _DOSE.match(part)
        mh = _HOLD.match(part)
        if md:
            amount = float(md.group("amount"))
            if amount <= 0:
                raise RegimenError(f"dose must be positive, got {amount:g} in {part!r}")
            freq = md.group("freq")
            n = int(md.group("n")) if md.group("n") else None
            if freq == "once":
                interval, n = 24.0, 1
            elif freq in FREQUENCIES_H:
                interval = FREQUENCIES_H[freq]
            else:
                interval = float(freq[1:-1])
            if interval <= 0:
                raise RegimenError(f"dosing interval must be positive in {part!r}")
            if n == 0:
                raise RegimenError(f"number of doses must be >= 1 in {part!r}")
            segments.append(
                DoseBlock(amount=amount, amount_unit=_unit(md.group("unit")), interval_h=interval, n_doses=n)
            )
        elif mh:
            days = float(mh.group("days"))
            if days <= 0:
                raise RegimenError(f"hold must last > 0 days in {part!r}")
            segments.append(Hold(days=days))
        else:
            raise RegimenError(
                f"cannot parse regimen segment {part!r}; expected e.g. '420 mg qd', "
                "'420 mg qd x 28', 'hold 7 d', '25 mg/kg qd'"
            )
    if not segments:
        raise RegimenError(f"no dosing segment in {text!r}")
    return Regimen(segments=tuple(segments), start_day=start_day, food=food, text=text)


def _unit(text: str) -> Literal["mg", "mg/kg"]:
    """The dose unit matched by the grammar (only these two are)."""
    if text not in ("mg", "mg/kg"):
        raise RegimenError(f"unknown dose unit {text!r}; use mg or mg/kg")
    return "mg" if text == "mg" else "mg/kg"


def dose_inputs(
    regimen: Regimen, values: Mapping[str, float], until_h: float
) -> list[tuple[float, float, float]]:
    """Absorption inputs of each dose of ``regimen``: ``(start_h, duration_h, amount_mg)``.

    Each dose enters the depot at a constant rate for the input duration after the lag
    (sequential zero-/first-order absorption, PK1); fed doses carry the fed bioavailability
    relative to the fasted reference of CL/F. A duration of 0 is a bolus into the depot. Both
    engines build their dosing from this list.

    Parameters
    ----------
    regimen
        The regimen.
    values
        Parameter values (``pk_lag_h``, ``pk_d1_fed_h``, ``pk_d1_fasted_h``,
        ``pk_frel_fasted_vs_fed``, ``body_weight_kg``).
    until_h
        End of the simulation, h; later doses are omitted.
    """
    lag = values["pk_lag_h"]
    d1 = values["pk_d1_fed_h"] if regimen.food == "fed" else values["pk_d1_fasted_h"]
    bioavailability = 1.0 / values["pk_frel_fasted_vs_fed"] if regimen.food == "fed" else 1.0
    return [
        (t + lag, d1, amount * bioavailability)
        for t, amount in regimen.doses(until_h, values["body_weight_kg"])
    ]


def dosing_events(
    regimen: Regimen, values: Mapping[str, float], until_h: float
) -> list[str]:
    """Antimony event lines applying each dose of ``regimen`` at its time.

    Arguments as for :func:`dose_inputs`; each zero-order input becomes an on/off event pair,
    each bolus one event.
    """
    events = []
    for k, (t_on, d1, absorbed) in enumerate(dose_inputs(regimen, values, until_h)):
        if d1 > 0:
            rate = absorbed / d1
            events.append(
                f"dose{k}_on: at time >= {t_on!r}, t0=false, persistent=true: "
                f"pk_input_mg_per_h = pk_input_mg_per_h + {rate!r}"
            )
            events.append(
                f"dose{k}_off: at time >= {t_on + d1!r}, t0=false, persistent=true: "
                f"pk_input_mg_per_h = pk_input_mg_per_h - {rate!r}"
            )
        else:
            events.append(
                f"dose{k}: at time >= {t_on!r}, t0=false, persistent=true: "
                f"drug_depot_mg = drug_depot_mg + {absorbed!r}"
            )
    return events

"""Oral dosing regimens, written the pharmacometric way, and their dosing events.

A regimen is a sequence of segments: dosing blocks (amount, interval, number of doses) and
holds (interruptions). Text form, segments separated by ``;``::

    "420 mg qd"                         # daily, until the end of the simulation
    "420 mg qd x 28; hold 7 d; 280 mg qd"
    "560 mg qd x 14; 420 mg bid"        # dose change
    "25 mg/kg qd"                       # mouse dosing per body weight
    "420 mg qd fasted"                  # food state (default fed, as in CLL trials)
    "none"                              # untreated

Each qualifier (food state, ``from day``) may be given once. A regimen expands to at most
:data:`MAX_DOSES` doses per simulation (:meth:`Regimen.n_doses` counts them without expanding);
:meth:`Regimen.with_max_doses` raises the limit for a regimen that really needs more.

Every dose is applied exactly at its time: each becomes a pair of SBML events that start and
stop its zero-order input after the absorption lag (PK1).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from .._errors import RegimenError
from .._validation import InputModel, shorten

if TYPE_CHECKING:
    from ._records import DoseRecords

#: Most doses one simulation expands a regimen to (unless :meth:`Regimen.with_max_doses` says
#: otherwise): bid dosing for 100 years is 73,000 doses; each dose costs two solver stops and,
#: in an SBML export, two events, so millions of them (``420 mg q0.001h``) exhaust memory.
MAX_DOSES = 100_000

#: Daily dose above which a human regimen is flagged, mg/day: the highest BTK-inhibitor exposure
#: studied in people, ibrutinib 12.5 mg/kg/day (about 1000 mg/day; Advani RH et al., J Clin
#: Oncol 2013;31:88, phase 1 dose escalation); acalabrutinib's phase 1 went to 400 mg/day
#: (Byrd JC et al., N Engl J Med 2016;374:323).
HUMAN_DAILY_DOSE_CEILING_MG = 1000.0

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
    amount: float = Field(gt=0, allow_inf_nan=False)
    amount_unit: Literal["mg", "mg/kg"] = "mg"
    interval_h: float = Field(gt=0, allow_inf_nan=False)
    n_doses: int | None = Field(default=None, ge=1)

    def duration_h(self) -> float | None:
        return None if self.n_doses is None else self.n_doses * self.interval_h


class Hold(InputModel):
    """A treatment interruption of ``days`` days."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = RegimenError
    kind: Literal["hold"] = "hold"
    days: float = Field(gt=0, allow_inf_nan=False)

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
    max_doses
        Most doses a simulation may expand this regimen to (:data:`MAX_DOSES` by default; see
        :meth:`with_max_doses`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = RegimenError
    segments: tuple[DoseBlock | Hold, ...] = ()
    start_day: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    food: Literal["fed", "fasted"] = "fed"
    text: str | None = None
    max_doses: int = Field(default=MAX_DOSES, ge=1)

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

    @property
    def per_kg(self) -> bool:
        """Whether any dose is given per kg of body weight."""
        return any(isinstance(s, DoseBlock) and s.amount_unit == "mg/kg" for s in self.segments)

    def to_records(self, until_h: float) -> DoseRecords:
        """The doses before ``until_h`` as an event table, one row per dosing block (time, amount, ii, addl).

        The table gives the same doses at the same times (bit for bit) and has the same food state
        and dose limit; ``text`` is this regimen's :meth:`describe`.
        """
        from ._records import regimen_to_records  # the records module builds on this one

        return regimen_to_records(self, until_h)

    def describe(self) -> str:
        """Canonical text form; :func:`parse_regimen` reads it back to the same regimen (numbers exact)."""
        if self.is_untreated:
            return "none"
        parts = []
        for seg in self.segments:
            if isinstance(seg, Hold):
                parts.append(f"hold {_number(seg.days)} d")
            else:
                freq = next((k for k, v in FREQUENCIES_H.items() if v == seg.interval_h), None)
                freq = freq or f"q{_number(seg.interval_h)}h"
                count = f" x {seg.n_doses}" if seg.n_doses else ""
                parts.append(f"{_number(seg.amount)} {seg.amount_unit} {freq}{count}")
        text = "; ".join(parts)
        if self.food != "fed":
            text += f" {self.food}"
        if self.start_day:
            text += f" from day {_number(self.start_day)}"
        return text

    def with_max_doses(self, max_doses: int) -> Regimen:
        """This regimen with another dose limit per simulation (for regimens that need more than :data:`MAX_DOSES`)."""
        if isinstance(max_doses, bool) or not isinstance(max_doses, int) or max_doses < 1:
            raise RegimenError(f"max_doses must be a positive integer, got {shorten(max_doses)}")
        return self.model_copy(update={"max_doses": int(max_doses)})

    def n_doses(self, until_h: float) -> int:
        """Number of doses before (excluding) ``until_h``, counted without listing them.

        Parameters
        ----------
        until_h
            End of the window, h after the start of the simulation.
        """
        return sum(count for _, _, count in self._blocks(until_h))

    def check_dose_count(self, until_h: float) -> int:
        """The number of doses before ``until_h``; :class:`RegimenError` when above :attr:`max_doses`."""
        n = self.n_doses(until_h)
        if n > self.max_doses:
            raise RegimenError(
                f"regimen {shorten(self.describe())} gives {n:,} doses in {until_h / 24:g} days, more than the "
                f"limit of {self.max_doses:,} per simulation; check the dosing interval, or raise the limit "
                "(max_doses= in Python, --max-doses on the command line)"
            )
        return n

    def doses(self, until_h: float, body_weight_kg: float = 80.4) -> list[tuple[float, float]]:
        """Dose times and amounts up to (excluding) ``until_h``.

        Returns
        -------
        list of (time_h, amount_mg)

        Raises
        ------
        RegimenError
            When there would be more than :attr:`max_doses` doses (checked before listing any).
        """
        self.check_dose_count(until_h)
        out: list[tuple[float, float]] = []
        for seg, start_h, count in self._blocks(until_h):
            amount = seg.amount * (body_weight_kg if seg.amount_unit == "mg/kg" else 1.0)
            # times as start + k * interval, not summed: a sum stalls when the interval is
            # below the floating-point spacing of the time
            times = (start_h + k * seg.interval_h for k in range(count))
            out += [(t, amount) for t in times if t < until_h]
        return out

    def _blocks(self, until_h: float) -> list[tuple[DoseBlock, float, int]]:
        """Each dosing block that starts before ``until_h``: the block, its start (h), its doses before ``until_h``."""
        out = []
        t = self.start_day * 24.0
        for seg in self.segments:
            if t >= until_h:
                break
            if isinstance(seg, Hold):
                t += seg.duration_h()
                continue
            ratio = (until_h - t) / seg.interval_h
            in_window = math.ceil(ratio) if math.isfinite(ratio) else sys.maxsize
            out.append((seg, t, in_window if seg.n_doses is None else min(seg.n_doses, in_window)))
            if seg.n_doses is None:
                break
            t += seg.n_doses * seg.interval_h
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
    food_given: str | None = None
    start_day = 0.0
    start_given = False
    changed = True
    while changed:  # trailing qualifiers, in any order, each at most once
        changed = False
        for word in ("fasted", "fed"):
            if raw.endswith(" " + word):
                if food_given is not None:
                    what = f"{word!r} given twice" if word == food_given else f"both {word!r} and {food_given!r}"
                    raise RegimenError(f"{what} in {shorten(text)}; give the food state once")
                food = food_given = word
                raw = raw[: -len(word) - 1]
                changed = True
        m = _FROM.search(raw)
        if m:
            if start_given:
                raise RegimenError(f"'from day' given twice in {shorten(text)}; give the start day once")
            start_given = True
            start_day = float(m.group("day"))
            if not math.isfinite(start_day) or start_day < 0:
                raise RegimenError(f"start day must be a number >= 0, got {shorten(m.group('day'))}")
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
            if not math.isfinite(amount) or amount <= 0:
                raise RegimenError(f"dose must be positive and finite, got {amount:g} in {shorten(part)}")
            freq = md.group("freq")
            n = int(md.group("n")) if md.group("n") else None
            if freq == "once":
                interval, n = 24.0, 1
            elif freq in FREQUENCIES_H:
                interval = FREQUENCIES_H[freq]
            else:
                interval = float(freq[1:-1])
            if not math.isfinite(interval) or interval <= 0:
                raise RegimenError(f"dosing interval must be positive and finite in {shorten(part)}")
            if n == 0:
                raise RegimenError(f"number of doses must be >= 1 in {shorten(part)}")
            segments.append(
                DoseBlock(amount=amount, amount_unit=_unit(md.group("unit")), interval_h=interval, n_doses=n)
            )
        elif mh:
            days = float(mh.group("days"))
            if not math.isfinite(days) or days <= 0:
                raise RegimenError(f"hold must last a finite number of days > 0 in {shorten(part)}")
            segments.append(Hold(days=days))
        else:
            raise RegimenError(
                f"cannot parse regimen segment {shorten(part)}; expected e.g. '420 mg qd', "
                "'420 mg qd x 28', 'hold 7 d', '25 mg/kg qd'"
            )
    if not any(isinstance(seg, DoseBlock) for seg in segments):
        # holds alone would silently mean 'untreated'
        raise RegimenError(f"no dosing segment in {shorten(text)}; use 'none' for untreated")
    return Regimen(segments=tuple(segments), start_day=start_day, food=food, text=text)


def _number(x: float) -> str:
    """``x`` exactly, without exponent (none in the grammar of intervals, holds, start days): 1e-05 -> '0.00001'."""
    text = format(Decimal(repr(float(x))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _unit(text: str) -> Literal["mg", "mg/kg"]:
    """The dose unit matched by the grammar (only these two are)."""
    if text not in ("mg", "mg/kg"):
        raise RegimenError(f"unknown dose unit {text!r}; use mg or mg/kg")
    return "mg" if text == "mg" else "mg/kg"


def regimen_warnings(
    regimen: Regimen | DoseRecords, until_h: float, *, human: bool = True, body_weight_kg: float = 80.4
) -> list[str]:
    """What looks wrong in a valid regimen, one sentence each (empty when nothing does).

    Flags a regimen none of whose doses falls inside the simulated window, per-kg dosing (a
    mouse convention) in a human host and a human daily dose above
    :data:`HUMAN_DAILY_DOSE_CEILING_MG`. These are warnings, not errors: the simulation is
    still what was asked for.

    Parameters
    ----------
    regimen
        The regimen, or an event table (:class:`~cllsim.drugs.DoseRecords`; its daily dose is
        the total of each calendar day).
    until_h
        End of the simulation, h.
    human
        Whether the host is a person.
    body_weight_kg
        Body weight that per-kg doses are multiplied by, kg.
    """
    if regimen.is_untreated:
        return []
    out = []
    if regimen.n_doses(until_h) == 0:
        out.append(
            f"no dose of {shorten(regimen.describe())} falls within the simulated {until_h / 24:g} days "
            "(the result is untreated)"
        )
    if not human:
        return out
    if not isinstance(regimen, Regimen):
        return out + _record_warnings(regimen, until_h, body_weight_kg)
    for seg in (s for s in regimen.segments if isinstance(s, DoseBlock)):
        mg = seg.amount * (body_weight_kg if seg.amount_unit == "mg/kg" else 1.0)
        if seg.amount_unit == "mg/kg":
            out.append(
                f"{seg.amount:g} mg/kg is dosing per body weight, a convention of mouse studies; in this "
                f"patient ({body_weight_kg:g} kg) it is {mg:g} mg per dose (human doses are flat, e.g. 420 mg)"
            )
        per_day = mg * max(1.0, 24.0 / seg.interval_h)
        if per_day > HUMAN_DAILY_DOSE_CEILING_MG:
            out.append(
                f"{per_day:g} mg/day is above the highest BTK-inhibitor dose studied in people "
                f"(about {HUMAN_DAILY_DOSE_CEILING_MG:g} mg/day); the model is not calibrated there"
            )
    return out


def _record_warnings(records: DoseRecords, until_h: float, body_weight_kg: float) -> list[str]:
    """The per-kg and dose-ceiling warnings of :func:`regimen_warnings` for an event table."""
    out = []
    per_kg = sorted({r.amount for r in records.records if r.amount_unit == "mg/kg"})
    if per_kg:
        out.append(
            f"{per_kg[0]:g} mg/kg is dosing per body weight, a convention of mouse studies; in this patient "
            f"({body_weight_kg:g} kg) it is {per_kg[0] * body_weight_kg:g} mg per dose "
            "(human doses are flat, e.g. 420 mg)"
        )
    daily = records.daily_doses_mg(until_h, body_weight_kg) if records.n_doses(until_h) <= records.max_doses else {}
    if daily and max(daily.values()) > HUMAN_DAILY_DOSE_CEILING_MG:
        day, mg = max(daily.items(), key=lambda kv: kv[1])
        out.append(
            f"{mg:g} mg on day {day} is above the highest BTK-inhibitor dose studied in people "
            f"(about {HUMAN_DAILY_DOSE_CEILING_MG:g} mg/day); the model is not calibrated there"
        )
    return out


def dose_inputs(
    regimen: Regimen | DoseRecords, values: Mapping[str, float], until_h: float
) -> list[tuple[float, float, float]]:
    """Absorption inputs of each dose of ``regimen``: ``(start_h, duration_h, amount_mg)``.

    Each dose enters the depot at a constant rate for the input duration after the lag
    (sequential zero-/first-order absorption, PK1); fed doses carry the fed bioavailability
    relative to the fasted reference of CL/F. A duration of 0 is a bolus into the depot. Both
    engines build their dosing from this list.

    Parameters
    ----------
    regimen
        The regimen, or an event table (:class:`~cllsim.drugs.DoseRecords`, whose rows may each
        give their food state).
    values
        Parameter values (``pk_lag_h``, ``pk_d1_fed_h``, ``pk_d1_fasted_h``,
        ``pk_frel_fasted_vs_fed``, ``body_weight_kg``).
    until_h
        End of the simulation, h; later doses are omitted.
    """
    lag = values["pk_lag_h"]
    if isinstance(regimen, Regimen):
        doses: list[tuple[float, float, str]] = [
            (t, a, regimen.food) for t, a in regimen.doses(until_h, values["body_weight_kg"])
        ]
    else:
        doses = regimen.dose_list(until_h, values["body_weight_kg"])
    d1 = {"fed": values["pk_d1_fed_h"], "fasted": values["pk_d1_fasted_h"]}
    bioavailability = {"fed": 1.0 / values["pk_frel_fasted_vs_fed"], "fasted": 1.0}
    return [(t + lag, d1[food], amount * bioavailability[food]) for t, amount, food in doses]


def dosing_events(
    regimen: Regimen | DoseRecords, values: Mapping[str, float], until_h: float
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


def _parsable(text: str) -> str:
    parse_regimen(text)  # raises RegimenError naming the bad part
    return text


#: A regimen kept as its text in a spec (cohort, sensitivity), checked to parse when the spec is built.
RegimenText = Annotated[str, AfterValidator(_parsable)]

"""Oral dosing regimens, written the pharmacometric way, and their dosing events.

A regimen is a sequence of segments: dosing blocks (amount, interval, number of doses) and
holds (interruptions). Text form, segments separated by ``;`` or ``,``::

    "420 mg qd"                         # daily, until the end of the simulation
    "420 mg qd x 28; hold 7 d; 280 mg qd"
    "420 mg once daily x 90 d, hold 1 week, 280 mg qd"   # a duration; 'x 28' alone counts doses
    "560 mg qd x 14; 420 mg twice daily"  # dose change
    "0.42 g po every 12 h x 6 cycles"   # grams, route words, 28-day cycles
    "25 mg/kg qd"                       # mouse dosing per body weight
    "420 mg qd x 28 fasted from day 7"  # food state (default fed, as in CLL trials), start day
    "none"                              # untreated

Qualifiers (``fed``/``fasted``, ``from day N``) may follow any segment; a regimen has one food
state and one start day (``from day`` after the first or the last segment: it starts the whole
regimen). The full grammar is in ``docs/regimens.md``. An error names the segment and the token
that cannot be read, with valid examples (:data:`EXAMPLE`). A regimen expands to at most
:data:`MAX_DOSES` doses per simulation (:meth:`Regimen.n_doses` counts them without expanding);
:meth:`Regimen.with_max_doses` raises the limit for a regimen that really needs more. A dose
history that no regimen text describes is an event table (:class:`~cllsim.drugs.DoseRecords`).

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

from pydantic import AfterValidator, ConfigDict, Discriminator, Field, Tag, model_validator

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
    "qid": 6.0,
    "q6h": 6.0,
    "od": 24.0,
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


def _segment_kind(value: object) -> str:
    """The ``kind`` of a segment given as a model or a mapping (a mapping without one is a dose block)."""
    kind = value.get("kind", "dose") if isinstance(value, Mapping) else getattr(value, "kind", "dose")
    return kind if kind in ("dose", "hold") else "dose"


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
    # discriminated by ``kind`` (default "dose"): an invalid dose block is reported as one, not also as a failed hold
    segments: tuple[
        Annotated[Annotated[DoseBlock, Tag("dose")] | Annotated[Hold, Tag("hold")], Discriminator(_segment_kind)], ...
    ] = ()
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
        if self.start_day:  # at the end, as always: it starts the whole regimen
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

    def doses_by_food(
        self, until_h: float, body_weight_kg: float = 80.4
    ) -> list[tuple[str, list[tuple[float, float]]]]:
        """The :meth:`doses` under their food state: ``[(food, doses)]`` (one food for a regimen)."""
        return [(self.food, self.doses(until_h, body_weight_kg))]

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


#: What a regimen text looks like, shown with every error about one.
EXAMPLE = "valid: '420 mg qd', '0.42 g po once daily x 90 d', '420 mg qd x 28, hold 1 week, 280 mg qd'"

_NUM = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[-+]?[0-9]+)?"
_NUMBER = re.compile(rf"^{_NUM}$")
#: A number glued to its unit (``420mg``, ``12h``, ``x28``): split into two tokens.
_GLUED = re.compile(rf"^({_NUM})([a-zµ/]+[0-9]*)$")
_TIMES = re.compile(rf"^x({_NUM})$")
_QNH = re.compile(rf"^q({_NUM})(h|d)$")
#: Dose units and their factor to the stored unit (grams are stored as mg).
_DOSE_UNITS: dict[str, tuple[Literal["mg", "mg/kg"], float]] = {
    "mg": ("mg", 1.0), "milligram": ("mg", 1.0), "milligrams": ("mg", 1.0),
    "g": ("mg", 1000.0), "gram": ("mg", 1000.0), "grams": ("mg", 1000.0), "mg/kg": ("mg/kg", 1.0),
}
#: Units of a duration (``x 90 d``, ``hold 1 week``), h. A cycle is 28 days, as in CLL trials.
DURATION_UNITS_H: dict[str, float] = {
    "h": 1.0, "hour": 1.0, "hours": 1.0,
    "d": 24.0, "day": 24.0, "days": 24.0,
    "w": 168.0, "wk": 168.0, "wks": 168.0, "week": 168.0, "weeks": 168.0,
    "cycle": 672.0, "cycles": 672.0,
}
#: ``N times daily`` / ``N times a day``.
_PER_DAY = {"once": 1, "twice": 2, "thrice": 3, "three": 3, "four": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_HOLD_WORDS = ("hold", "pause", "interrupt", "interruption")
_ROUTE_WORDS = ("po", "oral", "orally")


class _Segment:
    """The tokens of one segment (between ``;`` or ``,``), read left to right; errors name the token."""

    def __init__(self, part: str) -> None:
        self.part = part
        words: list[str] = []
        for word in part.replace("×", " x ").split():
            times, glued = _TIMES.match(word), _GLUED.match(word)
            if times:
                words += ["x", times.group(1)]
            elif glued and not _NUMBER.match(word):
                words += [glued.group(1), glued.group(2)]
            else:
                words.append(word)
        self.words = words
        self.i = 0

    def peek(self, k: int = 0) -> str | None:
        return self.words[self.i + k] if self.i + k < len(self.words) else None

    def take(self, n: int = 1) -> list[str]:
        out = self.words[self.i : self.i + n]
        self.i += n
        return out

    def done(self) -> str:
        """What was read so far, for messages."""
        return " ".join(self.words[: self.i])

    def error(self, problem: str) -> RegimenError:
        return RegimenError(f"cannot parse regimen segment {shorten(self.part)}: {problem}; {EXAMPLE}")

    def number(self, what: str) -> tuple[str, float]:
        word = self.peek()
        if word is None or not _NUMBER.match(word):
            after = f" after {shorten(self.done())}" if self.i else ""
            got = f"{shorten(word)} is not a number" if word is not None else "nothing follows"
            raise self.error(f"{got}{after} ({what})")
        self.take()
        return word, float(word)

    def duration_unit(self, what: str) -> float | None:
        word = self.peek()
        if word in DURATION_UNITS_H:
            self.take()
            return DURATION_UNITS_H[word]
        if word in ("month", "months", "mo", "year", "years"):
            raise self.error(f"{word!r}: months and years differ in length; give {what} in days, weeks or "
                             "cycles (28 d)")
        return None


def _qualifiers(seg: _Segment) -> tuple[list[str], float | None]:
    """Remove route words, food states and ``from day N`` from ``seg``; return the food words and start day."""
    foods: list[str] = []
    start: float | None = None
    kept: list[str] = []
    w = seg.words
    i = 0
    while i < len(w):
        if w[i] in _ROUTE_WORDS:
            i += 1
        elif w[i : i + 2] == ["by", "mouth"]:
            i += 2
        elif w[i] in ("fed", "fasted"):
            foods.append(w[i])
            i += 1
        elif w[i : i + 2] in (["with", "food"], ["without", "food"]):
            foods.append("fed" if w[i] == "with" else "fasted")
            i += 2
        elif w[i] in ("from", "starting") and i + 1 < len(w) and w[i + 1] == "day":
            if start is not None:
                raise RegimenError(f"'from day' given twice in {shorten(seg.part)}; give the start day once")
            day = w[i + 2] if i + 2 < len(w) else ""
            if not _NUMBER.match(day):
                raise seg.error(f"'from day' needs a day number, got {shorten(day) if day else 'nothing'}")
            start = float(day)
            if not math.isfinite(start) or start < 0:
                raise seg.error(f"start day must be a number >= 0, got {shorten(day)}")
            i += 3
        else:
            kept.append(w[i])
            i += 1
    seg.words = kept
    return foods, start


def _frequency(seg: _Segment) -> float | None:
    """The dosing interval, h, read from ``seg`` (``None``: a single dose, ``once``)."""
    word = seg.peek()
    if word is None:
        raise seg.error(f"{shorten(seg.done())} needs how often: qd, bid, once daily, every 12 h or once")
    if word in FREQUENCIES_H:
        seg.take()
        return FREQUENCIES_H[word]
    q = _QNH.match(word)
    if q:
        seg.take()
        interval = float(q.group(1)) * (24.0 if q.group(2) == "d" else 1.0)
        if not math.isfinite(interval) or interval <= 0:
            raise seg.error("dosing interval must be positive and finite")
        return interval
    if word in _PER_DAY:
        # 'once/twice/thrice daily', 'three/3 times daily', '... a day', '... weekly'
        period_at = 1 if word in ("once", "twice", "thrice") else 2
        period = seg.peek(period_at)
        if word == "once" and period not in ("daily", "a", "per", "weekly"):
            seg.take()
            return None  # a single dose
        if period_at == 1 or seg.peek(1) == "times":
            if period in ("daily", "weekly"):
                seg.take(period_at + 1)
                return (24.0 if period == "daily" else 168.0) / _PER_DAY[word]
            if period in ("a", "per") and seg.peek(period_at + 1) in ("day", "week"):
                unit = seg.peek(period_at + 1)
                seg.take(period_at + 2)
                return (24.0 if unit == "day" else 168.0) / _PER_DAY[word]
        shown = " ".join(seg.words[seg.i : seg.i + period_at + 1])
        raise seg.error(f"{shorten(shown)} is not a dosing frequency (say 'once daily', 'twice daily', "
                        "'three times daily')")
    if word == "every":
        seg.take()
        if seg.peek() == "other" and seg.peek(1) in ("day", "d"):
            seg.take(2)
            return 48.0
        if seg.peek() in DURATION_UNITS_H:
            return DURATION_UNITS_H[seg.take()[0]]
        raw, value = seg.number("the dosing interval, e.g. 'every 12 h'")
        unit_h = seg.duration_unit("the interval")
        if unit_h is None:
            raise seg.error(f"'every {raw}' needs a unit: 'every {raw} h' or 'every {raw} d'")
        interval = value * unit_h
        if not math.isfinite(interval) or interval <= 0:
            raise seg.error("dosing interval must be positive and finite")
        return interval
    raise seg.error(f"{shorten(word)} is not a dosing frequency after {shorten(seg.done())} "
                    "(qd, bid, tid, qw, q12h, once daily, twice daily, every 12 h, once)")


def _dose_block(seg: _Segment) -> DoseBlock:
    raw, amount = seg.number("the dose, e.g. '420 mg'")
    unit_word = seg.peek()
    if unit_word is None:
        raise seg.error(f"dose {raw} needs a unit: mg, g or mg/kg")
    if unit_word not in _DOSE_UNITS:
        raise seg.error(f"{shorten(unit_word)} after {shorten(raw)} is not a dose unit; use mg, g or mg/kg")
    seg.take()
    unit, factor = _DOSE_UNITS[unit_word]
    # exact decimal scaling: 0.42 g is 420 mg, not 420.00000000000006
    amount = float(Decimal(raw) * Decimal(repr(factor))) if factor != 1.0 else amount
    if not math.isfinite(amount) or amount <= 0:
        raise seg.error(f"dose must be positive and finite, got {shorten(raw)}")
    interval = _frequency(seg)
    n: int | None = 1 if interval is None else None
    if seg.peek() in ("x", "for"):
        word = seg.take()[0]
        if interval is None:
            raise seg.error(f"'once' is a single dose, so {word!r} after it has no meaning; for several doses "
                            "give a frequency ('420 mg qd x 3')")
        count_raw, count = seg.number("how many doses ('x 28') or how long ('x 90 d', 'x 12 weeks', 'x 6 cycles')")
        unit_h = seg.duration_unit("a duration")
        if seg.peek() in ("dose", "doses") and unit_h is None:
            seg.take()
        elif unit_h is None and word == "for":
            raise seg.error(f"'for {count_raw}' needs a unit ('for {count_raw} d', 'for {count_raw} weeks'); "
                            f"for a number of doses write 'x {count_raw}'")
        if unit_h is None:
            if not math.isfinite(count) or count != int(count):
                raise seg.error(f"number of doses must be a whole number, got {shorten(count_raw)}")
            if count < 1:
                raise seg.error(f"number of doses must be >= 1, got {shorten(count_raw)}")
            n = int(Decimal(count_raw))
        else:
            n = _doses_in(seg, count_raw, count * unit_h, interval)
    if seg.peek() is not None:
        raise seg.error(f"unexpected {shorten(seg.peek())} after {shorten(seg.done())}")
    return DoseBlock(amount=amount, amount_unit=unit, interval_h=interval or 24.0, n_doses=n)


def _doses_in(seg: _Segment, raw: str, duration_h: float, interval_h: float) -> int:
    """The number of doses that fill ``duration_h`` exactly; refused when the interval does not divide it."""
    if not math.isfinite(duration_h) or duration_h <= 0:
        raise seg.error(f"a duration must be positive and finite, got {shorten(raw)}")
    ratio = duration_h / interval_h
    n = round(ratio) if math.isfinite(ratio) else 0
    if n < 1 or abs(n * interval_h - duration_h) > 1e-9 * duration_h:
        raise seg.error(f"{_number(duration_h)} h is not a whole number of {_number(interval_h)} h dosing intervals "
                        f"({ratio:.3g} intervals); give the number of doses ('x N')")
    return n


def _hold(seg: _Segment) -> Hold:
    seg.take()
    if seg.peek() == "for":
        seg.take()
    raw, value = seg.number("how long, e.g. 'hold 7 d' or 'hold 1 week'")
    unit_h = seg.duration_unit("a hold")
    if unit_h is None:
        nxt = seg.peek()
        got = f"{shorten(nxt)} is not a unit" if nxt else "no unit"
        raise seg.error(f"{got} for the hold of {raw}: say 'hold {raw} d' or 'hold {raw} wk'")
    days = value * unit_h / 24.0
    if not math.isfinite(days) or days <= 0:
        raise seg.error(f"hold must last a finite number of days > 0, got {shorten(raw)}")
    if seg.peek() is not None:
        raise seg.error(f"unexpected {shorten(seg.peek())} after {shorten(seg.done())}")
    return Hold(days=days)


def parse_regimen(text: str) -> Regimen:
    """Parse a regimen text; see the module docstring and ``docs/regimens.md`` for the grammar.

    Raises
    ------
    RegimenError
        One line naming the segment and the token that cannot be read, with a valid example.
    """
    if not isinstance(text, str) or not text.strip():
        raise RegimenError(f"empty regimen; {EXAMPLE}, or 'none'")
    raw = " ".join(text.strip().lower().split())
    if raw in {"none", "untreated", "vehicle", "0"}:
        return Regimen(text=text)
    parts = [p.strip() for p in re.split(r"[;,]", raw)]
    parts = [p for p in parts if p]
    segments: list[DoseBlock | Hold] = []
    food: str | None = None
    start_day: float | None = None
    last_part = ""
    for k, part in enumerate(parts):
        seg = _Segment(part)
        foods, start = _qualifiers(seg)
        if len(foods) > 1 and foods[0] == foods[1]:
            raise RegimenError(f"{foods[0]!r} given twice in {shorten(text)}; give the food state once")
        for word in foods:
            if food is not None and word != food:
                raise RegimenError(
                    f"both {food!r} and {word!r} in {shorten(text)}; a regimen has one food state "
                    "(a dose table can give one per dose)"
                )
            food = word
        if start is not None:
            if start_day is not None:
                raise RegimenError(f"'from day' given twice in {shorten(text)}; give the start day once")
            if 0 < k < len(parts) - 1 and any(isinstance(s, DoseBlock) for s in segments):
                raise RegimenError(
                    f"'from day' in segment {shorten(part)} in the middle of {shorten(text)}: it gives the day the "
                    "whole regimen starts, so put it after the first or the last segment (later changes are "
                    "'x N' counts and holds, e.g. '420 mg qd x 28 from day 7, 280 mg qd')"
                )
            start_day = start
        if not seg.words:
            continue  # qualifiers only: ', fasted'
        if len(seg.words) == 1 and _NUMBER.match(seg.words[0]) and k + 1 < len(parts) and \
                re.match(r"[0-9]{3}\b", parts[k + 1]):
            raise seg.error("commas separate segments: write 1000 mg, not 1,000 mg")
        new: DoseBlock | Hold
        if _NUMBER.match(seg.words[0]):
            new = _dose_block(seg)
        elif seg.words[0] in _HOLD_WORDS:
            new = _hold(seg)
        else:
            # a drug name here is a combination written with a separator instead of ' + '
            combo = " (a combination of drugs joins courses with ' + ': 'ibrutinib 420 mg qd + venetoclax 400 mg qd')"
            hint = combo if segments and re.fullmatch(r"[a-z][a-z-]{3,}", seg.words[0]) else ""
            raise seg.error(f"{shorten(seg.words[0])} starts no dose ('420 mg qd') or hold ('hold 7 d'){hint}")
        if segments and isinstance(segments[-1], DoseBlock) and segments[-1].n_doses is None:
            raise RegimenError(
                f"{shorten(last_part)} runs to the end of the simulation, so {shorten(part)} cannot follow it; "
                "give its number of doses or its duration, e.g. '420 mg qd x 28' or '420 mg qd x 4 weeks'"
            )
        segments.append(new)
        last_part = part
    if not any(isinstance(seg, DoseBlock) for seg in segments):
        # holds alone would silently mean 'untreated'
        raise RegimenError(f"no dosing segment in {shorten(text)}; use 'none' for untreated")
    return Regimen(segments=tuple(segments), start_day=start_day or 0.0, food=_food(food or "fed"), text=text)


def _food(word: str) -> Literal["fed", "fasted"]:
    return "fasted" if word == "fasted" else "fed"


def _number(x: float) -> str:
    """``x`` exactly, without exponent (none in the grammar of intervals, holds, start days): 1e-05 -> '0.00001'."""
    text = format(Decimal(repr(float(x))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


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


def _parsable(text: str) -> str:
    from ._therapy import parse_therapy  # therapies build on regimens

    parse_therapy(text)  # raises RegimenError naming the bad part (a drug-tagged therapy is fine too)
    return text


#: A regimen kept as its text in a spec (cohort, sensitivity), checked to parse when the spec is built.
RegimenText = Annotated[str, AfterValidator(_parsable)]

"""Therapies: one or several drugs, each on its own schedule, and switches at progression.

A *therapy* is what a patient is given: one course per drug, each a regimen (see
:mod:`cllsim.drugs._regimen`) of that drug, given at the same time, and optionally a therapy to
switch to when iwCLL progression is detected. Text form::

    "420 mg qd"                                    # the simulation's drug (ibrutinib by default)
    "acalabrutinib 100 mg bid"                     # a named drug
    "ibrutinib 420 mg qd x 420 + venetoclax ramp-up; 400 mg qd x 301 from day 84"
                                                   # CAPTIVATE-style fixed duration: 3 cycles of
                                                   # ibrutinib, then 12 cycles of both (with the
                                                   # venetoclax ramp-up), then stop
    "ibrutinib 420 mg qd until progression then pirtobrutinib 200 mg qd"

Courses are joined by ``+``; ``until progression then`` starts the therapy given at
progression. ``ramp-up`` in a venetoclax course is the labelled weekly ramp-up (V1: 20, 50,
100, 200 mg daily, one week each) before the next segment.

Rules: a drug appears in at most one course of a therapy (two schedules of one drug would
overlap or contradict; write one regimen with holds and dose changes instead); a venetoclax
course that does not start at 20 mg skips the ramp-up, which is allowed but warned
(:func:`therapy_warnings`).
"""

from __future__ import annotations

import re

from pydantic import ConfigDict, model_validator

from .._errors import RegimenError
from .._validation import InputModel, did_you_mean, shorten
from ._records import DoseRecord, DoseRecords
from ._regimen import MAX_DOSES, Hold, Regimen, parse_regimen
from ._registry import DRUGS, get_drug

#: Drug of a regimen that names none (the default of ``simulate`` and the CLI's ``--drug``).
DEFAULT_DRUG = "ibrutinib"

_THEN = re.compile(r"\s+until\s+progression\s*(?:,\s*)?then\s+(?:switch\s+to\s+)?", re.IGNORECASE)
_RAMP = re.compile(r"(?<![\w-])ramp-?up(?![\w-])", re.IGNORECASE)
#: Words a regimen segment may start with (so that they are not taken for a misspelt drug).
_GRAMMAR_WORDS = {"none", "untreated", "vehicle", "hold", "pause", "interrupt", "interruption"}


class Course(InputModel):
    """One drug on one regimen or dose table (its days count from the start of the therapy)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = RegimenError
    drug: str
    regimen: Regimen | DoseRecords

    @model_validator(mode="after")
    def _known(self) -> Course:
        get_drug(self.drug)
        return self

    def describe(self) -> str:
        return f"{self.drug} {self.regimen.describe()}"


class Therapy(InputModel):
    """Courses of one or several drugs given together, then (optionally) a therapy at progression.

    Attributes
    ----------
    courses
        One course per drug; days of every course count from day 0 of the simulation.
    at_progression
        Therapy started when iwCLL progression is detected on this one (it replaces every
        course from that day on); ``None``: continue as written.
    text
        The text the therapy was parsed from, if any.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    input_error = RegimenError
    courses: tuple[Course, ...] = ()
    at_progression: Therapy | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one_course_per_drug(self) -> Therapy:
        seen: set[str] = set()
        for c in self.courses:
            if c.drug in seen:
                raise ValueError(
                    f"{c.drug} has two courses; overlapping schedules of one drug contradict each other - "
                    "write one regimen with holds and dose changes (e.g. '420 mg qd x 28; hold 7 d; 280 mg qd')"
                )
            seen.add(c.drug)
        return self

    @classmethod
    def parse(cls, text: str, drug: str = DEFAULT_DRUG) -> Therapy:
        """Parse the text form (module docstring); ``drug`` is the drug of a course that names none."""
        return parse_therapy(text, drug)

    @classmethod
    def of(cls, regimen: Regimen | DoseRecords, drug: str = DEFAULT_DRUG) -> Therapy:
        """A therapy of one drug on ``regimen``; a dose table gives one course per drug it names
        (rows naming none are ``drug``'s)."""
        if isinstance(regimen, DoseRecords):
            names = dict.fromkeys(r.drug or drug for r in regimen.records)
            # the course names the drug, so its rows carry none
            courses = tuple(
                Course(drug=name, regimen=regimen.model_copy(update={"records": tuple(
                    r.model_copy(update={"drug": None}) for r in regimen.records if (r.drug or drug) == name)}))
                for name in names
            )
            return cls(courses=courses, text=regimen.text)
        return cls(courses=() if regimen.is_untreated else (Course(drug=drug, regimen=regimen),),
                   text=regimen.text)

    @property
    def is_untreated(self) -> bool:
        return not self.courses and self.at_progression is None

    @property
    def drugs(self) -> tuple[str, ...]:
        """Every drug given, in the order of first mention (the switch target's included)."""
        names = [c.drug for c in self.courses]
        if self.at_progression is not None:
            names += list(self.at_progression.drugs)
        return tuple(dict.fromkeys(names))

    def regimen_of(self, drug: str) -> Regimen | DoseRecords:
        """The regimen of ``drug`` in this therapy's first phase (untreated if it is not given)."""
        return next((c.regimen for c in self.courses if c.drug == drug), Regimen.untreated())

    def n_doses(self, until_h: float) -> int:
        """Doses of every course before ``until_h`` (the switch target's counted as if given from day 0)."""
        n = sum(c.regimen.n_doses(until_h) for c in self.courses)
        return n + (self.at_progression.n_doses(until_h) if self.at_progression else 0)

    def check_dose_count(self, until_h: float) -> int:
        """Refuse (:class:`RegimenError`) a course with more doses than its limit; the total otherwise."""
        for c in self.courses:
            c.regimen.check_dose_count(until_h)
        if self.at_progression is not None:
            self.at_progression.check_dose_count(until_h)
        return self.n_doses(until_h)

    @property
    def max_doses(self) -> int:
        """Most doses a simulation may expand a course to (the smallest limit of the courses)."""
        limits = [c.regimen.max_doses for c in self.courses]
        if self.at_progression is not None:
            limits.append(self.at_progression.max_doses)
        return min(limits, default=MAX_DOSES)

    def with_max_doses(self, max_doses: int) -> Therapy:
        courses = tuple(c.model_copy(update={"regimen": c.regimen.with_max_doses(max_doses)}) for c in self.courses)
        then = self.at_progression.with_max_doses(max_doses) if self.at_progression else None
        return self.model_copy(update={"courses": courses, "at_progression": then})

    def describe(self) -> str:
        """Canonical text form; :func:`parse_therapy` reads it back to the same therapy."""
        first = " + ".join(c.describe() for c in self.courses) or "none"
        if self.at_progression is not None:
            first += f" until progression then {self.at_progression.describe()}"
        return first


def parse_therapy(text: str | Regimen | DoseRecords | Therapy, drug: str = DEFAULT_DRUG) -> Therapy:
    """A :class:`Therapy` from its text form (or a regimen of ``drug``, or a therapy as is).

    Parameters
    ----------
    text
        Therapy text (module docstring), a :class:`Regimen`, a dose table
        (:class:`~cllsim.drugs.DoseRecords`: one course per drug it names) or a :class:`Therapy`.
    drug
        Drug of a course that names none.

    Raises
    ------
    RegimenError
        Naming the part that cannot be read (an unknown drug is named with the closest known one).
    """
    get_drug(drug)
    if isinstance(text, Therapy):
        return text
    if isinstance(text, Regimen | DoseRecords):
        return Therapy.of(text, drug)
    if not isinstance(text, str) or not text.strip():
        raise RegimenError("empty regimen; use e.g. '420 mg qd', 'acalabrutinib 100 mg bid' or 'none'")
    phases = _THEN.split(text.strip(), maxsplit=1)
    first = _phase(phases[0], drug, text)
    if len(phases) == 2:
        then = _phase(phases[1], drug, text)
        if then.is_untreated:
            raise RegimenError(f"nothing to switch to after 'until progression then' in {shorten(text)}")
        if first.is_untreated:
            raise RegimenError(f"'until progression' needs a treatment to progress on in {shorten(text)}")
        return Therapy(courses=first.courses, at_progression=then, text=text)
    return first.model_copy(update={"text": text})


def _phase(text: str, default_drug: str, whole: str) -> Therapy:
    courses = []
    for part in (p.strip() for p in re.split(r"\s\+\s", " " + text + " ")):
        if not part:
            raise RegimenError(f"empty course between '+' signs in {shorten(whole)}")
        name, rest = _drug_word(part, default_drug)
        regimen = _course_regimen(name, rest)
        if not regimen.is_untreated:
            courses.append(Course(drug=name, regimen=regimen))
        elif len(re.split(r"\s\+\s", text)) > 1:
            raise RegimenError(f"'{part}' is untreated inside a combination in {shorten(whole)}; leave it out")
    return Therapy(courses=tuple(courses))


def _drug_word(part: str, default_drug: str) -> tuple[str, str]:
    """The course's drug (its first word, if a drug) and the regimen text after it."""
    word, _, rest = part.partition(" ")
    key = word.lower()
    if key in DRUGS:
        if not rest.strip():
            raise RegimenError(f"no regimen after {word!r}; e.g. '{key} {DRUGS[key].standard_regimen}'")
        return key, rest
    if re.fullmatch(r"[a-z][a-z-]{3,}", key) and key not in _GRAMMAR_WORDS and not _RAMP.fullmatch(key):
        raise RegimenError(f"unknown drug {word!r}{did_you_mean(key, DRUGS)}; known: {', '.join(DRUGS)}")
    return default_drug, part


def _course_regimen(drug: str, text: str) -> Regimen:
    """The regimen of one course, with ``ramp-up`` expanded for drugs that have one."""
    if _RAMP.search(text):
        steps = get_drug(drug).ramp_up
        if not steps:
            raise RegimenError(f"{drug} has no ramp-up; write its doses out (in {shorten(text)})")
        expanded = "; ".join(f"{_g(mg)} mg qd x {days}" for mg, days in steps)
        text = _RAMP.sub(expanded, text)
    return parse_regimen(text)


def _g(x: float) -> str:
    return f"{x:g}"


def therapy_warnings(therapy: Therapy, until_h: float, *, human: bool = True,
                     body_weight_kg: float = 80.4) -> list[str]:
    """What looks wrong in a valid therapy (each course's regimen warnings, a skipped ramp-up)."""
    from ._regimen import regimen_warnings

    out: list[str] = []
    phases = [therapy] + ([therapy.at_progression] if therapy.at_progression else [])
    several = len(therapy.drugs) > 1
    for phase in phases:
        for c in phase.courses:
            out += [f"{c.drug}: {w}" if several else w for w in regimen_warnings(c.regimen, until_h, human=human,
                                                                body_weight_kg=body_weight_kg)]
            steps = get_drug(c.drug).ramp_up
            segments = c.regimen.records if isinstance(c.regimen, DoseRecords) else c.regimen.segments
            first = next((s for s in segments if not isinstance(s, Hold)), None)
            if steps and first is not None and first.amount > steps[0][0] and first.amount_unit == "mg":
                out.append(
                    f"{c.drug} starts at {first.amount:g} mg without the ramp-up "
                    f"({', '.join(_g(mg) for mg, _ in steps)} mg, one week each; its label requires it to lower "
                    "the risk of tumour lysis); write 'ramp-up; ...' to include it"
                )
    return out


def switched_at(therapy: Therapy, day: float, until_h: float) -> Therapy:
    """``therapy`` as given to a patient who progresses on day ``day``: the switch applied.

    Every course of the first phase stops before ``day`` (doses from then on are dropped); the
    therapy at progression starts on ``day`` (its days counted from the switch). The result has
    no switch left and gives each drug one course (a dose table when a drug is in both phases).

    Parameters
    ----------
    therapy
        A therapy with ``at_progression``.
    day
        Day of the switch (iwCLL progression), days after the start of treatment.
    until_h
        End of the simulation, h (the doses listed run up to it).
    """
    if therapy.at_progression is None:
        return therapy
    switch_h = float(day) * 24.0
    if not 0 <= switch_h <= until_h:
        raise RegimenError(f"switch day {day:g} is outside the simulated {until_h / 24:g} days")
    rows: dict[str, list[DoseRecord]] = {}
    foods: dict[str, str] = {}

    def records(regimen: Regimen | DoseRecords, span_h: float) -> DoseRecords:
        return regimen if isinstance(regimen, DoseRecords) else regimen.to_records(span_h)

    for c in therapy.courses:
        recs = records(c.regimen, until_h)
        for r in recs.records:
            kept = r.count(switch_h)  # doses before the switch
            if kept:
                rows.setdefault(c.drug, []).append(
                    r.model_copy(update={"addl": kept - 1, "food": r.food or recs.food}))
        foods[c.drug] = recs.food
    for c in therapy.at_progression.courses:
        recs = records(c.regimen, max(until_h - switch_h, 0.0))
        for r in recs.records:
            rows.setdefault(c.drug, []).append(
                r.model_copy(update={"time_h": r.time_h + switch_h, "food": r.food or recs.food}))
        foods.setdefault(c.drug, recs.food)
    courses = tuple(
        Course(drug=d, regimen=DoseRecords(records=tuple(rs), food=foods[d],  # type: ignore[arg-type]
                                           text=f"{d} switched on day {day:g}"))
        for d, rs in rows.items()
    )
    return Therapy(courses=courses, text=f"{therapy.describe()} (switched on day {day:g})")

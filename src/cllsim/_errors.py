"""The errors cllsim raises on purpose, in two branches.

* :class:`InputError`: something the user gave (a regimen, a parameter value, a patient file, a
  cohort spec, an output path) is wrong; the message says what and how to fix it. The CLI prints
  it as one line and exits with code 2.
* :class:`ModelError`: valid input, but the model could not be built or an engine failed.
  The CLI shows these as internal failures (exit 1), never as a user's mistake.

Both derive from :class:`CllsimError`. The input branch also derives from ``ValueError`` and the
model branch from ``RuntimeError`` so that code catching the built-in types keeps working.
"""

from __future__ import annotations


class CllsimError(Exception):
    """Base of every error cllsim raises on purpose."""


class InputError(CllsimError, ValueError):
    """Something the user gave is wrong; the message names it and says how to fix it."""


class ModelError(CllsimError, RuntimeError):
    """The model could not be built or an engine failed on valid input."""


# ---- input branch
class RegimenError(InputError):
    """A dosing regimen that cannot be parsed or is impossible."""


class ParameterError(InputError):
    """An unknown parameter id, or a value outside its bounds or of the wrong kind."""


class PatientDataError(InputError):
    """A patient data file that cannot be used as it is."""


class BaselineError(InputError):
    """Baseline values that no untreated steady state can sustain."""


class SpecError(InputError):
    """A simulation, cohort or engine specification that is inconsistent or refers to nothing known."""


# ---- model branch
class ModelBuildError(ModelError):
    """The generated model could not be translated, checked or compiled."""


class SolverError(ModelError):
    """An engine's solver failed (raised by ``raise_for_status`` of a failed result)."""


#: Longest piece of user input echoed in a message, characters: a cell or option of megabytes
#: must not become a message of megabytes.
MAX_ECHO = 60


def shorten(value: object, limit: int = MAX_ECHO) -> str:
    """``repr(value)``, cut to ``limit`` characters with the full length said when it is longer.

    For echoing user input in messages: ``shorten("x" * 10**6)`` is the first 60 characters,
    quoted, then ``... (1,000,000 characters)``.
    """
    text = str(value)
    if len(text) <= limit:
        return repr(value) if isinstance(value, str) else text
    return f"{text[:limit]!r}... ({len(text):,} characters)"

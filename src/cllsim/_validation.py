"""pydantic validation errors as cllsim input errors, in one line a user can act on.

pydantic's own message lists every error over several lines and ends each with a link to its
documentation; users of cllsim should read which field is wrong and why, nothing more.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from ._errors import MAX_ECHO as MAX_ECHO
from ._errors import InputError, SpecError
from ._errors import shorten as shorten

#: pydantic prefixes the message of a ``ValueError`` raised in a validator with these words.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def validation_message(exc: ValidationError, what: str | None = None) -> str:
    """One line naming each invalid field and its problem, e.g. ``"rtol: must be > 0 (got -1.0)"``.

    Parameters
    ----------
    exc
        The pydantic error.
    what
        What was being validated (e.g. ``"cohort spec"``), put in front when given.
    """
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"]
        for prefix in _PYDANTIC_PREFIXES:
            msg = msg.removeprefix(prefix)
        value = err.get("input")
        # a validator's own message already names the value; pydantic's generic ones do not
        if not err["type"].startswith(("value_error", "assertion_error")) and isinstance(value, int | float | str):
            msg += f" (got {value!r})"
        parts.append(f"{loc}: {msg}" if loc else msg)
    text = "; ".join(parts) or str(exc).splitlines()[0]
    return f"{what}: {text}" if what else text


class InputModel(BaseModel):
    """A pydantic model built from user input: invalid input raises ``input_error``, not pydantic's error.

    Subclasses set ``input_error`` to the :class:`~cllsim.InputError` subclass matching what they
    describe (a regimen, a cohort spec, ...). Construction (``Model(...)``) and ``model_validate``
    (``_json``) are converted.
    """

    input_error: ClassVar[type[InputError]] = SpecError

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            # ``from None``: the pydantic dump would repeat the message at length
            raise self.input_error(validation_message(exc)) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """As pydantic's, with ``input_error`` instead of a pydantic error (validating a dict or JSON
        bypasses ``__init__``)."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise cls.input_error(validation_message(exc)) from None

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`model_validate`, from JSON text."""
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as exc:
            raise cls.input_error(validation_message(exc)) from None


#: Least similarity (``difflib`` ratio) of a suggested name. Lower, ids sharing only a unit
#: suffix come up: 'warp_drive_per_day' would suggest 'btk_turnover_per_day' (0.58).
SUGGESTION_CUTOFF = 0.65


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'body_weight_kg'?"`` for the closest known name, or ``""`` when none is close.

    A name that is the start of exactly one known id followed by ``_`` (the unit left out:
    ``body_weight`` for ``body_weight_kg``) suggests that id; otherwise the most similar id
    with a ``difflib`` ratio of at least :data:`SUGGESTION_CUTOFF`.
    """
    known = list(known)
    close = [k for k in known if k.startswith(name + "_")]
    if len(close) != 1:
        close = difflib.get_close_matches(name, known, n=1, cutoff=SUGGESTION_CUTOFF)
    return f"; did you mean {close[0]!r}?" if close else ""

"""Lazy exports of a package (PEP 562), so that importing it costs nothing until a name is used.

``cllsim --help`` imports every subpackage that adds a command; with eager ``__init__`` imports
that would load libRoadRunner, SciPy, pandas and matplotlib before printing a line. A package
lists its exports as ``{name: submodule}``, repeats them under ``if TYPE_CHECKING:`` for type
checkers, and binds the two functions returned here::

    __getattr__, __dir__ = lazy_exports(__name__, {"GroupModel": "._engine"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` importing ``exports[name]`` on first use of ``name``.

    Parameters
    ----------
    package
        The package's ``__name__``.
    exports
        Public name -> module it is defined in, relative to ``package`` (``"._engine"``).
    """

    def __getattr__(name: str) -> object:
        try:
            module = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__

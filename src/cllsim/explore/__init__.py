"""The explorer: a local web app (Dash, optional extra ``explore``) and the computation behind it.

:func:`compute_view` and :func:`python_call` need no web framework; :func:`make_app` and
:func:`serve` need Dash (``pip install "cllsim[explore]"``). The names are imported on first
use (``cllsim --help`` must not load the engines or Dash).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._app import make_app as make_app
    from ._app import serve as serve
    from ._view import PANELS as PANELS
    from ._view import PRESETS as PRESETS
    from ._view import View as View
    from ._view import ViewResult as ViewResult
    from ._view import cohort_band as cohort_band
    from ._view import compute_view as compute_view
    from ._view import presets as presets
    from ._view import python_call as python_call
    from ._view import view_from_controls as view_from_controls

_EXPORTS = {
    "make_app": "._app",
    "serve": "._app",
    "PANELS": "._view",
    "PRESETS": "._view",
    "View": "._view",
    "ViewResult": "._view",
    "cohort_band": "._view",
    "compute_view": "._view",
    "presets": "._view",
    "python_call": "._view",
    "view_from_controls": "._view",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

"""Global sensitivity analysis of the model over time (Sobol' and Morris, with SALib).

:class:`Sensitivity` is the fluent form (define -> sample -> evaluate -> analyze -> ``to_df()`` /
``plot()``); :class:`SensitivitySpec` the validated question it answers. Evaluations run on the
cohort engine in chunks through :mod:`cllsim.execution`. The names are imported on first use
(``cllsim --help`` must not load the engines).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._plots import plot_bars as plot_bars
    from ._plots import plot_over_time as plot_over_time
    from ._sensitivity import AnalysisMismatchError as AnalysisMismatchError
    from ._sensitivity import EvaluationTask as EvaluationTask
    from ._sensitivity import InfeasibleSampleError as InfeasibleSampleError
    from ._sensitivity import Sensitivity as Sensitivity
    from ._sensitivity import evaluate_rows as evaluate_rows
    from ._spec import DEFAULT_OUTPUTS as DEFAULT_OUTPUTS
    from ._spec import SensitivitySpec as SensitivitySpec
    from ._spec import factor_values as factor_values
    from ._spec import parse_output as parse_output

_EXPORTS = {
    "plot_bars": "._plots",
    "plot_over_time": "._plots",
    "AnalysisMismatchError": "._sensitivity",
    "EvaluationTask": "._sensitivity",
    "InfeasibleSampleError": "._sensitivity",
    "Sensitivity": "._sensitivity",
    "evaluate_rows": "._sensitivity",
    "DEFAULT_OUTPUTS": "._spec",
    "SensitivitySpec": "._spec",
    "factor_values": "._spec",
    "parse_output": "._spec",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

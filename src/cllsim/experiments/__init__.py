"""In-silico experiments reproducing the study's findings F1-F10 (docs/study.md).

Each experiment is an object with ``run(overrides=None) -> ExperimentResult`` and
``figure(result)``; results carry tidy readouts (``.to_df()``), checks (``.checks_df()``),
key numbers and provenance. ``run_experiments(["F4", "F5"])`` runs a selection;
``cllsim reproduce`` runs them all and writes the HTML report.

The names are imported on first use (``cllsim --help`` must not load the engines).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._base import Check as Check
    from ._base import Experiment as Experiment
    from ._base import ExperimentResult as ExperimentResult
    from ._engine import GroupModel as GroupModel
    from ._population import GroupComparison as GroupComparison
    from ._population import mann_whitney as mann_whitney
    from ._population import sample_subjects as sample_subjects
    from ._population import wilcoxon_paired as wilcoxon_paired
    from ._registry import EXPERIMENT_IDS as EXPERIMENT_IDS
    from ._registry import get as get
    from ._registry import parse_ids as parse_ids
    from ._registry import run_experiments as run_experiments

_EXPORTS = {
    "Check": "._base",
    "Experiment": "._base",
    "ExperimentResult": "._base",
    "GroupModel": "._engine",
    "GroupComparison": "._population",
    "mann_whitney": "._population",
    "sample_subjects": "._population",
    "wilcoxon_paired": "._population",
    "EXPERIMENT_IDS": "._registry",
    "get": "._registry",
    "parse_ids": "._registry",
    "run_experiments": "._registry",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

"""Virtual cohorts and trials: populations, iwCLL endpoints, resumable runs.

Chunks run through the shared task executors of :mod:`cllsim.execution`. The names are imported
on first use (``cllsim --help`` must not load the engines).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._compare import Comparison as Comparison
    from ._compare import compare as compare
    from ._courses import end_of_treatment_day as end_of_treatment_day
    from ._courses import fixed_duration_endpoints as fixed_duration_endpoints
    from ._courses import run_sequence as run_sequence
    from ._courses import second_progression as second_progression
    from ._endpoints import kaplan_meier as kaplan_meier
    from ._endpoints import km_table as km_table
    from ._endpoints import patient_endpoints as patient_endpoints
    from ._endpoints import summarize as summarize
    from ._plots import plot_bands as plot_bands
    from ._plots import plot_progression_km as plot_progression_km
    from ._plots import plot_resolution_km as plot_resolution_km
    from ._population import COVARIATES as COVARIATES
    from ._population import CohortSpec as CohortSpec
    from ._population import LogNormal as LogNormal
    from ._population import PopulationChunk as PopulationChunk
    from ._population import SuppliedPopulation as SuppliedPopulation
    from ._population import draw_lognormal_within_bounds as draw_lognormal_within_bounds
    from ._population import redraw_patients as redraw_patients
    from ._population import sample_chunk as sample_chunk
    from ._population import sample_patients as sample_patients
    from ._response import ResponseCriteria as ResponseCriteria
    from ._response import patient_responses as patient_responses
    from ._run import BaselineDrawError as BaselineDrawError
    from ._run import ChunkTask as ChunkTask
    from ._run import ChunkTrajectories as ChunkTrajectories
    from ._run import CohortMismatchError as CohortMismatchError
    from ._run import CohortResult as CohortResult
    from ._run import ForeignChunkError as ForeignChunkError
    from ._run import run_cohort as run_cohort
    from ._run import to_wide as to_wide
    from ._run import write_outputs as write_outputs
    from ._supplied import Population as Population
    from ._supplied import PopulationError as PopulationError
    from ._supplied import read_population as read_population
    from ._supplied import write_population as write_population

_EXPORTS = {
    "Comparison": "._compare",
    "compare": "._compare",
    "end_of_treatment_day": "._courses",
    "fixed_duration_endpoints": "._courses",
    "run_sequence": "._courses",
    "second_progression": "._courses",
    "kaplan_meier": "._endpoints",
    "km_table": "._endpoints",
    "patient_endpoints": "._endpoints",
    "summarize": "._endpoints",
    "plot_bands": "._plots",
    "plot_progression_km": "._plots",
    "ResponseCriteria": "._response",
    "patient_responses": "._response",
    "plot_resolution_km": "._plots",
    "COVARIATES": "._population",
    "CohortSpec": "._population",
    "LogNormal": "._population",
    "SuppliedPopulation": "._population",
    "redraw_patients": "._population",
    "sample_patients": "._population",
    "PopulationChunk": "._population",
    "draw_lognormal_within_bounds": "._population",
    "sample_chunk": "._population",
    "BaselineDrawError": "._run",
    "ChunkTask": "._run",
    "ChunkTrajectories": "._run",
    "CohortMismatchError": "._run",
    "CohortResult": "._run",
    "ForeignChunkError": "._run",
    "run_cohort": "._run",
    "to_wide": "._run",
    "write_outputs": "._run",
    "Population": "._supplied",
    "PopulationError": "._supplied",
    "read_population": "._supplied",
    "write_population": "._supplied",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

"""Virtual cohorts and trials: populations, iwCLL endpoints, resumable runs.

Chunks run through the shared task executors of :mod:`cllsim.execution`.
"""

from ._endpoints import kaplan_meier as kaplan_meier
from ._endpoints import patient_endpoints as patient_endpoints
from ._endpoints import summarize as summarize
from ._population import CohortSpec as CohortSpec
from ._population import PopulationChunk as PopulationChunk
from ._population import sample_chunk as sample_chunk
from ._run import ChunkTask as ChunkTask
from ._run import CohortMismatchError as CohortMismatchError
from ._run import CohortResult as CohortResult
from ._run import ForeignChunkError as ForeignChunkError
from ._run import run_cohort as run_cohort
from ._run import write_outputs as write_outputs

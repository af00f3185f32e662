"""Engines and results: the reference engine (libRoadRunner), the optional JAX cohort engine and the result object."""

from ._api import Patient as Patient
from ._api import PreparedModel as PreparedModel
from ._api import default_times as default_times
from ._api import patient_values as patient_values
from ._api import prepare as prepare
from ._api import simulate as simulate
from ._invitro import Assay as Assay
from ._invitro import AssayStep as AssayStep
from ._invitro import simulate_assay as simulate_assay
from ._observables import Observable as Observable
from ._observables import observables as observables
from ._result import SimulationResult as SimulationResult
from ._result import Status as Status
from ._vectorized import BatchTrajectory as BatchTrajectory
from ._vectorized import run_batch as run_batch
from ._vectorized import values_table as values_table


def __getattr__(name: str) -> object:
    """``run_batch_jax`` is imported on first use: it pulls in the code generator (SymPy), not JAX."""
    if name == "run_batch_jax":
        from ._jax import run_batch_jax

        return run_batch_jax
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

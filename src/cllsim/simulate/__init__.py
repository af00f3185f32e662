"""Running the model: one template (:class:`Engine`), its engines, observables and results.

Where things are: :mod:`._engine` (the template every engine shares: equilibration, baseline
check, dose schedule, status), :mod:`._roadrunner` (reference engine, libRoadRunner),
:mod:`._vectorized` (cohort engine, generated code; compiled backend in :mod:`._compiled`),
:mod:`._jax` (optional JAX/diffrax engine), :mod:`._observables` (the registry),
:mod:`._api` (``simulate``), :mod:`._invitro` (in-vitro CXCR4 assays).
"""

import inspect
import sys
import types
from typing import Any

from ._api import ENGINE_NAMES as ENGINE_NAMES
from ._api import MAX_DAYS as MAX_DAYS
from ._api import MAX_OUTPUT_VALUES as MAX_OUTPUT_VALUES
from ._api import Patient as Patient
from ._api import PreparedModel as PreparedModel
from ._api import default_times as default_times
from ._api import host_regimen_warnings as host_regimen_warnings
from ._api import make_engine as make_engine
from ._api import model_drugs as model_drugs
from ._api import output_times as output_times
from ._api import patient_values as patient_values
from ._api import prepare as prepare
from ._api import simulate as simulate
from ._engine import EQUILIBRATION_DAYS as EQUILIBRATION_DAYS
from ._engine import FROZEN as FROZEN
from ._engine import BatchTrajectory as BatchTrajectory
from ._engine import DoseChange as DoseChange
from ._engine import DoseSchedule as DoseSchedule
from ._engine import Engine as Engine
from ._engine import Integration as Integration
from ._engine import dosing_event_lines as dosing_event_lines
from ._engine import schedule_parameter_ids as schedule_parameter_ids
from ._invitro import Assay as Assay
from ._invitro import AssayStep as AssayStep
from ._invitro import simulate_assay as simulate_assay
from ._observables import Observable as Observable
from ._observables import observables as observables
from ._observables import observe as observe
from ._result import SimulationResult as SimulationResult
from ._roadrunner import ReferenceEngine as ReferenceEngine
from ._roadrunner import load_runner as load_runner
from ._status import Status as Status
from ._vectorized import BACKENDS as BACKENDS
from ._vectorized import CohortEngine as CohortEngine
from ._vectorized import run_batch as run_batch
from ._vectorized import values_table as values_table


class _Entry(types.ModuleType):
    """This subpackage is also the entry point: ``cllsim.simulate(...)`` calls :func:`simulate`."""

    def __call__(self, *args: Any, **kwargs: Any) -> SimulationResult:
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _Entry
__signature__ = inspect.signature(simulate)


def __getattr__(name: str) -> object:
    """The JAX engine is imported on first use (it pulls in the code generator, not JAX)."""
    if name in ("run_batch_jax", "JaxEngine"):
        from . import _jax

        return getattr(_jax, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

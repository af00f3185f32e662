"""cllsim: chronic lymphocytic leukemia under BTK inhibitors, from drug PK to cell numbers.

Public surface::

    import cllsim
    result = cllsim.simulate("420 mg qd", cllsim.Patient(ighv="U"), days=365)
    result.wide(); result.plot()
    cllsim.simulate(doses="doses.csv", days=180)     # a dose history as an event table

The names below the errors are imported on first use (PEP 562), so that ``import cllsim`` and
``cllsim --help`` do not load libRoadRunner, pandas or SciPy.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING

from ._errors import BaselineError as BaselineError
from ._errors import CllsimError as CllsimError
from ._errors import InputError as InputError
from ._errors import ModelBuildError as ModelBuildError
from ._errors import ModelError as ModelError
from ._errors import ParameterError as ParameterError
from ._errors import PatientDataError as PatientDataError
from ._errors import RegimenError as RegimenError
from ._errors import SolverError as SolverError
from ._errors import SpecError as SpecError
from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .drugs import DoseRecords as DoseRecords
    from .drugs import Regimen as Regimen
    from .drugs import parse_regimen as parse_regimen
    from .drugs import read_dose_records as read_dose_records
    from .model import load_table as load_table
    from .report import plot_compare as plot_compare
    from .simulate import Patient as Patient
    from .simulate import SimulationResult as SimulationResult
    from .simulate import Status as Status
    from .simulate import simulate as simulate

_EXPORTS = {
    "DoseRecords": ".drugs",
    "Regimen": ".drugs",
    "parse_regimen": ".drugs",
    "read_dose_records": ".drugs",
    "load_table": ".model",
    "plot_compare": ".report",
    "Patient": ".simulate",
    "SimulationResult": ".simulate",
    "Status": ".simulate",
}

_lazy_getattr, __dir__ = lazy_exports(__name__, {**_EXPORTS, "simulate": ".simulate"})


def __getattr__(name: str) -> object:
    # ``cllsim.simulate`` is the subpackage, which is callable: ``cllsim.simulate(...)`` runs
    # :func:`cllsim.simulate.simulate` and ``import cllsim.simulate`` gives the module
    if name == "simulate":
        return importlib.import_module(".simulate", __name__)
    return _lazy_getattr(name)

__all__ = [
    "BaselineError",
    "CllsimError",
    "InputError",
    "ModelBuildError",
    "ModelError",
    "ParameterError",
    "PatientDataError",
    "RegimenError",
    "SolverError",
    "SpecError",
    "DoseRecords",
    "Patient",
    "Regimen",
    "SimulationResult",
    "Status",
    "__version__",
    "load_table",
    "parse_regimen",
    "plot_compare",
    "read_dose_records",
    "simulate",
]

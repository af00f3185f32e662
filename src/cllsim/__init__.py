"""cllsim: chronic lymphocytic leukemia under BTK inhibitors, from drug PK to cell numbers.

Public surface::

    import cllsim
    result = cllsim.simulate("420 mg qd", cllsim.Patient(ighv="U"), days=365)
    result.wide(); result.plot()
"""

__version__ = "0.1.0"

from ._errors import BaselineError as BaselineError  # noqa: E402
from ._errors import CllsimError as CllsimError  # noqa: E402
from ._errors import InputError as InputError  # noqa: E402
from ._errors import ModelBuildError as ModelBuildError  # noqa: E402
from ._errors import ModelError as ModelError  # noqa: E402
from ._errors import ParameterError as ParameterError  # noqa: E402
from ._errors import PatientDataError as PatientDataError  # noqa: E402
from ._errors import RegimenError as RegimenError  # noqa: E402
from ._errors import SolverError as SolverError  # noqa: E402
from ._errors import SpecError as SpecError  # noqa: E402
from .drugs import Regimen as Regimen  # noqa: E402
from .drugs import parse_regimen as parse_regimen  # noqa: E402
from .model import load_table as load_table  # noqa: E402
from .simulate import Patient as Patient  # noqa: E402
from .simulate import SimulationResult as SimulationResult  # noqa: E402
from .simulate import Status as Status  # noqa: E402
from .simulate import simulate as simulate  # noqa: E402

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
    "Patient",
    "Regimen",
    "SimulationResult",
    "Status",
    "__version__",
    "load_table",
    "parse_regimen",
    "simulate",
]

"""Fit the model to a patient's own data: import, PEtab export, pyPESTO estimation, uncertainty.

Layers (pyPESTO-style separation): patient data (``_data``) -> fast engine (``_engine``) ->
problem with priors and noise model (``_problem``) -> optimizer/uncertainty (``_fit``) ->
result (:class:`FitResult`) -> figure (``_plots``); PEtab export in ``_petab``.
"""

from ._data import PatientData as PatientData
from ._data import PatientDataError as PatientDataError
from ._data import make_patient_data as make_patient_data
from ._data import read_patient_csv as read_patient_csv
from ._engine import FitEngine as FitEngine
from ._fit import FitResult as FitResult
from ._fit import clinical_quantities as clinical_quantities
from ._fit import fit_patient as fit_patient
from ._plots import plot_fit as plot_fit
from ._problem import DEFAULT_ESTIMATED as DEFAULT_ESTIMATED
from ._problem import EXTENDED_ESTIMATED as EXTENDED_ESTIMATED
from ._problem import NOISE_SD_LOG as NOISE_SD_LOG
from ._problem import FitProblem as FitProblem
from ._problem import estimated_parameters as estimated_parameters

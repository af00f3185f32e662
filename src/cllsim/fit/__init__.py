"""Fit the model to a patient's own data: import, PEtab export, pyPESTO estimation, uncertainty.

Layers (pyPESTO-style separation): patient data (``_data``) -> fast engine (``_engine``) ->
problem with priors and noise model (``_problem``) -> optimizer and uncertainty (``_fit``) ->
immutable :class:`FitResult` -> figure (``_plots``); PEtab export in ``_petab`` (tables built,
linted and written with the ``petab`` library).

Example::

    from cllsim.fit import read_patient_csv, fit_patient

    data = read_patient_csv("patient.csv", regimen="420 mg qd", ighv="U")
    result = fit_patient(data, n_starts=20, uncertainty="mcmc")
    result.to_df()           # estimates with 95% intervals, identifiability flags
    result.quantities        # death rates (K1), redistributed fraction (K3), ALC normalisation,
                             # lymph-node volume at 6 and 12 months, each with a 95% interval
    result.plot()            # data, fit and prediction band
    result.band              # ALC, volumes, blood MRD per day; persistence and resistance drawn
                             # from the population (fit_patient(population_draws=...))
    result.save("out/")

    # several patients (an id column) or a NONMEM-style dataset (its dose records replace the regimen)
    from cllsim.fit import fit_patients, read_patients

    patients = read_patients("cohort.csv", first_dose="2024-01-15")
    summary = fit_patients(patients, "out/", workers=4, n_starts=5)   # out/<id>/, out/summary.csv

Command line: ``cllsim fit patient.csv --regimen "420 mg qd" --ighv U --out DIR`` (a file with
an ``id`` column or a NONMEM dataset: ``DIR/<id>/`` per patient and ``DIR/summary.csv``) and
``cllsim export petab DIR --data patient.csv``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._data import PatientData as PatientData
    from ._data import PatientDataError as PatientDataError
    from ._data import make_patient_data as make_patient_data
    from ._data import read_patient_csv as read_patient_csv
    from ._dataset import DEFAULT_CMT as DEFAULT_CMT
    from ._dataset import PatientSet as PatientSet
    from ._dataset import parse_cmt as parse_cmt
    from ._dataset import read_patients as read_patients
    from ._engine import FitEngine as FitEngine
    from ._fit import PERSISTENCE_RESISTANCE as PERSISTENCE_RESISTANCE
    from ._fit import FitResult as FitResult
    from ._fit import clinical_quantities as clinical_quantities
    from ._fit import fit_patient as fit_patient
    from ._multi import PatientFailure as PatientFailure
    from ._multi import fit_patients as fit_patients
    from ._multi import summary_table as summary_table
    from ._petab import PetabLintError as PetabLintError
    from ._petab import export_petab as export_petab
    from ._petab import lint_petab as lint_petab
    from ._petab import petab_problem as petab_problem
    from ._petab import petab_tables as petab_tables
    from ._petab import write_petab as write_petab
    from ._plots import plot_fit as plot_fit
    from ._problem import DEFAULT_ESTIMATED as DEFAULT_ESTIMATED
    from ._problem import EXTENDED_ESTIMATED as EXTENDED_ESTIMATED
    from ._problem import NOISE_SD_LOG as NOISE_SD_LOG
    from ._problem import FitProblem as FitProblem
    from ._problem import estimated_parameters as estimated_parameters
    from ._problem import parse_subset as parse_subset

# Imported on first use (libRoadRunner, pyPESTO, matplotlib, libSBML), so that ``cllsim --help`` stays fast.
_EXPORTS = {
    "PatientData": "._data",
    "PatientDataError": "._data",
    "make_patient_data": "._data",
    "read_patient_csv": "._data",
    "DEFAULT_CMT": "._dataset",
    "PatientSet": "._dataset",
    "parse_cmt": "._dataset",
    "read_patients": "._dataset",
    "FitEngine": "._engine",
    "FitResult": "._fit",
    "PERSISTENCE_RESISTANCE": "._fit",
    "clinical_quantities": "._fit",
    "fit_patient": "._fit",
    "PetabLintError": "._petab",
    "PatientFailure": "._multi",
    "fit_patients": "._multi",
    "summary_table": "._multi",
    "export_petab": "._petab",
    "lint_petab": "._petab",
    "petab_problem": "._petab",
    "petab_tables": "._petab",
    "write_petab": "._petab",
    "plot_fit": "._plots",
    "DEFAULT_ESTIMATED": "._problem",
    "EXTENDED_ESTIMATED": "._problem",
    "NOISE_SD_LOG": "._problem",
    "FitProblem": "._problem",
    "estimated_parameters": "._problem",
    "parse_subset": "._problem",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

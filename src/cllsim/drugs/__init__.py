"""Drugs: oral dosing regimens (text, or an event table of doses) and the dosing events that drive the PK layer.

Each drug's PK and potency parameters live in ``model/data/drug_<name>_<species>.tsv`` and feed
the one PK/BTK declaration of the model.
"""

from .._errors import RegimenError as RegimenError
from ._records import DoseRecord as DoseRecord
from ._records import DoseRecords as DoseRecords
from ._records import DoseTableError as DoseTableError
from ._records import read_dose_records as read_dose_records
from ._records import split_dose_records as split_dose_records
from ._regimen import HUMAN_DAILY_DOSE_CEILING_MG as HUMAN_DAILY_DOSE_CEILING_MG
from ._regimen import MAX_DOSES as MAX_DOSES
from ._regimen import DoseBlock as DoseBlock
from ._regimen import Hold as Hold
from ._regimen import Regimen as Regimen
from ._regimen import RegimenText as RegimenText
from ._regimen import dose_inputs as dose_inputs
from ._regimen import dosing_events as dosing_events
from ._regimen import parse_regimen as parse_regimen
from ._regimen import regimen_warnings as regimen_warnings

#: BTK inhibitors with human PK tables, and the regimen each is usually given at.
DRUGS: dict[str, str] = {"ibrutinib": "420 mg qd", "acalabrutinib": "100 mg bid"}

__all__ = [
    "DRUGS",
    "HUMAN_DAILY_DOSE_CEILING_MG",
    "MAX_DOSES",
    "DoseBlock", "DoseRecord", "DoseRecords", "DoseTableError", "Hold", "Regimen", "RegimenError", "RegimenText",
    "dose_inputs", "dosing_events", "parse_regimen", "read_dose_records", "regimen_warnings", "split_dose_records",
]

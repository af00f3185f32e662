"""Drugs: oral dosing regimens and the dosing events that drive the PK layer.

Each drug's PK and potency parameters live in ``model/data/drug_<name>_<species>.tsv`` and feed
the one PK/BTK declaration of the model.
"""

from .._errors import RegimenError as RegimenError
from ._pk import PK_MODELS as PK_MODELS
from ._pk import MetaboliteModel as MetaboliteModel
from ._pk import PKModel as PKModel
from ._pk import pk_antimony as pk_antimony
from ._pk import pk_depot_id as pk_depot_id
from ._pk import pk_dose_inputs as pk_dose_inputs
from ._pk import pk_dosing_events as pk_dosing_events
from ._pk import pk_dosing_parameter_ids as pk_dosing_parameter_ids
from ._pk import pk_input_id as pk_input_id
from ._pk import pk_parameter_ids as pk_parameter_ids
from ._pk import pk_states as pk_states
from ._pk import pk_table_path as pk_table_path
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
    "DoseBlock", "Hold", "Regimen", "RegimenError", "RegimenText", "dose_inputs", "dosing_events", "parse_regimen",
    "regimen_warnings",
    # PK models (_pk)
    "PK_MODELS", "MetaboliteModel", "PKModel", "pk_antimony", "pk_depot_id", "pk_dose_inputs",
    "pk_dosing_events", "pk_dosing_parameter_ids", "pk_input_id", "pk_parameter_ids", "pk_states",
    "pk_table_path",
]

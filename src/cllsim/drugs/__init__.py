"""Drugs: each drug one object (PK model, target binding, parameter tables), regimens and therapies.

* :data:`DRUGS` / :func:`get_drug`: the registry (``_registry.py``); each drug's PK structure is in
  ``_pk.py`` and its parameters in ``drugs/data/<drug>_<species>.tsv``;
* :class:`Regimen`: one drug's oral schedule, written the pharmacometric way (``_regimen.py``);
* :class:`Therapy`: one or several drugs at once, each on its own regimen, and a switch at
  progression (``_therapy.py``);
* :class:`DoseRecords`: a dose history as an event table (time, amount, ``ii``, ``addl``, drug),
  from Python or a CSV, NONMEM columns accepted (``_records.py``); a course's regimen may be one.
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
from ._regimen import parse_regimen as parse_regimen
from ._regimen import regimen_warnings as regimen_warnings
from ._registry import DRUGS as DRUGS
from ._registry import Drug as Drug
from ._registry import drug_set as drug_set
from ._registry import get_drug as get_drug
from ._therapy import DEFAULT_DRUG as DEFAULT_DRUG
from ._therapy import Course as Course
from ._therapy import Therapy as Therapy
from ._therapy import parse_therapy as parse_therapy
from ._therapy import switched_at as switched_at
from ._therapy import therapy_warnings as therapy_warnings

__all__ = [
    "DEFAULT_DRUG", "DRUGS", "HUMAN_DAILY_DOSE_CEILING_MG", "MAX_DOSES",
    "Course", "DoseBlock", "DoseRecord", "DoseRecords", "DoseTableError", "Drug", "Hold", "Regimen", "RegimenError",
    "RegimenText", "Therapy",
    "drug_set", "get_drug", "parse_regimen", "parse_therapy", "read_dose_records", "regimen_warnings",
    "split_dose_records", "switched_at", "therapy_warnings",
    # PK models (_pk)
    "PK_MODELS", "MetaboliteModel", "PKModel", "pk_antimony", "pk_depot_id", "pk_dose_inputs",
    "pk_dosing_events", "pk_dosing_parameter_ids", "pk_input_id", "pk_parameter_ids", "pk_states",
    "pk_table_path",
]

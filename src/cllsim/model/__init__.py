"""The model layer: equations (Antimony), parameters table, hosts, SBML export."""

from . import _columns as C  # noqa: F401  (column names and constants, as libpetab's C)
from ._antimony import CARRIED_STATES as CARRIED_STATES
from ._antimony import MODEL_ID as MODEL_ID
from ._antimony import antimony_model as antimony_model
from ._antimony import pools as pools
from ._baseline import baseline_conditions as baseline_conditions
from ._baseline import baseline_problems as baseline_problems
from ._baseline import baseline_rules as baseline_rules
from ._baseline import must_be_nonnegative as must_be_nonnegative
from ._cxcr4 import MODEL_ID as CXCR4_MODEL_ID  # noqa: F401  (the in-vitro module's SBML id)
from ._cxcr4 import cxcr4_module as cxcr4_module
from ._hosts import HOSTS as HOSTS
from ._hosts import NSG_XENOGRAFT as NSG_XENOGRAFT
from ._hosts import PATIENT as PATIENT
from ._hosts import TCL1_192 as TCL1_192
from ._hosts import Host as Host
from ._hosts import Tissue as Tissue
from ._hosts import get_host as get_host
from ._parameters import DOSING_PARAMETER_IDS as DOSING_PARAMETER_IDS
from ._parameters import ParameterRow as ParameterRow
from ._parameters import ParameterTable as ParameterTable
from ._parameters import ParameterTableError as ParameterTableError
from ._parameters import ighv_conditions as ighv_conditions
from ._parameters import load_table as load_table
from ._parameters import model_parameter_ids as model_parameter_ids
from ._parameters import parameter_hash as parameter_hash
from ._parameters import unknown_parameter as unknown_parameter
from ._sbml import SBMLConsistencyError as SBMLConsistencyError
from ._sbml import antimony_to_sbml as antimony_to_sbml
from ._sbml import sbml_errors as sbml_errors
from ._sbml import write_sbml as write_sbml

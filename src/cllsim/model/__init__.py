"""The model layer: equations (Antimony), parameters table, hosts, SBML export."""

from ._antimony import antimony_model as antimony_model
from ._antimony import pools as pools
from ._hosts import HOSTS as HOSTS
from ._hosts import NSG_XENOGRAFT as NSG_XENOGRAFT
from ._hosts import PATIENT as PATIENT
from ._hosts import TCL1_192 as TCL1_192
from ._hosts import Host as Host
from ._hosts import Tissue as Tissue
from ._hosts import get_host as get_host
from ._parameters import ParameterRow as ParameterRow
from ._parameters import ParameterTable as ParameterTable
from ._parameters import ParameterTableError as ParameterTableError
from ._parameters import ighv_conditions as ighv_conditions
from ._parameters import load_table as load_table
from ._parameters import model_parameter_ids as model_parameter_ids
from ._parameters import parameter_hash as parameter_hash

"""Drugs: oral dosing regimens and the dosing events that drive the PK layer."""

from ._regimen import DoseBlock as DoseBlock
from ._regimen import Hold as Hold
from ._regimen import Regimen as Regimen
from ._regimen import RegimenError as RegimenError
from ._regimen import dose_inputs as dose_inputs
from ._regimen import dosing_events as dosing_events
from ._regimen import parse_regimen as parse_regimen

__all__ = ["DoseBlock", "Hold", "Regimen", "RegimenError", "dose_inputs", "dosing_events", "parse_regimen"]

"""Column names and fixed vocabularies, in one place (libpetab's ``C.py`` pattern)."""

PARAMETER_ID = "parameterId"
PARAMETER_NAME = "parameterName"
UNIT = "unit"
NOMINAL_VALUE = "nominalValue"
LOWER_BOUND = "lowerBound"
UPPER_BOUND = "upperBound"
PARAMETER_SCALE = "parameterScale"
ESTIMATE = "estimate"
IIV_SD = "iivSD"
SOURCE = "source"

PARAMETER_COLUMNS = (
    PARAMETER_ID,
    PARAMETER_NAME,
    UNIT,
    NOMINAL_VALUE,
    LOWER_BOUND,
    UPPER_BOUND,
    PARAMETER_SCALE,
    ESTIMATE,
    IIV_SD,
    SOURCE,
)

CONDITION_ID = "conditionId"
TARGET_ID = "targetId"
TARGET_VALUE = "targetValue"

# tidy result columns
ID = "id"
TIME = "time"
OBSERVABLE = "observable"
VALUE = "value"
RESULT_COLUMNS = (ID, TIME, OBSERVABLE, VALUE, UNIT)

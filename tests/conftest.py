import pytest

import cllsim


@pytest.fixture(scope="session")
def typical_u():
    """Typical U-CLL patient on ibrutinib 420 mg qd for a year (reference engine)."""
    return cllsim.simulate("420 mg qd", cllsim.Patient(ighv="U"), days=365).raise_for_status()


@pytest.fixture(scope="session")
def typical_m():
    return cllsim.simulate("420 mg qd", cllsim.Patient(ighv="M"), days=365).raise_for_status()


@pytest.fixture(scope="session")
def untreated_u():
    return cllsim.simulate("none", cllsim.Patient(ighv="U"), days=365).raise_for_status()

import pytest

from cllsim.experiments import run_experiments


@pytest.fixture(scope="session")
def all_results():
    """Every experiment run once on the packaged tables (about 25 s)."""
    return {r.id: r for r in run_experiments()}

"""cllsim compare: arms on one virtual cohort, side by side with confidence intervals."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.cohort import CohortSpec, compare
from cllsim.cohort._compare import wilson

runner = CliRunner()
FIXED = "ibrutinib 420 mg qd x 70 + venetoclax ramp-up; 400 mg qd x 14 from day 28"


def test_wilson_interval_by_hand():
    p, lo, hi = wilson(8, 10)
    assert p == 0.8 and lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 5)[1] == 0.0 and np.isnan(wilson(0, 0)[0])


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    spec = CohortSpec(n=4, days=120, seed=3)
    return compare(["420 mg qd", FIXED, "420 mg qd until progression then pirtobrutinib 200 mg qd"], spec,
                   tmp_path_factory.mktemp("cmp"), progress=False)


def test_every_arm_treats_the_same_patients(comparison):
    ids = [r.patients.sort_values("id") for r in comparison.results]
    for other in ids[1:]:
        assert other["id"].tolist() == ids[0]["id"].tolist()
        assert np.allclose(other["baseline_alc_per_uL"], ids[0]["baseline_alc_per_uL"])
        assert other["ighv"].tolist() == ids[0]["ighv"].tolist()
    # the drugs differ, the courses too (can fail: same therapy twice would give the same numbers)
    mrd = [r.patients["mrd_at_eot"] if "mrd_at_eot" in r.patients else None for r in comparison.results]
    assert mrd[0] is None and mrd[1] is not None and mrd[1].notna().all()


def test_outputs_and_table(comparison):
    out = comparison.out
    for name in ("comparison.csv", "pfs_by_arm.png", "mrd_by_arm.png", "comparison.json", "arm-1", "arm-3"):
        assert (out / name).exists(), name
    meta = json.loads((out / "comparison.json").read_text())
    assert meta["arms"][1] == FIXED and meta["n"] == 4
    t = comparison.to_df()
    assert {"arm", "therapy", "group", "metric", "estimate", "lower", "upper", "unit", "n"} <= set(t.columns)
    fixed = t[(t["arm"] == 2) & (t["group"] == "overall")].set_index("metric")
    assert "umrd_at_eot" in fixed.index and 0 <= fixed.loc["umrd_at_eot", "estimate"] <= 1
    row = fixed.loc["umrd_at_eot"]
    assert row["lower"] <= row["estimate"] <= row["upper"]
    assert "umrd_at_eot" not in set(t[t["arm"] == 1]["metric"])
    assert comparison.wide().shape[1] == 3


def test_bad_arms_are_refused(tmp_path):
    spec = CohortSpec(n=2, days=30)
    with pytest.raises(Exception, match="2 to 8 arms"):
        compare(["420 mg qd"], spec, tmp_path / "x")
    with pytest.raises(Exception, match="same therapy"):
        compare(["420 mg qd", "ibrutinib 420 mg qd"], spec, tmp_path / "x")
    res = runner.invoke(app, ["compare", "--arm", "420 mg qd", "--arm", "ibrutnib 420 mg qd", "--n", "2",
                              "--out", str(tmp_path / "y")])
    assert res.exit_code == 2 and "unknown drug 'ibrutnib'" in res.stderr
    assert not (tmp_path / "y" / "comparison.json").exists()


def test_cli_prints_the_side_by_side_table(tmp_path):
    # two doses of one drug: one compiled model (a new drug set costs a kernel compilation)
    res = runner.invoke(app, ["compare", "--arm", "420 mg qd", "--arm", "280 mg qd", "--n", "3",
                              "--days", "60", "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert "evaluable_patients" in res.output and "arm 2: 280 mg qd" in res.output
    assert (tmp_path / "c" / "comparison.csv").exists()

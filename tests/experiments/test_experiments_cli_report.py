"""``cllsim reproduce`` and the HTML report."""

import re

import pandas as pd
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.report import render_report

runner = CliRunner()


def test_reproduce_only_f4_writes_report_and_csvs(tmp_path):
    res = runner.invoke(app, ["reproduce", "--out", str(tmp_path), "--only", "f4"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F4.csv", "checks.csv", "report.html"]
    checks = pd.read_csv(tmp_path / "checks.csv")
    assert checks["passed"].all() and set(checks["experiment"]) == {"F4"}
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "<img" in html
    assert not re.search(r"src=['\"](?!data:)", html)  # self-contained: no external resources


def test_reproduce_exits_nonzero_when_a_check_fails(tmp_path):
    # making Ser339 phosphorylation (and so recycling) largely kinase-independent must fail F4
    res = runner.invoke(app, ["reproduce", "--out", str(tmp_path), "--only", "F4",
                              "--set", "cxcr4_kphos_basal=0.9"])
    assert res.exit_code == 1
    assert "F4." in res.output and "FAIL" in res.output
    assert (tmp_path / "report.html").exists()


def test_reproduce_rejects_unknown_experiment(tmp_path):
    res = runner.invoke(app, ["reproduce", "--out", str(tmp_path / "o"), "--only", "F4,F99"])
    assert res.exit_code == 2
    assert "F99" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o" / "report.html").exists()


def test_report_marks_failures(all_results):
    from cllsim.experiments import get

    cut = get("F5").run({"cxcr4_bcr_repression": 0.0, "cxcr4_tonic_repression": 0.0})
    html = render_report([all_results["F8"], cut])
    assert "FAIL" in html and "PASS" in html
    assert "cxcr4_bcr_repression" in html  # F5 names the parameters that differ between hosts

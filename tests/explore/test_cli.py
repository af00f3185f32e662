"""``cllsim explore`` refuses bad options in one line (exit 2) before starting anything."""

from typer.testing import CliRunner

from cllsim.cli import app


def test_bad_port_is_one_line_and_exit_2():
    res = CliRunner().invoke(app, ["explore", "--port", "70000"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --port must be between 1 and 65535") and res.stderr.count("\n") == 1

"""A Dask scheduler over TLS: the cohort runs with the CLI's certificate options, and not without them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cllsim.cli import app

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make test certificates")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """A throw-away CA and one certificate (localhost, 127.0.0.1) it signed, for every role."""
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=cllsim-test-ca", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj",
             "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
             "node.pem", "-days", "1", "-extfile", "ext.cnf", cwd=d)
    return d


def test_cohort_runs_on_a_tls_scheduler_only_with_certificates(tmp_path, certificates):
    from distributed import LocalCluster
    from distributed.security import Security

    c = certificates
    pem, key = str(c / "node.pem"), str(c / "node.key")
    server = Security(tls_ca_file=str(c / "ca.pem"), tls_scheduler_cert=pem, tls_scheduler_key=key,
                      tls_worker_cert=pem, tls_worker_key=key, tls_client_cert=pem, tls_client_key=key,
                      require_encryption=True)
    base = ["cohort", "--n", "2", "--days", "2", "--seed", "4"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls", security=server,
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        refused = CliRunner().invoke(app, [*base, "--scheduler", address, "--out", str(tmp_path / "no")])
        assert refused.exit_code == 2 and "--scheduler-tls-ca" in " ".join(refused.output.split())
        ok = CliRunner().invoke(app, [
            *base, "--scheduler", address, "--out", str(tmp_path / "tls"), "--scheduler-tls-ca", str(c / "ca.pem"),
            "--scheduler-tls-cert", pem, "--scheduler-tls-key", key,
        ])
        assert ok.exit_code == 0, ok.output
    meta = json.loads((tmp_path / "tls" / "metadata.json").read_text())
    assert meta["execution"] == f"DaskExecutor({address})"
    assert meta["status_counts"] == {"success": 2}
    assert not (tmp_path / "no").exists()

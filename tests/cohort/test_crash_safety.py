"""Crash-safe cohort folders (issue 13 item 4): marker last, foreign chunks refused, leftovers cleaned."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

from cllsim.cli import app
from cllsim.cohort import CohortSpec, ForeignChunkError, run_cohort, write_outputs
from cllsim.execution import MARKER
from cllsim.execution._outputs import _host

SPEC = CohortSpec(n=4, chunk_size=2, days=3, seed=1)
LAST_FIGURE = "lymphocytosis_resolution_km"


def _finished(out: Path, spec: CohortSpec = SPEC) -> Path:
    write_outputs(run_cohort(spec, out, progress=False))
    assert (out / MARKER).exists()
    return out


def _kill_at_last_figure(monkeypatch) -> None:
    real = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        if LAST_FIGURE in str(fname):
            raise KeyboardInterrupt("killed while writing the last data file")
        return real(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in [*out.iterdir(), *(out / "chunks").iterdir()] if ".cllsim-tmp." in p.name)


def test_a_rerun_killed_before_its_last_file_leaves_no_marker(tmp_path, monkeypatch):
    out = _finished(tmp_path / "trial")
    _kill_at_last_figure(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(run_cohort(SPEC, out, progress=False))
    # the old marker must not vouch for files the killed rerun already replaced
    assert not (out / MARKER).exists()
    assert _leftovers(out) == []
    monkeypatch.undo()
    _finished(out)


def test_a_first_run_killed_before_its_last_file_leaves_no_marker_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "trial"
    _kill_at_last_figure(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(run_cohort(SPEC, out, progress=False))
    assert not (out / MARKER).exists() and (out / "summary.csv").exists()
    monkeypatch.undo()
    result = run_cohort(SPEC, out, progress=False)
    assert result.metadata["resumed_chunks"] == SPEC.n_chunks


def test_a_chunk_of_another_cohort_is_refused_not_merged(tmp_path):
    mine = _finished(tmp_path / "mine")
    other = _finished(tmp_path / "other", SPEC.model_copy(update={"seed": 2}))
    # the manifest is gone (deleted by hand) and one chunk was copied in from another cohort
    (mine / "cohort.json").unlink()
    for name in ("patients-00001.parquet", "trajectories-00001.parquet"):
        shutil.copy(other / "chunks" / name, mine / "chunks" / name)
    with pytest.raises(ForeignChunkError, match=r"patients-00001\.parquet does not belong to this cohort.*seed"):
        run_cohort(SPEC, mine, progress=False)
    before = pd.read_parquet(mine / "patients.parquet")
    result = CliRunner().invoke(app, ["cohort", "--n", "4", "--chunk-size", "2", "--days", "3", "--seed", "1",
                                      "--workers", "1", "--out", str(mine)])
    assert result.exit_code == 2, result.output
    assert "does not belong to this cohort" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    # nothing was merged: the refused chunk is still the other cohort's, the patients table still ours
    pd.testing.assert_frame_equal(pd.read_parquet(mine / "patients.parquet"), before)


def test_a_chunk_beyond_the_cohort_and_a_chunk_without_provenance_are_refused(tmp_path):
    out = _finished(tmp_path / "trial")
    extra = out / "chunks" / "trajectories-00002.parquet"
    shutil.copy(out / "chunks" / "trajectories-00001.parquet", extra)
    with pytest.raises(ForeignChunkError, match="this cohort has 2 chunks"):
        run_cohort(SPEC, out, progress=False)
    extra.unlink()
    bare = out / "chunks" / "patients-00000.parquet"
    pd.read_parquet(bare).to_parquet(bare, index=False)  # rewritten by another tool: no cllsim metadata
    with pytest.raises(ForeignChunkError, match="no readable cllsim provenance"):
        run_cohort(SPEC, out, progress=False)


def test_leftovers_of_a_killed_run_are_removed_and_its_unfinished_chunk_redone(tmp_path):
    out = tmp_path / "trial"
    run_cohort(SPEC, out, progress=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    chunks = out / "chunks"
    stale = [chunks / f".patients-00001.cllsim-tmp.{_host()}.{dead.pid}.parquet",
             out / f".summary.cllsim-tmp.{_host()}.{dead.pid}.csv",
             chunks / f".trajectories-00001.parquet.{dead.pid}.tmp", out / ".cohort.json.tmp"]  # older names
    for p in stale:
        p.write_bytes(b"PAR1 half a file")
    (chunks / "patients-00001.parquet").unlink()  # killed between the chunk's two renames
    (chunks / "trajectories-00001.parquet").write_bytes(b"PAR1 truncated")
    result = run_cohort(SPEC, out, progress=False)
    assert result.metadata["resumed_chunks"] == 1
    assert not any(p.exists() for p in stale)
    assert len(result.trajectories(wide=True)) == SPEC.n * 4


def test_a_cohort_in_which_every_patient_failed_exits_nonzero_and_says_so(tmp_path, monkeypatch):
    import cllsim.cohort._run as run

    real = run.simulate_chunk_tidy

    def all_fail(spec, chunk):
        trajectories, patients = real(spec, chunk)
        return trajectories, patients.assign(status="solver_failure", detail="CVODE error test failed")

    monkeypatch.setattr(run, "simulate_chunk_tidy", all_fail)
    out = tmp_path / "trial"
    result = CliRunner().invoke(app, ["cohort", "--n", "2", "--days", "2", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "every patient failed" in text and "CVODE error test failed" in text
    assert not (out / MARKER).exists()


def test_chunks_record_their_provenance(tmp_path):
    import pyarrow.parquet as pq

    from cllsim.cohort._run import spec_hash

    out = tmp_path / "trial"
    run_cohort(SPEC, out, progress=False)
    meta = json.loads(pq.read_schema(out / "chunks" / "patients-00001.parquet").metadata[b"cllsim"])
    assert meta["spec_hash"] == spec_hash(SPEC) != spec_hash(SPEC.model_copy(update={"seed": 2}))
    assert (meta["seed"], meta["chunk"], meta["first_patient"], meta["last_patient"]) == (1, 1, "p0000002", "p0000003")

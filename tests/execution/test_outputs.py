"""Crash-safe output folders: the completion marker is last, atomic, and never over mixed files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cllsim.execution import (
    MARKER,
    OutputFolderError,
    _outputs,
    publish_folder,
    remove_stale,
    staged_output,
    temporary_path,
    write_atomic,
)

NAMES = ("a.csv", MARKER, "panel.png", "z.parquet")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _folder(path: Path, version: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        (path / name).write_text(version)
    return path


def _consistent(out: Path) -> bool:
    """A folder with a marker must hold only the marker's own version of every file."""
    if not (out / MARKER).exists():
        return True
    version = (out / MARKER).read_text()
    return all((out / n).read_text() == version for n in NAMES)


def test_a_kill_at_any_rename_never_leaves_a_marker_over_mixed_files(tmp_path, monkeypatch):
    real_replace = os.replace
    for kill_at in range(len(NAMES)):
        out = _folder(tmp_path / f"out{kill_at}", "old")
        stage = _folder(tmp_path / f"stage{kill_at}", "new")
        calls = []

        def replace(src, dst, calls=calls, kill_at=kill_at):
            if len(calls) == kill_at:
                raise KeyboardInterrupt("killed")
            calls.append(Path(dst).name)
            real_replace(src, dst)

        monkeypatch.setattr(_outputs.os, "replace", replace)
        with pytest.raises(KeyboardInterrupt):
            publish_folder(stage, out)
        monkeypatch.setattr(_outputs.os, "replace", real_replace)
        assert _consistent(out), (kill_at, calls, {n: (out / n).read_text() for n in NAMES if (out / n).exists()})
        assert not (out / MARKER).exists()  # the old marker went first, the new one comes last


def test_publish_moves_the_marker_last_and_replaces_folders(tmp_path):
    out = _folder(tmp_path / "out", "old")
    (out / "chunks").mkdir()
    (out / "chunks" / "old.txt").write_text("old")
    (out / "keep.txt").write_text("not ours")
    stage = _folder(tmp_path / "stage", "new")
    (stage / "chunks").mkdir()
    (stage / "chunks" / "new.txt").write_text("new")
    published = publish_folder(stage, out)
    assert published[-1].name == MARKER and len(published) == len(NAMES) + 1
    assert _consistent(out) and (out / MARKER).read_text() == "new"
    assert [p.name for p in (out / "chunks").iterdir()] == ["new.txt"]
    assert (out / "keep.txt").read_text() == "not ours"


def test_a_failed_block_changes_nothing_and_removes_the_folder_it_created(tmp_path):
    out = tmp_path / "new_out"
    with pytest.raises(RuntimeError), staged_output(out) as stage:
        (stage / MARKER).write_text("{}")
        raise RuntimeError("the simulation failed")
    assert not out.exists()
    old = _folder(tmp_path / "old_out", "old")
    with pytest.raises(RuntimeError), staged_output(old) as stage:
        (stage / "a.csv").write_text("new")
        raise RuntimeError("the simulation failed")
    assert sorted(p.name for p in old.iterdir()) == sorted(NAMES) and _consistent(old)


def test_staging_folders_and_temporaries_of_dead_processes_are_removed(tmp_path):
    out = _folder(tmp_path / "out", "old")
    host = _outputs._host()
    dead, alive = _dead_pid(), os.getppid()
    stale_stage = out / f".cllsim-partial-{host}-{dead}-abc123"
    live_stage = out / f".cllsim-partial-{host}-{alive}-def456"
    other_host = out / f".cllsim-partial-elsewhere-{dead}-ghi789"
    for d in (stale_stage, live_stage, other_host):
        d.mkdir()
        (d / "a.csv").write_text("partial")
    stale_tmp = out / f".a.cllsim-tmp.{host}.{dead}.csv"
    stale_tmp.write_text("partial")
    user_file = out / ".a.csv.tmp"  # not a name cllsim writes: left alone
    user_file.write_text("mine")
    with staged_output(out) as stage:
        assert stage.name.startswith(f".cllsim-partial-{host}-{os.getpid()}-")
        (stage / MARKER).write_text("new")
    assert not stale_stage.exists() and not stale_tmp.exists()
    assert live_stage.exists() and other_host.exists() and user_file.exists()
    assert remove_stale(out) == []


def test_write_atomic_leaves_neither_target_nor_temporary_when_the_writer_fails(tmp_path):
    target = tmp_path / "summary.csv"

    def half_then_fail(p: Path) -> None:
        p.write_text("endpoint,overall\n")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(target, half_then_fail)
    assert list(tmp_path.iterdir()) == []
    assert temporary_path(target).suffix == ".csv"  # writers that pick the format by suffix still work
    write_atomic(target, lambda p: p.write_text("ok"))
    assert target.read_text() == "ok" and list(tmp_path.iterdir()) == [target]


def test_an_unwritable_output_folder_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputFolderError, match="cannot write"), staged_output(blocker / "sub"):
        pass


@pytest.mark.parametrize("errno_code", [28, 13, 21])  # ENOSPC, EACCES, EISDIR
def test_an_os_error_while_writing_is_an_output_folder_error_and_changes_nothing(tmp_path, errno_code):
    from cllsim import InputError
    from cllsim.execution import OutputFolderError

    out = tmp_path / "o"
    with pytest.raises(OutputFolderError, match=os.strerror(errno_code)) as info:
        with staged_output(out) as stage:
            (stage / "data.csv").write_text("a,b\n")
            raise OSError(errno_code, os.strerror(errno_code), str(stage / "metadata.json"))
    assert isinstance(info.value, InputError) and "metadata.json" in str(info.value)
    assert not out.exists()  # created by the call, removed again

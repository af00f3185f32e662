"""The compiled-kernel cache folder is private to the user, never a shared or foreign folder."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from cllsim.simulate import _cache_dir
from cllsim.simulate._cache_dir import UnsafeCacheDirWarning, kernel_cache_dir
from cllsim.simulate._compiled import cache_dir

posix_only = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")


@pytest.fixture
def fresh_temp(monkeypatch):
    """Forget the process's temporary fallback folder so each test sees whether one is made."""
    _cache_dir._private_temp_folder.cache_clear()
    yield
    _cache_dir._private_temp_folder.cache_clear()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _is_fallback(folder: Path, refused: Path) -> bool:
    return folder.name.startswith("cllsim-kernels-") and refused not in (folder, *folder.parents)


@posix_only
def test_created_folders_are_private(tmp_path, monkeypatch, fresh_temp, recwarn):
    root = tmp_path / "deep" / "cache"
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))
    folder = cache_dir()
    assert folder == root / "kernels"
    assert not [w for w in recwarn if issubclass(w.category, UnsafeCacheDirWarning)]
    for path in (tmp_path / "deep", root, root / "kernels"):
        assert _mode(path) & 0o077 == 0, oct(_mode(path))


@posix_only
def test_default_is_under_home_not_tmp(tmp_path, monkeypatch, fresh_temp):
    monkeypatch.delenv("CLLSIM_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kernel_cache_dir() == tmp_path / ".cache" / "cllsim" / "kernels"
    assert _mode(tmp_path / ".cache" / "cllsim") == 0o700


@posix_only
@pytest.mark.parametrize("shared", ["root", "kernels", "__pycache__"])
def test_world_writable_folder_is_refused(tmp_path, monkeypatch, fresh_temp, shared):
    root = tmp_path / "cache"
    (root / "kernels" / "__pycache__").mkdir(parents=True)
    target = {"root": root, "kernels": root / "kernels", "__pycache__": root / "kernels" / "__pycache__"}
    os.chmod(target[shared], 0o777)
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))
    with pytest.warns(UnsafeCacheDirWarning, match="writable by its group or by others"):
        folder = cache_dir()
    assert _is_fallback(folder, root)
    assert _mode(folder) == 0o700
    assert folder.parent == Path(tempfile.gettempdir())


@posix_only
def test_group_writable_folder_is_refused(tmp_path, monkeypatch, fresh_temp):
    root = tmp_path / "cache"
    root.mkdir()
    os.chmod(root, 0o770)
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))
    with pytest.warns(UnsafeCacheDirWarning, match="mode 770"):
        assert _is_fallback(cache_dir(), root)


@posix_only
def test_folder_owned_by_someone_else_is_refused(tmp_path, monkeypatch, fresh_temp):
    root = tmp_path / "cache"
    (root / "kernels").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))
    # the folders are this user's; pretend this process runs as another user
    monkeypatch.setattr(_cache_dir.os, "getuid", lambda: os.stat(root).st_uid + 1)
    with pytest.warns(UnsafeCacheDirWarning, match="owned by another user"):
        assert _is_fallback(cache_dir(), root)


@posix_only
def test_planted_kernels_folder_is_refused(tmp_path, monkeypatch, fresh_temp):
    """A private root whose kernels folder belongs to someone else (simulated through ``os.stat``)."""
    root = tmp_path / "cache"
    (root / "kernels").mkdir(parents=True, mode=0o700)
    os.chmod(root, 0o700)
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))
    real_stat = os.stat
    planted = str(root / "kernels")

    def stat_as_if_planted(path, *args, **kwargs):
        info = real_stat(path, *args, **kwargs)
        if os.fspath(path) != planted:
            return info
        fields = list(info)
        fields[stat.ST_UID] = info.st_uid + 1
        return os.stat_result(fields)

    monkeypatch.setattr(_cache_dir.os, "stat", stat_as_if_planted)
    with pytest.warns(UnsafeCacheDirWarning, match="kernels is owned by another user"):
        assert _is_fallback(cache_dir(), root)


@posix_only
def test_unwritable_folder_falls_back_to_private_temp(tmp_path, monkeypatch, fresh_temp):
    root = tmp_path / "cache"
    (root / "kernels").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "touch", refuse)
    with pytest.warns(UnsafeCacheDirWarning, match="cannot be used"):
        assert _is_fallback(cache_dir(), root)


def test_a_file_where_the_folder_must_be_is_refused(tmp_path, monkeypatch, fresh_temp):
    root = tmp_path / "cache"
    root.write_text("not a folder")
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))
    with pytest.warns(UnsafeCacheDirWarning):
        assert _is_fallback(cache_dir(), root)


def test_fallback_folder_is_one_per_process(tmp_path, monkeypatch, fresh_temp):
    root = tmp_path / "cache"
    root.write_text("not a folder")
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))
    with pytest.warns(UnsafeCacheDirWarning):
        first, second = cache_dir(), cache_dir()
    assert first == second


@posix_only
def test_private_folder_is_kept_as_is(tmp_path, monkeypatch, fresh_temp, recwarn):
    root = tmp_path / "cache"
    (root / "kernels").mkdir(parents=True)
    os.chmod(root, 0o755)  # readable by others is fine: only writing lets anyone plant code
    os.chmod(root / "kernels", 0o755)
    monkeypatch.setenv("CLLSIM_CACHE_DIR", str(root))
    assert cache_dir() == root / "kernels"
    assert not [w for w in recwarn if issubclass(w.category, UnsafeCacheDirWarning)]
    assert not list((root / "kernels").iterdir())  # the write probe leaves nothing behind

"""A private, per-user folder for the compiled-kernel cache.

The kernel cache holds a generated Python module that is imported and numba's index files, which
numba unpickles. Whoever can write to that folder can therefore run code in the user's process, so
the folder must be writable by its owner alone: never a shared folder such as ``/tmp/<name>``.

The folder is ``$CLLSIM_CACHE_DIR/kernels`` when that variable is set, else
``~/.cache/cllsim/kernels``. Folders created here get mode 0700. A folder that is owned by another
user, or writable by its group or by others, is refused with a :class:`UnsafeCacheDirWarning`, and
the process uses a fresh private temporary folder instead (so it compiles again but never loads
code it did not write).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, first compilations may race
    fcntl = None  # type: ignore[assignment]

#: Environment variable naming the cache root (the kernels live in its ``kernels`` sub-folder).
CACHE_ENV = "CLLSIM_CACHE_DIR"
# the bits that let anyone but the owner add or replace files in a folder
_SHARED_WRITE = stat.S_IWGRP | stat.S_IWOTH


class UnsafeCacheDirWarning(UserWarning):
    """The configured cache folder is not private; a temporary private folder is used instead."""


def _default_root() -> Path:
    return Path.home() / ".cache" / "cllsim"


def unsafe_reason(folder: Path) -> str | None:
    """Why ``folder`` must not hold loadable code, or ``None`` when it is private to this user.

    Parameters
    ----------
    folder
        An existing folder (symbolic links are followed: the target is what gets written).

    Returns
    -------
    str or None
        A one-line reason (not a folder, owned by another user, writable by group or others).
    """
    info = os.stat(folder)
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is not a folder"
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: no POSIX owner or mode bits to check
        return None
    if info.st_uid != getuid():
        return f"{folder} is owned by another user (uid {info.st_uid})"
    if info.st_mode & _SHARED_WRITE:
        return f"{folder} is writable by its group or by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _make_private(folder: Path) -> None:
    """Create ``folder`` (and missing parents) with mode 0700 each, keeping existing ones as they are."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # another process made it meanwhile; it is checked below
            pass


@functools.lru_cache(maxsize=1)
def _private_temp_folder() -> Path:
    """One fresh private folder per process (``mkdtemp`` creates it with mode 0700), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="cllsim-kernels-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def kernel_cache_dir() -> Path:
    """The folder for generated kernels and numba's compiled code, private to this user.

    Returns
    -------
    Path
        ``$CLLSIM_CACHE_DIR/kernels`` (default ``~/.cache/cllsim/kernels``) when it is, or can be
        made, a folder owned by this user and writable by no one else; otherwise (with an
        :class:`UnsafeCacheDirWarning` naming the reason) a fresh temporary folder of this process.
    """
    configured = os.environ.get(CACHE_ENV)
    try:
        root = Path(configured) if configured else _default_root()
    except RuntimeError:  # no home folder to be found
        return _private_temp_folder()
    kernels = root / "kernels"
    try:
        _make_private(kernels)
        # the root and the numba sub-folder matter as much as the kernels folder: whoever can
        # write the root can swap the kernels folder for their own
        checked = [root, kernels] + [p for p in [kernels / "__pycache__"] if p.exists()]
        reason = next((r for r in map(unsafe_reason, checked) if r), None)
        if reason is None:
            probe = kernels / f".write-test-{os.getpid()}"
            probe.touch()
            probe.unlink()
            return kernels
    except OSError as error:
        reason = f"{kernels} cannot be used ({error.strerror or error})"
    where = f"${CACHE_ENV}" if configured else "the default cache folder"
    warnings.warn(
        f"not using {where} for compiled kernels: {reason}; compiling into a private temporary "
        f"folder instead (set ${CACHE_ENV} to a folder only you can write)",
        UnsafeCacheDirWarning,
        stacklevel=3,
    )
    return _private_temp_folder()


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_file`` (created if missing) for the block.

    Serializes the first compilation of a kernel between processes that share a cache folder:
    numba writes its on-disk cache without a lock, and two processes compiling the same new
    kernel at once (a worker pool on a fresh cache) could read each other's half-written index.
    Processes that come second find the cache filled and load it. Without ``fcntl`` (Windows)
    the block runs unlocked.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock

"""Crash-safe output folders: atomic files, a completion marker written last, stale leftovers cleaned.

A folder counts as complete when its *marker* file (``metadata.json``) exists. The rules that
keep that true when a run is killed at any instant (SIGKILL included):

* every file is written under a temporary name in its own folder and renamed into place
  (``os.replace`` is atomic on one file system), so no reader sees half a file;
* an existing marker is removed *before* any data file of a new run replaces an old one, and
  the new marker is renamed in *after* every data file: a kill between the two leaves a folder
  without marker, never old marker over new data or a lone marker;
* temporary files and staging folders carry the host and process id of their writer, so the
  next run removes those whose writer is dead (:func:`remove_stale`).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .._errors import InputError

#: File whose presence marks a complete output folder.
MARKER = "metadata.json"
#: Prefix of the hidden staging folder a command writes into before publishing.
STAGE_PREFIX = ".cllsim-partial-"
_TMP_TAG = ".cllsim-tmp"
# ".<name>.cllsim-tmp.<host>.<pid><suffix>" and ".cllsim-partial-<host>-<pid>-<random>"
_TMP_RE = re.compile(r"^\..*\.cllsim-tmp\.(?P<host>\w+)\.(?P<pid>\d+)(\.[^.]*)?$")
_STAGE_RE = re.compile(r"^\.cllsim-partial-(?P<host>\w+)-(?P<pid>\d+)-[^-]+$")


class OutputFolderError(InputError):
    """An output folder or file that cannot be written (permissions, a file in the way, disk full)."""


def _host() -> str:
    # dots and dashes separate fields of the names above
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _is_stale(host: str, pid: int) -> bool:
    """Whether the writer of a leftover is dead (only decidable for writers on this host)."""
    return host == _host() and pid != os.getpid() and not _alive(pid)


def temporary_path(path: str | os.PathLike[str]) -> Path:
    """Hidden sibling of ``path`` to write before renaming (keeps the suffix: format detection)."""
    path = Path(path)
    return path.with_name(f".{path.stem}{_TMP_TAG}.{_host()}.{os.getpid()}{path.suffix}")


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to write a temporary sibling of ``path``, then rename it to ``path``.

    Parameters
    ----------
    path
        Final file.
    write
        Writes the file it is given (e.g. ``lambda p: df.to_csv(p)``).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite number (nested in dicts, lists, tuples, arrays) replaced by ``None``."""
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy arrays and scalars
        return _finite(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def json_text(obj: Any, *, indent: int | None = 2, **kwargs: Any) -> str:
    """Strict JSON text of ``obj``: NaN and infinities become ``null``, never the non-standard ``NaN``.

    Python's :func:`json.dumps` writes ``NaN``/``Infinity`` by default, which strict JSON readers
    (JavaScript's ``JSON.parse``, jq, R's jsonlite in strict mode) refuse. Here every non-finite
    float, numpy values and arrays included, is written as ``null`` (missing), and the text is
    then made with ``allow_nan=False``, so a non-finite number that got past is an error rather
    than invalid output. Objects JSON has no type for are written as their ``str``.

    Parameters
    ----------
    obj
        Dicts, lists, numbers, strings (nested).
    indent
        Indentation (``None``: one line).
    **kwargs
        Passed on to :func:`json.dumps` (e.g. ``sort_keys=True``).
    """
    kwargs.setdefault("default", str)
    return json.dumps(_finite(obj), indent=indent, allow_nan=False, **kwargs)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def remove_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files and staging folders in ``folder`` left by dead processes of this host.

    Returns
    -------
    list of Path
        What was removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        m = _TMP_RE.match(entry.name) or _STAGE_RE.match(entry.name)
        if m is None or not _is_stale(m["host"], int(m["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def invalidate(folder: str | os.PathLike[str], marker: str = MARKER) -> None:
    """Remove the completion marker of ``folder`` before changing any of its files."""
    Path(folder, marker).unlink(missing_ok=True)


def publish_folder(stage: str | os.PathLike[str], out: str | os.PathLike[str], marker: str = MARKER) -> list[Path]:
    """Move every entry of ``stage`` into ``out``, the marker last; an old marker goes first.

    Parameters
    ----------
    stage
        Folder holding the complete new output (its marker included, if the output has one).
    out
        Destination; entries of the same name are replaced, others are left alone.
    marker
        Name of the completion marker.

    Returns
    -------
    list of Path
        The published paths, in the order they were moved (the marker, if any, last).
    """
    stage, out = Path(stage), Path(out)
    entries = sorted((e for e in stage.iterdir() if e.name != marker), key=lambda e: e.name)
    new_marker = stage / marker
    invalidate(out, marker)
    published = []
    for entry in entries:
        target = out / entry.name
        if entry.is_dir() and target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)  # os.replace cannot replace a non-empty folder
        os.replace(entry, target)
        published.append(target)
    if new_marker.exists():
        os.replace(new_marker, out / marker)
        published.append(out / marker)
    return published


def _os_reason(exc: OSError) -> str:
    """What the OS said, with the file it said it about (inside the output folder: its name only)."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return f"{reason} ({Path(exc.filename).name})" if exc.filename else reason


@contextmanager
def staged_output(out: str | os.PathLike[str], marker: str = MARKER) -> Iterator[Path]:
    """Write into a hidden staging folder inside ``out``; publish it only if the block succeeds.

    Stale staging folders of killed runs are removed first. If the block raises, nothing in
    ``out`` changes, and ``out`` is removed again if this call created it and it is empty. An
    ``OSError`` of the block or of publishing (disk full, permissions, a folder where a file
    must go) becomes :class:`OutputFolderError`, an input error.

    Parameters
    ----------
    out
        Output folder (created if missing).
    marker
        Completion marker, published last (see :func:`publish_folder`).

    Yields
    ------
    Path
        The staging folder to write into.
    """
    out = Path(out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale(out)
        stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{_host()}-{os.getpid()}-", dir=out))
    except OSError as exc:
        raise OutputFolderError(f"cannot write to output folder {str(out)!r}: {_os_reason(exc)}") from None
    ok = False
    try:
        try:
            yield stage
            publish_folder(stage, out, marker)
        except OSError as exc:
            # a full disk, a quota, a folder where a file must go: the user's to fix, not a bug
            raise OutputFolderError(f"cannot write to output folder {str(out)!r}: {_os_reason(exc)}") from None
        ok = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not ok and created:
            with suppress(OSError):
                out.rmdir()  # only succeeds when empty

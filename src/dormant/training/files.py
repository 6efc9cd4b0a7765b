"""Writes of run state that a crash or a full disk cannot leave half-done.

``atomic_write`` (``atomic_write_text``) replaces a file whole (temporary file, fsync, rename), so readers
see the old content or the new, never a truncated file. ``append_text`` adds to a file
and, if the write fails, cuts it back to its previous size, so a log never ends in a
partial line. Both let the ``OSError`` through with the path set, for the caller to
report.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeGuard

# The errors that mean "this file cannot be written here", with the words users search for.
WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
}


class RunWriteError(RuntimeError):
    """A file of a run could not be written (full disk, permissions); the message names
    the file, the cause and what survived."""


def is_write_failure(err: BaseException) -> TypeGuard[OSError]:
    return isinstance(err, OSError) and err.errno in WRITE_ERRORS


def describe_write_failure(err: OSError) -> str:
    """``cannot write PATH: reason`` in one line."""
    reason = (WRITE_ERRORS.get(err.errno) if err.errno is not None else None) or err.strerror or str(err)
    return f"cannot write {err.filename or 'a file'}: {reason}"


def atomic_write(path: Path, write: Callable[[IO], object], *, binary: bool = False) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, fsync, then rename it
    over ``path``. On any error the temporary file is removed and ``path`` is untouched;
    an ``OSError`` names ``path`` (not its temporary twin)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") if binary else open(tmp, "w", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _with_path(err, path) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text))


def append_text(path: Path, text: str) -> None:
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "a", newline="") as handle:
            handle.write(text)
            handle.flush()
    except OSError as err:
        with contextlib.suppress(OSError):
            os.truncate(path, size)
        raise _with_path(err, path) from None


def _with_path(err: OSError, path: Path) -> OSError:
    """The same error, naming the file the caller meant (not its temporary twin)."""
    return type(err)(err.errno, err.strerror or str(err), str(path))

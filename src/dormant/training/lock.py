"""An exclusive, advisory lock on a directory, so two processes never write one run.

``fcntl.flock`` locks die with their process, so a killed trainer or sweep leaves no
stale lock behind. On a cluster the run directories must live on a file system whose
locks are shared between hosts (local disks, NFSv4, Lustre with flock enabled).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO

LOCK_NAME = ".lock"
EXIT_LOCKED = 75  # EX_TEMPFAIL: the exit code of a command refused because a directory is locked


class LockedError(RuntimeError):
    """Another process holds the lock; the message says which."""


class DirLock:
    def __init__(self, directory: Path, what: str = "run", name: str = LOCK_NAME):
        self.path = Path(directory) / name
        self.what = what
        self._handle: IO[str] | None = None

    def acquire(self) -> DirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 (kept open: the lock lives as long as the file is open)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            try:
                info = json.loads(holder)
                who = f"pid {info['pid']} on {info['host']} since {info['since']}"
            except (ValueError, KeyError, TypeError):
                who = "another process"
            raise LockedError(
                f"{self.path.parent} is in use by {who} (another {self.what} "
                "is writing it); wait for it to stop or stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")})
        )
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(directory: Path, name: str = LOCK_NAME) -> bool:
    """Whether a live process holds ``directory``'s lock (read-only: creates nothing)."""
    try:
        handle = open(Path(directory) / name)  # noqa: SIM115 (closed by the `with` below; only opening fails quietly)
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False

"""The one pid-lock: an exclusive ``flock`` on a file that names the process holding it.

Used by the scheduler (one scheduler per state folder), each scheduled run (one run of an
entry at a time) and ingestion (one writer per knowledge store). The lock belongs to the
open file: it is released when :meth:`PidLock.release` is called or the process ends,
however it ends (``kill -9`` included)::

    lock = PidLock(folder / "scheduler.lock")
    if not lock.acquire():
        raise BusyError(f"another scheduler (pid {lock.holder}) is running")
    try:
        ...
    finally:
        lock.release()
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["PidLock"]


class PidLock:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.holder = ""  # after a failed acquire(): the pid written by the process that holds it ("?" if none)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when it is held: by another process, another PidLock,
        or this one (it is not re-entrant: two threads sharing it do not both get it)."""
        if self._fd is not None:
            self.holder = str(os.getpid())
            return False
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

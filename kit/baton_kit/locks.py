"""A non-blocking, cross-process exclusive lock on a file (`flock`): released when the holder
exits, however it exits, so a SIGKILLed holder never leaves a stale lock."""

from __future__ import annotations

import fcntl
import os


class FileLock:
    def __init__(self, path: str | None) -> None:
        """`path` None: a lock only this process uses (an in-memory database has one process)."""
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True when this process holds the lock (now or already); never waits."""
        if self.path is None:
            return True
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

"""A cross-process file lock that the operating system releases when its holder dies.

POSIX uses ``flock`` and Windows ``msvcrt.locking``: both locks belong to the
open file, so a killed process never leaves one behind (on file systems where
they work at all; see fetch.py for what happens where they do not). The lock
file itself is left in place: removing it would let two processes lock two
different files of one name.

This replaces the ``filelock`` package on the download path: importing it took
35 to 70 ms on a 2-core machine, more than a whole cache hit may cost.
"""

from __future__ import annotations

import os
import time

__all__ = ["FileLock", "LockTimeout"]

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


class LockTimeout(TimeoutError):
    """The lock was still held by another process when the timeout ran out."""


class FileLock:
    """An exclusive lock on ``path`` (created if missing).

    Examples
    --------
    >>> with FileLock("/tmp/ghosthub-doc.lock"):  # doctest: +SKIP
    ...     pass
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._fd: int | None = None

    @property
    def is_locked(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float | None = None, poll: float = 0.05) -> None:
        """Take the lock, waiting at most ``timeout`` seconds (None: for ever); raise LockTimeout."""
        if self._fd is not None:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        # O_NOFOLLOW: a link planted in a shared cache must not make us create or lock a file elsewhere.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            while not _try_lock(fd):
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeout(f"{self.path} is held by another process")
                time.sleep(poll)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except (BlockingIOError, PermissionError):
        return False
    except OSError as exc:
        if fcntl is None and exc.errno in (13, 36):  # EACCES / EDEADLOCK: held elsewhere
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

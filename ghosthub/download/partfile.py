"""The temporary file of one download: claimed, written, hashed and measured in one pass.

Each process downloads into a part file of its own (:mod:`ghosthub.download.parts` names it);
a part a dead process left is taken over and continued, its bytes hashed first. Receiving,
hashing and writing run on three threads, so a download goes at the speed of the slowest.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from .._utils.fs import WRITEBACK_EVERY, atomic_write, read_json, start_writeback
from .._utils.spelling import either, said
from .._utils.urls import redact
from ..constants import CHUNK_SIZE
from ..errors import DownloadError
from . import parts

TYPE_CHECKING = False  # typing stays out of a download's start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LogLines", "PartFile", "Stop", "claim_part", "make_bar"]


def claim_part(target: Path, url: str, settings, progress, *, declared: int | None = None) -> PartFile:
    """A temporary file of this process's own, continuing an abandoned download of ``url`` if any.

    A dead process's part on this host is taken over by renaming it, which only
    one process can do. Another host's stale part is copied instead: its owner
    may still be alive and write to it, and must never share a file with us.
    Parts of other URLs, or without a description of the right shape, are removed when
    their owner is dead, and left to ``cache prune`` when it is elsewhere.
    ``declared`` is the size the card gives for the file (see :func:`allowed_bytes`).
    """
    mine = parts.new_part(target)
    bar = make_bar(target.name, settings, progress)
    abandoned = [p for p in parts.parts_of(target) if parts.is_abandoned(p, settings.lock_timeout)]
    abandoned.sort(key=lambda p: _size(p), reverse=True)
    adopted = None
    for part in abandoned:
        if not parts.is_own_file(part):  # a link or another user's file: never ours to write or read
            continue
        meta = _resume_meta(read_json(parts.part_meta(part)))
        wanted = adopted is None and meta and meta.get("url") == redact(url)
        if parts.is_foreign(part):
            if wanted and _copy_part(part, mine):
                adopted = meta
            continue
        if wanted:
            with contextlib.suppress(FileNotFoundError):
                os.rename(part, mine)
                adopted = meta
        else:
            part.unlink(missing_ok=True)
        parts.part_meta(part).unlink(missing_ok=True)
    try:
        return PartFile(mine, settings.max_size, bar, resume=adopted, declared=declared)
    except OSError as exc:
        mine.unlink(missing_ok=True)
        raise Stop(
            f"cannot write {mine}: {exc.strerror or exc}",
            f"set {either('GHOSTHUB_CACHE', said('cache_dir'))} to a folder you can write",
        ) from None


def _copy_part(part: Path, mine: Path) -> bool:
    """Copy another host's partial download to start ours from; what we copy is hashed from our copy."""
    import shutil

    try:
        with _open_regular(part, os.O_RDONLY) as src, open(mine, "xb") as dst:
            shutil.copyfileobj(src, dst)
        return True
    except OSError:
        mine.unlink(missing_ok=True)
        return False


def _resume_meta(meta: dict | None) -> dict | None:
    """A part's description (``.part.json``) if every key has its type, else None: it is then not resumed.

    Another process writes it, and a user can: an ETag that is a list would go into a header,
    a total that is text into the size checks.
    """
    if meta is None:
        return None
    text = ("url", "etag", "last_modified")
    if not all(meta.get(k) is None or isinstance(meta[k], str) and len(meta[k]) < 8192 for k in text):
        return None
    total = meta.get("total")
    if total is not None and (not isinstance(total, int) or isinstance(total, bool) or not 0 <= total < 1 << 63):
        return None
    ranges = meta.get("ranges")  # checked piece by piece in ranges.py; here only its kind
    return meta if ranges is None or isinstance(ranges, list) else None


def allowed_bytes(max_size: int, declared: int | None, announced: int | None) -> tuple[int, str]:
    """How many bytes one transfer may write, and what sets that: the one rule for every download.

    The least of the size limit (``GHOSTHUB_MAX_SIZE``), the size the card declares for the
    file (``asset-size``: a hub's index gives it) and the size the server announces
    (``Content-Length`` of an unencoded answer, or a local file's size). A compressed answer
    announces no size of the file, so a few kilobytes of gzip stop at the first two.

    Examples
    --------
    >>> allowed_bytes(5 << 30, 1000, None)
    (1000, 'the 1000 bytes the card declares (asset-size, from its hub index)')
    >>> allowed_bytes(5 << 30, None, None)[1]
    'the size limit of 5368709120 bytes (GHOSTHUB_MAX_SIZE)'
    """
    limits = [(max_size, f"the size limit of {max_size} bytes (GHOSTHUB_MAX_SIZE)")]
    if declared is not None:
        limits.append((declared, f"the {declared} bytes the card declares (asset-size, from its hub index)"))
    if announced is not None:
        limits.append((announced, f"the {announced} bytes the server announced (Content-Length)"))
    return min(limits, key=lambda limit: limit[0])


class Stop(DownloadError):
    """A download that must not be retried: too large, no disk space, unreadable source."""

    def __init__(self, reason: str, hint: str):
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason}; {hint}")


class _Stage:
    """A worker thread applying ``work`` to chunks in order.

    Receiving, hashing and writing each release the GIL, so running them on
    three threads lets a download go at the speed of the slowest, not of their
    sum. The first error is kept and raised to the owner by ``check``.
    """

    def __init__(self, work, name: str, depth: int = 16):
        import queue
        import threading

        self.work = work
        self.error: BaseException | None = None
        self.queue: queue.Queue = queue.Queue(depth)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                if self.error is None:  # after an error, drain without working so put() never blocks
                    self.work(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the owner
                self.error = exc
            finally:
                self.queue.task_done()

    def put(self, item) -> None:
        self.check()
        self.queue.put(item)

    def drain(self) -> None:
        """Wait until every chunk put so far is done."""
        self.queue.join()
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()


class PartFile:
    """The temporary file of one download: written, hashed and measured in one pass.

    ``write`` keeps a reference to the chunk until it is hashed and written:
    callers pass fresh ``bytes``, never a buffer they reuse.
    """

    # Starting the flush to disk as the download goes leaves little for the final fsync.
    SYNC_EVERY = WRITEBACK_EVERY

    def __init__(
        self, path: Path, max_size: int, bar, resume: dict[str, Any] | None = None, *, declared: int | None = None
    ):
        self.path = path
        self.max_size = max_size
        self.declared = declared  # the size the card gives for the file, if any
        self.size = 0
        self.digest = _sha256()
        self.etag = self.last_modified = self.validator = None
        self.expected_total: int | None = None
        self.resumed = False
        self.ranges = None  # piece progress of a parallel download (see ranges.py)
        self._bar_factory = bar
        self._bar = None
        self._meta = parts.part_meta(path)
        self._unsynced = 0
        # "xb" (O_EXCL) never follows a link; a taken-over part is opened without following one.
        self._file = open(path, "xb", buffering=0) if resume is None else _open_regular(path, os.O_RDWR)
        if resume is not None:
            if resume.get("ranges") is None:
                self._hash_existing()
            else:  # pieces with holes between them: ranges.py hashes what it continues
                self.ranges = resume["ranges"]
            self.etag, self.last_modified = resume.get("etag"), resume.get("last_modified")
            self.validator = _validator(self.etag, self.last_modified)
            self.expected_total = resume.get("total")
            self.resumed = self.size > 0
        self._hasher = _Stage(lambda chunk: self.digest.update(chunk), "ghosthub-hash")
        self._writer = _Stage(self._write_chunk, "ghosthub-write")

    def _hash_existing(self) -> None:
        """Hash what an earlier process wrote, and continue after it."""
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        while n := self._file.readinto(buffer):
            self.digest.update(view[:n])
            self.size += n

    def begin(self, total: int | None, *, url: str, etag: str | None, last_modified: str | None) -> None:
        """The server answered: check the size against the limits, describe the part for a resume."""
        declared = self.declared
        if declared is not None and total is not None and total != declared:
            raise Stop(
                f"the server announces {total} bytes, but the card declares {declared} (asset-size, from its hub "
                "index); nothing was written",
                "the hub's index and the file it serves disagree: tell the hub's maintainer",
            )
        size = total if total is not None else declared
        if size is not None:
            if size > self.max_size:
                raise Stop(
                    f"the asset is {size} bytes, more than the size limit of {self.max_size}",
                    "set GHOSTHUB_MAX_SIZE higher (e.g. 10G) if the asset is meant to be this large",
                )
            free = _free_space(self.path.parent)
            if size - self.size > free:
                raise Stop(
                    f"not enough disk space: {size - self.size} bytes to write, {free} free in {self.path.parent}",
                    "free some space, or set GHOSTHUB_CACHE to a folder on a larger disk",
                )
        if total is not None:
            self.expected_total = total
        if self.size:
            self.resumed = True
        self.etag, self.last_modified = etag, last_modified
        self.validator = _validator(etag, last_modified)
        meta = {"url": redact(url), "etag": etag, "last_modified": last_modified, "total": total}
        with contextlib.suppress(OSError):  # without it a later process starts over instead of resuming
            atomic_write(self._meta, json.dumps(meta).encode("utf-8"))
        if self._bar is None and self._bar_factory:
            self._bar = self._bar_factory(total, self.size)
        elif self._bar is not None:
            self._bar.reset(total)
            self._bar.update(self.size)

    def write(self, data: bytes) -> None:
        n = len(data)
        limit, what = allowed_bytes(self.max_size, self.declared, self.expected_total)
        if self.size + n > limit:
            if limit == self.max_size:
                raise Stop(
                    f"the asset is larger than the size limit of {self.max_size} bytes",
                    "set GHOSTHUB_MAX_SIZE higher (e.g. 10G) if the asset is meant to be this large",
                )
            raise Stop(
                f"the server sent more than {what} (at least {self.size + n}); the transfer was cut off there",
                "the file is not the one the card describes: tell the hub's maintainer",
            )
        self._put(data)
        self.size += n
        if self._bar is not None:
            self._bar.update(n)

    def _put(self, data: bytes) -> None:
        try:
            self._hasher.put(data)
            self._writer.put(data)
        except OSError as exc:
            raise self._write_error(exc) from None

    def _write_chunk(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # an unbuffered write may take less than all
            view = view[self._file.write(view) :]
        self._unsynced += len(data)
        if self._unsynced >= self.SYNC_EVERY:
            fd, n = self._file.fileno(), self._unsynced
            self._unsynced = 0
            if not start_writeback(fd, self._file.tell() - n, n):
                _datasync(fd)

    def _write_error(self, exc: OSError) -> Stop:
        return Stop(
            f"cannot write {self.path}: {exc.strerror or exc}",
            "free some disk space, or set GHOSTHUB_CACHE to another folder",
        )

    def _drain(self) -> None:
        try:
            self._hasher.drain()
            self._writer.drain()
        except OSError as exc:
            raise self._write_error(exc) from None

    def restart(self) -> None:
        self._drain()
        self._file.seek(0)
        self._file.truncate()
        self.digest = _sha256()
        self.size = 0
        self.resumed = False
        self.validator = None
        self.ranges = None
        if self._bar is not None:
            self._bar.reset()

    def hexdigest(self) -> str:
        self._drain()
        return self.digest.hexdigest()

    def check_size(self) -> None:
        """After the transfer: a file of another size than the card declares is refused, naming both."""
        if self.declared is not None and self.size != self.declared:
            raise Stop(
                f"received {self.size} bytes, but the card declares {self.declared} (asset-size, from its hub index)",
                "the file is not the one the card describes: tell the hub's maintainer",
            )

    def finish(self) -> None:
        """Flush to disk: the file must be whole before it is renamed into place."""
        self._drain()
        os.fsync(self._file.fileno())
        self._close()
        self._meta.unlink(missing_ok=True)

    def keep(self) -> None:
        self._close()

    def discard(self) -> None:
        self._close()
        self.path.unlink(missing_ok=True)
        self._meta.unlink(missing_ok=True)

    def _close(self) -> None:
        self._hasher.stop()
        self._writer.stop()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if not self._file.closed:
            self._file.close()


def make_bar(label: str, settings, progress: bool | None):
    """A function (total, initial) -> progress bar: tqdm's on a terminal, else :class:`LogLines`."""
    from ..config import show_progress

    if not show_progress(progress, settings):
        return lambda total, initial: LogLines(label, total, initial)

    def make(total: int | None, initial: int):
        from .._utils.units import byte_bar

        return byte_bar(total, initial, desc=label, file=sys.stderr, dynamic_ncols=True, leave=False)

    return make


class LogLines:
    """Where no bar is drawn (a pipe, a log file), a large download logs a line when it starts and one when it stops.

    Downloads from :data:`LOG_FROM` bytes (or of unknown size) are long enough to leave a
    pipe silent for a while; smaller ones say nothing. The records go to the
    ``ghosthub.download`` logger at INFO, which the command line shows.
    """

    LOG_FROM = 16 << 20

    def __init__(self, label: str, total: int | None, initial: int) -> None:
        import logging
        import threading
        import time

        self._log = logging.getLogger("ghosthub.download")
        self._lock = threading.Lock()  # a parallel download's connections count at once
        self._clock = time.monotonic
        self.label, self.total, self.n, self.initial = label, total, initial, initial
        self.started = self._clock()
        self.logged = total is None or total >= self.LOG_FROM
        if self.logged:
            known = f"{_binary(total)}" if total is not None else "size not known yet"
            resumed = f", resuming at {_binary(initial)}" if initial else ""
            self._log.info("downloading %s (%s%s)", label, known, resumed)

    def update(self, n: int) -> None:
        with self._lock:
            self.n += n

    def reset(self, total: int | None = None) -> None:
        self.total, self.n = total, 0

    def close(self) -> None:
        if not self.logged:
            return
        self.logged = False  # one closing line, however often close is called
        seconds = max(self._clock() - self.started, 1e-9)
        if self.total is None or self.n >= self.total:
            what = f"{_binary(self.n)} received"
        else:  # failed or interrupted: the error, or the resume, says the rest
            what = f"stopped at {_binary(self.n)} of {_binary(self.total)}"
        rate = _binary((self.n - self.initial) / seconds)
        self._log.info("%s: %s in %.1f s (%s/s)", self.label, what, seconds, rate)


def _binary(n: float) -> str:
    from .._utils.units import size

    return size(n)


def _open_regular(path: Path, flags: int):
    """``path`` opened unbuffered without following a link; refused unless a regular file of this user."""
    import stat

    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        os.close(fd)
        raise OSError(f"{path} is not a regular file of this user")
    return open(fd, "r+b" if flags & os.O_RDWR else "rb", buffering=0)


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except FileNotFoundError:
        return -1


def _sha256():
    import hashlib

    return hashlib.sha256()


def _datasync(fd: int) -> None:
    getattr(os, "fdatasync", os.fsync)(fd)


def _free_space(folder: Path) -> int:
    import shutil

    return shutil.disk_usage(folder).free


def _validator(etag: str | None, last_modified: str | None) -> str | None:
    """The If-Range value: a strong ETag, else Last-Modified (a weak ETag cannot be used)."""
    if etag and not etag.startswith("W/"):
        return etag
    return last_modified

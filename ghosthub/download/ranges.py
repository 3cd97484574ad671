"""Parallel ranged downloads: several connections fill disjoint pieces of one part file.

The first request is the plain GET a single stream sends. When its answer is large
enough (``settings.parallel_min``), the file is cut into pieces that N connections take
in order, each a ``Range``/``If-Range`` request retried alone by the transport's own
loop; the first answer's body fills the first piece. A server that answers a range with
200 (it ignores ranges, or the file changed) ends the pieces: the first answer goes on
as the one stream.

The SHA-256 follows the contiguous prefix as it grows: bytes that land at its end are
hashed from memory, bytes that landed ahead of it are read back (from the page cache)
when the prefix reaches them. Pieces are handed out in order, so the prefix trails the
newest byte by a few pieces and the digest is final a moment after the last byte lands:
the file is never read again after the end. Piece progress is kept in the part's
``.part.json``, so a killed download resumes every piece where it stopped.
"""

from __future__ import annotations

import json
import os
import threading
import time

from .._utils.fs import WRITEBACK_EVERY, atomic_write, start_writeback
from .._utils.urls import redact
from . import parts

__all__ = ["download", "plan"]

MAX_AUTO_CONNECTIONS = 8
MIN_PIECE = 256 << 10
PIECES_PER_CONNECTION = 4
# Memory the hash may lag behind by before it reads bytes back from the page cache instead.
MAX_QUEUED = 64 << 20
PERSIST_EVERY = 0.5  # seconds between saves of piece progress
# With connections left to size themselves, the first answer is timed for PROBE_S first:
# a stream faster than FAST_STREAM (bytes/s) stays one stream, since more connections
# would add work, not speed (a fast link, a local server); a slower one (a capped CDN) is split.
PROBE_S = 0.25
FAST_STREAM = 64 << 20


class _Done(Exception):
    """A piece is complete: ends its response."""


class _Fallback(Exception):
    """The server answered a range with the whole file: pieces cannot be used."""


class _Cancelled(Exception):
    """Another piece failed, or the download was interrupted."""


def connections_for(total: int, settings) -> int:
    """How many connections an asset of ``total`` bytes gets: the setting, or one per 8 MiB, 2 to 8."""
    wanted = getattr(settings, "connections", 0) or 0
    if total < getattr(settings, "parallel_min", 16 << 20):
        return 1
    if wanted:
        return wanted
    return max(2, min(MAX_AUTO_CONNECTIONS, total // (8 << 20)))


def plan(total: int, connections: int) -> list[list[int]]:
    """Pieces ``[start, done, end]`` covering ``total`` bytes: a few per connection, at least MIN_PIECE each.

    Examples
    --------
    >>> pieces = plan(10 << 20, 2)
    >>> len(pieces), pieces[:2], pieces[-1]
    (8, [[0, 0, 1310720], [1310720, 1310720, 2621440]], [9175040, 9175040, 10485760])
    """
    size = max(MIN_PIECE, -(-total // (connections * PIECES_PER_CONNECTION)))
    return [[s, s, min(s + size, total)] for s in range(0, total, size)]


def download(transport, url: str, part, *, origin: str) -> None:
    """Fill ``part`` (a :class:`~ghosthub.download.partfile.PartFile`) from ``url``, over several connections.

    Several connections are used only when they pay (see :func:`plan`).

    Afterwards ``part.hexdigest()`` is the file's digest, as after a single stream.
    """
    saved = getattr(part, "ranges", None)
    if saved is not None:
        pieces = _valid(saved, part.expected_total)
        if pieces and connections_for(part.expected_total, transport.settings) > 1:
            return _resume(transport, url, part, pieces, origin)
        part.restart()  # a piecewise part this run cannot continue: start clean
    first = _FirstSink(transport, url, part, origin)
    try:
        transport.download(url, first, origin=origin)
    except (_Done, _Cancelled):
        pass  # the first piece is done, or another piece failed: finish() tells
    except _Fallback:  # the first piece resumed, and the server now ignores ranges
        first.job.streaming = False
        first.job._fall_back()
    except BaseException:
        if first.job is None:
            raise
        first.job.abort()
        raise
    if first.job is not None:
        first.job.run_worker()  # this thread takes pieces too
        first.job.finish()


def _resume(transport, url: str, part, pieces: list[list[int]], origin: str) -> None:
    total = part.expected_total
    part.begin(total, url=url, etag=part.etag, last_modified=part.last_modified)
    job = _Job(transport, url, origin, part, total, pieces, connections_for(total, transport.settings))
    job.resumed = part.resumed = any(p[1] > p[0] for p in pieces)
    if part._bar is not None:
        part._bar.update(sum(p[1] - p[0] for p in pieces))
    job.start_workers(job.connections - 1)
    job.run_worker()
    job.finish()


def _valid(saved, total) -> list[list[int]] | None:
    """Saved pieces, if they cover ``[0, total)`` in order; else None."""
    try:
        pieces = [[int(s), int(d), int(e)] for s, d, e in saved]
    except (TypeError, ValueError):
        return None
    if not pieces or not total or pieces[0][0] != 0 or pieces[-1][2] != total:
        return None
    for (s, d, e), nxt in zip(pieces, pieces[1:] + [[total]]):
        if not s <= d <= e or e != nxt[0]:
            return None
    return pieces


class _FirstSink:
    """Where the first answer goes: the part itself, or the first piece once the size says pieces pay."""

    def __init__(self, transport, url: str, part, origin: str):
        self.transport, self.url, self.part, self.origin = transport, url, part, origin
        self.job: _Job | None = None

    @property
    def size(self) -> int:
        return self.part.size if self.job is None else self.job.pieces[0][1]

    @property
    def validator(self):
        return self.part.validator

    @property
    def expected_total(self):
        return self.part.expected_total

    @property
    def range_end(self) -> int | None:
        return None if self.job is None else self.job.pieces[0][2]

    def begin(self, total, *, url, etag, last_modified) -> None:
        if self.job is not None:
            return
        self.part.begin(total, url=url, etag=etag, last_modified=last_modified)
        n = connections_for(total, self.transport.settings) if total and not self.part.size else 1
        if n > 1:
            probing = not self.transport.settings.connections
            # While it is timed, the first answer is one piece of the whole file (see _Job._probe).
            job = _Job(
                self.transport,
                self.url,
                self.origin,
                self.part,
                total,
                [[0, 0, total]] if probing else plan(total, n),
                n,
            )
            job.taken[0] = True  # this answer's body is the first piece
            job.streaming = True
            job.probing = probing
            self.job = job
            job.persist(force=True)
            if not job.probing:
                job.start_workers(n - 1)

    def write(self, data) -> None:
        if self.job is None:
            self.part.write(data)
        else:
            self.job.write(0, data)

    def restart(self) -> None:
        if self.job is not None:
            raise _Fallback  # while the first piece resumes: the server now ignores ranges
        self.part.restart()


class _PieceSink:
    """One piece, as the transport sees a download: it resumes at ``size`` and is retried alone."""

    def __init__(self, job: _Job, index: int):
        self.job, self.index = job, index

    @property
    def size(self) -> int:
        return self.job.pieces[self.index][1]

    @property
    def validator(self):
        return self.job.part.validator

    @property
    def expected_total(self):
        return self.job.total

    @property
    def range_end(self) -> int:
        return self.job.pieces[self.index][2]

    def begin(self, total, *, url, etag, last_modified) -> None:
        if total != self.job.total:
            raise _Fallback
        self.job.answered.set()  # a 206 of the right file: the server serves ranges

    def write(self, data) -> None:
        self.job.write(self.index, data)

    def restart(self) -> None:
        raise _Fallback


class _Job:
    """The pieces of one download, the connections filling them, and the hash of their prefix."""

    def __init__(self, transport, url, origin, part, total: int, pieces: list[list[int]], connections: int):
        self.transport, self.url, self.origin, self.part = transport, url, origin, part
        self.total, self.pieces, self.connections = total, pieces, connections
        self.taken = [p[1] >= p[2] for p in pieces]
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.error: BaseException | None = None
        self.fallback = self.cancelled = self.streaming = self.resumed = self.probing = False
        self.first_at: float | None = None
        # Set once a piece is answered 206 (or not): till then the first answer is not cut short.
        self.answered = threading.Event()
        self.fd = os.dup(part._file.fileno())
        self.flushed: dict[int, int] = {}  # piece -> offset up to which writeback was started
        self.hash = _PrefixHash(part.path, pieces)
        self._saved_at = 0.0
        self._persist_lock = threading.Lock()
        with self.lock:
            self.hash.advance()  # a resumed part: hash what is already there

    # ------------------------------------------------------------------ connections

    def start_workers(self, n: int) -> None:
        for i in range(n):
            thread = threading.Thread(target=self.run_worker, name=f"ghosthub-range-{i}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def take(self) -> int | None:
        with self.lock:
            if self.cancelled or self.fallback:
                return None
            for i, taken in enumerate(self.taken):
                if not taken:
                    self.taken[i] = True
                    return i
        return None

    def run_worker(self) -> None:
        while (i := self.take()) is not None:
            try:
                self.transport.download(self.url, _PieceSink(self, i), origin=self.origin)
            except _Done:
                continue
            except _Fallback:
                self._fall_back()
                return
            except _Cancelled:
                return
            except BaseException as exc:  # noqa: BLE001 - handed to the owner in finish()
                with self.lock:
                    self.error = self.error or exc
                    self.cancelled = True
                self.answered.set()
                return
            if self.pieces[i][1] < self.pieces[i][2]:  # the answer ended early and was not retried
                with self.lock:
                    self.error = self.error or _Fallback()
                    self.cancelled = True
                return

    def _fall_back(self) -> None:
        with self.lock:
            if self.fallback:
                return
            self.fallback = True
            if self.streaming and self.pieces[0][1] < self.total:
                # The first answer carries the whole file: let it be the one stream. It rewrites
                # what other pieces wrote after its own position (the same bytes: If-Range tied
                # them to its version), which the hash has taken once already.
                self.pieces[:] = [[0, self.pieces[0][1], self.total]]
                self.taken = [True]
                self.hash.index = 0
            else:
                self.cancelled = True
        self.answered.set()

    def write(self, index: int, data) -> None:
        view = memoryview(data)
        while view:
            view = self._write_within(index, view)

    def _write_within(self, index: int, view: memoryview) -> memoryview:
        """Write what of ``view`` fits piece ``index``; what is left over for the piece that follows it.

        Raises _Done when the piece is complete, _Cancelled when it was given up.
        """
        with self.lock:
            if self.cancelled or index >= len(self.pieces) or (self.fallback and index):
                raise _Cancelled  # given up, or given up for the one stream
            piece = self.pieces[index]
        start, done, end = piece
        n = min(len(view), end - done)
        offset, left = done, view[:n]
        while left:
            written = os.pwrite(self.fd, left, offset)
            offset += written
            left = left[written:]
        with self.lock:
            current = self.pieces[index] if index < len(self.pieces) else None
            if current is not piece:
                # The pieces were given up while this wrote; the first answer goes on as the one stream.
                if index or current is None or current[1] != done:
                    raise _Cancelled
                piece = current
            piece[1] = done + n
            self.hash.landed(done, view[:n])
            flushed = self.flushed.get(index, start)
        if piece[1] - flushed >= WRITEBACK_EVERY or piece[1] >= piece[2]:
            self.flushed[index] = piece[1]
            start_writeback(self.fd, flushed, piece[1] - flushed)  # the final fsync then waits for little
        bar = self.part._bar
        if bar is not None:
            bar.update(n)
        self.persist()
        if index == 0 and self.probing:
            self._probe(piece)
        if piece[1] >= piece[2]:
            if index == 0 and self.streaming:
                # If the server turns out to ignore ranges, this answer must go on as the one stream.
                self.answered.wait(self.transport.settings.read_timeout)
                with self.lock:
                    extended = self.pieces[0] is not piece
                    self.streaming = extended
                if extended:
                    return view[n:]
            raise _Done
        return view[n:]  # more than the piece held when this began: it became the one stream

    def _probe(self, piece: list[int]) -> None:
        """Time the first answer for PROBE_S; then let it be the one stream, or split what is left."""
        if piece[1] >= self.total:  # done before it could be timed
            self.probing = False
            self.answered.set()
            return
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
        elapsed = now - self.first_at
        if elapsed < PROBE_S:
            return
        self.probing = False
        if piece[1] >= FAST_STREAM * elapsed:
            self.answered.set()  # fast enough alone: nothing to wait for at the end
            return
        with self.lock:  # the first answer keeps the first piece of what is left; connections share the rest
            rest = [
                [s + piece[1], s + piece[1], e + piece[1]] for s, _, e in plan(self.total - piece[1], self.connections)
            ]
            piece[2] = rest[0][2]
            self.pieces[1:] = rest[1:]
            self.taken = [True] + [False] * (len(rest) - 1)
        self.persist(force=True)
        self.start_workers(self.connections - 1)

    # ------------------------------------------------------------------ the end

    def persist(self, force: bool = False) -> None:
        """Save piece progress beside the part, so a killed download resumes each piece."""
        now = time.monotonic()
        if not force and now - self._saved_at < PERSIST_EVERY:
            return
        if not self._persist_lock.acquire(blocking=force):
            return
        try:
            self._saved_at = now
            with self.lock:
                pieces = [list(p) for p in self.pieces]
            part = self.part
            meta = {
                "url": redact(self.url),
                "etag": part.etag,
                "last_modified": part.last_modified,
                "total": self.total,
                "ranges": pieces,
            }
            atomic_write(parts.part_meta(part.path), json.dumps(meta).encode(), sync=False)
        except OSError:
            pass  # progress not saved: a resume starts over, nothing is wrong
        finally:
            self._persist_lock.release()

    def abort(self) -> None:
        """Stop every connection, keep what landed (for a resume), release what can be released."""
        with self.lock:
            self.cancelled = True
        self.answered.set()
        for thread in self.threads:
            thread.join(timeout=1.0)
        self.persist(force=True)
        self.hash.stop()
        if not any(t.is_alive() for t in self.threads):
            os.close(self.fd)

    def finish(self) -> None:
        """Wait for every piece; hand the digest to the part, or fall back to one stream."""
        try:
            for thread in self.threads:
                while thread.is_alive():
                    thread.join(timeout=PERSIST_EVERY)
                    self.persist()
        except BaseException:
            self.abort()
            raise
        complete = all(p[1] >= p[2] for p in self.pieces) and self.pieces[-1][2] == self.total
        if self.error is not None or not complete:
            self.abort()
            if self.error is not None and not isinstance(self.error, _Fallback):
                raise self.error
            part = self.part
            part.restart()  # the server does not serve ranges after all: one stream, from the start
            return self.transport.download(self.url, part, origin=self.origin)
        digest = self.hash.finish(self.total)
        os.close(self.fd)
        part = self.part
        part.digest, part.size, part.ranges = digest, self.total, None
        part.resumed = part.resumed or self.resumed


class _PrefixHash:
    """The SHA-256 of the contiguous prefix, on a thread of its own.

    ``frontier`` is how far bytes are hashed or queued to be. A chunk landing
    right there is queued from memory; a piece already filled beyond it is
    queued as a read of that span. Each byte is hashed exactly once.
    """

    def __init__(self, path, pieces: list[list[int]]):
        import hashlib
        import queue

        self.digest = hashlib.sha256()
        self.pieces = pieces
        self.frontier = 0
        self.index = 0
        self.queued = self.hashed = 0  # bytes queued from memory / hashed from memory: one writer each
        self.read_back = 0  # bytes read from the file (page cache)
        self.error: BaseException | None = None
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="ghosthub-range-hash", daemon=True)
        self.thread.start()

    def landed(self, offset: int, data: memoryview) -> None:
        """``data`` was written at ``offset`` (called under the job's lock).

        Bytes before the frontier were hashed already (a piece the one stream rewrote after a fall-back).
        """
        end = offset + len(data)
        if offset <= self.frontier < end and self.queued - self.hashed < MAX_QUEUED:
            data = data[self.frontier - offset :]
            self.queue.put(data)
            self.queued += len(data)
            self.frontier = end
        self.advance()

    def advance(self) -> None:
        """Queue reads of spans written ahead of the frontier that it has now reached."""
        pieces = self.pieces
        while self.index < len(pieces):
            start, done, end = pieces[self.index]
            if self.frontier >= end:
                self.index += 1
            elif start <= self.frontier < done:
                self.queue.put((self.frontier, done))
                self.frontier = done
            else:
                return

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                if isinstance(item, tuple):
                    self._read(*item)
                else:
                    self.digest.update(item)
                    self.hashed += len(item)
            except BaseException as exc:  # noqa: BLE001 - raised by finish()
                self.error = exc

    def _read(self, start: int, stop: int) -> None:
        while start < stop:
            data = os.pread(self.fd, min(4 << 20, stop - start), start)
            if not data:
                raise OSError(f"the part file ended at {start} bytes, {stop} expected")
            self.digest.update(data)
            self.read_back += len(data)
            start += len(data)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def finish(self, total: int):
        self.stop()
        if self.error is not None:
            raise self.error
        if self.frontier != total:
            raise RuntimeError(f"internal error: hashed {self.frontier} of {total} bytes")
        return self.digest

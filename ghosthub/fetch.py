"""Fetching a card's asset into the cache: lock, temporary file, verification, then replace.

The cache never shows a file that was not verified: every download goes to a
process-unique temporary file in the asset's folder, hashed while it is written,
checked against Content-Length and the card's digest, flushed to disk, and only
then moved into place with ``os.replace``. A cache hit opens no connection and
imports nothing of the network stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import warnings
from pathlib import Path

TYPE_CHECKING = False  # typing stays out of a download's start-up
if TYPE_CHECKING:
    from typing import Any, Iterator

from . import cache
from .card import Asset, ModelCard
from .errors import DownloadError, HashMismatchError, LinkError, OfflineError
from .hashes import CHUNK_SIZE, hash_matches, is_weak, normalize_digest

__all__ = ["FetchWarning", "WeakHashWarning", "fetch_asset", "resolve_link"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_warned_weak: set[tuple[str, str]] = set()


class FetchWarning(UserWarning):
    """Something went wrong and ghosthub recovered: a corrupt cached file, a failing mirror, a stale lock."""


class WeakHashWarning(FetchWarning):
    """A card gives only a prefix of the SHA-256: it identifies the file but cannot rule out a forged one."""


# --------------------------------------------------------------------------- public


def resolve_link(card: ModelCard, asset: Asset) -> str | Path:
    """Where ``asset`` comes from: an http(s) URL, or a local file for ``file://`` and relative links.

    A relative link is relative to the card's own file. Any other scheme, and a
    bare absolute path, raise LinkError.

    Examples
    --------
    >>> from ghosthub import get_card
    >>> card = get_card("ghostnet_050")
    >>> resolve_link(card, card.weights_asset()).startswith("https://")
    True
    """
    link = asset.link.strip()
    match = _SCHEME.match(link)
    scheme = match[1].lower() if match and len(match[1]) > 1 else None  # "C:" is a drive, not a scheme
    if scheme in ("http", "https"):
        return link
    if scheme == "file":
        from urllib.parse import unquote, urlsplit
        from urllib.request import url2pathname

        parts = urlsplit(link)
        if parts.netloc not in ("", "localhost"):
            raise LinkError(f"{_card(card)}: asset link {link} names another machine; only local file:// links are read")
        return Path(url2pathname(unquote(parts.path)))
    if scheme is None and not os.path.isabs(link) and not link.startswith(("/", "\\")):
        if card.path is None:
            raise LinkError(f"{_card(card)}: asset link {link!r} is relative, but the card has no file to be relative to")
        return Path(card.path).parent / link
    raise LinkError(
        f"{_card(card)}: asset link {link!r} is not supported; "
        "use an https:// or http:// URL, a file:// URL, or a path relative to the card file"
    )


def fetch_asset(
    card: ModelCard,
    asset: Asset | None = None,
    *,
    settings,
    force_download: bool = False,
    progress: bool | None = None,
) -> Path:
    """The verified local file of ``asset`` (default: the card's weights asset), downloading it if needed.

    Parameters
    ----------
    card : the model card; its ``path`` anchors relative links.
    asset : one of ``card.assets``; by default ``card.weights_asset()``.
    settings : :class:`ghosthub.config.Settings` (cache folder, offline, mirrors, token, limits).
    force_download : fetch again even when a verified copy is cached.
    progress : show a progress bar on a terminal; None follows ``settings.progress``.

    Returns
    -------
    Path of the cached file, whose SHA-256 matches the card's ``asset-sha256``.

    Raises
    ------
    OfflineError : not cached, and ``settings.offline`` forbids the network.
    HashMismatchError : the downloaded bytes do not match the card.
    DownloadError : the transfer failed after the configured tries.
    LinkError : the card's link or name is not one ghosthub fetches or stores.

    Examples
    --------
    >>> from ghosthub import config, get_card
    >>> path = fetch_asset(get_card("ghostnet_050"), settings=config.settings())  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'ghostnet_050-ae7771cb-910v2.ckpt'
    """
    asset = asset or card.weights_asset()
    target = cache.asset_path(settings.cache_dir, card, asset)
    source = resolve_link(card, asset)
    if not force_download and _serve_cached(card, asset, target):
        return target
    if settings.offline and isinstance(source, str):
        raise OfflineError(
            f"{_card(card)}: the asset is not in the cache and offline mode forbids the network "
            f"(GHOSTHUB_OFFLINE=1 or offline=True). URL: {_redact(source)}. It would be cached at {target}. "
            f"What to do: run `ghosthub download {card.name}` where the network is allowed, "
            f"or copy the file to that path and run `ghosthub verify {card.name}`.",
            card=card.name,
            url=_redact(source),
            path=target,
        )
    _make_folder(card, target, settings)
    _warn_if_weak(card, asset)
    with _download_lock(target, settings, wait_for=None if force_download else asset.sha256):
        if not force_download and _serve_cached(card, asset, target):
            return target
        return _download(card, asset, source, target, settings, progress)


# --------------------------------------------------------------------------- cache hits


def _serve_cached(card: ModelCard, asset: Asset, target: Path) -> bool:
    """True when ``target`` holds the verified asset; a corrupt file is removed, with a warning.

    The cheap check (size, mtime and digest recorded when it was last hashed)
    decides almost always; a file changed since then is hashed again in full.
    """
    vouched = cache.is_vouched(target, asset.sha256)
    if vouched is None:
        return False
    if vouched:
        return True
    ok, actual = cache.rehash(target, asset)
    if ok:
        return True
    warnings.warn(
        f"{_card(card)}: the cached file {target} is corrupt (SHA-256 {actual}, expected {asset.sha256}); "
        "removing it and fetching it again",
        FetchWarning,
        stacklevel=3,
    )
    cache.remove_cached(target)
    return False


# --------------------------------------------------------------------------- downloading


def _download(card: ModelCard, asset: Asset, source: str | Path, target: Path, settings, progress: bool | None) -> Path:
    """Download from the mirrors, then the origin; the first verified copy wins."""
    if isinstance(source, Path):
        return _download_from(source, card, asset, target, settings, progress, None)
    from .transport import Transport, mirror_urls

    urls = mirror_urls(source, settings.mirrors)
    with Transport(settings) as transport:
        for url in urls[:-1]:
            try:
                return _download_from(url, card, asset, target, settings, progress, transport)
            except DownloadError as exc:
                warnings.warn(f"mirror failed, trying the origin {_redact(source)}: {exc}", FetchWarning, stacklevel=4)
        return _download_from(source, card, asset, target, settings, progress, transport)


def _download_from(url: str | Path, card, asset, target: Path, settings, progress, transport) -> Path:
    """One source into the cache: claim a part file, transfer and verify it, then move it into place."""
    try:
        sink = _claim_part(target, str(url), settings, progress)
    except _Stop as exc:
        raise _failure(card, asset, url, target, exc) from None
    try:
        try:
            actual = _transfer_verified(url, card, asset, target, sink, transport)
        except DownloadError as exc:
            if exc.card is None and hasattr(exc, "hint"):  # add the card and the cache path
                raise _failure(card, asset, url, target, exc) from None
            raise
        sink.finish()
        try:
            stat = os.stat(sink.path)
            record = {"name": card.name, "card": str(card.path) if card.path else None, "link": asset.link, "url": _redact(str(url))}
            record.update(size=stat.st_size, sha256=actual, etag=sink.etag, last_modified=sink.last_modified)
            record.update(mtime_ns=stat.st_mtime_ns, verified_at=cache.now())
            cache.write_record(target, record)  # before the file: a visible file is always vouched for
            os.replace(sink.path, target)
        except FileNotFoundError:
            raise DownloadError(
                f"{_card(card)}: the temporary file {sink.path} was removed while downloading "
                "(by `ghosthub cache prune` or `cache clear` elsewhere?); run the command again",
                card=card.name,
                url=_redact(str(url)),
                path=target,
            ) from None
    except KeyboardInterrupt:
        sink.keep()  # an interrupted download is resumed by the next call
        raise
    except BaseException:
        sink.discard()
        raise
    _fsync_folder(target.parent)
    return target


def _transfer_verified(url: str | Path, card, asset, target: Path, sink: "_PartFile", transport) -> str:
    """Fill ``sink`` from ``url`` and return its digest, which matches the card, or raise."""
    for _ in range(2):
        if transport is None:
            _copy_local(url, sink)
        else:
            transport.download(url, sink, origin=asset.link)
        actual = sink.hexdigest()
        if hash_matches(asset.sha256, actual):
            return actual
        if not sink.resumed:
            break
        # Bytes kept from an earlier try may belong to an older file: one clean try.
        warnings.warn(f"{_card(card)}: a resumed download did not verify; downloading it again from the start", FetchWarning, stacklevel=5)
        sink.restart()
    raise _mismatch(card, asset, url, target, actual)


def _copy_local(source: Path, sink: "_PartFile") -> None:
    try:
        f = open(source, "rb", buffering=0)
    except OSError as exc:
        raise _Stop(f"cannot read {source}: {exc.strerror or exc}", "check the asset link in the card") from None
    with f:
        sink.begin(os.fstat(f.fileno()).st_size, url=str(source), etag=None, last_modified=None)
        while chunk := f.read(CHUNK_SIZE):
            sink.write(chunk)


def _claim_part(target: Path, url: str, settings, progress) -> "_PartFile":
    """A temporary file of this process's own, continuing an abandoned download of ``url`` if any.

    A dead process's part on this host is taken over by renaming it, which only
    one process can do. Another host's stale part is copied instead: its owner
    may still be alive and write to it, and must never share a file with us.
    Parts of other URLs, or without a readable description, are removed when
    their owner is dead, and left to ``cache prune`` when it is elsewhere.
    """
    mine = cache.new_part(target)
    bar = _bar_factory(target.name, settings, progress)
    parts = [p for p in cache.parts_of(target) if cache.is_abandoned(p, settings.lock_timeout)]
    parts.sort(key=lambda p: _size(p), reverse=True)
    adopted = None
    for part in parts:
        meta = _read_json(cache.part_meta(part))
        wanted = adopted is None and meta and meta.get("url") == _redact(url)
        if cache.is_foreign(part):
            if wanted and _copy_part(part, mine):
                adopted = meta
            continue
        if wanted:
            with contextlib.suppress(FileNotFoundError):
                os.rename(part, mine)
                adopted = meta
        else:
            part.unlink(missing_ok=True)
        cache.part_meta(part).unlink(missing_ok=True)
    try:
        return _PartFile(mine, settings.max_size, bar, resume=adopted)
    except OSError as exc:
        mine.unlink(missing_ok=True)
        raise _Stop(f"cannot write {mine}: {exc.strerror or exc}", "set GHOSTHUB_CACHE (or cache_dir=) to a folder you can write") from None


def _copy_part(part: Path, mine: Path) -> bool:
    """Copy another host's partial download to start ours from; what we copy is hashed from our copy."""
    import shutil

    try:
        shutil.copyfile(part, mine)
        return True
    except OSError:
        mine.unlink(missing_ok=True)
        return False


@contextlib.contextmanager
def _download_lock(target: Path, settings, wait_for: str | None) -> Iterator[bool]:
    """Hold the asset's cross-process lock; yields whether it is held.

    While waiting, a verified file appearing ends the wait (the holder finished).
    A holder whose download has not moved for ``settings.lock_timeout`` seconds
    (a kill on a file system where locks outlive their process, e.g. NFS) is
    not waited for any longer: the private temporary file keeps both safe.
    """
    from .lock import FileLock, LockTimeout

    lock = FileLock(cache.lock_path(target))
    held = False
    activity, quiet_since = _activity(target), time.monotonic()
    while True:
        try:
            lock.acquire(timeout=0.25)
            held = True
            break
        except LockTimeout:
            pass
        except (OSError, NotImplementedError) as exc:
            warnings.warn(f"cannot lock {cache.lock_path(target)} ({exc}); downloading without the lock", FetchWarning, stacklevel=4)
            break
        if wait_for and cache.is_vouched(target, wait_for):
            break
        now = _activity(target)
        if now != activity:
            activity, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since > settings.lock_timeout:
            warnings.warn(
                f"{cache.lock_path(target)} is held but no download has moved for {settings.lock_timeout:g} s; "
                "going on without it",
                FetchWarning,
                stacklevel=4,
            )
            break
    try:
        yield held
    finally:
        if held:
            lock.release()


def _activity(target: Path) -> list[tuple[str, int, int]]:
    """What the partial downloads of ``target`` look like now: it changes while one is moving."""
    found = []
    for part in cache.parts_of(target):
        with contextlib.suppress(FileNotFoundError):
            stat = part.stat()
            found.append((part.name, stat.st_size, stat.st_mtime_ns))
    return sorted(found)


class _Stop(DownloadError):
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
        self.queue: "queue.Queue" = queue.Queue(depth)
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


class _PartFile:
    """The temporary file of one download: written, hashed and measured in one pass.

    ``write`` keeps a reference to the chunk until it is hashed and written:
    callers pass fresh ``bytes``, never a buffer they reuse.
    """

    # Flushing to disk as the download goes leaves little for the final fsync.
    SYNC_EVERY = 32 << 20

    def __init__(self, path: Path, max_size: int, bar, resume: dict[str, Any] | None = None):
        self.path = path
        self.max_size = max_size
        self.size = 0
        self.digest = _sha256()
        self.etag = self.last_modified = self.validator = None
        self.expected_total: int | None = None
        self.resumed = False
        self._bar_factory = bar
        self._bar = None
        self._meta = cache.part_meta(path)
        self._unsynced = 0
        self._file = open(path, "xb" if resume is None else "r+b", buffering=0)
        if resume is not None:
            self._hash_existing()
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
        if total is not None:
            if total > self.max_size:
                raise _Stop(
                    f"the asset is {total} bytes, more than the size limit of {self.max_size}",
                    "set GHOSTHUB_MAX_SIZE higher (e.g. 10G) if the asset is meant to be this large",
                )
            free = _free_space(self.path.parent)
            if total - self.size > free:
                raise _Stop(
                    f"not enough disk space: {total - self.size} bytes to write, {free} free in {self.path.parent}",
                    "free some space, or set GHOSTHUB_CACHE to a folder on a larger disk",
                )
            self.expected_total = total
        if self.size:
            self.resumed = True
        self.etag, self.last_modified = etag, last_modified
        self.validator = _validator(etag, last_modified)
        meta = {"url": _redact(url), "etag": etag, "last_modified": last_modified, "total": total}
        with contextlib.suppress(OSError):
            self._meta.write_text(json.dumps(meta), encoding="utf-8")
        if self._bar is None and self._bar_factory:
            self._bar = self._bar_factory(total, self.size)
        elif self._bar is not None:
            self._bar.reset(total)
            self._bar.update(self.size)

    def write(self, data: bytes) -> None:
        n = len(data)
        if self.size + n > self.max_size:
            raise _Stop(
                f"the asset is larger than the size limit of {self.max_size} bytes",
                "set GHOSTHUB_MAX_SIZE higher (e.g. 10G) if the asset is meant to be this large",
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
            self._unsynced = 0
            _datasync(self._file.fileno())

    def _write_error(self, exc: OSError) -> _Stop:
        return _Stop(f"cannot write {self.path}: {exc.strerror or exc}", "free some disk space, or set GHOSTHUB_CACHE to another folder")

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
        if self._bar is not None:
            self._bar.reset()

    def hexdigest(self) -> str:
        self._drain()
        return self.digest.hexdigest()

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


# --------------------------------------------------------------------------- helpers


def _bar_factory(label: str, settings, progress: bool | None):
    """A function (total, initial) -> progress bar, or None when no bar is wanted."""
    from .config import show_progress

    if not show_progress(progress, settings):
        return None

    def make(total: int | None, initial: int):
        from tqdm import tqdm

        return tqdm(
            total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
            desc=label, file=sys.stderr, dynamic_ncols=True, leave=False,
        )  # fmt: skip

    return make


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


def _warn_if_weak(card: ModelCard, asset: Asset) -> None:
    key = (card.name, asset.link)
    if is_weak(asset.sha256) and key not in _warned_weak:
        _warned_weak.add(key)
        digits = len(normalize_digest(asset.sha256))
        warnings.warn(
            f"{_card(card)}: asset-sha256 {asset.sha256} has {digits} of 64 hex digits; it is checked as a prefix, "
            "which catches corrupt downloads but not a deliberately forged file. A card with the full digest is safer.",
            WeakHashWarning,
            stacklevel=4,
        )


def _make_folder(card: ModelCard, target: Path, settings) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"{_card(card)}: cannot create the cache folder {target.parent} ({exc.strerror or exc}); "
            "set GHOSTHUB_CACHE (or cache_dir=) to a folder you can write",
            card=card.name,
            path=target,
        ) from None
    cache.ensure_inside(cache.assets_root(settings.cache_dir), target)


def _mismatch(card, asset, url, target, actual) -> HashMismatchError:
    return HashMismatchError(
        f"{_card(card)}: the SHA-256 of the file downloaded from {_redact(str(url))} does not match the card: "
        f"expected {asset.sha256.lower()} (as a prefix) but got {actual}. The download was deleted for safety; "
        f"nothing was stored at {target}. The file at the URL may be corrupt or replaced, or the card's asset-sha256 "
        f"may be outdated: try again with `ghosthub download --force {card.name}` (force_download=True), "
        f"check GHOSTHUB_MIRROR if you use one, or tell the card's author.",
        expected=asset.sha256.lower(),
        actual=actual,
        card=card.name,
        url=_redact(str(url)),
        path=target,
    )


def _failure(card, asset, url, target, exc) -> DownloadError:
    return DownloadError(
        f"{_card(card)}: cannot download its {asset.file_format} asset from {_redact(str(url))}: {exc.reason}. "
        f"It would be cached at {target}. What to do: {exc.hint}.",
        card=card.name,
        url=_redact(str(url)),
        path=target,
    )


def _card(card: ModelCard) -> str:
    name = card.fields.get("model-name")
    return f"card {name!r} ({card.path})" if card.path else f"card {name!r}"


def _redact(url: str) -> str:
    if "@" not in url and "?" not in url:
        return url
    from .transport import redact

    return redact(url)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; not every platform can open a folder."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

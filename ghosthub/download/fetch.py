"""Fetching a card's asset into the cache: lock, temporary file, verification, then replace.

The cache never shows a file that was not verified: every download goes to a
process-unique temporary file in the asset's folder, hashed while it is written,
checked against Content-Length and the card's digest, flushed to disk, and only
then moved into place with ``os.replace``. A cache hit opens no connection and
imports nothing of the network stack.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from .._utils.fs import commit
from .._utils.hashes import hash_matches, is_weak, normalize_digest
from .._utils.spelling import either, said
from .._utils.urls import redact as _redact
from .._utils.warn import warn
from ..constants import CHUNK_SIZE
from ..errors import (
    DownloadError,
    FetchWarning,
    HashMismatchError,
    LinkError,
    OfflineError,
    WeakHashWarning,
    shorten,
)
from ..modelcard import Asset, ModelCard
from . import parts, ranges
from .cache import Cache
from .layout import assets_root, ensure_inside, is_vouched, lock_path
from .partfile import PartFile, Stop, claim_part

TYPE_CHECKING = False  # typing stays out of a download's start-up
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["fetch_asset", "resolve_link"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_warned_weak: set[tuple[str, str]] = set()


# --------------------------------------------------------------------------- public


def resolve_link(card: ModelCard, asset: Asset, *, remote: bool = False) -> str | Path:
    """Where ``asset`` comes from: an http(s) URL, or a local file for ``file://`` and relative links.

    A relative link is relative to the card's own file. Any other scheme, and a
    bare absolute path, raise LinkError. A ``remote`` card (one a URL hub
    served) may only link http(s) URLs: a hub never makes ghosthub read this
    machine's files.

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
    if scheme == "s3" and (not remote or _own_bucket(card, link)):
        return link  # fetched with a presigned GET from the configured endpoint (download/s3.py)
    if remote:
        raise LinkError(
            f"{_card(card)}: asset link {shorten(_redact(link), 200, quoted=True)} is refused: this card came from a "
            "remote hub, whose links may only be http(s) URLs (file:// links and paths are for cards in your own "
            "folders). Nothing was read; tell the hub's maintainer, or remove the hub from GHOSTHUB_HUB/--hub"
        )
    if scheme == "file":
        from urllib.parse import unquote, urlsplit
        from urllib.request import url2pathname

        parts = urlsplit(link)
        if parts.netloc not in ("", "localhost"):
            raise LinkError(
                f"{_card(card)}: asset link {link} names another machine; only local file:// links are read"
            )
        return Path(url2pathname(unquote(parts.path)))
    if scheme is None and not os.path.isabs(link) and not link.startswith(("/", "\\")):
        if card.path is None:
            raise LinkError(
                f"{_card(card)}: asset link {shorten(link, 200, quoted=True)} is relative, but the card has no "
                "file to be relative to"
            )
        return Path(card.path).parent / link
    raise LinkError(
        f"{_card(card)}: asset link {shorten(link, 200, quoted=True)} is not supported; "
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

    A cached copy is served by one question to the cache, :meth:`ghosthub.download.cache.Cache.get`
    (a file below ``settings.rehash_below`` is hashed first); only a miss resolves the link,
    takes the download lock and fetches.

    Parameters
    ----------
    card : ModelCard or CardEntry
        The model card; its ``path`` anchors relative links.
    asset : Asset, optional
        One of ``card.assets``; by default ``card.weights_asset()``.
    settings : Settings
        :class:`ghosthub.config.Settings` (cache folder, offline, mirrors, token, limits).
    force_download : bool
        Fetch again even when a verified copy is cached.
    progress : bool, optional
        Show a progress bar on a terminal; None follows ``settings.progress``.

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
    store = Cache(settings)
    if not force_download:
        hit = store.get(card, asset)  # the one question a cache hit asks
        if hit is not None:
            return hit
    target = store.path(card, asset)
    source = resolve_link(card, asset, remote=store.is_remote_card(card))
    if settings.offline and isinstance(source, str):
        raise OfflineError(
            f"{_card(card)}: the asset is not in the cache and offline mode forbids the network "
            f"({either('GHOSTHUB_OFFLINE=1', said('offline', True))}). URL: {_redact(source)}. "
            f"It would be cached at {target}. "
            f"What to do: run `ghosthub download {card.name}` where the network is allowed, "
            f"or copy the file to that path and run `ghosthub verify {card.name}`.",
            card=card.name,
            url=_redact(source),
            path=target,
        )
    _make_folder(card, target, settings)
    with _download_lock(target, settings, wait_for=None if force_download else asset.sha256):
        if not force_download and store.get(card, asset) is not None:  # another process fetched it meanwhile
            return target
        path = _download(card, asset, source, target, settings, progress, store)
    _warn_if_weak(card, asset)  # once a download matched the prefix: a failed one has its error to say
    return path


# --------------------------------------------------------------------------- downloading


def _download(
    card: ModelCard, asset: Asset, source: str | Path, target: Path, settings, progress: bool | None, store: Cache
) -> Path:
    """Download from the mirrors, then the origin; the first verified copy wins."""
    if isinstance(source, Path):
        return _download_from(source, card, asset, target, settings, progress, None, store)
    from .transport import Transport, mirror_urls  # requests: only a download pays for importing it

    urls = mirror_urls(source, settings.mirrors)
    with Transport(settings) as transport:
        for url in urls[:-1]:
            try:
                return _download_from(url, card, asset, target, settings, progress, transport, store)
            except DownloadError as exc:
                warn(f"mirror failed, trying the origin {_redact(source)}: {exc}", FetchWarning)
        if source[:5].lower() == "s3://":
            # One transfer path for every place: the store's object through the verified, resumable HTTP
            # transfer, with a presigned GET (its signature is in the query, which every message redacts).
            from .s3 import presigned_get

            source = presigned_get(source, settings)
        return _download_from(source, card, asset, target, settings, progress, transport, store)


def _download_from(url: str | Path, card, asset, target: Path, settings, progress, transport, store: Cache) -> Path:
    """One source into the cache: claim a part file, transfer and verify it, then move it into place."""
    try:
        sink = claim_part(target, str(url), settings, progress, declared=asset.size)
    except Stop as exc:
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
            record = {
                "name": card.name,
                "card": str(card.path) if card.path else None,
                "link": _redact(asset.link),
                "url": _redact(str(url)),
            }
            record.update(sha256=actual, etag=sink.etag, last_modified=sink.last_modified)
            commit(sink.path, target)  # rename, then sync the folder so the rename survives a crash
            store.store(target, record)
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
    return target


def _transfer_verified(url: str | Path, card, asset, target: Path, sink: PartFile, transport) -> str:
    """Fill ``sink`` from ``url`` and return its digest, which matches the card, or raise."""
    for _ in range(2):
        if transport is None:
            _copy_local(url, sink)
        else:
            ranges.download(transport, url, sink, origin=asset.link)
        sink.check_size()
        actual = sink.hexdigest()
        if hash_matches(asset.sha256, actual):
            return actual
        if not sink.resumed:
            break
        # Bytes kept from an earlier try may belong to an older file: one clean try.
        warn(f"{_card(card)}: a resumed download did not verify; downloading it again from the start", FetchWarning)
        sink.restart()
    raise _mismatch(card, asset, url, target, actual)


def _copy_local(source: Path, sink: PartFile) -> None:
    try:
        f = open(source, "rb", buffering=0)
    except OSError as exc:
        raise Stop(f"cannot read {source}: {exc.strerror or exc}", "check the asset link in the card") from None
    with f:
        sink.begin(os.fstat(f.fileno()).st_size, url=str(source), etag=None, last_modified=None)
        while chunk := f.read(CHUNK_SIZE):
            sink.write(chunk)


@contextlib.contextmanager
def _download_lock(target: Path, settings, wait_for: str | None) -> Iterator[bool]:
    """Hold the asset's cross-process lock; yields whether it is held.

    While waiting, a verified file appearing ends the wait (the holder finished).
    A holder whose download has not moved for ``settings.lock_timeout`` seconds
    (a kill on a file system where locks outlive their process, e.g. NFS) is
    not waited for any longer: the private temporary file keeps both safe.
    """
    from .._utils.lock import FileLock, LockTimeout

    lock = FileLock(lock_path(target))
    held = False
    activity, quiet_since = parts.activity(target), time.monotonic()
    while True:
        try:
            lock.acquire(timeout=0.25)
            held = True
            break
        except LockTimeout:
            pass
        except (OSError, NotImplementedError) as exc:
            warn(f"cannot lock {lock_path(target)} ({exc}); downloading without the lock", FetchWarning)
            break
        if wait_for and is_vouched(target, wait_for):
            break
        now = parts.activity(target)
        if now != activity:
            activity, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since > settings.lock_timeout:
            warn(
                f"{lock_path(target)} is held but no download has moved for {settings.lock_timeout:g} s; "
                "going on without it",
                FetchWarning,
            )
            break
    try:
        yield held
    finally:
        if held:
            lock.release()


# --------------------------------------------------------------------------- helpers


def _own_bucket(card: ModelCard, link: str) -> bool:
    """Whether ``link`` (s3://) lies in the bucket of the s3 hub whose cached copy ``card`` belongs to."""
    from .._utils.fs import read_json

    path = getattr(card, "path", None)
    hub = str((read_json(Path(path).parent.parent / "hub.json") or {}).get("url", "")) if path else ""
    bucket = link[5:].partition("/")[0]
    return hub[:5].lower() == "s3://" and bool(bucket) and hub[5:].partition("/")[0] == bucket


def _warn_if_weak(card: ModelCard, asset: Asset) -> None:
    """One line, once per process and asset: a prefix of the digest matched, which rules out corruption only."""
    key = (card.name, asset.link)
    if is_weak(asset.sha256) and key not in _warned_weak:
        _warned_weak.add(key)
        digits = len(normalize_digest(asset.sha256))
        warn(
            f"{card.name}: its card gives {digits} of the 64 hex digits of the SHA-256; the download matches them, "
            "which rules out a corrupt file but not a forged one",
            WeakHashWarning,
        )


def _make_folder(card: ModelCard, target: Path, settings) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"{_card(card)}: cannot create the cache folder {target.parent} ({exc.strerror or exc}); "
            f"set {either('GHOSTHUB_CACHE', said('cache_dir'))} to a folder you can write",
            card=card.name,
            path=target,
        ) from None
    ensure_inside(assets_root(settings.cache_dir), target)


def _mismatch(card, asset, url, target, actual) -> HashMismatchError:
    python = said("force_download", True)  # the command line has no such flag: its advice is the command itself
    return HashMismatchError(
        f"{_card(card)}: the SHA-256 of the file downloaded from {_redact(str(url))} does not match the card: "
        f"expected {asset.sha256.lower()} (as a prefix) but got {actual}. The download was deleted for safety; "
        f"nothing was stored at {target}. The file at the URL may be corrupt or replaced, or the card's asset-sha256 "
        f"may be outdated: try again with `ghosthub download --force {card.name}`{f' ({python})' if python else ''}, "
        f"check GHOSTHUB_MIRROR if you use one, or tell the card's author.",
        expected=asset.sha256.lower(),
        actual=actual,
        card=card.name,
        url=_redact(str(url)),
        path=target,
    )


def _failure(card, asset, url, target, exc) -> DownloadError:
    hint = exc.hint
    if getattr(exc, "network", False):  # no answer at all: maybe no network here, say every way around it
        local = said("checkpoint_path")  # None for a command that takes no local file
        hint += (
            "; without a network: set GHOSTHUB_MIRROR=ORIGINAL_PREFIX=MIRROR_PREFIX to a copy you can reach, "
            "or GHOSTHUB_HUB to a hub you can reach, "
            + (f"or load a file you have with {local}, " if local else "")
            + f"or copy the file to {target}, then run `ghosthub verify {card.name}`"
        )
    return DownloadError(
        f"{_card(card)}: cannot download its {asset.file_format} asset from {_redact(str(url))}: {exc.reason}. "
        f"It would be cached at {target}. What to do: {hint}.",
        card=card.name,
        url=_redact(str(url)),
        path=target,
    )


def _card(card: ModelCard) -> str:
    name = card.fields.get("model-name")
    return f"card {name!r} ({card.path})" if card.path else f"card {name!r}"

"""Committing to an object-store hub: assets, then cards, then pages, then the index by compare-and-swap.

Assets and cards are immutable objects under content-addressed keys, so writers never
overwrite each other's. ``index.json`` is the only object that changes: it is read with its
ETag, changed, and written back with ``If-Match`` on that ETag (``If-None-Match: *`` for the
first). A refused write (412, or 409 while another write is in flight) means another writer
committed first: the index is read again, the change applied again to what is there now, and
written again, after a growing, jittered pause, a bounded number of times. The hub's pages
are written before the first try and settled against the index that won once the commit is
over (see :mod:`ghosthub.hub.site_store`).
"""

from __future__ import annotations

import copy
import hashlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .._utils.fs import utcnow
from ..errors import HubError, PublishError
from .index import INDEX, empty_index, index_bytes, parse_index
from .site_store import StorePages
from .store import ObjectStore, Precondition
from .sync import forget_check
from .upload import Uploaded, upload_asset

__all__ = ["Committed", "Published", "card_key", "commit_index", "publish_model", "put_card"]

MAX_TRIES = 16  # writes of the index before giving up: 8 writers at once need a few each
BACKOFF = 0.05  # seconds before the second try; doubled each try, with jitter, capped
MAX_PAUSE = 2.0

Update = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class Committed(NamedTuple):
    """The index as committed (or as found, when nothing changed), whether it changed, and the retries it took."""

    index: dict
    changed: bool
    retries: int


def card_key(name: str, text: str) -> str:
    """The key of a card in an object-store hub: its model and digest, so no writer replaces another's.

    Examples
    --------
    >>> card_key("ghostnet_050", "text")
    'cards/ghostnet_050-982d9e3e.md'
    """
    return f"cards/{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.md"


def commit_index(
    store: ObjectStore, update: Update, *, pages: StorePages | None = None, tries: int = MAX_TRIES
) -> Committed:
    """Apply ``update`` to the hub's index by compare-and-swap, retrying when another writer came first.

    Parameters
    ----------
    store : ObjectStore
        The hub.
    update : callable
        ``update(index)`` returns the new index (it may change the copy it is given), or
        None when the index already says what it should. It is called again on each retry
        with the index as it is then, and may raise (a conflict it finds) to end the commit.
    pages : StorePages, optional
        The hub's pages: written for the index of the first try, before it, then settled
        against the index as it stands once the commit is over, whether it changed the index,
        found nothing to change, or ended in a conflict.
    tries : int
        Writes of the index before giving up.

    Returns
    -------
    Committed

    Raises
    ------
    HubError
        The index changed under every try, or the store failed.
    PublishError
        ``update`` found a conflict.
    """
    try:
        committed = _swap(store, update, pages, tries)
    except Exception as exc:
        # A conflict, or an index that changed under every try: the pages of a lost try would describe an
        # index that never was. A failing store is not asked again.
        if pages is not None and (not isinstance(exc, HubError) or isinstance(exc, (PublishError, _Exhausted))):
            _settle_quietly(pages)
        raise
    if committed.changed:
        forget_check(store.place.spec, store.settings)  # this cache's copy of the hub must ask again
    if pages is not None:
        pages.settle()
    return committed


class _Exhausted(HubError):
    """The index changed under every try."""


def _swap(store: ObjectStore, update: Update, pages: StorePages | None, tries: int) -> Committed:
    """The compare-and-swap loop of :func:`commit_index`."""
    retries = 0
    for attempt in range(tries):
        body, etag = store.get(INDEX)
        index = parse_index(body, source=store.url(INDEX)) if body is not None else empty_index()
        new = update(copy.deepcopy(index))
        if new is None:
            return Committed(index, False, retries)
        new["updated"] = utcnow()
        if pages is not None and attempt == 0:
            # Pages first, so the index's readers find them; a writer that lost a try keeps its window
            # short (no pages before its next tries) and leaves them to the settling after its commit.
            pages.write(new)  # may complete entries from their cards: the index is serialised after
        try:
            store.put(INDEX, index_bytes(new), if_match=etag, if_none_match=etag is None)
            return Committed(new, True, retries)
        except Precondition:
            retries += 1
            time.sleep(min(BACKOFF * 2**attempt, MAX_PAUSE) * random.uniform(0.5, 1.0))
    raise _Exhausted(
        f"{store.url(INDEX)} changed under each of {tries} tries to update it (many writers at once?); run the "
        "command again"
    )


def _settle_quietly(pages: StorePages) -> None:
    """Settle the pages on the way out of a failed commit; a failure here must not hide why the commit failed."""
    try:
        pages.settle()
    except HubError:
        pass  # the next writer, or `ghosthub fsck`, settles them


class Published(NamedTuple):
    """What :func:`publish_model` did: the asset upload, the card's key, whether the index changed, retries."""

    uploaded: Uploaded
    card: str
    changed: bool
    retries: int
    entry: dict


def publish_model(
    store: ObjectStore,
    name: str,
    asset: tuple[Path, str, str, str],
    card_text: str,
    entry: dict,
    *,
    force: bool = False,
    part_size: int,
    threads: int = 10,
    pages: bool = True,
    progress: bool | None = None,
) -> Published:
    """Publish one model into an object-store hub: its asset, its card, then its index entry.

    Parameters
    ----------
    store : ObjectStore
        The hub (see :func:`ghosthub.hub.store.writable_store`).
    name : str
        The model name.
    asset : (Path, str, str, str)
        The local file, its full SHA-256, its file format and its ``assets/<file>`` name.
    card_text : str
        The card, its links relative to ``cards/`` (``../assets/<file>``).
    entry : dict
        The index entry (:func:`ghosthub.hub.index.model_entry`); its ``card`` path is set here.
    force : bool
        Replace the entry of ``name`` when it lists another asset.
    part_size, threads : int
        Multipart size and parallelism of the asset's upload.
    pages : bool
        Keep the hub's pages (``index.html``, ``models/<name>.html``) with its index (see
        :mod:`ghosthub.hub.site_store`).
    progress : bool, optional
        Show the asset's upload (see :func:`~ghosthub.hub.upload.upload_asset`).

    Returns
    -------
    Published

    Raises
    ------
    PublishError
        ``name`` is published with another asset (it names the digest that won) and not ``force``.

    Examples
    --------
    >>> publish_model(store, "m", (path, sha, "ckpt", "assets/m-1a2b3c4d.ckpt"), text, {})  # doctest: +SKIP
    """
    path, sha256, fmt, asset_rel = asset
    uploaded = upload_asset(
        store, asset_rel, path, sha256, part_size=part_size, threads=threads, force=force, progress=progress
    )
    card_rel = card_key(name, card_text)
    put_card(store, card_rel, card_text.encode())
    entry = {**entry, "card": card_rel, "card-sha256": hashlib.sha256(card_text.encode()).hexdigest()}

    def update(index: dict) -> dict | None:
        old = index["models"].get(name)
        if old is not None:
            old_sha = str((old.get("assets") or [{}])[0].get("sha256", "")).lower()
            if old_sha == sha256.lower() and not force:
                return None  # this very asset is published under this name: nothing to change
            if old_sha != sha256.lower() and not force:
                raise PublishError(
                    f"{name} is already published in {store.place.spec} with other weights (asset SHA-256 "
                    f"{old_sha or 'not recorded'}; this checkpoint's is {sha256.lower()}); pass --force to replace "
                    f"it, or publish under another name such as {name}.{sha256.lower()[:8]}"
                )
            if old == entry:
                return None
        index["models"][name] = entry
        return index

    kept = StorePages(store, cards={name: card_text.encode()}) if pages else None
    committed = commit_index(store, update, pages=kept)
    listed = committed.index["models"].get(name) or entry
    return Published(uploaded, listed.get("card", card_rel), committed.changed, committed.retries, listed)


def put_card(store: ObjectStore, rel: str, data: bytes) -> None:
    """Create the card object; one already there must be these very bytes (its key names their digest)."""
    try:
        store.put(rel, data, if_none_match=True, content_type="text/markdown; charset=utf-8")
    except Precondition:
        there, _ = store.get(rel)
        if there != data:
            raise PublishError(
                f"{store.url(rel)} exists with other content than its name's digest says; remove it "
                "(`ghosthub fsck` lists it), then publish again"
            ) from None

"""Reading hubs: a folder hub is read in place; a URL hub is copied into the cache and read from there."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from urllib.parse import urljoin

from .._utils.fs import atomic_write, read_json, utcnow
from .._utils.urls import is_url
from ..errors import CardError, CardWarning, DownloadError, HubError, OfflineError
from ..modelcard import parse_card, render_card
from .index import INDEX, MAX_INDEX_BYTES, parse_index

__all__ = ["cards_dir", "sync"]


def cards_dir(spec: str, settings) -> Path | None:
    """The folder of a hub's cards for the registry.

    A folder hub is read in place (``<hub>/cards``). A URL hub is copied into
    ``<cache>/hubs/`` (see :func:`sync`) and its copy is used: offline, or when
    the hub cannot be reached, the last copy is used, with a warning in the latter case.
    """
    if is_url(spec):
        return sync(spec, settings)
    return Path(spec).expanduser() / "cards"


def sync(url: str, settings) -> Path | None:
    """Bring the cache's copy of a remote hub up to date; return its cards folder.

    index.json is fetched with If-None-Match (its ETag), then each card whose
    digest changed; a card must match the digest the index gives. Relative
    asset links are made absolute against the card's URL, so the cached copy
    downloads from the hub. Nothing is fetched offline.
    """
    base = url if url.endswith("/") else url + "/"
    local = settings.cache_dir / "hubs" / hashlib.sha256(base.encode()).hexdigest()[:16]
    meta_path = local / "hub.json"
    meta = read_json(meta_path) or {}
    have_copy = (local / INDEX).is_file() and meta.get("url") == base
    if settings.offline:
        if have_copy:
            return local / "cards"
        raise OfflineError(
            f"hub {base} has not been fetched yet and GHOSTHUB_OFFLINE is set; run once online (its copy will be in {local})",
            url=base + INDEX,
            path=local,
        )
    from ..download.transport import Transport

    with Transport(settings) as transport:
        try:
            body, etag = transport.fetch_small(base + INDEX, etag=meta.get("etag") if have_copy else None, limit=MAX_INDEX_BYTES)
        except DownloadError as exc:
            if not have_copy:
                raise
            warnings.warn(f"hub {base} cannot be reached ({exc}); using the copy fetched {meta.get('fetched')}", CardWarning, stacklevel=3)
            return local / "cards"
        if body is None:  # 304: the copy is current
            return local / "cards"
        index = parse_index(body, source=base + INDEX)
        digests = dict(meta.get("cards", {}))
        keep = set()
        for name, entry in index["models"].items():
            file_name = entry["card"].split("/", 1)[1]
            target = local / "cards" / file_name
            want = str(entry.get("card-sha256", "")).lower()
            keep.add(file_name)
            if target.is_file() and want and digests.get(file_name) == want:
                continue
            card_url = base + entry["card"]
            try:
                data, _ = transport.fetch_small(card_url, limit=1 << 20)
                got = hashlib.sha256(data).hexdigest()
                if want and got != want:
                    raise HubError(f"card {card_url} has SHA-256 {got}, but the hub index says {want}")
                card = parse_card(data)
                if card.name != name:
                    raise HubError(f"card {card_url} is for {card.name!r}, but the hub index lists it as {name!r}")
                assets = [dict(a, **{"asset-link": urljoin(card_url, a["asset-link"])}) for a in card.fields.get("asset") or []]
                text = render_card(card.replace(asset=assets)) if assets else data.decode("utf-8")
            except (DownloadError, HubError, CardError) as exc:
                warnings.warn(f"hub {base}: skipped card of {name!r}: {exc}", CardWarning, stacklevel=3)
                keep.discard(file_name)
                continue
            atomic_write(target, text.encode())
            digests[file_name] = got
        for stale in (local / "cards").glob("*.md") if (local / "cards").is_dir() else ():
            if stale.name not in keep:
                stale.unlink(missing_ok=True)
        (local / "cards").mkdir(parents=True, exist_ok=True)
        atomic_write(local / INDEX, body)
        meta = {"url": base, "etag": etag, "fetched": utcnow(), "cards": {k: v for k, v in digests.items() if k in keep}}
        atomic_write(meta_path, json.dumps(meta, indent=2).encode())
    return local / "cards"

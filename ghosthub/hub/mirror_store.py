"""Mirrors into an object-store hub: each model's verified assets and card uploaded, then its entry by compare-and-swap.

The object-store counterpart of :mod:`ghosthub.hub.mirror`'s folder writer: assets go under
their content-addressed keys (an object already there with the right digest is kept, not
sent again), the card under its digest's key, and the index changes last, one model at a
time, by compare-and-swap (:mod:`ghosthub.hub.commit`), so a mirror run and publishes into
the same hub never lose each other's entries. Objects an updated card no longer links, and
with ``prune`` the files of models gone from the source, are removed once the index no
longer refers to them. The hub's pages are settled once, after the last model
(:mod:`ghosthub.hub.site_store`): one ``index.html`` for the run, not one per model.
"""

from __future__ import annotations

import fnmatch
import hashlib

from .._utils.hashes import file_hash
from .._utils.places import HubPlace
from ..modelcard import parse_card, render_card
from .commit import card_key, commit_index, put_card
from .index import INDEX, asset_file_name, card_facts, empty_index, parse_index
from .site_store import StorePages
from .store import ObjectStore, writable_store
from .upload import upload_asset

__all__ = ["mirror_to_store"]


def mirror_to_store(
    cards,
    names: list[str],
    patterns,
    place: HubPlace,
    *,
    settings,
    base_url=None,
    dry_run=False,
    prune=False,
    progress=None,
    item=None,
) -> list:
    """Mirror the models ``names`` of ``cards`` into the object-store hub ``place``.

    See :func:`ghosthub.hub.mirror.mirror`; returns one ``item`` (its MirrorItem class, passed in since
    that module dispatches here) per model, then one per pruned model.
    """
    store = ObjectStore(place, settings) if dry_run else writable_store(place, settings)
    body, _ = store.get(INDEX)
    index = parse_index(body, source=store.url(INDEX)) if body is not None else empty_index()
    items = [item(*_mirror_one(cards.get(name), store, index, settings, base_url, dry_run, progress)) for name in names]
    if prune:
        wanted = [p.lower() for p in patterns]
        gone = sorted(
            n for n in index["models"] if n not in names and any(fnmatch.fnmatchcase(n.lower(), p) for p in wanted)
        )
        items += [item(*_remove_one(store, name, index, dry_run)) for name in gone]
    if not dry_run:
        StorePages(store).settle()
    return items


def _mirror_one(card, store: ObjectStore, index: dict, settings, base_url, dry_run: bool, progress) -> tuple:
    """(name, state, fetched, kept, card, removed) of one model: assets and card uploaded, entry committed."""
    from ..download.fetch import fetch_asset

    name = card.name
    old = index["models"].get(name) or {}
    fetched, kept, new_assets, index_assets = [], [], [], []
    for asset in card.assets:
        rel = f"assets/{asset_file_name(name, asset.sha256, asset.file_format)}"
        head = store.head(rel)
        digest = str(((head or {}).get("Metadata") or {}).get("sha256", "")).lower()
        if head is not None and digest.startswith(asset.sha256.lower()):
            kept.append(rel)
            size = head.get("ContentLength")
        elif dry_run:
            fetched.append(rel)
            digest, size = asset.sha256.lower(), None
        else:
            source = fetch_asset(card, asset, settings=settings, progress=progress)
            digest, size = file_hash(source), source.stat().st_size
            upload_asset(store, rel, source, digest, part_size=settings.part_size, threads=settings.connections or 10,
                         force=True, progress=progress)  # fmt: skip
            fetched.append(rel)
        link = f"{base_url.rstrip('/')}/{rel}" if base_url else f"../{rel}"
        new_assets.append(
            {**dict(asset.extra), "file-format": asset.file_format, "asset-link": link, "asset-sha256": digest}
        )
        index_assets.append({"path": rel, "file-format": asset.file_format, "sha256": digest, "size": size})
    text = render_card(card.replace(asset=new_assets) if new_assets else card)
    parse_card(text)  # what readers will see must be a valid card
    card_rel, card_sha = card_key(name, text), hashlib.sha256(text.encode()).hexdigest()
    state = "unchanged" if old.get("card-sha256") == card_sha and not fetched else ("updated" if old else "new")
    dropped = sorted({a["path"] for a in old.get("assets", [])} - {a["path"] for a in index_assets})
    if dry_run or state == "unchanged":
        return name, state, fetched, kept, card_rel, dropped
    put_card(store, card_rel, text.encode())
    entry = {
        "card": card_rel,
        "card-sha256": card_sha,
        "backbone": card.backbone,
        "dataset": card.dataset,
        "metrics": card.metrics,
        **card_facts(card),  # what index.html shows
        "assets": index_assets,
    }

    def update(current: dict) -> dict:
        current["models"][name] = entry
        return current

    committed = commit_index(store, update)
    index["models"] = committed.index["models"]
    _remove_unlisted(store, committed.index, [old.get("card"), *dropped])
    return name, state, fetched, kept, card_rel, dropped


def _remove_one(store: ObjectStore, name: str, index: dict, dry_run: bool) -> tuple:
    """Take ``name`` out of the index (compare-and-swap), then remove its objects no other entry lists."""
    entry = index["models"].get(name) or {}
    rels = [entry.get("card"), *(a.get("path") for a in entry.get("assets", []))]
    if not dry_run:

        def update(current: dict) -> dict | None:
            if current["models"].pop(name, None) is None:
                return None
            return current

        committed = commit_index(store, update)
        index["models"] = committed.index["models"]
        _remove_unlisted(store, committed.index, rels)
    return name, "removed", [], [], str(entry.get("card")), [r for r in rels[1:] if r]


def _remove_unlisted(store: ObjectStore, index: dict, rels) -> None:
    """Remove the objects ``rels`` that the committed ``index`` does not refer to."""
    listed = {e.get("card") for e in index["models"].values()}
    listed |= {a.get("path") for e in index["models"].values() for a in e.get("assets", [])}
    for rel in rels:
        if rel and rel not in listed and rel.startswith(("cards/", "assets/")):
            store.delete(rel)

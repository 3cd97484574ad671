"""Checking an object-store hub: uploads no index entry refers to, entries whose objects are missing, open uploads.

An object-store hub has no journal to roll back: its index changes by compare-and-swap,
whole or not at all. A publish killed (or beaten to the index by another writer) before its
commit leaves objects the index never refers to, and maybe an unfinished multipart upload
whose parts cost storage. They are removed once older than ``stale_after`` (a younger one
may belong to a publish still running). Only ``cards/``, ``assets/``, the probe objects and
open uploads are touched, and the pages (``index.html``, ``models/``), which are brought in line
with the index as for a folder; anything else under the prefix is left alone.
"""

from __future__ import annotations

import datetime as _dt

from .._utils.places import HubPlace
from ..errors import HubError
from .index import INDEX, parse_index
from .site_store import StorePages
from .store import PROBE, ObjectStore

__all__ = ["fsck_store"]


def fsck_store(place: HubPlace, settings, *, dry_run: bool = False, stale_after: float = 600.0):
    """Repair and check the object-store hub ``place``: (removed, bytes freed, problems, pages).

    ``removed`` lists the ``s3://`` URLs of objects removed (or, dry, to be removed) and of
    aborted uploads (``... (unfinished upload)``); ``problems`` the index entries whose card
    or asset is missing; ``pages`` the pages written or removed (dry: that would be) to match
    the index.

    Raises
    ------
    HubError
        The prefix holds no hub (neither index.json nor assets/), or the store failed.
    """
    store = ObjectStore(place, settings)
    body, _ = store.get(INDEX)
    objects = {o["rel"]: o for o in store.objects()}
    if body is None and not any(rel.startswith("assets/") for rel in objects):
        raise HubError(f"{place.spec} is not a hub (no index.json, no assets/); check the bucket and prefix")
    index = parse_index(body, source=store.url(INDEX)) if body is not None else {"models": {}}
    problems, listed = [], set()
    for name, entry in sorted(index["models"].items()):
        wanted = [entry["card"]] + [a["path"] for a in entry.get("assets", [])]
        listed.update(wanted)
        for rel in wanted:
            if rel not in objects:
                kind = "card" if rel.startswith("cards/") else "asset"
                problems.append(f"{name}: {kind} {store.url(rel)} is missing")
    cutoff = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=stale_after)
    removed, freed = [], 0
    for rel, item in sorted(objects.items()):
        ours = rel.startswith(("cards/", "assets/")) or rel.startswith(PROBE)
        if not ours or rel in listed or _aware(item["modified"]) > cutoff:
            continue
        removed.append(store.url(rel))
        freed += item["size"]
        if not dry_run:
            store.delete(rel)
    for upload in store.uploads():
        started = upload["started"]
        if started is not None and _aware(started) > cutoff:
            continue  # a publish may still be sending it
        removed.append(f"{store.url(upload['rel'])} (unfinished upload)")
        if not dry_run:
            store.abort(upload["rel"], upload["id"])
    if body is None:
        return removed, freed, problems, []
    pages = StorePages(store)
    if dry_run:
        plan = pages.plan(index)
        return removed, freed, problems, sorted([*plan.writes, *plan.removes])
    return removed, freed, problems, pages.settle()


def _aware(when: _dt.datetime) -> _dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)

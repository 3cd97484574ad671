"""An object-store hub's pages: written with each try of the index, then settled against the index that won.

A store has no transaction that spans objects, so the pages follow the index by two rules.
Before its first compare-and-swap of ``index.json`` a writer writes the pages of the index it
is about to commit (:meth:`StorePages.write`): when it wins, its pages are already there. After
the commit, whatever its outcome, it settles (:meth:`StorePages.settle`): it reads the index
as it stands and the pages the store holds, writes what differs, and looks again, until a
look finds nothing to write. Every write of a page is followed by such a look from its
writer, so the last look of all sees the last index and its pages: after any race the store
holds exactly the pages of the index that won (a writer killed between the two is caught by
the next writer or by ``ghosthub fsck``).

Only pages whose content changed are written. A page's key (:func:`ghosthub.pages.page_key`)
and the ETag the store gave it are recorded in ``.ghosthub-pages.json``; a listing of
``models/`` gives every page's ETag in one request, so a page whose recorded key is the one
it would have now and whose ETag is the recorded one is current without reading its card or
rendering it. The record is a hint, never trusted alone: an entry counts only while the
store's ETag is the recorded one, so a record that two writers overwrite at once costs a
rendering, never a wrong page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from ..errors import CardError, HubError
from ..modelcard import ModelCard, is_safe_name, parse_card
from ..pages import INDEX_PAGE, MODELS, model_page_path, page_key, render_pages
from .index import INDEX, parse_index
from .site import _complete
from .store import ObjectStore, Precondition

__all__ = ["RECORD", "StorePages"]

RECORD = ".ghosthub-pages.json"  # page -> (key, ETag): what the pages in the store were rendered from
_FORMAT = "ghosthub-pages-record/1"
_HTML = "text/html; charset=utf-8"
SETTLE_LOOKS = 8  # looks at the store after a commit before leaving the rest to the next writer or fsck
_THREADS = 8  # card reads and page writes at once


class Seen(NamedTuple):
    """What a page was rendered from (its page key, or ``bytes:<digest>`` of a page without one) and its ETag."""

    key: str
    etag: str


class Plan(NamedTuple):
    """What one look found: pages to write (path -> (bytes, key)), pages to remove, and what it read."""

    writes: dict[str, tuple[bytes, str]]
    removes: list[str]
    listed: dict[str, str]  # page -> its ETag in the store
    record: dict[str, Seen]
    record_etag: str | None


class StorePages:
    """The pages of the object-store hub ``store``, kept in line with its index.

    Parameters
    ----------
    store : ObjectStore
        The hub.
    cards : mapping of str to bytes, optional
        Card files this writer has in hand, by model name (the card it publishes): used
        when the index lists that very card, instead of reading it back from the store.

    Examples
    --------
    >>> pages = StorePages(store, cards={"m": card_bytes})  # doctest: +SKIP
    >>> commit_index(store, update, pages=pages)  # doctest: +SKIP
    """

    def __init__(self, store: ObjectStore, *, cards: Mapping[str, bytes] | None = None):
        self.store = store
        self.cards = dict(cards or {})
        self.mine: dict[str, Seen] = {}  # what this writer put: the record in the store may be overwritten
        self.changed: set[str] = set()  # pages written or removed, for the caller's report

    def write(self, index: dict[str, Any]) -> list[str]:
        """Write the pages of ``index`` that differ from the store's; remove those of models it does not list.

        Entries that lack the :data:`~ghosthub.hub.index.PAGE_FIELDS` get them from their cards
        (``index`` is changed in place), so the caller serialises the index after this call.

        Returns
        -------
        list of str
            The pages written or removed, relative to the hub.
        """
        plan = self.plan(index)
        self._apply(plan)
        return sorted([*plan.writes, *plan.removes])

    def settle(self, *, looks: int = SETTLE_LOOKS) -> list[str]:
        """Bring the pages in line with the index as it stands now; look again after each write.

        Returns
        -------
        list of str
            Every page this object wrote or removed so far (its :meth:`write` calls included).

        Raises
        ------
        HubError
            The store failed, or its index is not a hub index.
        """
        for _ in range(looks):
            body, _ = self.store.get(INDEX)
            if body is None:
                break
            plan = self.plan(parse_index(body, source=self.store.url(INDEX)))
            if not plan.writes and not plan.removes:
                self._keep_record(plan)  # pages found right by their bytes: recorded, not rendered next time
                break
            self._apply(plan)
        return sorted(self.changed)

    def plan(self, index: dict[str, Any]) -> Plan:
        """What :meth:`write` would do for ``index``; reads the store, writes nothing."""
        models = index["models"]
        listed = self._listed()
        record, record_etag = self._record()
        known = {
            rel: seen for source in (record, self.mine) for rel, seen in source.items() if listed.get(rel) == seen.etag
        }
        cards: dict[str, ModelCard | None] = {}
        problems: dict[str, str] = {}
        if any(isinstance(e, dict) and "update-time" not in e for e in models.values()):
            self._read_cards(models, [n for n, e in models.items() if "update-time" not in e], cards, problems)
            for name, entry in models.items():
                if "update-time" not in entry and cards.get(name) is not None:
                    _complete(entry, cards[name])
        stale = []
        for name in sorted(models):
            key, seen = page_key(models, name), known.get(model_page_path(name))
            if key is None or seen is None or seen.key != key:
                stale.append(name)
        self._read_cards(models, [n for n in stale if n not in cards], cards, problems)
        writes = {}
        for rel, data in render_pages(index, cards, names=stale, problems=problems).items():
            name = rel[len(MODELS) + 1 : -len(".html")] if rel != INDEX_PAGE else None
            key = page_key(models, name) if name and cards.get(name) is not None and name not in problems else None
            key = key or "bytes:" + hashlib.sha256(data).hexdigest()[:32]
            seen = known.get(rel)
            if (seen is not None and seen.key == key) or _md5_etag(listed.get(rel)) == hashlib.md5(data).hexdigest():
                if seen is None or seen.key != key:  # the right page, not yet in the record
                    self.mine[rel] = Seen(key, listed[rel])
                continue
            writes[rel] = (data, key)
        removes = [rel for rel in listed if rel != INDEX_PAGE and rel[len(MODELS) + 1 : -len(".html")] not in models]
        return Plan(writes, sorted(removes), listed, record, record_etag)

    # ------------------------------------------------------------------ the store

    def _listed(self) -> dict[str, str]:
        """Every page the store holds (``index.html``, ``models/<safe name>.html``) and its ETag."""
        listed = {}
        for sub in (INDEX_PAGE, MODELS + "/"):
            for item in self.store.objects(sub):
                rel = item["rel"]
                name = rel[len(MODELS) + 1 : -len(".html")] if rel.startswith(MODELS + "/") else None
                if rel == INDEX_PAGE or (name and rel.endswith(".html") and is_safe_name(name)):
                    listed[rel] = str(item["etag"])
        return listed

    def _record(self) -> tuple[dict[str, Seen], str | None]:
        """The record of what the pages were rendered from, and its ETag; empty when missing or unreadable."""
        body, etag = self.store.get(RECORD)
        try:
            data = json.loads(body) if body else {}
            pages = data.get("pages", {}) if data.get("format") == _FORMAT else {}
            return {rel: Seen(str(v[0]), str(v[1])) for rel, v in pages.items() if len(v) == 2}, etag
        except (ValueError, TypeError, AttributeError):  # a record is a hint: a broken one is no record
            return {}, etag

    def _read_cards(self, models, names: Iterable[str], cards: dict, problems: dict) -> None:
        """Read the cards of ``names`` (those in hand first, the rest from the store, several at once)."""
        names = list(names)
        with ThreadPoolExecutor(max(1, min(_THREADS, len(names)))) as pool:
            for name, (card, problem) in zip(names, pool.map(lambda n: self._card(n, models[n]), names)):
                cards[name] = card
                if problem:
                    problems[name] = problem

    def _card(self, name: str, entry: Mapping[str, Any]) -> tuple[ModelCard | None, str | None]:
        """(the card of ``name``, why it is missing or does not match the index, or None)."""
        rel, want = entry.get("card"), str(entry.get("card-sha256") or "").lower()
        data = self.cards.get(name)
        if data is None or (want and hashlib.sha256(data).hexdigest() != want):
            data, _ = self.store.get(rel)
        if data is None:
            return None, f"the card {rel} is missing from this hub"
        try:
            card = parse_card(data)
        except (CardError, HubError) as exc:
            return None, f"the card {rel} cannot be read: {exc}"
        if want and hashlib.sha256(data).hexdigest() != want:
            return card, f"the card {rel} does not match the SHA-256 index.json gives for it"
        return card, None

    def _apply(self, plan: Plan) -> None:
        """Write the planned pages (model pages first, ``index.html`` last), remove the others, keep the record."""
        order = [rel for rel in plan.writes if rel != INDEX_PAGE] + [r for r in plan.writes if r == INDEX_PAGE]

        def put(rel: str) -> tuple[str, str, str]:
            data, key = plan.writes[rel]
            return rel, self.store.put(rel, data, content_type=_HTML), key

        with ThreadPoolExecutor(max(1, min(_THREADS, len(order)))) as pool:
            for rel, etag, key in pool.map(put, [r for r in order if r != INDEX_PAGE]):
                self.mine[rel] = Seen(key, str(etag))
        if INDEX_PAGE in plan.writes:
            rel, etag, key = put(INDEX_PAGE)
            self.mine[rel] = Seen(key, str(etag))
        for rel in plan.removes:
            self.store.delete(rel)
            self.mine.pop(rel, None)
        self.changed.update(plan.writes, plan.removes)
        self._keep_record(plan)

    def _keep_record(self, plan: Plan) -> None:
        """Merge what this writer knows into the record; one more try when another writer changed it meanwhile."""
        gone = set(plan.removes)
        ours = {rel: seen for rel, seen in self.mine.items() if rel not in gone}
        theirs, etag = plan.record, plan.record_etag
        for _ in range(2):
            merged = {
                rel: seen for rel, seen in theirs.items() if rel not in gone and plan.listed.get(rel) == seen.etag
            }
            merged.update(ours)
            if merged == theirs:
                return
            pages = {rel: list(seen) for rel, seen in sorted(merged.items())}
            body = json.dumps({"format": _FORMAT, "pages": pages}, separators=(",", ":"))
            try:
                self.store.put(RECORD, body.encode(), if_match=etag, if_none_match=etag is None)
                return
            except Precondition:
                theirs, etag = self._record()
        # Left as another writer made it: its entries are checked against the ETags before any use.


def _md5_etag(etag: str | None) -> str | None:
    """The MD5 an object's ETag is, for an object written whole without KMS; None for other ETags."""
    value = (etag or "").strip('"').lower()
    return value if len(value) == 32 and all(c in "0123456789abcdef" for c in value) else None

"""A hub folder's pages kept with its index: stage, in the writer's transaction, the pages that changed.

Every writer of a hub folder (publish, mirror, fsck) calls :func:`stage_pages` with the index
it is about to commit, after staging its cards and before staging ``index.json``: the pages
are committed with the index or not at all, so a reader never finds pages of another index
beside it (a killed commit rolls them back with the rest). Only pages whose bytes change are
staged; a model page whose key (:func:`ghosthub.pages.page_key`) is unchanged is not even
rendered, so one publish into a 1,000-model hub reads and writes a handful of files. Pages of
models the index no longer lists are removed in the same commit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CardError, HubError
from ..modelcard import ModelCard, is_safe_name, parse_card
from ..pages import MODELS, model_page_path, page_key, read_page_key, render_pages
from .index import INDEX, PAGE_FIELDS, card_facts, index_bytes, read_index
from .transaction import Transaction

__all__ = ["plan_pages", "refresh_pages", "stage_pages"]


def stage_pages(
    txn: Transaction, root: Path, index: dict[str, Any], *, cards: Mapping[str, bytes] | None = None
) -> list[str]:
    """Stage into ``txn`` the pages of ``index`` that differ from what hub folder ``root`` holds.

    Entries written before index entries carried the :data:`~ghosthub.hub.index.PAGE_FIELDS`
    get them from their cards here (``index`` is changed in place), so the caller must
    compute ``index.json``'s bytes after this call.

    Parameters
    ----------
    txn : Transaction
        The writer's transaction, with its assets and cards staged, ``index.json`` not yet.
    root : Path
        The hub folder.
    index : dict
        The index about to be committed.
    cards : mapping of str to bytes, optional
        Card files this same transaction writes (not yet on disk), by model name.

    Returns
    -------
    list of str
        The pages staged or removed, relative to ``root``.
    """
    writes, removes = plan_pages(root, index, cards=cards)
    if writes:
        (root / MODELS).mkdir(exist_ok=True)
    for rel, data in writes.items():
        txn.stage(root / rel, data)
    for rel in removes:
        txn.remove(root / rel)
    return [*writes, *removes]


def plan_pages(
    root: Path, index: dict[str, Any], *, cards: Mapping[str, bytes] | None = None
) -> tuple[dict[str, bytes], list[str]]:
    """What :func:`stage_pages` would stage, touching nothing on disk.

    ``index`` gains the page fields of entries that lack them, as for :func:`stage_pages`.

    Parameters
    ----------
    root : Path
        The hub folder.
    index : dict
        The index the pages are for.
    cards : mapping of str to bytes, optional
        Card files not yet on disk, by model name.

    Returns
    -------
    tuple
        ``({path: bytes}`` of the pages to write, ``[path, ...]`` of the pages to remove``)``,
        paths relative to ``root``.
    """
    models = index["models"]
    cards = cards or {}
    read: dict[str, ModelCard | None] = {}
    problems: dict[str, str] = {}

    def card_of(name: str) -> ModelCard | None:
        if name not in read:
            read[name], problem = _read_card(root, name, models[name], cards.get(name))
            if problem:
                problems[name] = problem
        return read[name]

    for name, entry in models.items():
        if isinstance(entry, dict) and "update-time" not in entry and card_of(name) is not None:
            _complete(entry, card_of(name))
    stale = [name for name in sorted(models) if not _is_current(root, models, name)]
    for name in stale:
        card_of(name)
    pages = render_pages(index, read, names=stale, problems=problems)
    writes = {rel: data for rel, data in pages.items() if _bytes_of(root / rel) != data}
    removes = [f"{MODELS}/{path.name}" for path in _pages_on_disk(root) if path.stem not in models]
    return writes, removes


def refresh_pages(root: str | os.PathLike, *, dry_run: bool = False) -> list[str]:
    """Bring the pages of hub folder ``root`` in line with its index.json; the caller holds the hub's lock.

    A hub published before pages existed gets them here (its entries get their
    :data:`~ghosthub.hub.index.PAGE_FIELDS` too, in the same commit).

    Parameters
    ----------
    root : str or os.PathLike
        The hub folder.
    dry_run : bool
        Say what would be written; write nothing.

    Returns
    -------
    list of str
        The pages written or removed (with ``dry_run``: that would be), relative to ``root``;
        none when ``root`` has no index.json.

    Raises
    ------
    HubError
        index.json cannot be read or is not a hub index.

    Examples
    --------
    >>> refresh_pages("/no/such/hub")
    []
    """
    root = Path(root)
    if not (root / INDEX).is_file():
        return []
    old = (root / INDEX).read_bytes()
    index = read_index(root / INDEX)
    if dry_run:
        writes, removes = plan_pages(root, index)
        return [*writes, *removes]
    txn = Transaction(root)
    try:
        changed = stage_pages(txn, root, index)
        if index_bytes(index) != old:  # entries completed from their cards
            txn.stage(root / INDEX, index_bytes(index))
        if txn.steps:
            txn.commit()
    finally:
        txn.discard()
    return changed


def _read_card(root: Path, name: str, entry: Any, pending: bytes | None) -> tuple[ModelCard | None, str | None]:
    """(the card of ``name``, why it is missing or does not match the index, or None)."""
    rel = entry.get("card") if isinstance(entry, Mapping) else None
    if not isinstance(rel, str) or not rel.startswith("cards/") or not is_safe_name(rel[6:].removesuffix(".md")):
        return None, f"index.json lists no readable card for {name}"
    data = pending if pending is not None else _bytes_of(root / rel)
    if data is None:
        return None, f"the card {rel} is missing from this hub"
    try:
        card = parse_card(data, path=root / rel)
    except (CardError, HubError) as exc:
        return None, f"the card {rel} cannot be read: {exc}"
    want = entry.get("card-sha256")
    if isinstance(want, str) and hashlib.sha256(data).hexdigest() != want.lower():
        return card, f"the card {rel} does not match the SHA-256 index.json gives for it"
    return card, None


def _complete(entry: dict[str, Any], card: ModelCard) -> None:
    """Give an entry written before entries carried them the page fields of its card, before its assets."""
    facts = card_facts(card)
    if not facts:
        return
    assets = entry.pop("assets", None)
    entry.update({k: facts[k] for k in PAGE_FIELDS if k in facts})
    if assets is not None:
        entry["assets"] = assets


def _is_current(root: Path, models: Mapping[str, Any], name: str) -> bool:
    """Whether the page of ``name`` on disk was rendered from what it would show now (its key says so)."""
    key = page_key(models, name)
    if key is None or not is_safe_name(name):
        return False
    try:
        with open(root / model_page_path(name), "rb") as f:
            return read_page_key(f.read(4096)) == key
    except OSError:
        return False


def _pages_on_disk(root: Path) -> list[Path]:
    """The model pages in ``models/`` (plain files named ``<safe name>.html``)."""
    try:
        names = sorted(os.listdir(root / MODELS))
    except OSError:
        return []
    return [
        root / MODELS / n
        for n in names
        if n.endswith(".html") and is_safe_name(n[:-5]) and (root / MODELS / n).is_file()
    ]


def _bytes_of(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None

"""Mirrors: copy cards and their verified assets into a hub folder an air-gapped site can serve.

A mirror is an ordinary hub folder (``index.json``, ``cards/``, ``assets/``, see
:mod:`ghosthub.hub.index`): any static web server serves it, ``GHOSTHUB_HUB=DIR``
reads it in place. Each model is committed through a
:class:`~ghosthub.hub.transaction.Transaction` (its assets, its card, the pages that
change, the index), so a reader sees a model whole or not at all, and a killed run
leaves a journal the next run rolls back. A run is incremental: an asset already
there with the right digest is not fetched again (nor read again while a record of an
earlier run vouches for it, see :mod:`ghosthub.hub.verified`), a card that did not
change is not written, and an asset an updated card no longer links is removed once
the new card is in place. With
``prune``, models that match the patterns but are gone from the source leave the
mirror too (index first, then their files), as ``rsync --delete`` would. Downloads go
through the cache (:func:`ghosthub.download.fetch.fetch_asset`), so they resume after a kill.

This module takes the source cards as an argument (any object with ``list(pattern)``
and ``get(name)``, e.g. a :class:`ghosthub.registry.Registry`); it imports nothing
above the hub layer.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._utils.fs import make_folders, remove_made_folders, utcnow
from .._utils.hashes import file_hash
from .._utils.places import hub_place
from ..errors import HubError, shorten
from ..modelcard import ModelCard, parse_card, render_card
from .index import INDEX, asset_file_name, hub_folder_problem, index_bytes, model_entry, read_index
from .site import stage_pages
from .transaction import Transaction, recover, stage_copy
from .verified import RECORDS, VerifiedFiles

__all__ = ["LOCK", "MirrorItem", "check_mirror", "mirror"]

logger = logging.getLogger(__name__)

LOCK = ".mirror.lock"  # one writer per mirror folder


@dataclasses.dataclass
class MirrorItem:
    """What a mirror run did (or, dry, would do) to one model."""

    name: str
    state: str  # "new", "updated", "unchanged", "removed" (gone from the source, with prune)
    fetched: list[str]  # asset files transferred into the mirror
    kept: list[str]  # asset files already there and verified
    card: str
    removed: list[str] = dataclasses.field(default_factory=list)  # asset files taken out of the mirror

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def mirror(
    cards,
    patterns: Iterable[str],
    to: str | os.PathLike,
    *,
    settings,
    base_url: str | None = None,
    dry_run: bool = False,
    prune: bool = False,
    progress: bool | None = None,
) -> list[MirrorItem]:
    """Copy the cards matching ``patterns`` and their verified assets into the hub folder ``to``.

    Parameters
    ----------
    cards : Registry
        The source cards: ``cards.list(pattern)`` names, ``cards.get(name)`` the full card.
    patterns : iterable of str
        Model names or shell patterns (``ghostnet_*``).
    to : str or os.PathLike
        The mirror folder (created if missing), or ``s3://bucket/prefix`` (see
        :mod:`ghosthub.hub.mirror_store`).
    settings : Settings
        :class:`ghosthub.config.Settings` for downloads (cache, token, mirrors, limits).
    base_url : str, optional
        Where the mirror will be served: asset links become absolute; by default relative.
    dry_run : bool
        Report what would change; change nothing, fetch nothing.
    prune : bool
        Also remove the mirror's models that match ``patterns`` but that the source no
        longer has (state ``removed``). Only models matching the patterns are touched.
    progress : bool, optional
        Progress bars for downloads; None follows ``settings.progress``.

    Returns
    -------
    list of MirrorItem
        One per model, in name order.

    Raises
    ------
    HubError
        No model matches, or the folder cannot hold a hub.
    DownloadError
        An asset cannot be had verified (HashMismatchError, OfflineError included).
    """
    place = hub_place(to, what="mirror --to")
    if place.kind == "url":
        raise HubError(f"mirror writes a hub folder or an s3:// hub, not a URL ({place.shown})")
    names = sorted({n for p in patterns for n in cards.list(p)})
    if not names:
        raise HubError(f"no model matches {' '.join(patterns)!r}; see `ghosthub list` for the names")
    if place.kind == "s3":
        from .mirror_store import mirror_to_store

        return mirror_to_store(
            cards, names, patterns, place, settings=settings, base_url=base_url, dry_run=dry_run, prune=prune,
            progress=progress, item=MirrorItem,
        )  # fmt: skip
    root = Path(to).expanduser()
    gone = _gone(root, patterns, names) if prune else []
    verified = VerifiedFiles(root)
    if dry_run:
        items = [_mirror_one(cards.get(name), root, settings, base_url, True, progress, verified) for name in names]
        return items + [_remove_one(root, name, True) for name in gone]
    created = make_folders(root / "cards", root / "assets")
    try:
        return _mirror_locked(cards, names, gone, root, settings, base_url, progress, verified)
    except BaseException:
        # A run that fails before its first model leaves no skeleton that looks like a hub (only its own folders).
        remove_made_folders(created, own_files=(LOCK, RECORDS))
        raise


def _mirror_locked(cards, names, gone, root: Path, settings, base_url, progress, verified) -> list[MirrorItem]:
    """The models of a mirror run, under the folder's lock: a killed run's commit rolled back first."""
    from .._utils.lock import FileLock, LockTimeout

    lock = FileLock(root / LOCK)
    try:
        lock.acquire(timeout=0)
    except LockTimeout:
        raise HubError(f"another `ghosthub mirror` is writing {root}; run again when it has finished") from None
    try:
        recover(root)  # a run killed while committing: roll its model back first
        _remove_leftovers(root)
        items = [_mirror_one(cards.get(name), root, settings, base_url, False, progress, verified) for name in names]
        return items + [_remove_one(root, name, False) for name in gone]
    finally:
        verified.save()
        lock.release()


def _gone(root: Path, patterns: Iterable[str], names: list[str]) -> list[str]:
    """Models of the mirror that match ``patterns`` but not the source's ``names``."""
    if not (root / INDEX).is_file():
        return []
    wanted = [p.lower() for p in patterns]
    have = set(names)
    listed = read_index(root / INDEX)["models"]
    return sorted(n for n in listed if n not in have and any(fnmatch.fnmatchcase(n.lower(), p) for p in wanted))


def _remove_one(root: Path, name: str, dry_run: bool) -> MirrorItem:
    """Take ``name`` out of the index (atomically), then remove its card and the assets no other model lists."""
    index = read_index(root / INDEX)
    entry = index["models"].get(name) or {}
    card_rel = str(entry.get("card") or f"cards/{name}.md")
    others = _listed_elsewhere(index, name)
    assets = [a["path"] for a in entry.get("assets", []) if a.get("path") not in others]
    if not dry_run:
        del index["models"][name]
        index["updated"] = utcnow()
        txn = Transaction(root)
        try:
            stage_pages(txn, root, index)  # its page goes with its entry
            txn.stage(root / INDEX, index_bytes(index))
            txn.commit()  # from here readers no longer see the model; its files go next
        finally:
            txn.discard()
        _unlink_inside(root, [card_rel, *assets])
    return MirrorItem(name, "removed", [], [], card_rel, assets)


def _listed_elsewhere(index: dict, name: str) -> set[str]:
    """Asset paths the index lists for models other than ``name``: never removed with it."""
    return {a.get("path") for n, e in index["models"].items() if n != name for a in e.get("assets", [])}


def _unlink_inside(root: Path, rels: Iterable[str]) -> None:
    """Remove these hub files (``cards/...``, ``assets/...`` only: an index entry never reaches elsewhere)."""
    for rel in rels:
        folder, _, file_name = rel.partition("/")
        if folder in ("cards", "assets") and file_name and "/" not in file_name and not file_name.startswith("."):
            (root / folder / file_name).unlink(missing_ok=True)


def _remove_leftovers(root: Path) -> None:
    """Temporary copies a killed run left (``.<name>.<random>.tmp``); the lock says no run is writing them."""
    for folder in (root, root / "cards", root / "assets", root / "models"):
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)


def _mirror_one(
    card: ModelCard, root: Path, settings, base_url: str | None, dry_run: bool, progress, verified
) -> MirrorItem:
    from ..download.fetch import fetch_asset

    name = card.name
    if not dry_run:
        logger.info("mirroring %s into %s", name, root)  # a large asset's download adds its own lines
    index = read_index(root / INDEX)
    old_entry = index["models"].get(name) or {}
    known = {a["path"]: a for a in old_entry.get("assets", [])}
    txn = Transaction(root)
    fetched, kept, new_assets, index_assets = [], [], [], []
    copied: dict[str, str] = {}  # asset -> digest of the copy staged for it
    try:
        for asset in card.assets:
            rel = f"assets/{asset_file_name(name, asset.sha256, asset.file_format)}"
            final = root / rel
            digest = _present(rel, final, known.get(rel), asset, verified)
            if digest:
                kept.append(rel)
            elif dry_run:
                fetched.append(rel)
                digest = asset.sha256.lower()
            else:
                source = fetch_asset(card, asset, settings=settings, progress=progress)
                _check_declared_size(card, asset, source)
                tmp, digest = stage_copy(source, final)
                if not digest.startswith(asset.sha256.lower()):
                    os.unlink(tmp)
                    raise HubError(f"{source} changed while being copied into the mirror; run the mirror again")
                txn.stage(final, tmp=tmp)
                fetched.append(rel)
                copied[rel] = digest
            link = f"{base_url.rstrip('/')}/{rel}" if base_url else f"../{rel}"
            new_assets.append(
                {**dict(asset.extra), "file-format": asset.file_format, "asset-link": link, "asset-sha256": digest}
            )
            size = None if dry_run else _size(final, txn)
            index_assets.append({"path": rel, "file-format": asset.file_format, "sha256": digest, "size": size})
        text = render_card(card.replace(asset=new_assets) if new_assets else card)
        card_rel = f"cards/{name}.md"
        card_sha = hashlib.sha256(text.encode()).hexdigest()
        written = parse_card(text, path=root / card_rel)  # what readers will see must be a valid card
        same_card = old_entry.get("card-sha256") == card_sha and _sha_of(root / card_rel) == card_sha
        state = "unchanged" if same_card and not fetched else ("updated" if old_entry else "new")
        # Assets the new card no longer links (and no other model lists) go once it is in place.
        dropped = sorted(set(known) - {a["path"] for a in index_assets} - _listed_elsewhere(index, name))
        if dry_run or state == "unchanged":
            return MirrorItem(name, state, fetched, kept, card_rel, dropped)
        index["updated"] = utcnow()
        index["models"][name] = model_entry(written, card_sha, index_assets)
        txn.stage(root / card_rel, text.encode())
        stage_pages(txn, root, index, cards={name: text.encode()})  # with the index, never apart from it
        txn.stage(root / INDEX, index_bytes(index))
        txn.commit()
    finally:
        txn.discard()
    for rel, digest in copied.items():
        verified.note(rel, digest)  # hashed while copied: the next run need not read it
    _unlink_inside(root, dropped)  # after the commit: the old card linked them until then
    return MirrorItem(name, state, fetched, kept, card_rel, dropped)


def check_mirror(root: str | os.PathLike) -> list[str]:
    """Problems of a mirror (or any hub folder): every card and asset digest, every link. Empty when sound.

    Every asset is read, whatever earlier runs recorded; the record of a corrupt one is
    dropped, so the next ``mirror`` run fetches it again.

    Examples
    --------
    >>> check_mirror("/no/such/hub")
    ['/no/such/hub/index.json: missing: not a hub folder']
    """
    root = Path(root).expanduser()
    problem = hub_folder_problem(root)
    if problem is not None:
        return [problem]
    problems: list[str] = []
    index = read_index(root / INDEX)
    listed = set()
    verified = VerifiedFiles(root)
    for name, entry in sorted(index["models"].items()):
        card_path = root / entry["card"]
        try:
            text = card_path.read_bytes()  # once: hashed, then parsed
        except OSError:
            problems.append(f"{name}: card {card_path} is missing")
            continue
        if entry.get("card-sha256") and hashlib.sha256(text).hexdigest() != entry["card-sha256"]:
            problems.append(f"{name}: card {card_path} does not match the SHA-256 in index.json")
        try:
            card = parse_card(text, path=card_path)
        except Exception as exc:  # noqa: BLE001 - any unreadable card is a finding
            problems.append(f"{name}: card {card_path} cannot be read: {exc}")
            continue
        for item in entry.get("assets", []):
            path = root / item["path"]
            listed.add(item["path"])
            if not path.is_file():
                problems.append(f"{name}: asset {path} is missing")
                continue
            actual = file_hash(path)
            if not actual.startswith(str(item.get("sha256", "")).lower()):
                problems.append(
                    f"{name}: asset {path} is corrupt: SHA-256 {actual}, index.json says {item.get('sha256')}"
                )
                verified.forget(item["path"])
            if item.get("size") is not None and path.stat().st_size != item["size"]:
                problems.append(f"{name}: asset {path} has {path.stat().st_size} bytes, index.json says {item['size']}")
        listed_here = {i["path"]: i for i in entry.get("assets", [])}
        for asset in card.assets:
            target = _link_target(asset.link)
            item = listed_here.get(target)
            link = shorten(asset.link, 120, quoted=True)
            if item is None:
                problems.append(f"{name}: card link {link} does not point at an asset of this mirror")
                continue
            if not str(item.get("sha256", "")).lower().startswith(asset.sha256.lower()):
                problems.append(f"{name}: card digest {asset.sha256} of {link} differs from index.json")
            if asset.size is not None and asset.size != item.get("size"):
                problems.append(
                    f"{name}: the card declares {asset.size} bytes for {link}, index.json says {item.get('size')}"
                )
    for path in sorted((root / "assets").glob("*")) if (root / "assets").is_dir() else ():
        if not path.name.startswith(".") and f"assets/{path.name}" not in listed:
            problems.append(f"{path}: not listed in index.json (left by an interrupted run? remove it)")
    verified.save()
    return problems


def _link_target(link: str) -> str | None:
    """``assets/<file>`` for a mirror's link (``../assets/<file>`` or ``<base-url>/assets/<file>``)."""
    if link.startswith("../assets/"):
        file_name = link[len("../assets/") :]
    elif "://" in link and "/assets/" in link:
        file_name = link.rpartition("/assets/")[2]
    else:
        return None
    return f"assets/{file_name}" if file_name and "/" not in file_name else None


def _check_declared_size(card: ModelCard, asset, source: Path) -> None:
    """A mirror never copies a file of another size than its card declares (the source hub's index does)."""
    size = source.stat().st_size
    if asset.size is not None and size != asset.size:
        raise HubError(
            f"{card.name}: its asset {source.name} has {size} bytes, but the card declares {asset.size} "
            "(asset-size, from its hub's index.json); the hub's index and its file disagree, so nothing of "
            f"{card.name} was mirrored: tell the hub's maintainer"
        )


def _present(rel: str, path: Path, entry: dict | None, asset, verified) -> str | None:
    """The full digest of an asset already in the mirror and intact; None when it must be fetched.

    A file a record of an earlier run vouches for is not read again (as rsync's quick check,
    but on the ctime and inode too); any other is hashed. ``mirror --check`` reads them all,
    and whoever loads from the mirror verifies what they fetch.
    """
    if entry is None or not path.is_file():
        return None
    size = path.stat().st_size
    if (entry.get("size") is not None and size != entry["size"]) or (asset.size is not None and size != asset.size):
        return None
    want = asset.sha256
    listed = str(entry.get("sha256", "")).lower()
    if not listed.startswith(want.lower()):
        return None
    if verified.vouches(rel, listed):
        return listed
    digest = file_hash(path)
    if digest != listed:
        verified.forget(rel)
        return None
    verified.note(rel, digest)
    return digest


def _size(final: Path, txn: Transaction) -> int:
    for step in txn.steps:
        if step["final"] == str(final):
            return os.stat(step["tmp"]).st_size
    return final.stat().st_size


def _sha_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None

"""Checking a hub folder: roll back a killed publish, remove what it left, bring its pages in line, report gaps.

A publish stages its files as dotfiles beside their targets (``.<name>.<random>.tmp``, backups
``.<name>.<pid>.<i>.bak``) and commits them under ``.publish.lock``. A publish killed before
its commit leaves them behind (tens of MiB each, served by any plain web server). Holding the
same lock, every such file is left over, except the staged copy of a checkpoint, which is made
before the lock is taken: its name carries ``<host>-<pid>`` and it is removed only once that
process is gone. A hub whose pages are missing (published before ghosthub wrote pages) or
out of date gets them rewritten from its index and cards (:func:`ghosthub.hub.site.refresh_pages`).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import NamedTuple

from .._utils.lock import FileLock, LockTimeout
from .._utils.places import hub_place
from ..download.parts import owner_is_gone
from ..errors import HubError
from .index import INDEX, hub_folder_problem, model_of_asset, read_index
from .site import refresh_pages
from .transaction import JOURNAL, journal_steps, recover

__all__ = ["FsckReport", "LOCK", "STALE_AFTER", "fsck", "leftovers"]

LOCK = ".publish.lock"
# A temporary file without an owner in its name is left over once it has not changed for this long.
STALE_AFTER = 600.0
_OWNED = re.compile(r"\.(?P<host>[A-Za-z0-9-]*)-(?P<pid>\d+)\.tmp")
_FOLDERS = ("", "cards", "assets", "models")


class FsckReport(NamedTuple):
    """What :func:`fsck` did and found: a rolled-back publish, removed files (bytes), problems left, pages written."""

    recovered: bool
    removed: list
    freed: int
    problems: list
    # Older assets of listed models, kept by `publish --force` for copies of the older cards: no problem.
    superseded: tuple = ()
    # Pages (re)written or removed to match index.json, relative to the hub (with dry_run: that would be).
    pages: tuple = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def leftovers(root: str | os.PathLike, *, stale_after: float = STALE_AFTER) -> list[Path]:
    """Temporary files and backups in a hub that no live publish writes (call it holding the lock)."""
    root = Path(root)
    found = []
    for folder in _FOLDERS:
        try:
            names = sorted(os.listdir(root / folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            path = root / folder / name
            if not name.startswith(".") or not name.endswith((".tmp", ".bak")) or not _is_file(path):
                continue
            owned = _OWNED.search(name)
            try:
                mtime = os.lstat(path).st_mtime
            except FileNotFoundError:
                continue
            if owned:
                gone = owner_is_gone(owned["host"], int(owned["pid"]), mtime, stale_after)
            elif folder == "assets" and name.endswith(".tmp"):  # an older ghosthub's staged copy: by age
                gone = time.time() - mtime > stale_after
            else:  # card, index and backups are written only under the lock we hold
                gone = True
            if gone:
                found.append(path)
    return found


def fsck(
    root: str | os.PathLike,
    *,
    dry_run: bool = False,
    stale_after: float = STALE_AFTER,
    wait: float = 10.0,
    settings=None,
) -> FsckReport:
    """Repair what killed publishes left in hub ``root`` and report what is missing.

    A folder, under the publish lock: roll back a half-committed publish (its journal), remove
    leftover temporary files and backups, rewrite the pages that do not match ``index.json``
    (all of them for a hub published before ghosthub wrote pages), then check that every model
    of ``index.json`` has its card and asset files. Orphan assets are reported, not removed.
    An ``s3://bucket/prefix`` hub: see :func:`ghosthub.hub.fsck_store.fsck_store` (objects no
    entry refers to and unfinished uploads older than ``stale_after`` are removed).

    Raises
    ------
    HubError
        ``root`` is not a hub folder, or a publish holds the lock for ``wait`` seconds.

    Examples
    --------
    >>> fsck("hub").ok  # doctest: +SKIP
    True
    """
    place = hub_place(root, what="fsck: the hub")
    if place.kind == "s3":
        from .. import config
        from .fsck_store import fsck_store

        removed, freed, problems, pages = fsck_store(
            place, settings or config.settings(), dry_run=dry_run, stale_after=stale_after
        )
        return FsckReport(False, removed, freed, problems, pages=tuple(pages))
    if place.kind == "url":
        raise HubError(f"fsck repairs a hub folder or an s3:// hub, not a URL ({place.shown}); run it where the hub is")
    root = Path(root)
    unfinished = hub_folder_problem(root)
    if unfinished is not None and not (root / "assets").is_dir() and not (root / "cards").is_dir():
        raise HubError(f"{root} is not a hub folder (no index.json, no cards/ or assets/)")
    lock = FileLock(root / LOCK)
    try:
        lock.acquire(timeout=wait)
    except LockTimeout:
        raise HubError(f"a publish into {root} holds {root / LOCK}; run this again when it is done") from None
    except OSError as exc:
        raise HubError(f"cannot lock {root / LOCK}: {exc.strerror or exc}") from None
    try:
        recovered, journal_problem = _recover(root, dry_run)
        # With a journal that cannot be rolled back, its backups are what a person restores from: none goes.
        removed = [] if journal_problem else leftovers(root, stale_after=stale_after)
        freed = sum(_size(p) for p in removed)
        if not dry_run:
            for path in removed:
                path.unlink(missing_ok=True)
        problems, superseded = _missing(root)
        # After the roll-back, which may have removed the index a first publish made: no pages for no hub.
        unfinished = hub_folder_problem(root)
        pages = [] if journal_problem or unfinished else _pages(root, dry_run)
    finally:
        lock.release()
    problems = [p for p in (unfinished, journal_problem) if p] + problems
    return FsckReport(recovered, removed, freed, problems, tuple(superseded), tuple(pages))


def _recover(root: Path, dry_run: bool) -> tuple[bool, str | None]:
    """(whether a killed publish was rolled back, or would be; the problem of a journal that cannot be)."""
    if not (root / JOURNAL).exists():
        return False, None
    try:
        if dry_run:
            return journal_steps(root) is not None, None
        return recover(root), None
    except HubError as exc:
        return False, str(exc)


def _pages(root: Path, dry_run: bool) -> list[str]:
    """The pages :func:`refresh_pages` wrote (none when the index cannot be read: that is a problem already)."""
    try:
        return refresh_pages(root, dry_run=dry_run)
    except HubError:
        return []


def clean_leftovers(root: Path) -> list[Path]:
    """Remove what killed publishes left (the caller holds the lock); return what went."""
    removed = leftovers(root)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _missing(root: Path) -> tuple[list[str], list[str]]:
    """Problems (files index.json lists that are missing, orphan assets), and superseded assets."""
    problems, superseded = [], []
    try:
        index = read_index(root / INDEX)
    except HubError as exc:
        return [str(exc)], []
    listed = set()
    for name, entry in sorted(index.get("models", {}).items()):
        if not isinstance(entry, dict):
            problems.append(f"{INDEX}: the entry of {name!r} is not an object")
            continue
        card = entry.get("card")
        if isinstance(card, str) and not (root / card).is_file():
            problems.append(f"{name}: card {card} is missing")
        for asset in entry.get("assets") or []:
            path = asset.get("path") if isinstance(asset, dict) else None
            if isinstance(path, str):
                listed.add(path)
                if not (root / path).is_file():
                    problems.append(f"{name}: asset {path} is missing")
    models = index.get("models", {})
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(root / "assets")):
            if name.startswith(".") or f"assets/{name}" in listed:
                continue
            if model_of_asset(name) in models:
                superseded.append(f"assets/{name}")
            else:
                problems.append(f"assets/{name} is not listed in {INDEX} (an orphan: remove it or publish it)")
    return problems, superseded


def _is_file(path: Path) -> bool:
    import stat

    with contextlib.suppress(OSError):
        return stat.S_ISREG(os.lstat(path).st_mode) or stat.S_ISLNK(os.lstat(path).st_mode)
    return False


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0

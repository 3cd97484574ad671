"""The Cache: the one object that decides whether a cached asset is served, and verifies, lists and cleans the cache.

Where files live and what is recorded about them is :mod:`ghosthub.download.layout`;
downloading into the cache is :mod:`ghosthub.download.fetch`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import namedtuple
from pathlib import Path

from .. import config
from .._utils.fs import utcnow
from .._utils.warn import warn
from ..constants import CACHE_FOLDERS
from ..errors import CardError, FetchWarning, LinkError
from ..modelcard import Asset, ModelCard, is_safe_name
from .layout import (
    asset_path,
    assets_root,
    describe_card,
    is_vouched,
    read_record,
    rehash,
    remove_cached,
    stat_fields,
    write_record,
)
from .parts import PART_NAME, is_abandoned

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["Cache", "CachedAsset", "Verification"]


class CachedAsset(namedtuple("CachedAsset", "name digest path size record")):
    """One file of the cache, as ``ghosthub cache ls`` shows it."""

    __slots__ = ()

    @property
    def verified_at(self) -> str | None:
        return (self.record or {}).get("verified_at")

    @property
    def sha256(self) -> str | None:
        return (self.record or {}).get("sha256")

    @property
    def url(self) -> str | None:
        return (self.record or {}).get("url")


class Verification(namedtuple("Verification", "name path status expected actual", defaults=(None,))):
    """The outcome of re-hashing one cached asset against its card; status is OK, MISMATCH or NOT CACHED."""

    __slots__ = ()

    @property
    def ok(self) -> bool:
        return self.status == "OK"


# --------------------------------------------------------------------------- the cache


class Cache:
    """The download cache of one set of settings: it decides whether a cached file may be served.

    Serving a cached asset is one question, :meth:`get`: is the file there, does its record
    vouch for it (size, mtime, ctime and inode as when it was last hashed, and the card's
    digest), and, for a file small enough that hashing costs less than importing MindSpore,
    do its bytes still match? A corrupt file is removed, with a warning. Nothing here opens a
    connection or imports the network stack; downloading is :mod:`ghosthub.download.fetch`'s job.

    Parameters
    ----------
    settings : Settings, optional
        :class:`ghosthub.config.Settings`: ``cache_dir``, ``rehash_below`` and ``lock_timeout``
        (default: resolved from the environment).

    Examples
    --------
    >>> from ghosthub import config, get_card
    >>> store = Cache(config.settings(cache_dir="/nonexistent"))
    >>> store.get(get_card("ghostnet_050")) is None, store.ls()
    (True, [])
    """

    def __init__(self, settings=None) -> None:
        self.settings = settings or config.settings()
        self.root = Path(self.settings.cache_dir)

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    # ------------------------------------------------------------------ one asset

    def path(self, card: ModelCard, asset: Asset | None = None) -> Path:
        """Where ``asset`` of ``card`` (default: its weights asset) lives: ``assets/<name>/<digest>/<file>``.

        Raises
        ------
        LinkError
            The card's name or digest cannot be a path component (see :func:`asset_path`).
        """
        return asset_path(self.root, card, asset or card.weights_asset())

    def get(self, card: ModelCard, asset: Asset | None = None, *, hash_small: bool = True) -> Path | None:
        """The cached, verified file of ``asset`` (default: the card's weights asset), or None.

        A file whose record vouches for it is served on its stat alone when it is at least
        ``settings.rehash_below`` bytes (or ``hash_small`` is false); a smaller one, or one
        changed since it was hashed, is hashed in full first. A match is served (and recorded
        if it was not); a mismatch is removed with a FetchWarning and None is returned, so the
        caller fetches it again.

        Parameters
        ----------
        card : ModelCard or CardEntry
            The model card.
        asset : Asset, optional
            One of ``card.assets``; default ``card.weights_asset()``.
        hash_small : bool
            Hash a vouched file below ``rehash_below`` before serving it (what a load does, whose
            MindSpore import costs more). False serves any vouched file on its stat (a download,
            which only hands out the path).

        Returns
        -------
        Path or None

        Raises
        ------
        LinkError
            The card's name or digest cannot be a path component.
        CardError
            No asset given and the card has no weights asset.
        """
        asset = asset or card.weights_asset()
        target = self.path(card, asset)
        vouched = is_vouched(target, asset.sha256)
        if vouched is None:
            return None
        if vouched and (not hash_small or _size(target) >= self.settings.rehash_below):
            return target
        ok, actual = rehash(target, asset, record=not vouched)
        if ok:
            return target
        warn(
            f"{describe_card(card)}: the cached file {target} is corrupt (SHA-256 {actual}, expected {asset.sha256}); "
            "removing it and fetching it again",
            FetchWarning,
        )
        remove_cached(target)
        return None

    def vouched(self, card: ModelCard, asset: Asset | None = None) -> Path | None:
        """The cached file of ``asset`` if its record vouches for it; no hashing, no removal, never raises LinkError.

        What ``ghosthub list`` shows as CACHED: a file changed since it was hashed counts as not
        cached until the next download or verify hashes it.

        Examples
        --------
        >>> from ghosthub import config, get_card
        >>> Cache(config.settings(cache_dir="/nonexistent")).vouched(get_card("ghostnet_050")) is None
        True
        """
        asset = asset or card.weights_asset()
        try:
            path = self.path(card, asset)
        except LinkError:
            return None
        return path if is_vouched(path, asset.sha256) else None

    def store(self, target: Path, record: dict[str, Any]) -> None:
        """Record a verified file just moved to ``target``: its ``record`` plus its stat and the time, atomically.

        Called after the rename, which changes the ctime: a file without its record is hashed
        again before it is served, never trusted.
        """
        write_record(target, {**record, **stat_fields(os.lstat(target)), "verified_at": utcnow()})

    def is_remote_card(self, card) -> bool:
        """True when ``card`` (a card or registry entry) is a copy of a URL hub's card, under ``<cache>/hubs``.

        Such a card came from a remote source: its links may only be http(s) URLs.
        """
        path = getattr(card, "path", None)
        if path is None:
            return False
        try:
            Path(path).resolve().relative_to((self.root / "hubs").resolve())
            return True
        except (ValueError, OSError):
            return False

    def verify(self, card: ModelCard, asset: Asset | None = None) -> Verification:
        """Re-hash the cached file of ``asset`` (default: the weights asset) against the card.

        A mismatching file loses its record, so it is never served again without being hashed.

        Returns
        -------
        Verification
            ``status`` is ``OK``, ``MISMATCH`` or ``NOT CACHED``.

        Raises
        ------
        LinkError
            The card's name or digest cannot be a path component.

        Examples
        --------
        >>> from ghosthub import config, get_card
        >>> Cache(config.settings(cache_dir="/nonexistent")).verify(get_card("ghostnet_050")).status
        'NOT CACHED'
        """
        asset = asset or card.weights_asset()
        path = self.path(card, asset)
        expected = asset.sha256.strip().lower()
        if is_vouched(path, expected) is None:  # missing, or not a regular file (a link is never read)
            return Verification(card.name, path, "NOT CACHED", expected)
        ok, actual = rehash(path, asset)
        return Verification(card.name, path, "OK" if ok else "MISMATCH", expected, actual)

    def verify_card(self, card: ModelCard) -> list[Verification]:
        """Re-hash the cached files of a card: its weights asset (cached or not) and any other asset cached.

        Raises
        ------
        LinkError
            The card's name or a digest cannot be a path component.
        """
        try:
            chosen = card.weights_asset()
        except CardError:
            chosen = None
        return [self.verify(card, a) for a in card.assets if a == chosen or self.path(card, a).is_file()]

    # ------------------------------------------------------------------ ls / rm / prune / clear

    def ls(self) -> list[CachedAsset]:
        """Every cached asset file, sorted by model name; files without a readable record included.

        Examples
        --------
        >>> from ghosthub import config
        >>> Cache(config.settings(cache_dir="/nonexistent")).ls()
        []
        """
        found = []
        for name_dir in _subdirs(assets_root(self.root)):
            for digest_dir in _subdirs(name_dir):
                for item in sorted(os.scandir(digest_dir), key=lambda e: e.name):
                    if item.name.startswith(".") or not item.is_file(follow_symlinks=False):
                        continue
                    path = Path(item.path)
                    size = item.stat().st_size
                    found.append(CachedAsset(name_dir.name, digest_dir.name, path, size, read_record(path)))
        return found

    def rm(self, name: str) -> list[Path]:
        """Remove everything cached for model ``name``; return the files removed.

        Raises
        ------
        LinkError
            ``name`` is not a model name (it could name a folder outside ``assets/``).

        Examples
        --------
        >>> from ghosthub import config
        >>> Cache(config.settings(cache_dir="/nonexistent")).rm("ghostnet_050")
        []
        """
        if not is_safe_name(name):
            raise LinkError(f"{name!r} is not a model name")
        import shutil

        folder = assets_root(self.root) / name
        if folder.is_symlink():  # remove the link, never what it points to
            folder.unlink()
            return [folder]
        found = _files_under(folder)
        shutil.rmtree(folder, ignore_errors=True)
        return [p for p in found if not os.path.lexists(p)]  # only what really went

    def prune(self, cards: Iterable[ModelCard], *, dry_run: bool = False) -> list[Path]:
        """Remove abandoned partial downloads and every cached file no card of ``cards`` refers to.

        A partial download still being written (it moved within ``settings.lock_timeout``
        seconds) is kept.

        Parameters
        ----------
        cards : iterable of ModelCard or CardEntry
            The cards whose assets stay (a Client passes its whole registry).
        dry_run : bool
            Only list what would be removed.

        Returns
        -------
        list of Path
            The files removed (or that would be).

        Examples
        --------
        >>> from ghosthub import config
        >>> Cache(config.settings(cache_dir="/nonexistent")).prune([])
        []
        """
        keep = set()
        for card in cards:
            for asset in card.assets:
                with contextlib.suppress(LinkError):  # a card no file can be cached for keeps nothing
                    keep.add(self.path(card, asset))
        doomed: list[Path] = []
        for name_dir in _subdirs(assets_root(self.root)):
            for folder in _subdirs(name_dir):
                doomed += _doomed_in(folder, keep, self.settings.lock_timeout)
        doomed = list(dict.fromkeys(p for p in doomed if os.path.lexists(p)))
        if not dry_run:
            for path in doomed:
                path.unlink(missing_ok=True)
            for name_dir in _subdirs(assets_root(self.root)):
                for digest_dir in _subdirs(name_dir):
                    _rmdir_if_empty(digest_dir)
                _rmdir_if_empty(name_dir)
        return doomed

    def folders(self) -> list[Path]:
        """ghosthub's folders that exist in the cache root (:data:`ghosthub.constants.CACHE_FOLDERS`), in its order.

        Examples
        --------
        >>> from ghosthub import config
        >>> Cache(config.settings(cache_dir="/nonexistent")).folders()
        []
        """
        found = [self.root / name for name in CACHE_FOLDERS]
        return [folder for folder in found if folder.is_dir() and not folder.is_symlink()]

    def clear(self, *, dry_run: bool = False) -> list[Path]:
        """Remove ghosthub's folders from the cache root: :data:`ghosthub.constants.CACHE_FOLDERS`.

        Assets, the card index, hub copies, MindSpore's compile cache, ONNX Runtime's exports
        and staged publishes go; other files a user keeps in the same folder are left alone.
        Returns the folders removed (with ``dry_run``, those that would be, removing nothing).

        Examples
        --------
        >>> from ghosthub import config
        >>> Cache(config.settings(cache_dir="/nonexistent")).clear()
        []
        """
        import shutil

        removed = self.folders()
        if not dry_run:
            for folder in removed:
                shutil.rmtree(folder)
        return removed


def _doomed_in(folder: Path, keep: set[Path], stale_after: float) -> list[Path]:
    """What prune removes from one asset folder."""
    names = os.listdir(folder)
    assets = {n for n in names if not n.startswith(".")}
    unwanted = {n for n in assets if folder / n not in keep}
    parts = [folder / n for n in names if n.endswith(".part")]
    live = {
        PART_NAME.fullmatch(p.name)["file"]
        for p in parts
        if PART_NAME.fullmatch(p.name) and not is_abandoned(p, stale_after)
    }
    doomed = []
    for name in names:
        path = folder / name
        if name in assets:
            gone = name in unwanted
        elif name.endswith(".part"):
            gone = is_abandoned(path, stale_after)
        elif name.endswith(".part.json"):
            part = folder / name[: -len(".json")]
            gone = not part.exists() or is_abandoned(part, stale_after)
        elif name.endswith(".tmp"):  # a record write cut short by a kill
            gone = _age(path) > stale_after
        else:  # .<file>.json (record) or .<file>.lock
            owner = name[1:].rsplit(".", 1)[0]
            gone = owner in unwanted or (owner not in assets and owner not in live)
        if gone:
            doomed.append(path)
    return doomed


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _files_under(folder: Path) -> list[Path]:
    """Files (and links) under ``folder``, links to folders not followed."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        found += [Path(dirpath, n) for n in filenames]
        found += [Path(dirpath, n) for n in dirnames if os.path.islink(os.path.join(dirpath, n))]
    return sorted(found)


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass

"""The download cache: where each asset lives, what is recorded about it, and ls/rm/prune/clear.

Layout under the cache root (``settings.cache_dir``)::

    assets/<model-name>/<card digest>/<file>          the verified asset, nothing else ever
    assets/<model-name>/<card digest>/.<file>.json    its record: URL, size, SHA-256, validators, when verified
    assets/<model-name>/<card digest>/.<file>.lock    the cross-process download lock
    assets/<model-name>/<card digest>/.<file>.<host>-<pid>-<nonce>.part[.json]
                                                      a download in progress, or one a killed process left

Every component is validated: the model name by :func:`ghosthub.modelcard.is_safe_name`,
the digest as hexadecimal, the file name reduced to ``[A-Za-z0-9._+-]`` from the
last segment of the link. ``registry/`` and ``hubs/`` beside ``assets/`` belong to
other parts of ghosthub and are never taken for assets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections import namedtuple
from pathlib import Path
from stat import S_ISREG

from .. import config
from .._utils.fs import atomic_write, utcnow
from .._utils.hashes import file_hash, hash_matches, normalize_digest
from ..errors import LinkError
from ..modelcard import Asset, ModelCard, is_safe_name
from .parts import PART_NAME, is_abandoned

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = [
    "CachedAsset",
    "Verification",
    "asset_path",
    "cached_path",
    "clear",
    "entries",
    "is_remote_card",
    "prune",
    "needs_rehash",
    "read_record",
    "rehash",
    "remove",
    "safe_file_name",
    "verify",
    "write_record",
]

ASSETS = "assets"
# Folders of the cache root that `clear` empties; anything else there is left alone.
OWN_FOLDERS = (ASSETS, "registry", "hubs")
RECORD_VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


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


# --------------------------------------------------------------------------- paths


def assets_root(cache_dir: str | os.PathLike) -> Path:
    """The folder that holds every cached asset."""
    return Path(cache_dir) / ASSETS


def is_remote_card(card, cache_dir: str | os.PathLike) -> bool:
    """True when ``card`` (a card or registry entry) is a copy of a URL hub's card, under ``<cache>/hubs``.

    Such a card came from a remote source: its links may only be http(s) URLs.
    """
    path = getattr(card, "path", None)
    if path is None:
        return False
    hubs = Path(cache_dir) / "hubs"
    try:
        Path(path).resolve().relative_to(hubs.resolve())
        return True
    except (ValueError, OSError):
        return False


def safe_file_name(link: str, file_format: str = "") -> str:
    """A file name for ``link`` that cannot leave its folder or hide among ghosthub's own files.

    The last segment of the link's path, percent-decoded once, with every run of
    characters outside ``[A-Za-z0-9._+-]`` replaced by ``_`` and leading dots
    removed; ``asset.<format>`` when nothing is left.

    Examples
    --------
    >>> safe_file_name("https://h/ghostnet/ghostnet_050-ae7771cb-910v2.ckpt?x=1")
    'ghostnet_050-ae7771cb-910v2.ckpt'
    >>> safe_file_name("http://h/a/%2e%2e%2f%2e%2e%2fetc%2fpasswd")
    'passwd'
    >>> safe_file_name("http://h/../..", "ckpt")
    'asset.ckpt'
    """
    from urllib.parse import unquote, urlsplit

    path = urlsplit(link).path if "://" in link else link
    name = unquote(path).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).lstrip("._-")
    if len(name) > 128:
        stem, dot, suffix = name.rpartition(".")
        name = f"{stem[:100]}.{suffix[:20]}" if dot and stem else name[:128]
    if not name:
        fmt = _UNSAFE.sub("", file_format or "")
        name = f"asset.{fmt}" if fmt else "asset"
    return name


def asset_path(cache_dir: str | os.PathLike, card: ModelCard, asset: Asset) -> Path:
    """Where ``asset`` of ``card`` lives in the cache: ``assets/<name>/<digest>/<file>``.

    Raises LinkError when the card's name or digest cannot be a path component.

    Examples
    --------
    >>> from ghosthub import get_card
    >>> card = get_card("ghostnet_050")
    >>> asset_path("/cache", card, card.weights_asset()).as_posix()
    '/cache/assets/ghostnet_050/ae7771cb/ghostnet_050-ae7771cb-910v2.ckpt'
    """
    name = card.fields.get("model-name")
    if not is_safe_name(name):
        raise LinkError(f"{_where(card)}: model-name {name!r} cannot name a cache folder; fix the card's model-name")
    try:
        digest = normalize_digest(asset.sha256)
    except ValueError as exc:
        raise LinkError(f"{_where(card)}: {exc}; fix the asset-sha256 of {asset.link}") from None
    root = assets_root(cache_dir)
    path = root / name / digest / safe_file_name(asset.link, asset.file_format)
    ensure_inside(root, path)
    return path


def ensure_inside(root: Path, path: Path) -> None:
    """Raise LinkError unless ``path``, symlinks resolved, lies inside ``root``."""
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise LinkError(f"refusing to write {path}: it resolves outside the cache folder {root}")


def record_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.json")


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


# --------------------------------------------------------------------------- records


def read_record(path: Path) -> dict[str, Any] | None:
    """The record of the cached file ``path``, or None when there is none that can be read."""
    try:
        record = json.loads(record_path(path).read_bytes())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == RECORD_VERSION else None


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write the record of ``path`` atomically (temporary file, fsync, then replace)."""
    atomic_write(record_path(path), json.dumps({"version": RECORD_VERSION, **record}, indent=1).encode("utf-8"))


def remove_cached(path: Path) -> None:
    """Remove a cached file and its record (the record first, so the file is never vouched for)."""
    record_path(path).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def is_vouched(path: Path, expected: str) -> bool | None:
    """Cheap check of a cached file: no reading, no hashing.

    True when the file's size, mtime, ctime and inode are those recorded when it
    was last hashed and the recorded digest matches ``expected``; False when the
    file exists but its record does not vouch for it (it needs a full re-hash);
    None when there is no file (or something else than a regular file: a folder,
    or a link, which is never followed).

    Size and mtime alone can be restored after an edit (``touch -r``); the ctime
    cannot be set back and a replaced file has a new inode, so the four together
    change whenever the bytes can have.
    """
    try:
        stat = os.lstat(path)
    except OSError:  # missing, or a path through something that is not a folder
        return None
    if not S_ISREG(stat.st_mode):  # e.g. a folder or a planted link where the asset should be
        return None
    record = read_record(path)
    return bool(
        record
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
        and record.get("ctime_ns") == stat.st_ctime_ns
        and record.get("inode") == stat.st_ino
        and hash_matches(expected, record.get("sha256", ""))
    )


def stat_fields(stat: os.stat_result) -> dict[str, int]:
    """What a record keeps of a file's stat for :func:`is_vouched`."""
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns, "inode": stat.st_ino}


def cached_path(card: ModelCard, asset: Asset | None = None, settings=None) -> Path | None:
    """The cached, verified file of ``asset`` (default: the weights asset), or None.

    No network, no hashing: a file whose size, mtime, ctime or inode changed since it was
    hashed counts as not cached until the next download or verify re-hashes it.

    Examples
    --------
    >>> from ghosthub import get_card
    >>> cached_path(get_card("ghostnet_050")) is None  # doctest: +SKIP
    True
    """
    settings = settings or config.settings()
    asset = asset or card.weights_asset()
    try:
        path = asset_path(settings.cache_dir, card, asset)
    except LinkError:
        return None
    return path if is_vouched(path, asset.sha256) else None


def needs_rehash(path: Path, settings) -> bool:
    """Whether loading ``path`` hashes it although its record vouches for it: it is small enough.

    Below ``settings.rehash_below`` bytes (``GHOSTHUB_REHASH_BELOW``, default 256 MiB)
    hashing costs less than importing MindSpore, so a load does not rest on stat alone.
    """
    try:
        return os.lstat(path).st_size < settings.rehash_below
    except OSError:
        return True


def rehash(path: Path, asset: Asset, *, record: bool = True) -> tuple[bool, str]:
    """Hash a cached file in full; returns (matches the card, actual digest).

    A match is recorded as verified now (unless ``record`` is false: the record
    already says so); a mismatch drops the record, so the file is never served
    again without being hashed.
    """
    stat = os.lstat(path)
    actual = file_hash(path)
    ok = hash_matches(asset.sha256, actual)
    if ok and record:
        kept = read_record(path) or {"link": asset.link}
        kept.pop("version", None)
        with contextlib.suppress(OSError):  # a read-only cache still serves verified files
            if os.lstat(path).st_ctime_ns == stat.st_ctime_ns:  # not changed while we hashed it
                kept.update(stat_fields(stat), sha256=actual, verified_at=utcnow())
                write_record(path, kept)
    elif not ok:
        record_path(path).unlink(missing_ok=True)
    return ok, actual


def verify(card: ModelCard, asset: Asset | None = None, settings=None) -> Verification:
    """Re-hash the cached file of ``asset`` (default: the weights asset) against the card.

    Examples
    --------
    >>> from ghosthub import config, get_card
    >>> verify(get_card("ghostnet_050"), settings=config.settings(cache_dir="/nonexistent")).status
    'NOT CACHED'
    """
    settings = settings or config.settings()
    asset = asset or card.weights_asset()
    path = asset_path(settings.cache_dir, card, asset)
    expected = asset.sha256.strip().lower()
    if is_vouched(path, expected) is None:  # missing, or not a regular file (a link is never read)
        return Verification(card.name, path, "NOT CACHED", expected)
    ok, actual = rehash(path, asset)
    return Verification(card.name, path, "OK" if ok else "MISMATCH", expected, actual)


# --------------------------------------------------------------------------- ls / rm / prune / clear


def entries(cache_dir: str | os.PathLike) -> list[CachedAsset]:
    """Every cached asset file, sorted by name; files without a readable record included.

    Examples
    --------
    >>> [e.name for e in entries("/nonexistent")]
    []
    """
    found = []
    for name_dir in _subdirs(assets_root(cache_dir)):
        for digest_dir in _subdirs(name_dir):
            for item in sorted(os.scandir(digest_dir), key=lambda e: e.name):
                if item.name.startswith(".") or not item.is_file(follow_symlinks=False):
                    continue
                path = Path(item.path)
                found.append(CachedAsset(name_dir.name, digest_dir.name, path, item.stat().st_size, read_record(path)))
    return found


def remove(cache_dir: str | os.PathLike, name: str) -> list[Path]:
    """Remove everything cached for model ``name``; return the files removed.

    Examples
    --------
    >>> remove("/nonexistent", "ghostnet_050")
    []
    """
    if not is_safe_name(name):
        raise LinkError(f"{name!r} is not a model name")
    import shutil

    folder = assets_root(cache_dir) / name
    if folder.is_symlink():  # remove the link, never what it points to
        folder.unlink()
        return [folder]
    found = _files_under(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return [p for p in found if not os.path.lexists(p)]  # only what really went


def prune(
    cache_dir: str | os.PathLike, keep: Iterable[Path], *, stale_after: float = 120.0, dry_run: bool = False
) -> list[Path]:
    """Remove abandoned partial downloads and every asset not in ``keep``; return what went.

    ``keep`` holds the asset paths the known cards refer to (see
    :func:`asset_path`); a partial download still being written is kept.

    Examples
    --------
    >>> prune("/nonexistent", keep=[])
    []
    """
    keep = {Path(p) for p in keep}
    doomed: list[Path] = []
    for name_dir in _subdirs(assets_root(cache_dir)):
        for folder in _subdirs(name_dir):
            doomed += _doomed_in(folder, keep, stale_after)
    doomed = list(dict.fromkeys(p for p in doomed if os.path.lexists(p)))
    if not dry_run:
        for path in doomed:
            path.unlink(missing_ok=True)
        for name_dir in _subdirs(assets_root(cache_dir)):
            for digest_dir in _subdirs(name_dir):
                _rmdir_if_empty(digest_dir)
            _rmdir_if_empty(name_dir)
    return doomed


def clear(cache_dir: str | os.PathLike, *, dry_run: bool = False) -> list[Path]:
    """Remove ghosthub's folders from the cache root (assets, card index, hub copies).

    Other files a user keeps in the same folder are left alone. Returns the folders
    removed (with ``dry_run``, those that would be, removing nothing).

    Examples
    --------
    >>> clear("/nonexistent")
    []
    """
    import shutil

    removed = []
    for name in OWN_FOLDERS:
        folder = Path(cache_dir) / name
        if folder.is_dir() and not folder.is_symlink():
            if not dry_run:
                shutil.rmtree(folder)
            removed.append(folder)
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


def _where(card: ModelCard) -> str:
    return f"card {card.fields.get('model-name')!r} ({card.path or 'no file'})"

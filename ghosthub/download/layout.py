"""The cache's files: where each asset lives, the record beside it, and the stat check that vouches for it.

Layout under the cache root (``settings.cache_dir``)::

    assets/<model-name>/<card digest>/<file>          the verified asset, nothing else ever
    assets/<model-name>/<card digest>/.<file>.json    its record: URL, size, SHA-256, validators, when verified
    assets/<model-name>/<card digest>/.<file>.lock    the cross-process download lock
    assets/<model-name>/<card digest>/.<file>.<host>-<pid>-<nonce>.part[.json]
                                                      a download in progress, or one a killed process left

Every component is validated: the model name by :func:`ghosthub.modelcard.is_safe_name`,
the digest as hexadecimal, the file name reduced to ``[A-Za-z0-9._+-]`` from the
last segment of the link. ``registry/`` and ``hubs/`` beside ``assets/`` belong to
other parts of ghosthub and are never taken for assets. Whether a file is served is
decided by :class:`ghosthub.download.cache.Cache`, from these parts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from stat import S_ISREG

from .._utils.fs import atomic_write, utcnow
from .._utils.hashes import file_hash, hash_matches, normalize_digest
from ..errors import LinkError
from ..modelcard import Asset, ModelCard, is_safe_name

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "asset_path",
    "assets_root",
    "describe_card",
    "ensure_inside",
    "is_vouched",
    "lock_path",
    "read_record",
    "record_path",
    "rehash",
    "remove_cached",
    "safe_file_name",
    "stat_fields",
    "write_record",
]

ASSETS = "assets"
RECORD_VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


# --------------------------------------------------------------------------- paths


def assets_root(cache_dir: str | os.PathLike) -> Path:
    """The folder that holds every cached asset."""
    return Path(cache_dir) / ASSETS


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
        raise LinkError(
            f"{describe_card(card)}: model-name {name!r} cannot name a cache folder; fix the card's model-name"
        )
    try:
        digest = normalize_digest(asset.sha256)
    except ValueError as exc:
        raise LinkError(f"{describe_card(card)}: {exc}; fix the asset-sha256 of {asset.link}") from None
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


# What a record holds, by kind; a record with any of them of another type vouches for nothing.
_RECORD_INTS = ("size", "mtime_ns", "ctime_ns", "inode")
_RECORD_TEXTS = ("sha256", "name", "card", "link", "url", "etag", "last_modified", "verified_at")


def read_record(path: Path) -> dict[str, Any] | None:
    """The record of the cached file ``path``, or None when there is none that can be read.

    A record of another shape than ghosthub writes (a number where a digest goes, a list for
    a size) is as good as none: the file is hashed again, never trusted on it.
    """
    try:
        record = json.loads(record_path(path).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    ints = all(isinstance(record.get(k, 0), int) and not isinstance(record.get(k), bool) for k in _RECORD_INTS)
    texts = all(record.get(k) is None or isinstance(record[k], str) for k in _RECORD_TEXTS)
    return record if ints and texts else None


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


def describe_card(card: ModelCard) -> str:
    """``card '<name>' (<file>)``: how messages about the cache name a card."""
    return f"card {card.fields.get('model-name')!r} ({card.path or 'no file'})"

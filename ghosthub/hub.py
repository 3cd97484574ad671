"""Hubs: a static folder (index.json + cards/ + assets/) that any web server or object store can serve."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urljoin

from .card import is_safe_name
from .errors import GhostHubError

__all__ = ["HubError", "INDEX", "FORMAT", "Transaction", "atomic_write", "index_bytes", "is_url", "read_index", "recover"]

INDEX = "index.json"
FORMAT = "ghosthub-hub/1"
MAX_INDEX_BYTES = 16 << 20
_CARD_PATH = re.compile(r"cards/([^/]+)\.md")
_ASSET_PATH = re.compile(r"assets/([^/]+)")


class HubError(GhostHubError):
    """A hub folder or URL that cannot be used: unreadable index, unsafe entry, refused overwrite."""


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def empty_index() -> dict[str, Any]:
    return {"format": FORMAT, "updated": None, "models": {}}


def read_index(path: str | os.PathLike, *, source: str | None = None) -> dict[str, Any]:
    """Read and check a hub's index.json (a missing file is an empty hub)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return empty_index()
    except OSError as exc:
        raise HubError(f"cannot read hub index {path}: {exc.strerror or exc}") from None
    return parse_index(data, source=source or str(path))


def parse_index(data: bytes, *, source: str) -> dict[str, Any]:
    """Check the shape of index.json bytes: every card and asset path is a safe name in its folder."""
    if len(data) > MAX_INDEX_BYTES:
        raise HubError(f"hub index {source} is larger than {MAX_INDEX_BYTES} bytes")
    try:
        index = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HubError(f"hub index {source} is not valid JSON: {exc}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("models"), dict):
        raise HubError(f"hub index {source} is not a ghosthub hub index; expected format {FORMAT!r} and a 'models' mapping")
    for name, entry in index["models"].items():
        where = f"hub index {source}, model {name!r}"
        if not is_safe_name(name) or not isinstance(entry, dict):
            raise HubError(f"{where}: not a safe model name or not a mapping")
        card = _CARD_PATH.fullmatch(str(entry.get("card", "")))
        if not card or not is_safe_name(card.group(1)):
            raise HubError(f"{where}: card path {entry.get('card')!r} is not cards/<safe name>.md")
        for asset in entry.get("assets", []):
            match = _ASSET_PATH.fullmatch(str(asset.get("path", ""))) if isinstance(asset, dict) else None
            if not match or not is_safe_name(match.group(1)):
                raise HubError(f"{where}: asset path {asset!r} is not assets/<safe file name>")
    return index


def index_bytes(index: dict[str, Any]) -> bytes:
    """index.json as written to disk: models sorted by name."""
    index = {**index, "models": dict(sorted(index["models"].items()))}
    return (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode()


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a process-unique temporary file beside ``path``, fsync, then replace."""
    with staged_file(path) as (tmp, f):
        f.write(data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_file(path: Path) -> Iterator[tuple[Path, Any]]:
    """A temporary file beside ``path`` (same folder, so os.replace is atomic), fsynced on success.

    The temporary file is removed if the block fails; on success the caller replaces ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield tmp, f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------- reading hubs


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
    import warnings

    from .card import CardError, CardWarning, parse_card, render_card
    from .errors import DownloadError, OfflineError

    base = url if url.endswith("/") else url + "/"
    local = settings.cache_dir / "hubs" / hashlib.sha256(base.encode()).hexdigest()[:16]
    meta_path = local / "hub.json"
    meta = _read_json(meta_path) or {}
    have_copy = (local / INDEX).is_file() and meta.get("url") == base
    if settings.offline:
        if have_copy:
            return local / "cards"
        raise OfflineError(
            f"hub {base} has not been fetched yet and GHOSTHUB_OFFLINE is set; run once online (its copy will be in {local})",
            url=base + INDEX,
            path=local,
        )
    from .transport import Transport

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
        meta = {"url": base, "etag": etag, "fetched": now(), "cards": {k: v for k, v in digests.items() if k in keep}}
        atomic_write(meta_path, json.dumps(meta, indent=2).encode())
    return local / "cards"


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------- writing hubs

JOURNAL = ".publish-journal.json"


class Transaction:
    """Replace several files of a hub so that readers see all changes or none.

    Files are staged first (:meth:`stage`), then :meth:`commit` records a journal,
    replaces each final file (keeping a hard-linked backup of what it replaces),
    and removes the journal. Any failure during commit rolls back at once; a
    process killed mid-commit leaves the journal, and :func:`recover` (run by
    the next publish) rolls back from it.
    """

    def __init__(self, root: Path):
        self.root = root
        self.steps: list[dict[str, str | None]] = []

    def stage(self, final: Path, data: bytes | None = None, *, tmp: Path | None = None) -> None:
        """Queue ``final`` to be replaced by ``data`` (or by an already staged temporary file)."""
        if tmp is None:
            with staged_file(final) as (tmp, f):
                f.write(data or b"")
        self.steps.append({"tmp": str(tmp), "final": str(final), "backup": None})

    def discard(self) -> None:
        for step in self.steps:
            Path(step["tmp"]).unlink(missing_ok=True)
        self.steps = []

    def commit(self) -> None:
        journal = self.root / JOURNAL
        for i, step in enumerate(self.steps):
            final = Path(step["final"])
            if final.exists():
                step["backup"] = str(final.with_name(f".{final.name}.{os.getpid()}.{i}.bak"))
        atomic_write(journal, json.dumps({"steps": self.steps}).encode())
        try:
            for step in self.steps:
                if step["backup"]:
                    _link_or_copy(Path(step["final"]), Path(step["backup"]))
                os.replace(step["tmp"], step["final"])
        except BaseException:
            _roll_back(self.root, self.steps)
            raise
        journal.unlink()
        for step in self.steps:
            if step["backup"]:
                Path(step["backup"]).unlink(missing_ok=True)
        self.steps = []


def recover(root: str | os.PathLike) -> bool:
    """Roll back a publish that was killed while committing; True if there was one."""
    root = Path(root)
    journal = root / JOURNAL
    try:
        steps = json.loads(journal.read_bytes())["steps"]
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError) as exc:
        raise HubError(f"cannot read the publish journal {journal} ({exc}); inspect the hub, then delete it") from None
    _roll_back(root, steps)
    return True


def _roll_back(root: Path, steps: list[dict[str, Any]]) -> None:
    for step in reversed(steps):
        final, tmp, backup = Path(step["final"]), Path(step["tmp"]), step["backup"]
        if not _inside(root, final) or not _inside(root, tmp) or (backup and not _inside(root, Path(backup))):
            raise HubError(f"publish journal in {root} names files outside the hub; refusing to roll back")
        if backup and Path(backup).exists():
            os.replace(backup, final)
            # rename() between two links to one file does nothing: the backup may still be there.
            Path(backup).unlink(missing_ok=True)
        elif not backup and not tmp.exists():
            final.unlink(missing_ok=True)  # created by the commit: it did not exist before
        tmp.unlink(missing_ok=True)
    (root / JOURNAL).unlink(missing_ok=True)


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # file systems without hard links
        import shutil

        shutil.copy2(src, dst)

"""Reading hubs: a folder hub is read in place; a URL or s3 hub is copied into the cache and read from there.

A sync never holds a command up for long: one overall deadline, one try for
each card, a failed sync remembered for a while (commands meanwhile use the
copy without asking), and one summary warning however many cards fail. A
successful one is remembered too: within ``GHOSTHUB_HUB_TTL`` seconds (default 0)
the copy is used without asking, so no network stack (nor, for an s3 hub, the AWS
SDK) is even imported.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import time
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urljoin

from .._utils.fs import atomic_write, read_json, utcnow, write_json
from .._utils.places import HubPlace, hub_place, is_s3
from .._utils.urls import is_url, redact
from .._utils.warn import warn
from ..errors import CardError, CardWarning, DownloadError, HubError, OfflineError, TransferError, shorten
from ..modelcard import ASSET_SIZE, parse_card, render_card
from .index import INDEX, MAX_INDEX_BYTES, parse_index

__all__ = ["Remote", "cards_dir", "forget_check", "sync"]

SYNC_DEADLINE = 20.0  # seconds one sync may take, every request included
FAILURE_MEMORY = 60.0  # seconds a failed sync is remembered: no request to that hub meanwhile
COPY_PATIENCE = 5.0  # seconds to wait for a connection or a read when a copy could serve instead
MAX_CARD_FAILURES = 5  # cards failing in one sync before the rest wait for the next sync
STATE = "state.json"
COPY_FORMAT = 2  # 2: a copy's cards declare the asset sizes of the index (asset-size)
_CHECK_URL = "check the hub URL (--hub or GHOSTHUB_HUB)"


class Remote(NamedTuple):
    """A hub a sync reads from afar: an http(s) URL or an s3 prefix, and how its files are asked for."""

    place: HubPlace
    base: str  # the hub with a trailing "/": https://host/hub/ or s3://bucket/prefix/
    shown: str  # ``base`` as messages show it and the copy is keyed: no password, no query

    @classmethod
    def of(cls, place: HubPlace) -> Remote:
        base = place.spec if place.spec.endswith("/") else place.spec + "/"
        return cls(place, base, redact(base))

    def url(self, rel: str, settings) -> str:
        """The URL that GETs ``rel``: the hub's own, or for an s3 hub one presigned for its endpoint."""
        if self.place.kind == "s3":
            from ..download.s3 import presigned_get  # the AWS SDK: only s3 hubs pay for it

            return presigned_get(self.base + rel, settings)
        return self.base + rel

    def link(self, card_rel: str, link: str) -> str:
        """A card's asset link made absolute against the card's place in the hub (never with a password)."""
        if self.place.kind != "s3":
            return urljoin(self.shown + card_rel, link)
        if "://" in link or link.startswith("/"):
            return link  # absolute: judged by allows()
        key = posixpath.normpath(posixpath.join(self.place.prefix, posixpath.dirname(card_rel), link))
        return link if key.startswith("..") else f"s3://{self.place.bucket}/{key}"

    def allows(self, link: str) -> bool:
        """Whether a card of this hub may link ``link``: http(s), or an object of the s3 hub's own bucket."""
        if is_url(link):
            return True
        return self.place.kind == "s3" and is_s3(link) and link[5:].partition("/")[0] == self.place.bucket


def cards_dir(spec: str, settings) -> Path:
    """The folder of a hub's cards for the registry.

    A folder hub is read in place (``<hub>/cards``). A URL or s3 hub is copied into
    ``<cache>/hubs/`` (see :func:`sync`) and its copy is used: offline, or when
    the hub cannot be reached, the last copy is used, with a warning in the latter case.
    Raises HubError (or OfflineError) when the hub gives no cards, saying why.
    """
    place = hub_place(spec)
    if place.kind != "folder":
        return sync(place.spec, settings)
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise HubError(f"the hub folder {folder} does not exist; {_CHECK_URL}")
    if not (folder / "cards").is_dir() and not (folder / INDEX).is_file():
        raise HubError(
            f"{folder} is not a hub: it has neither {INDEX} nor cards/ (`ghosthub publish` makes one); {_CHECK_URL}"
        )
    return folder / "cards"


def sync(url: str, settings) -> Path:
    """Bring the cache's copy of a remote hub (http(s) URL or ``s3://bucket/prefix``) up to date; return its cards.

    index.json is fetched with If-None-Match (its ETag), then each card whose
    digest changed; a card must match the digest the index gives and may link
    only http(s) URLs (an s3 hub's cards also objects of its own bucket). Relative
    asset links are made absolute against the card's place, so the cached copy
    downloads from the hub. Nothing is fetched offline, nor while a failure is
    remembered, nor into a cache that cannot be written. The hub's password and
    query, and an s3 request's signature, never reach the cache or a message.
    """
    remote = Remote.of(hub_place(url))
    copy = _Copy.of(remote.shown, settings)
    if settings.offline:
        if copy.have:
            return copy.cards
        raise OfflineError(
            f"hub {remote.shown} has not been fetched yet and GHOSTHUB_OFFLINE is set; run once online (its copy "
            f"will be in {copy.local})",
            url=remote.shown + INDEX,
            path=copy.local,
        )
    if copy.have and copy.checked_within(settings.hub_ttl):
        return copy.cards
    why = copy.recent_failure()
    if why is not None:
        return copy.fall_back(why, raise_without=True)
    if not _writable(copy.local):
        if not copy.have:
            raise HubError(
                f"hub {remote.shown} has no copy in the cache, and {copy.local} cannot be written; set GHOSTHUB_CACHE "
                "to a writable folder"
            )
        return copy.fall_back(f"the copy of hub {remote.shown} in {copy.local} cannot be updated (read-only cache)")
    try:
        return _refresh(remote, copy, settings)
    except OSError as exc:  # the cache became unwritable, or is full
        if not copy.have:
            raise HubError(
                f"cannot store the copy of hub {remote.shown} in {copy.local}: {exc.strerror or exc}"
            ) from None
        return copy.fall_back(
            f"the copy of hub {remote.shown} in {copy.local} cannot be updated ({exc.strerror or exc})"
        )


class _Copy(NamedTuple):
    """The cache's copy of one remote hub: its folder, what was recorded of the last sync, whether it is usable."""

    local: Path
    shown: str
    meta: dict
    have: bool

    @classmethod
    def of(cls, shown: str, settings) -> _Copy:
        local = settings.cache_dir / "hubs" / hashlib.sha256(shown.encode()).hexdigest()[:16]
        meta = _checked_meta(read_json(local / "hub.json") or {})
        return cls(local, shown, meta, (local / INDEX).is_file() and meta.get("url") == shown)

    @property
    def cards(self) -> Path:
        return self.local / "cards"

    def recent_failure(self) -> str | None:
        """Why the last sync failed, while that is remembered (no request to the hub meanwhile); else None."""
        state = read_json(self.local / STATE) or {}
        since = time.time() - state["failed_at"] if isinstance(state.get("failed_at"), (int, float)) else None
        if since is None or not 0 <= since < FAILURE_MEMORY:
            return None
        return (
            f"hub {self.shown} failed {since:.0f} s ago ({shorten(state.get('error'), 300)}); it is asked again after "
            f"{FAILURE_MEMORY:g} s"
        )

    def checked_within(self, seconds: float) -> bool:
        """Whether the hub was asked, and answered, less than ``seconds`` ago."""
        if seconds <= 0:
            return False
        state = read_json(self.local / STATE) or {}
        checked = state.get("checked_at")
        return isinstance(checked, (int, float)) and 0 <= time.time() - checked < seconds

    def fall_back(self, why: str, *, raise_without: bool = False) -> Path:
        """The copy's cards, with one warning saying why they are not fresh; HubError when there is no copy."""
        if not self.have:
            raise HubError(why)
        _warn(f"{why}; using the copy fetched {self.meta.get('fetched')}")
        return self.cards


def _checked_meta(meta: dict) -> dict:
    """The record of a copy (``hub.json``), keeping only what has the shape a sync wrote.

    The etag goes into a header and the card digests decide what is fetched again; anything
    else (written by hand, or by an older ghosthub) is dropped, which costs a fetch, never a crash.
    Card digests of a copy written before copies carried asset sizes are dropped too: every card
    is fetched once more and gets them.
    """
    checked = {k: meta[k] for k in ("url", "fetched") if isinstance(meta.get(k), str)}
    if meta.get("copy-format") != COPY_FORMAT:
        return checked
    if isinstance(meta.get("etag"), str):
        checked["etag"] = meta["etag"]
    if isinstance(meta.get("cards"), dict):
        checked["cards"] = {k: v for k, v in meta["cards"].items() if isinstance(v, str)}
    return checked


def _refresh(remote: Remote, copy: _Copy, settings) -> Path:
    """Fetch the index, then the cards it changed, all within one deadline; store them in the copy."""
    from ..download.transport import Transport

    deadline = time.monotonic() + SYNC_DEADLINE
    if copy.have:  # a hub that does not answer soon is not waited for: the copy serves
        settings = settings.replace(
            connect_timeout=min(settings.connect_timeout, COPY_PATIENCE),
            read_timeout=min(settings.read_timeout, COPY_PATIENCE),
        )
    with Transport(settings) as transport:
        try:
            body, etag = _fetch_index(remote, copy, transport, settings, deadline)
            index = parse_index(body, source=remote.shown + INDEX) if body is not None else None
        except (DownloadError, HubError) as exc:
            why = _index_failure(exc, remote)
            _remember(copy.local, why)
            return copy.fall_back(why)
        if index is None:  # 304: the copy is current
            _forget(copy.local, settings)
            return copy.cards
        got = _fetch_cards(remote, copy, index, transport, settings, deadline)
    _store(copy, index, body, etag, got, settings)
    return copy.cards


def _fetch_index(remote: Remote, copy: _Copy, transport, settings, deadline: float) -> tuple[bytes | None, str | None]:
    """index.json, or (None, etag) when the copy's ETag is still current; one try when a copy can serve."""
    return transport.fetch_small(
        remote.url(INDEX, settings),
        etag=copy.meta.get("etag") if copy.have else None,
        limit=MAX_INDEX_BYTES,
        tries=1 if copy.have else None,
        deadline=deadline,
    )


class _Cards(NamedTuple):
    """What one sync did to the cards: kept file names, their digests, problems, untried and failed counts."""

    keep: set
    digests: dict
    problems: list
    untried: int
    failed: int


def _fetch_cards(remote: Remote, copy: _Copy, index: dict, transport, settings, deadline: float) -> _Cards:
    """Fetch each card whose digest changed, one try each, until too many fail or time runs out."""
    digests = dict(copy.meta.get("cards", {}))
    have = set(os.listdir(copy.cards)) if copy.cards.is_dir() else set()
    keep, problems, untried, failed = set(), [], 0, 0
    for name, entry in index["models"].items():
        file_name = entry["card"].split("/", 1)[1]
        want = str(entry.get("card-sha256", "")).lower()
        if file_name in have and want and digests.get(file_name) == _copy_key(want, entry):
            keep.add(file_name)
            continue
        if failed >= MAX_CARD_FAILURES or time.monotonic() > deadline:
            untried += 1
            if file_name in have:
                keep.add(file_name)  # the older copy serves until this one can be fetched
            continue
        try:
            data, _ = transport.fetch_small(
                remote.url(entry["card"], settings), limit=1 << 20, tries=1, deadline=deadline
            )
        except (DownloadError, HubError) as exc:
            failed += 1
            problems.append((name, str(exc)))
            if file_name in have:
                keep.add(file_name)
            continue
        try:
            text, got = _checked_card(data, name, want, entry, remote)
        except (HubError, CardError) as exc:
            problems.append((name, str(exc)))
            continue
        atomic_write(copy.cards / file_name, text.encode())
        keep.add(file_name)
        digests[file_name] = _copy_key(got, entry)
    return _Cards(keep, digests, problems, untried, failed)


def _store(copy: _Copy, index: dict, body: bytes, etag: str | None, got: _Cards, settings) -> None:
    """Drop the cards the index no longer lists, write the index and the record; warn once about what is missing."""
    for stale in copy.cards.glob("*.md") if copy.cards.is_dir() else ():
        if stale.name not in got.keep:
            stale.unlink(missing_ok=True)
    copy.cards.mkdir(parents=True, exist_ok=True)
    atomic_write(copy.local / INDEX, body)
    # After a partial sync the ETag is not kept: the next sync reads the index again and retries what is missing.
    complete = not got.problems and not got.untried
    meta = {
        "url": copy.shown,
        "etag": etag if complete else None,
        "fetched": utcnow(),
        "copy-format": COPY_FORMAT,
        "cards": {k: v for k, v in got.digests.items() if k in got.keep},
    }
    write_json(copy.local / "hub.json", meta)
    if complete:
        _forget(copy.local, settings)
        return
    if got.untried or got.failed:
        _remember(copy.local, f"{got.failed + got.untried} cards not fetched")
    _warn(_summary(copy.shown, got.problems, got.untried, len(index["models"])))


def _checked_card(data: bytes, name: str, want: str, entry: dict, remote: Remote) -> tuple[str, str]:
    """The text to store for a fetched card, and its digest; HubError when it is not what the index promised.

    The copy's asset links are absolute, and each asset the index lists with a size declares it
    (``asset-size``): a download of it never writes more (:func:`ghosthub.download.partfile.allowed_bytes`).
    """
    card_rel = entry["card"]
    shown_url = remote.shown + card_rel
    got = hashlib.sha256(data).hexdigest()
    if want and got != want:
        raise HubError(f"card {shown_url} has SHA-256 {got}, but the hub index says {want}")
    card = parse_card(data)
    if card.name != name:
        raise HubError(f"card {shown_url} is for {card.name!r}, but the hub index lists it as {name!r}")
    # Links are made absolute against the hub without its password: the copy never stores it.
    assets = [
        dict(a, **{"asset-link": remote.link(card_rel, str(a.get("asset-link", "")))})
        for a in card.fields.get("asset") or []
    ]
    sizes = _listed_sizes(entry, remote)
    for asset in assets:
        size = sizes.get(asset["asset-link"]) or sizes.get(str(asset.get("asset-sha256", "")).lower())
        if size is None:
            continue
        if asset.get(ASSET_SIZE, str(size)) != str(size):
            raise HubError(
                f"card {shown_url} declares {shorten(asset[ASSET_SIZE], 30)} bytes for {redact(asset['asset-link'])}, "
                f"but the hub index says {size}"
            )
        asset[ASSET_SIZE] = str(size)
    for asset in assets:
        if not remote.allows(asset["asset-link"]):
            own = f", or objects of its own bucket s3://{remote.place.bucket}/" if remote.place.kind == "s3" else ""
            raise HubError(
                f"card {shown_url} links {redact(asset['asset-link'])!r}: a remote hub's cards may only link http(s) "
                f"URLs{own}, never this machine's files"
            )
    text = render_card(card.replace(asset=assets)) if assets else data.decode("utf-8")
    return text, got


def _copy_key(card_sha256: str, entry: dict) -> str:
    """What a copy of a card was made from: the card's digest and the sizes the index gives its assets.

    A copy is written again when either changes, so it always declares the index's sizes.
    """
    sizes = sorted(f"{a['path']}={a.get('size')}" for a in entry.get("assets", []) if a.get("size") is not None)
    return ";".join([card_sha256, *sizes])


def _listed_sizes(entry: dict, remote: Remote) -> dict[str, int]:
    """The sizes an index entry gives its assets, by absolute link and by digest (a card may link either way)."""
    sizes = {}
    for item in entry.get("assets", []):
        if isinstance(item.get("size"), int):
            sizes[remote.link(INDEX, item["path"])] = item["size"]
            digest = str(item.get("sha256", "")).lower()
            for n in range(8, len(digest) + 1):  # a card may give any prefix of 8 or more digits
                sizes.setdefault(digest[:n], item["size"])
    return sizes


def _index_failure(exc: Exception, remote: Remote) -> str:
    """Why a hub gave no index, with what to do: a wrong URL and a network failure need different advice."""
    shown = remote.shown
    if isinstance(exc, TransferError):
        if exc.status in (401, 403) and remote.place.kind == "s3":
            return (
                f"hub {shown} refused to give {INDEX} ({exc.reason}); check the AWS credentials (AWS_PROFILE, "
                "~/.aws/credentials) and the endpoint (AWS_ENDPOINT_URL)"
            )
        if exc.status is not None and 400 <= exc.status < 500:
            return f"hub {shown} has no usable {INDEX} ({exc.reason} at {shown}{INDEX}); {_CHECK_URL}"
        return f"hub {shown} cannot be reached ({exc.reason}); {exc.hint}, or {_CHECK_URL}"
    if isinstance(exc, HubError):
        return f"hub {shown} is left out: {exc}"
    return f"hub {shown} cannot be reached ({exc})"


def _summary(shown: str, problems: list, untried: int, total: int) -> str:
    """One warning for every card a sync left out, whatever their number."""
    text = f"hub {shown}: {len(problems) + untried} of {total} cards left out this time"
    if problems:
        text += ": " + "; ".join(f"{name!r}: {why}" for name, why in problems[:3])
        if len(problems) > 3:
            text += f"; and {len(problems) - 3} more"
    if untried:
        text += (
            f"; {untried} not tried (after {MAX_CARD_FAILURES} failures or {SYNC_DEADLINE:g} s); "
            f"they are tried again in {FAILURE_MEMORY:g} s"
        )
    return text


def _remember(local: Path, why: str) -> None:
    try:
        write_json(local / STATE, {"failed_at": time.time(), "error": why[:300]})
    except OSError:
        pass  # a cache that cannot be written just asks again next time


def _forget(local: Path, settings) -> None:
    """The hub answered: no failure to remember; with ``GHOSTHUB_HUB_TTL``, when it was asked."""
    try:
        if settings.hub_ttl > 0:
            write_json(local / STATE, {"checked_at": time.time()})
        else:
            (local / STATE).unlink(missing_ok=True)
    except OSError:
        pass


def forget_check(spec: str, settings) -> None:
    """Make the cache's copy of hub ``spec`` ask the hub at its next use (this process just changed the hub)."""
    copy = _Copy.of(Remote.of(hub_place(spec)).shown, settings)
    try:
        (copy.local / STATE).unlink(missing_ok=True)
    except OSError:
        pass


def _writable(folder: Path) -> bool:
    """Whether the copy can be updated: the nearest existing folder accepts writes (not on a read-only mount)."""
    for candidate in (folder / "cards", folder, *folder.parents):
        if candidate.exists():
            return os.access(candidate, os.W_OK) and candidate.is_dir()
    return False


def _warn(message: str) -> None:
    warn(message, CardWarning)

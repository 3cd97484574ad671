"""Reading hubs: a folder hub is read in place; a URL hub is copied into the cache and read from there.

A sync never holds a command up for long: one overall deadline, one try for
each card, a failed sync remembered for a while (commands meanwhile use the
copy without asking), and one summary warning however many cards fail.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path
from urllib.parse import urljoin

from .._utils.fs import atomic_write, read_json, utcnow, write_json
from .._utils.urls import is_url, redact
from ..errors import CardError, CardWarning, DownloadError, HubError, OfflineError, TransferError
from ..modelcard import parse_card, render_card
from .index import INDEX, MAX_INDEX_BYTES, parse_index

__all__ = ["cards_dir", "sync"]

SYNC_DEADLINE = 20.0  # seconds one sync may take, every request included
FAILURE_MEMORY = 60.0  # seconds a failed sync is remembered: no request to that hub meanwhile
COPY_PATIENCE = 5.0  # seconds to wait for a connection or a read when a copy could serve instead
MAX_CARD_FAILURES = 5  # cards failing in one sync before the rest wait for the next sync
STATE = "state.json"
_CHECK_URL = "check the hub URL (--hub or GHOSTHUB_HUB)"


def cards_dir(spec: str, settings) -> Path:
    """The folder of a hub's cards for the registry.

    A folder hub is read in place (``<hub>/cards``). A URL hub is copied into
    ``<cache>/hubs/`` (see :func:`sync`) and its copy is used: offline, or when
    the hub cannot be reached, the last copy is used, with a warning in the latter case.
    Raises HubError (or OfflineError) when the hub gives no cards, saying why.
    """
    if is_url(spec):
        return sync(spec, settings)
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise HubError(f"the hub folder {folder} does not exist; {_CHECK_URL}")
    if not (folder / "cards").is_dir() and not (folder / INDEX).is_file():
        raise HubError(
            f"{folder} is not a hub: it has neither {INDEX} nor cards/ (`ghosthub publish` makes one); {_CHECK_URL}"
        )
    return folder / "cards"


def sync(url: str, settings) -> Path:
    """Bring the cache's copy of a remote hub up to date; return its cards folder.

    index.json is fetched with If-None-Match (its ETag), then each card whose
    digest changed; a card must match the digest the index gives and may link
    only http(s) URLs. Relative asset links are made absolute against the
    card's URL, so the cached copy downloads from the hub. Nothing is fetched
    offline, nor while a failure is remembered, nor into a cache that cannot
    be written. The hub's password and query never reach the cache or a message.
    """
    base = url if url.endswith("/") else url + "/"
    shown = redact(base)
    local = settings.cache_dir / "hubs" / hashlib.sha256(shown.encode()).hexdigest()[:16]
    meta = read_json(local / "hub.json") or {}
    have_copy = (local / INDEX).is_file() and meta.get("url") == shown
    use_copy = f"using the copy fetched {meta.get('fetched')}"
    if settings.offline:
        if have_copy:
            return local / "cards"
        raise OfflineError(
            f"hub {shown} has not been fetched yet and GHOSTHUB_OFFLINE is set; run once online (its copy will be in "
            f"{local})",
            url=shown + INDEX,
            path=local,
        )
    state = read_json(local / STATE) or {}
    since = time.time() - state["failed_at"] if isinstance(state.get("failed_at"), (int, float)) else None
    if since is not None and 0 <= since < FAILURE_MEMORY:
        why = (
            f"hub {shown} failed {since:.0f} s ago ({state.get('error')}); it is asked again after {FAILURE_MEMORY:g} s"
        )
        if not have_copy:
            raise HubError(why)
        _warn(f"{why}; {use_copy}")
        return local / "cards"
    if not _writable(local):
        if not have_copy:
            raise HubError(
                f"hub {shown} has no copy in the cache, and {local} cannot be written; set GHOSTHUB_CACHE to a "
                "writable folder"
            )
        _warn(f"the copy of hub {shown} in {local} cannot be updated (read-only cache); {use_copy}")
        return local / "cards"
    try:
        return _sync(base, shown, local, meta, have_copy, use_copy, settings)
    except OSError as exc:  # the cache became unwritable, or is full
        if not have_copy:
            raise HubError(f"cannot store the copy of hub {shown} in {local}: {exc.strerror or exc}") from None
        _warn(f"the copy of hub {shown} in {local} cannot be updated ({exc.strerror or exc}); {use_copy}")
        return local / "cards"


def _sync(base: str, shown: str, local: Path, meta: dict, have_copy: bool, use_copy: str, settings) -> Path:
    from ..download.transport import Transport

    deadline = time.monotonic() + SYNC_DEADLINE
    if have_copy:  # a hub that does not answer soon is not waited for: the copy serves
        settings = settings.replace(
            connect_timeout=min(settings.connect_timeout, COPY_PATIENCE),
            read_timeout=min(settings.read_timeout, COPY_PATIENCE),
        )
    with Transport(settings) as transport:
        try:
            # With a copy to fall back on, one try: a hub that is down must not hold every command up.
            tries = 1 if have_copy else None
            body, etag = transport.fetch_small(
                base + INDEX,
                etag=meta.get("etag") if have_copy else None,
                limit=MAX_INDEX_BYTES,
                tries=tries,
                deadline=deadline,
            )
            index = parse_index(body, source=shown + INDEX) if body is not None else None
        except (DownloadError, HubError) as exc:
            why = _index_failure(exc, shown)
            _remember(local, why)
            if not have_copy:
                raise HubError(why) from None
            _warn(f"{why}; {use_copy}")
            return local / "cards"
        if index is None:  # 304: the copy is current
            _forget(local)
            return local / "cards"
        digests = dict(meta.get("cards", {}))
        have = set(os.listdir(local / "cards")) if (local / "cards").is_dir() else set()
        keep, problems, untried, failed = set(), [], 0, 0
        for name, entry in index["models"].items():
            file_name = entry["card"].split("/", 1)[1]
            want = str(entry.get("card-sha256", "")).lower()
            if file_name in have and want and digests.get(file_name) == want:
                keep.add(file_name)
                continue
            if failed >= MAX_CARD_FAILURES or time.monotonic() > deadline:
                untried += 1
                if file_name in have:
                    keep.add(file_name)  # the older copy serves until this one can be fetched
                continue
            card_url = base + entry["card"]
            try:
                data, _ = transport.fetch_small(card_url, limit=1 << 20, tries=1, deadline=deadline)
            except DownloadError as exc:
                failed += 1
                problems.append((name, str(exc)))
                if file_name in have:
                    keep.add(file_name)
                continue
            try:
                text, got = _checked_card(data, name, want, card_url, shown)
            except (HubError, CardError) as exc:
                problems.append((name, str(exc)))
                continue
            atomic_write(local / "cards" / file_name, text.encode())
            keep.add(file_name)
            digests[file_name] = got
        for stale in (local / "cards").glob("*.md") if (local / "cards").is_dir() else ():
            if stale.name not in keep:
                stale.unlink(missing_ok=True)
        (local / "cards").mkdir(parents=True, exist_ok=True)
        atomic_write(local / INDEX, body)
        # After a partial sync the ETag is not kept: the next sync reads the index again and retries what is missing.
        complete = not problems and not untried
        meta = {
            "url": shown,
            "etag": etag if complete else None,
            "fetched": utcnow(),
            "cards": {k: v for k, v in digests.items() if k in keep},
        }
        write_json(local / "hub.json", meta)
        if complete:
            _forget(local)
        else:
            summary = _summary(shown, problems, untried, len(index["models"]))
            if untried or failed:
                _remember(local, f"{failed + untried} cards not fetched")
            _warn(summary)
    return local / "cards"


def _checked_card(data: bytes, name: str, want: str, card_url: str, shown: str) -> tuple[str, str]:
    """The text to store for a fetched card, and its digest; HubError when it is not what the index promised."""
    shown_url = redact(card_url)
    got = hashlib.sha256(data).hexdigest()
    if want and got != want:
        raise HubError(f"card {shown_url} has SHA-256 {got}, but the hub index says {want}")
    card = parse_card(data)
    if card.name != name:
        raise HubError(f"card {shown_url} is for {card.name!r}, but the hub index lists it as {name!r}")
    # Links are made absolute against the hub's URL without its password: the copy never stores it.
    assets = [
        dict(a, **{"asset-link": urljoin(shown_url, str(a.get("asset-link", "")))})
        for a in card.fields.get("asset") or []
    ]
    for asset in assets:
        if not is_url(asset["asset-link"]):
            raise HubError(
                f"card {shown_url} links {redact(asset['asset-link'])!r}: a remote hub's cards may only link http(s) "
                "URLs, "
                "never this machine's files"
            )
    text = render_card(card.replace(asset=assets)) if assets else data.decode("utf-8")
    return text, got


def _index_failure(exc: Exception, shown: str) -> str:
    """Why a hub gave no index, with what to do: a wrong URL and a network failure need different advice."""
    if isinstance(exc, TransferError):
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


def _forget(local: Path) -> None:
    try:
        (local / STATE).unlink(missing_ok=True)
    except OSError:
        pass


def _writable(folder: Path) -> bool:
    """Whether the copy can be updated: the nearest existing folder accepts writes (not on a read-only mount)."""
    for candidate in (folder / "cards", folder, *folder.parents):
        if candidate.exists():
            return os.access(candidate, os.W_OK) and candidate.is_dir()
    return False


def _warn(message: str) -> None:
    warnings.warn(message, CardWarning, stacklevel=4)

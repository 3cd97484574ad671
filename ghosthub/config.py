"""Settings resolved in one place: argument > environment variable > default."""

from __future__ import annotations

import os
import sys
from collections import namedtuple
from pathlib import Path

from ._utils.places import hub_place
from .errors import ConfigError

APP = "ghosthub"
PACKAGE_DIR = Path(__file__).resolve().parent


class Settings(
    namedtuple(
        "Settings",
        "cache_dir card_dirs hub offline mirrors token progress max_size "
        "connect_timeout read_timeout retries backoff max_wait lock_timeout tokens connections parallel_min "
        "rehash_below single_writer part_size",
        defaults=(
            (),
            None,
            False,
            (),
            None,
            True,
            5 << 30,
            10.0,
            60.0,
            5,
            1.0,
            60.0,
            120.0,
            (),
            0,
            16 << 20,
            256 << 20,
            False,
            8 << 20,
        ),
    )
):
    """Everything ghosthub reads from the environment, resolved once per call.

    Attributes
    ----------
    cache_dir : Path
        Root of the cache (``GHOSTHUB_CACHE``); downloads, the card
        index and copies of remote hubs live in folders under it.
    card_dirs : tuple of Path
        Extra card folders (``GHOSTHUB_CARDS``, os.pathsep-separated).
    hub : str or None
        Folder, URL or ``s3://bucket/prefix`` of a published hub (``GHOSTHUB_HUB``); checked
        by :func:`ghosthub._utils.places.hub_place`.
    offline : bool
        Never touch the network (``GHOSTHUB_OFFLINE=1``).
    mirrors : tuple of (str, str)
        ``(original_prefix, mirror_prefix)`` pairs (``GHOSTHUB_MIRROR``).
    token : str or None
        Bearer token for the hub's own origin (``GHOSTHUB_TOKEN``, sent only to
        ``GHOSTHUB_HUB``'s scheme, host and port); never shown.
    tokens : tuple of (str, str)
        ``(host, token)`` pairs (``GHOSTHUB_TOKENS=host=token,...``, then the
        ``machine``/``password`` entries of the netrc-style file ``GHOSTHUB_NETRC``);
        ``host`` may carry a port. Never shown.
    progress : bool
        Show progress bars (off with ``GHOSTHUB_NO_PROGRESS=1``).
    max_size : int
        Largest asset ghosthub downloads, in bytes (``GHOSTHUB_MAX_SIZE``, e.g. ``5G``).
    connect_timeout, read_timeout : float
        Seconds to wait for a connection and for
        each read (``GHOSTHUB_TIMEOUT`` sets the read timeout).
    retries : int
        Tries per URL for connection errors, timeouts, 5xx and 429
        (``GHOSTHUB_RETRIES``).
    backoff : float
        First wait between tries, in seconds; doubled each try, with jitter.
    max_wait : float
        Cap on one wait between tries, a server's Retry-After included.
    lock_timeout : float
        Seconds a download waits for another process's download of
        the same asset to make progress before going on without the lock.
    connections : int
        Connections for one large download (``GHOSTHUB_CONNECTIONS``); 0 (``auto``)
        sizes it for the asset (one per 8 MiB, 2 to 8) when the first answer is
        slow enough for more connections to help; 1 is a single stream.
    parallel_min : int
        Smallest asset, in bytes, downloaded over several connections.
    rehash_below : int
        Cached files smaller than this many bytes are hashed on every load, not trusted
        on their stat alone (``GHOSTHUB_REHASH_BELOW``, e.g. ``256M``; ``0`` never
        re-hashes a file its record vouches for).
    single_writer : bool
        Write object-store hubs that do not honour conditional writes, on the user's word
        that no one else writes the hub meanwhile (``GHOSTHUB_SINGLE_WRITER=1``).
    part_size : int
        Part size of multipart uploads to object stores, and the size from which an asset is
        uploaded in parts (``GHOSTHUB_PART_SIZE``, default ``8M``; stores want at least ``5M``).
    """

    # A named tuple rather than a dataclass: importing dataclasses costs a cache hit
    # more time than the hit itself.
    __slots__ = ()

    def replace(self, **changes) -> Settings:
        """A copy with some settings changed."""
        return self._replace(**changes)

    def __repr__(self) -> str:  # the token, and a password in the hub's URL, never appear
        from ._utils.urls import redact

        def show(key, value):
            if key in ("token", "tokens") and value:
                return "'<set>'"
            return repr(redact(value)) if key == "hub" and value else repr(value)

        return f"Settings({', '.join(f'{k}={show(k, v)}' for k, v in zip(self._fields, self))})"


def settings(
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    hub: str | None = None,
    progress: bool | None = None,
    connections: int | None = None,
    env: dict | None = None,
) -> Settings:
    """Resolve settings from arguments (when not None), then the environment, then defaults."""
    env = os.environ if env is None else env
    cache = cache_dir or env.get("GHOSTHUB_CACHE") or _user_cache_dir()
    # One function decides which strings are hubs: s3: without a bucket, ftp://... are refused here.
    place = hub_place(hub, what="hub") if hub else None
    if place is None and env.get("GHOSTHUB_HUB"):
        place = hub_place(env["GHOSTHUB_HUB"], what="GHOSTHUB_HUB")
    return Settings(
        cache_dir=Path(cache).expanduser(),
        card_dirs=tuple(Path(p).expanduser() for p in env.get("GHOSTHUB_CARDS", "").split(os.pathsep) if p),
        hub=place.spec if place else None,
        offline=_flag(env, "GHOSTHUB_OFFLINE") if offline is None else bool(offline),
        mirrors=_mirrors(env.get("GHOSTHUB_MIRROR", "")),
        token=env.get("GHOSTHUB_TOKEN") or None,
        progress=(not _flag(env, "GHOSTHUB_NO_PROGRESS")) if progress is None else bool(progress),
        max_size=_size(env.get("GHOSTHUB_MAX_SIZE")) or 5 << 30,
        rehash_below=_rehash_below(env.get("GHOSTHUB_REHASH_BELOW")),
        read_timeout=_number(env, "GHOSTHUB_TIMEOUT", float, 60.0),
        retries=_number(env, "GHOSTHUB_RETRIES", int, 5),
        tokens=_tokens(env.get("GHOSTHUB_TOKENS", "")) + _netrc_tokens(env.get("GHOSTHUB_NETRC", "")),
        connections=_connections(env) if connections is None else max(0, int(connections)),
        single_writer=_flag(env, "GHOSTHUB_SINGLE_WRITER"),
        part_size=_size(env.get("GHOSTHUB_PART_SIZE"), "GHOSTHUB_PART_SIZE") or 8 << 20,
    )


def show_progress(progress: bool | None = None, settings: Settings | None = None) -> bool:
    """Whether to draw a progress bar: asked for (``progress``, else not GHOSTHUB_NO_PROGRESS), stderr a terminal."""
    wanted = (settings or globals()["settings"]()).progress if progress is None else progress
    return bool(wanted) and bool(getattr(sys.stderr, "isatty", None) and sys.stderr.isatty())


def user_cards_dir() -> Path:
    """The user's own cards folder (platformdirs user data dir)."""
    return Path(_user_dir("data")) / "cards"


def bundled_cards_dir() -> Path:
    """The cards shipped with ghosthub: inside the wheel, or the checkout's top-level folder."""
    return _bundled("cards")


def bundled_recipes_dir() -> Path:
    """The training recipes shipped with ghosthub."""
    return _bundled("recipes")


def _bundled(name: str) -> Path:
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


def _user_cache_dir() -> str:
    return _user_dir("cache")


def _user_dir(kind: str) -> str:
    """platformdirs' user data/cache dir; on Linux the XDG rule itself, since importing
    platformdirs costs a fifth of a cache hit's time budget."""
    if sys.platform == "linux":
        variable, default = {"data": ("XDG_DATA_HOME", "~/.local/share"), "cache": ("XDG_CACHE_HOME", "~/.cache")}[kind]
        base = os.environ.get(variable, "").strip() or os.path.expanduser(default)
        return os.path.join(base, APP)
    import platformdirs

    return getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False)


def _connections(env) -> int:
    """GHOSTHUB_CONNECTIONS: a count, or 0/auto (sized for the asset)."""
    if env.get("GHOSTHUB_CONNECTIONS", "").strip().lower() in ("", "0", "auto"):
        return 0
    return _number(env, "GHOSTHUB_CONNECTIONS", int, 0)


def _flag(env, name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}={env.get(name)!r} is not understood; expected 1 or 0")


def _mirrors(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        original, sep, mirror = item.partition("=")
        if not sep or not original or not mirror:
            raise ConfigError(
                f"GHOSTHUB_MIRROR entry {item!r} is not understood; expected ORIGINAL_PREFIX=MIRROR_PREFIX"
            )
        pairs.append((original.strip(), mirror.strip()))
    return tuple(pairs)


def _tokens(text: str) -> tuple[tuple[str, str], ...]:
    """``host=token,host:port=token`` -> pairs, hosts lower-cased."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, sep, token = item.partition("=")
        if not sep or not host.strip() or not token.strip() or "/" in host:
            raise ConfigError(
                "a GHOSTHUB_TOKENS entry is not understood; expected HOST=TOKEN or HOST:PORT=TOKEN, comma-separated"
            )
        pairs.append((host.strip().lower(), token.strip()))
    return tuple(pairs)


def _netrc_tokens(path: str) -> tuple[tuple[str, str], ...]:
    """The ``machine HOST ... password TOKEN`` entries of a netrc-style file (only when GHOSTHUB_NETRC names one)."""
    if not path:
        return ()
    import netrc

    try:
        hosts = netrc.netrc(os.path.expanduser(path)).hosts
    except (OSError, netrc.NetrcParseError) as exc:
        raise ConfigError(f"GHOSTHUB_NETRC={path!r} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    return tuple((host.lower(), entry[2]) for host, entry in hosts.items() if entry[2])


def _number(env, name: str, kind, default):
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise ConfigError(f"{name}={text!r} is not understood; expected a positive {kind.__name__}")
    return value


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _rehash_below(text: str | None) -> int:
    if text is None or not text.strip():
        return 256 << 20
    return _size(text, "GHOSTHUB_REHASH_BELOW") or 0


def _size(text: str | None, name: str = "GHOSTHUB_MAX_SIZE") -> int | None:
    """Parse '5G', '512M', '1048576' (binary units)."""
    if not text:
        return None
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    try:
        return int(float(value[: len(value) - len(unit)]) * _UNITS[unit])
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a size; expected e.g. 5G, 512M or a byte count") from None

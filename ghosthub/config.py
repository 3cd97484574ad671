"""Settings resolved in one place: argument > environment variable > default; every environment variable is read here.

This module is imported by ``import ghosthub`` (the oneDNN ceiling reads ``GHOSTHUB_CPU_ISA``
through :func:`cpu_isa`), so it imports only ``os`` and ``sys`` at the top: ``pathlib`` and
``ghosthub.errors`` are imported where a setting is resolved or refused (together they cost
``import ghosthub`` about 6 ms, more than everything else it does).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from pathlib import Path

APP = "ghosthub"
PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))

CPU_ISA_ENV = "GHOSTHUB_CPU_ISA"
RANK_DIR_ENV = "GHOSTHUB_RANK_DIR"


class Settings:
    """Everything ghosthub reads from the environment, resolved once per Client; frozen.

    Made by :func:`settings`; ``Settings(cache_dir=...)`` takes the fields by name, each
    other one defaulting to the value below; :meth:`replace` makes a changed copy.

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
    tokens : tuple of (str, str)
        ``(host, token)`` pairs (``GHOSTHUB_TOKENS=host=token,...``, then the
        ``machine``/``password`` entries of the netrc-style file ``GHOSTHUB_NETRC``);
        ``host`` may carry a port. Never shown.
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
    hub_ttl : float
        Seconds a copy of a remote hub (URL or s3) is used without asking the hub again once
        the hub was asked (``GHOSTHUB_HUB_TTL``; default 0: every command asks, with the copy's
        ETag). A write into an s3 hub from this cache makes its copy ask again at once.
    cpu_isa : str or None
        oneDNN's instruction-set ceiling asked for with ``GHOSTHUB_CPU_ISA`` (lower case;
        ``native`` for none); None when unset (see :func:`ghosthub.runtime.pin_cpu_isa`).

    Examples
    --------
    >>> s = Settings(cache_dir="/c")
    >>> s.retries, s.replace(retries=2).retries
    (5, 2)
    >>> s.retries = 2
    Traceback (most recent call last):
    ...
    AttributeError: Settings are frozen: use .replace(retries=...)
    """

    # Declared as a frozen dataclass would be, field by field with its default, but not made with
    # @dataclasses.dataclass: importing dataclasses (and inspect, which it needs) costs 5-10 ms, more
    # than `ghosthub download` of a cached file takes for everything else (bench/bench_load.py).
    cache_dir: Path
    card_dirs: tuple = ()
    hub: str | None = None
    offline: bool = False
    mirrors: tuple = ()
    token: str | None = None
    progress: bool = True
    max_size: int = 5 << 30
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0
    lock_timeout: float = 120.0
    tokens: tuple = ()
    connections: int = 0
    parallel_min: int = 16 << 20
    rehash_below: int = 256 << 20
    cpu_isa: str | None = None
    single_writer: bool = False
    part_size: int = 8 << 20
    hub_ttl: float = 0.0

    def __init__(self, **values) -> None:
        fields = type(self).__annotations__
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise TypeError(f"Settings has no field {', '.join(unknown)}; the fields are {', '.join(fields)}")
        if "cache_dir" not in values:
            raise TypeError("Settings needs cache_dir=")
        for name in fields:
            object.__setattr__(self, name, values.get(name, getattr(type(self), name, None)))

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"Settings are frozen: use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Settings are frozen: use .replace({name}=...)")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in type(self).__annotations__)

    def replace(self, **changes) -> Settings:
        """A copy with some settings changed."""
        return Settings(**{**dict(zip(type(self).__annotations__, self._values())), **changes})

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:  # the token, and a password in the hub's URL, never appear
        from ._utils.urls import redact

        def show(key, value):
            if key in ("token", "tokens") and value:
                return "'<set>'"
            return repr(redact(value)) if key == "hub" and value else repr(value)

        shown = (f"{k}={show(k, v)}" for k, v in zip(type(self).__annotations__, self._values()))
        return f"Settings({', '.join(shown)})"


def settings(
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    hub: str | None = None,
    progress: bool | None = None,
    connections: int | None = None,
    env: dict | None = None,
) -> Settings:
    """Resolve settings from arguments (when not None), then the environment, then defaults.

    Parameters
    ----------
    cache_dir, offline, hub, progress, connections : optional
        Arguments, each winning over its environment variable.
    env : mapping, optional
        The environment to read (default ``os.environ``).

    Returns
    -------
    Settings

    Raises
    ------
    ConfigError
        An environment variable holds a value ghosthub cannot use; the message names the
        variable, the value and what it accepts.

    Examples
    --------
    >>> settings(env={"GHOSTHUB_CACHE": "/c", "GHOSTHUB_MAX_SIZE": "512M"}).max_size
    536870912
    """
    from pathlib import Path

    from ._utils.places import hub_place

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
        max_size=_size(env, "GHOSTHUB_MAX_SIZE", Settings.max_size, zero=False),
        rehash_below=_size(env, "GHOSTHUB_REHASH_BELOW", Settings.rehash_below, zero=True),
        read_timeout=_number(env, "GHOSTHUB_TIMEOUT", float, Settings.read_timeout),
        retries=_number(env, "GHOSTHUB_RETRIES", int, Settings.retries),
        tokens=_tokens(env.get("GHOSTHUB_TOKENS", "")) + _netrc_tokens(env.get("GHOSTHUB_NETRC", "")),
        connections=_connections(env) if connections is None else max(0, int(connections)),
        single_writer=_flag(env, "GHOSTHUB_SINGLE_WRITER"),
        part_size=_size(env, "GHOSTHUB_PART_SIZE", Settings.part_size, zero=False),
        hub_ttl=0.0
        if env.get("GHOSTHUB_HUB_TTL", "").strip() in ("0", "0.0")
        else _number(env, "GHOSTHUB_HUB_TTL", float, Settings.hub_ttl, "a number of seconds (0: ask every time)"),
        cpu_isa=cpu_isa(env),
    )


def cpu_isa(env=None) -> str | None:
    """``GHOSTHUB_CPU_ISA`` in lower case (``native`` for no ceiling), or None when unset.

    Read at ``import ghosthub``, before MindSpore's first convolution; what the names mean and
    which win is :func:`ghosthub.runtime.pin_cpu_isa`'s business.

    Examples
    --------
    >>> cpu_isa({"GHOSTHUB_CPU_ISA": " AVX2 "}), cpu_isa({"GHOSTHUB_CPU_ISA": "default"}), cpu_isa({})
    ('avx2', 'native', None)
    """
    value = (os.environ if env is None else env).get(CPU_ISA_ENV, "").strip().lower()
    if not value:
        return None
    return "native" if value in ("native", "default", "all", "none") else value


def rank_dir(env=None) -> Path | None:
    """``GHOSTHUB_RANK_DIR``: where a data-parallel worker reports, set by the launcher for its workers only.

    None in a process the user started: it then prints and writes the run's results itself.
    """
    value = (os.environ if env is None else env).get(RANK_DIR_ENV, "")
    if not value:
        return None
    from pathlib import Path

    return Path(value)


def show_progress(progress: bool | None = None, settings: Settings | None = None) -> bool:
    """Whether to draw a progress bar: asked for (``progress``, else not GHOSTHUB_NO_PROGRESS), stderr a terminal."""
    wanted = (settings or globals()["settings"]()).progress if progress is None else progress
    return bool(wanted) and bool(getattr(sys.stderr, "isatty", None) and sys.stderr.isatty())


def user_cards_dir() -> Path:
    """The user's own cards folder (platformdirs user data dir)."""
    from pathlib import Path

    return Path(_user_dir("data")) / "cards"


def bundled_cards_dir() -> Path:
    """The cards shipped with ghosthub: inside the wheel, or the checkout's top-level folder."""
    return _bundled("cards")


def bundled_recipes_dir() -> Path:
    """The training recipes shipped with ghosthub."""
    return _bundled("recipes")


def _bundled(name: str) -> Path:
    from pathlib import Path

    inside = Path(PACKAGE_DIR) / name
    return inside if inside.is_dir() else Path(PACKAGE_DIR).parent / name


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


def _refuse(message: str):
    """The ConfigError for a bad setting (errors imported only when there is one)."""
    from .errors import ConfigError

    return ConfigError(message)


def _connections(env) -> int:
    """GHOSTHUB_CONNECTIONS: a count, or 0/auto (sized for the asset)."""
    if env.get("GHOSTHUB_CONNECTIONS", "").strip().lower() in ("", "0", "auto"):
        return 0
    return _number(env, "GHOSTHUB_CONNECTIONS", int, 0, accepts="a positive whole number, or auto")


def _flag(env, name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise _refuse(f"{name}={env.get(name)!r} is not understood; expected 1 or 0 (or true/false, yes/no, on/off)")


def _mirrors(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        original, sep, mirror = item.partition("=")
        if not sep or not original or not mirror:
            raise _refuse(f"GHOSTHUB_MIRROR entry {item!r} is not understood; expected ORIGINAL_PREFIX=MIRROR_PREFIX")
        pairs.append((original.strip(), mirror.strip()))
    return tuple(pairs)


def _tokens(text: str) -> tuple[tuple[str, str], ...]:
    """``host=token,host:port=token`` -> pairs, hosts lower-cased."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, sep, token = item.partition("=")
        if not sep or not host.strip() or not token.strip() or "/" in host:
            raise _refuse(
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
        raise _refuse(f"GHOSTHUB_NETRC={path!r} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    return tuple((host.lower(), entry[2]) for host, entry in hosts.items() if entry[2])


def _number(env, name: str, kind, default, accepts: str | None = None):
    """A positive, finite number of ``kind`` (int or float) from ``env[name]``, else ``default``."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    # nan compares false with everything and inf never times out: both are refused, as is 0.
    if value is None or not 0 < value < float("inf"):
        what = accepts or ("a positive whole number" if kind is int else "a positive number of seconds")
        raise _refuse(f"{name}={text!r} is not understood; expected {what}")
    return value


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(env, name: str, default: int, *, zero: bool) -> int:
    """A byte count from ``env[name]``: '5G', '512M', '1.5G', '1048576' (binary units); else ``default``.

    Negative, infinite and not-a-number values are refused, and 0 unless ``zero``.
    """
    text = env.get(name, "").strip()
    if not text:
        return default
    value = text.lower().removesuffix("ib").removesuffix("b")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        number = float("nan")
    if not (0 <= number < float("inf")) or (number == 0 and not zero):
        least = "0 or more" if zero else "more than 0"
        raise _refuse(f"{name}={text!r} is not a size; expected {least} bytes, e.g. 5G, 512M or a byte count")
    return int(number * _UNITS[unit])

"""The registry: every card from every source, by name; lookup, patterns and filters."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import warnings
import zlib
from collections import namedtuple
from pathlib import Path

from . import config
from ._utils.fs import atomic_write
from ._utils.warn import warn
from ._version import __version__
from .errors import CardError, CardWarning, ConfigError, FilterError, GhostHubError, ModelNotFoundError
from .modelcard.library import library_of
from .modelcard.model import FrontMatterView, ModelCard

TYPE_CHECKING = False  # typing and hashlib stay out of a cache hit's imports
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Any

__all__ = ["Registry", "CardEntry", "ModelNotFoundError", "Notice", "default_sources"]

_INDEX_VERSION = 3  # 3: records keep line numbers

# What scanning found about single cards, by kind. Up to FOLD_ABOVE of a kind are warned one by
# one; more (MindSpore Hub's corpus shadows hundreds) are one warning that says how many.
Notice = namedtuple("Notice", "kind message")
FOLD_ABOVE = 3
_SUMMARIES = {
    "shadowed": "{n} cards are shadowed by cards of the same name in earlier sources",
    "repaired": "{n} cards were read only after repairs",
    "skipped": "{n} cards were skipped as unreadable",
}


class CardEntry(namedtuple("CardEntry", "name file fields source lines"), FrontMatterView):
    """What the registry knows of a card without reading its body: name, file, front-matter, source, lines.

    It answers everything a download or a listing asks of a card (assets, weights
    asset, metrics, with line numbers for errors) without reading the file again.
    """

    __slots__ = ()

    @property
    def path(self) -> Path:
        return Path(self.file)


def default_sources(
    card_dirs: Iterable[str | os.PathLike] = (), settings: config.Settings | None = None, hubs: list | None = None
) -> list[Path]:
    """Card folders in order of precedence: explicit, GHOSTHUB_CARDS, the hub, the user's own, bundled.

    A hub that gives no cards is left out with a warning; ``hubs``, when given,
    receives ``(hub, cards folder or None, why it gave nothing or None)`` for
    messages such as ModelNotFoundError's. A folder given explicitly (``card_dirs``:
    ``--cards``, ``cards=``) that does not exist is an error: the user typed it for this
    command. A ``GHOSTHUB_CARDS`` entry that does not exist is left out with one warning
    naming the variable and the entry: the environment outlives the folders it names.

    Raises
    ------
    ConfigError
        A folder of ``card_dirs`` does not exist or is not a folder.
    """
    settings = settings or config.settings()
    sources = []
    for given in card_dirs:
        folder = Path(given).expanduser()
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise ConfigError(
                f"the card folder {folder} (given with --cards or cards=) {what}; check the path, or leave it out"
            )
        sources.append(folder)
    for folder in settings.card_dirs:
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            warnings.warn(
                f"GHOSTHUB_CARDS names {folder}, which {what}; it is left out (fix or remove the entry)",
                CardWarning,
                stacklevel=3,
            )
            continue
        sources.append(folder)
    if settings.hub:
        from ._utils.urls import redact
        from .hub.sync import cards_dir  # a URL hub needs the network stack

        shown = redact(str(settings.hub))
        try:
            folder = cards_dir(settings.hub, settings)
            sources.append(folder)
            note = (shown, folder, None)
        except GhostHubError as exc:
            warn(f"the cards of hub {shown} are left out: {exc}", CardWarning)
            note = (shown, None, str(exc))
        if hubs is not None:
            hubs.append(note)
    sources += [config.user_cards_dir(), config.bundled_cards_dir()]
    unique: list[Path] = []
    for source in sources:
        if source not in unique:
            unique.append(source)
    return unique


class Registry:
    """Cards from several folders, the first folder taking precedence on a name.

    Parameters
    ----------
    sources : sequence of str or os.PathLike, optional
        Card folders in order of precedence; by default
        :func:`default_sources` (explicit folders, ``GHOSTHUB_CARDS``, the user's
        cards folder, the bundled cards).
    settings : Settings, optional
        Resolved settings; the parse cache lives under its cache folder.

    Examples
    --------
    >>> reg = Registry()
    >>> reg.list("ghostnet_05*")
    ['ghostnet_050', 'ghostnet_050.85b91860']
    >>> reg.list("res*", library="mindcv")
    ['res2net50', 'resnet50', 'resnetv2_50', 'resnext50_32x4d']

    Attributes
    ----------
    notices : list of Notice
        Every card the scan shadowed, repaired or skipped, as ``(kind, message)``; the
        warnings fold more than three of a kind into one line, this keeps each.
    """

    def __init__(
        self,
        sources: Sequence[str | os.PathLike] | None = None,
        *,
        settings: config.Settings | None = None,
        hubs: Sequence | None = None,
    ):
        self.settings = settings or config.settings()
        self.hubs: list = list(hubs or [])  # (hub, cards folder or None, why it gave nothing or None)
        self.sources = (
            [Path(s) for s in sources]
            if sources is not None
            else default_sources(settings=self.settings, hubs=self.hubs)
        )
        self._entries: dict[str, CardEntry] | None = None
        self.notices: list[Notice] = []

    # ------------------------------------------------------------------ lookup

    @property
    def entries(self) -> dict[str, CardEntry]:
        """Name -> entry, after scanning every source once."""
        if self._entries is None:
            self._entries = self._scan()
        return self._entries

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[CardEntry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, name: str) -> CardEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise ModelNotFoundError(name, self.suggest(name), self.sources, hubs=self.hubs) from None

    def get(self, name: str) -> ModelCard:
        """The full card called ``name``, read afresh from its file."""
        from .modelcard.parse import load_card  # the card reader: not needed while the parse index serves

        entry = self.entry(name)
        with warnings.catch_warnings():  # repairs were reported when the folder was scanned
            warnings.simplefilter("ignore", CardWarning)
            return load_card(entry.path)

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Names close to ``name``, for 'did you mean' messages."""
        import difflib  # only a miss pays for it

        by_lower = {k.lower(): k for k in self.entries}
        matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
        prefix = [k for k in self.entries if k.lower().startswith(name.lower()) and k.lower() not in matches]
        return [by_lower[m] for m in matches] + prefix[: max(0, n - len(matches))]

    def list(self, pattern: str = "*", *, pretrained: bool | None = None, **filters: str) -> list[str]:
        """Names matching a fnmatch ``pattern`` and every filter, sorted.

        Filters compare a card field (fnmatch, case-insensitive): ``backbone``,
        ``dataset``, ``file_format`` (any asset), ``library`` (which library builds
        the card, :func:`~ghosthub.modelcard.library.library_of`), or any front-matter key with
        ``_`` for ``-`` (``module_type="cv"``); ``pretrained=True`` keeps the cards
        with weights to load. An unknown filter key raises FilterError.
        """
        return [e.name for e in self.select(pattern, pretrained=pretrained, **filters)]

    def select(self, pattern: str = "*", *, pretrained: bool | None = None, **filters: str) -> list[CardEntry]:
        """The entries :meth:`list` names; ``pretrained=True`` (timm's habit) keeps cards with a weights asset.

        Raises FilterError for a filter key that is neither an alias nor a front-matter key
        of any card: ``datset="x"`` would otherwise quietly match nothing.
        """
        pattern = (pattern or "*").lower()
        self._check_filter_keys(filters)
        tests = [
            (_FILTER_KEYS.get(k, k.replace("_", "-")), str(v).lower()) for k, v in filters.items() if v is not None
        ]
        chosen = []
        for entry in self.entries.values():
            if not fnmatch.fnmatchcase(entry.name.lower(), pattern):
                continue
            if pretrained and not _has_weights(entry):
                continue
            if all(
                any(fnmatch.fnmatchcase(str(value).lower(), want) for value in _values(entry, key))
                for key, want in tests
            ):
                chosen.append(entry)
        return sorted(chosen, key=lambda e: e.name.lower())

    def _check_filter_keys(self, filters: dict) -> None:
        known = set(_FILTER_KEYS) | {"pretrained"}
        fields = {key for entry in self.entries.values() for key in entry.fields}
        for key in filters:
            if key in known or _FILTER_KEYS.get(key, key.replace("_", "-")) in fields:
                continue
            import difflib

            choices = sorted(known | {f.replace("-", "_") for f in fields})
            close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}=? " if close else ""
            raise FilterError(
                f"unknown filter {key}=: no card has a field of that name; {hint}"
                f"filters: backbone, dataset, file_format, library, pretrained, or a front-matter key with _ for - "
                f"({', '.join(sorted(f.replace('-', '_') for f in fields)[:12])}, ...)"
            )

    # ------------------------------------------------------------------ scanning

    def _scan(self) -> dict[str, CardEntry]:
        entries: dict[str, CardEntry] = {}
        for source in self.sources:
            for entry in self._scan_source(source):
                kept = entries.get(entry.name)
                if kept is None:
                    entries[entry.name] = entry
                else:
                    self.notices.append(
                        Notice(
                            "shadowed",
                            f"card {entry.name!r} in {entry.path} is shadowed by {kept.path}, which takes precedence",
                        )
                    )
        self._warn_notices()
        return entries

    def _warn_notices(self) -> None:
        """One warning per notice, or one per kind for more than :data:`FOLD_ABOVE` of it."""
        kinds: dict[str, list[Notice]] = {}
        for notice in self.notices:
            kinds.setdefault(notice.kind, []).append(notice)
        for kind, notices in kinds.items():
            if len(notices) <= FOLD_ABOVE:
                for notice in notices:
                    warn(notice.message, CardWarning)
            else:
                warn(
                    _SUMMARIES[kind].format(n=len(notices)) + "; `ghosthub list --verbose` (or Registry.notices) "
                    "lists each",
                    CardWarning,
                )

    def _scan_source(self, source: Path) -> list[CardEntry]:
        files = sorted(_card_files(str(source)), key=lambda item: item[0])
        if not files:
            return []
        index = _ParseIndex(self.settings.cache_dir, source)
        result = []
        for path, stat in files:
            record = index.get(path, stat)
            if record is None:
                record = _parse_record(path)
                index.put(path, stat, record)
            self.notices += [Notice("repaired", message) for message in record.get("warnings", ())]
            if "error" in record:
                self.notices.append(Notice("skipped", f"skipped card {path}: {record['error']}"))
                continue
            result.append(
                CardEntry(record["fields"]["model-name"], path, record["fields"], source, record.get("lines", {}))
            )
        index.save()
        return result


_FILTER_KEYS = {
    "backbone": "backbone-name",
    "dataset": "train-dataset",
    "file_format": "file-format",
    "format": "file-format",
    "library": "library",  # not a field: read from library-name or repo-link
}


def _has_weights(entry: CardEntry) -> bool:
    try:
        entry.weights_asset()
    except CardError:
        return False
    return True


def _values(entry: CardEntry, key: str) -> list[Any]:
    if key == "file-format":
        return entry.file_formats
    if key == "library":
        library = library_of(entry)
        return [library] if library else []
    value = entry.fields.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _card_files(source: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every ``*.md`` file under ``source`` (hidden folders skipped) with its stat.

    A folder link that leads back to a folder already read (``ln -s . cards/loop``)
    is skipped with one warning per source.
    """
    from ._utils.walk import walk_files

    try:
        os.listdir(source)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        warn(f"cannot read card folder {source}: {exc.strerror or exc}", CardWarning)
        return
    loops: list[str] = []
    yield from walk_files(source, ".md", on_loop=loops.append)
    if loops:
        more = f" (and {len(loops) - 1} more)" if len(loops) > 1 else ""
        warn(
            f"skipped {loops[0]}{more} in card folder {source}: a link to a folder already read (a loop or a "
            "duplicate)",
            CardWarning,
        )


def _parse_record(path: str) -> dict[str, Any]:
    """What the index keeps of one card file: its front-matter, or why it was skipped."""
    from .modelcard.parse import load_card

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CardWarning)
        try:
            card = load_card(path)
        except CardError as exc:
            return {"error": str(exc).removeprefix(f"{path}: ").removeprefix(f"{path}, ")}
    record: dict[str, Any] = {"fields": card.fields, "lines": dict(card.lines)}
    repairs = [str(w.message) for w in caught if issubclass(w.category, CardWarning)]
    if repairs:
        record["warnings"] = repairs
    return record


def _is_record(record: Any) -> bool:
    """Whether a parse index entry has the shape :func:`_parse_record` gives (else the card is parsed again)."""
    warned = record.get("warnings", []) if isinstance(record, dict) else None
    if not isinstance(warned, list) or not all(isinstance(w, str) for w in warned):
        return False
    if "error" in record:
        return isinstance(record["error"], str)
    fields, lines = record.get("fields"), record.get("lines", {})
    return isinstance(fields, dict) and isinstance(fields.get("model-name"), str) and isinstance(lines, dict)


class _ParseIndex:
    """Parsed front-matter of a card folder, cached by path, size, mtime, ctime and inode.

    Any change to a file changes its ctime, so a changed card is always read
    afresh; a cache that cannot be read or written is simply not used.
    """

    def __init__(self, cache_dir: Path, source: Path):
        folder = str(source.resolve()).encode()
        key = f"{zlib.crc32(folder):08x}{zlib.adler32(folder):08x}"  # records are keyed by full path anyway
        self.file = cache_dir / "registry" / f"{key}.json"
        self.changed = False
        self.records: dict[str, Any] = {}
        try:
            data = json.loads(self.file.read_bytes())
            if data.get("version") == _INDEX_VERSION and data.get("ghosthub") == __version__:
                records = data["records"]
                self.records = records if isinstance(records, dict) else {}
        except (OSError, ValueError, KeyError, AttributeError, RecursionError):
            pass
        self.seen: set[str] = set()

    @staticmethod
    def _stamp(stat: os.stat_result) -> list[int]:
        return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]

    def get(self, path: str, stat: os.stat_result) -> dict[str, Any] | None:
        """The parsed record of ``path`` when the index holds one for this very file, of the shape it writes."""
        self.seen.add(path)
        cached = self.records.get(path)
        if isinstance(cached, dict) and cached.get("stamp") == self._stamp(stat) and _is_record(cached.get("record")):
            return cached["record"]
        return None

    def put(self, path: str, stat: os.stat_result, record: dict[str, Any]) -> None:
        self.records[path] = {"stamp": self._stamp(stat), "record": record}
        self.changed = True

    def save(self) -> None:
        stale = set(self.records) - self.seen
        for key in stale:
            del self.records[key]
        if not (self.changed or stale):
            return
        data = json.dumps(
            {"version": _INDEX_VERSION, "ghosthub": __version__, "records": self.records}, ensure_ascii=False
        )
        with contextlib.suppress(OSError):  # a cache that cannot be written is simply not used
            atomic_write(self.file, data.encode("utf-8"))

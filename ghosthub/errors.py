"""Every exception and warning class ghosthub raises or emits, in one place.

Every exception derives from :class:`GhostHubError`; every warning from
:class:`GhostHubWarning`, a ``UserWarning``. Exceptions carry the facts of their message
as attributes (``path``, ``line``, ``url``, ``card`` ...) for programs.
"""

from __future__ import annotations

__all__ = [
    "GhostHubError",
    "ConfigError",
    "FilterError",
    "CardError",
    "ModelNotFoundError",
    "LinkError",
    "DownloadError",
    "TransferError",
    "HashMismatchError",
    "OfflineError",
    "HubError",
    "PublishError",
    "UnsupportedBackboneError",
    "UnsupportedLibraryError",
    "ArchitectureError",
    "LoadError",
    "WeightsError",
    "CheckpointMismatchError",
    "ImageError",
    "ExportError",
    "ExportMismatchError",
    "ModeError",
    "MissingExtraError",
    "DataError",
    "RecipeError",
    "TrainError",
    "GhostHubWarning",
    "CardWarning",
    "FetchWarning",
    "WeakHashWarning",
    "PublishWarning",
    "DataWarning",
    "PreprocessingWarning",
    "TrainWarning",
]


def shorten(value, limit: int = 120, *, quoted: bool = False) -> str:
    """``value`` as text of at most ``limit`` characters, for messages quoting what a user or a file gave.

    Only a bounded excerpt is ever drawn: a list, tuple, dict or set shows a few items of a few
    levels, so a huge value (a YAML alias bomb expands to millions of references to one list)
    costs what a short one does. ``quoted`` writes it as Python would (``repr``); strings then
    get their quotes.

    Examples
    --------
    >>> shorten("a" * 200, 10)
    'aaaaaaa...'
    >>> shorten("x", quoted=True)
    "'x'"
    >>> bomb = [[[["lol"] * 9] * 9] * 9] * 9
    >>> len(shorten(bomb, 60))
    60
    """
    if isinstance(value, str):
        text = repr(value[:limit]) if quoted else value[:limit]
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        try:
            text = _excerpts().repr(value)
        except ValueError:  # an integer of 4300+ digits inside
            text = f"a {type(value).__name__} of {len(value)} items"
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        text = f"an integer of {value.bit_length()} bits"  # str() of 4300+ digits raises
    else:
        text = repr(value) if quoted else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _excerpts():
    """reprlib, drawing at most 6 items of 3 levels: what :func:`shorten` shows of a container."""
    import reprlib

    drawer = reprlib.Repr()
    drawer.maxlevel = 3
    drawer.maxlist = drawer.maxtuple = drawer.maxdict = drawer.maxset = drawer.maxfrozenset = 6
    drawer.maxstring = drawer.maxother = 40
    return drawer


# ---------------------------------------------------------------------------- exceptions


class GhostHubError(Exception):
    """Base class of every error ghosthub raises on purpose."""


class ConfigError(GhostHubError, ValueError):
    """An environment variable or argument that ghosthub cannot use."""


class FilterError(GhostHubError, TypeError):
    """A filter of ``list_models`` names no field any card has (a typo such as ``datset=``)."""


class CardError(GhostHubError, ValueError):
    """A card that cannot be read or does not follow the card format.

    The message names the file, the line, the field, what was expected and
    what was found; the same facts are attributes for programs.
    """

    def __init__(self, reason, *, path=None, line=None, field=None, expected=None, found=None):
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.expected = expected
        self.found = found
        where = self.path or "<card text>"
        if line is not None:
            where += f", line {line}"
        msg = f"{where}: {reason}"
        if field is not None:
            msg += f" [field {field!r}]"
        if expected is not None:
            msg += f"; expected {expected}"
        if found is not None:
            msg += f"; found {shorten(found)}"
        super().__init__(msg)


class ModelNotFoundError(GhostHubError, LookupError):
    """No card of that name in any source."""

    def __init__(self, name: str, suggestions=(), sources=(), hubs=()):
        self.name = name
        self.suggestions = list(suggestions)
        self.hubs = list(hubs)  # (hub, its cards folder or None, why it gave nothing or None)
        hint = (
            f"did you mean {', '.join(self.suggestions)}?"
            if self.suggestions
            else "run `ghosthub list` to see what there is"
        )
        folders = {str(folder): hub for hub, folder, _ in self.hubs if folder is not None}
        where = ", ".join(f"hub {folders[str(s)]} (its cards in {s})" if str(s) in folders else str(s) for s in sources)
        where = where or "no card folders"
        failed = "".join(f"; hub {hub} gave no cards: {why}" for hub, folder, why in self.hubs if folder is None)
        super().__init__(f"no model card named {name!r} (searched {where}){failed}; {hint}")

    def __str__(self) -> str:  # LookupError would quote the message
        return self.args[0]


class LinkError(GhostHubError, ValueError):
    """A card's asset link or name that ghosthub refuses to fetch or to store."""


class DownloadError(GhostHubError):
    """An asset could not be fetched into the cache.

    The message names the card, the URL, the cache path and what to do next;
    the same facts are attributes for programs (``card``, ``url``, ``path``).
    """

    def __init__(self, message: str, *, card: str | None = None, url: str | None = None, path=None):
        self.card = card
        self.url = url
        self.path = str(path) if path is not None else None
        super().__init__(message)


class TransferError(DownloadError):
    """A transfer failed; ``reason`` says what happened and ``hint`` what to do about it."""

    def __init__(self, reason: str, hint: str, *, url: str, status: int | None = None, network: bool = False):
        from ._utils.urls import redact

        self.reason = reason
        self.hint = hint
        self.status = status
        self.network = network  # the network failed (no answer at all), not the server
        super().__init__(f"{reason} ({redact(url)}); {hint}", url=redact(url))


class HashMismatchError(DownloadError):
    """A downloaded or cached file does not have the SHA-256 its card states."""

    def __init__(self, message: str, *, expected: str, actual: str, **kw):
        self.expected = expected
        self.actual = actual
        super().__init__(message, **kw)


class OfflineError(DownloadError):
    """An asset is needed, is not cached, and the network may not be used."""


class HubError(GhostHubError):
    """A hub folder or URL that cannot be used: unreadable index, unsafe entry, refused overwrite."""


class PublishError(HubError):
    """A publish refused: unsafe name, unknown format, or an existing different card or asset."""


class UnsupportedBackboneError(GhostHubError):
    """A model card or call names an architecture ghosthub cannot build: unknown, or another library's.

    ``library`` is the library that builds it when ghosthub can tell (from the card's repo-link), else None.
    """

    library: str | None = None


class ArchitectureError(GhostHubError):
    """An architecture's own code failed to build or run its network: a plug-in's (such as MindCV's) failure.

    Not a wrong argument or a bad file: ghosthub's checks passed, and the library that provides the
    architecture failed inside its own code (``library`` names it).
    """

    library: str | None = None


class UnsupportedLibraryError(UnsupportedBackboneError):
    """A card whose network another library builds (mindocr, mindyolo, ...): its weights download, it is not built.

    ``name``, ``library``, the ``field`` that says so and its ``value``, and the card's ``path``
    and ``line`` are attributes for programs.
    """

    def __init__(self, name, library, *, field, value, path=None, line=None, home=None):
        self.name = name
        self.library = library
        self.field = field
        self.value = value
        self.path = path
        self.line = line
        where = (path or "card text") + (f", line {line}" if line is not None else "")
        needs = f"{library} ({home})" if home else library
        super().__init__(
            f"{name} is built by {library} ({field}: {shorten(value)}; {where}), not by ghosthub: ghosthub can "
            f"download and verify its weights (`ghosthub download {name}`), but building the network needs {needs}"
        )


class LoadError(GhostHubError, ValueError):
    """A call to load() whose arguments contradict each other."""


class WeightsError(GhostHubError):
    """A checkpoint file cannot be read: missing, empty, truncated, corrupt or not a checkpoint."""


class CheckpointMismatchError(WeightsError):
    """A checkpoint does not fit the network: missing or unexpected keys, or wrong shapes."""


class ImageError(GhostHubError):
    """An input image cannot be read, or has an unusable shape or type."""


class ExportError(GhostHubError):
    """A network could not be exported (unknown format, or MindSpore failed on this machine)."""


class ExportMismatchError(ExportError):
    """An exported network (ONNX) gives other logits than the MindSpore network it came from.

    ``max_diff`` is the largest absolute logit difference found, ``bound`` the one allowed.
    """

    def __init__(self, message: str, *, max_diff: float | None = None, bound: float | None = None) -> None:
        super().__init__(message)
        self.max_diff, self.bound = max_diff, bound


class ModeError(LoadError):
    """An execution mode or runtime ghosthub does not know (``mode=``, ``runtime=``)."""


class MissingExtraError(GhostHubError, ImportError):
    """An optional part of ghosthub needs a package that is not installed; the message says what to install.

    ``extra`` is the name of the extra that brings it (``pip install 'ghosthub[onnx]'``).
    """

    def __init__(self, message: str, *, extra: str | None = None) -> None:
        super().__init__(message)
        self.extra = extra


class DataError(GhostHubError):
    """A data folder that cannot be used: missing, no class folders, or no readable images."""


class RecipeError(GhostHubError, ValueError):
    """A recipe file that is missing, unreadable, or has an unknown key or a bad value."""


class TrainError(GhostHubError):
    """Training cannot start or continue: bad resume checkpoint, diverged loss, failed workers."""


# ---------------------------------------------------------------------------- warnings


class GhostHubWarning(UserWarning):
    """Base class of every warning ghosthub emits (the command line shows these as one ``warning:`` line)."""


class CardWarning(GhostHubWarning):
    """A card was readable only after a repair, or a registry skipped a card."""


class FetchWarning(GhostHubWarning):
    """Something went wrong and ghosthub recovered: a corrupt cached file, a failing mirror, a stale lock."""


class WeakHashWarning(FetchWarning):
    """A card gives only a prefix of the SHA-256: it identifies the file but cannot rule out a forged one."""


class PublishWarning(GhostHubWarning):
    """Something publish left out, such as a training record of another checkpoint."""


class PreprocessingWarning(GhostHubWarning):
    """A checkpoint records other preprocessing or classes than the card it is used with: the checkpoint's are used."""


class DataWarning(GhostHubWarning):
    """Image files were skipped while scanning a data folder (empty, unreadable, unsupported)."""


class TrainWarning(GhostHubWarning):
    """A training or rebuild runs other than its recipe or record says: unscaled lr, float32 on CPU, another machine."""

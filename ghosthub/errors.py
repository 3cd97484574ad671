"""The exception types ghosthub raises; every one derives from GhostHubError."""


class GhostHubError(Exception):
    """Base class of every error ghosthub raises on purpose."""


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


class HashMismatchError(DownloadError):
    """A downloaded or cached file does not have the SHA-256 its card states."""

    def __init__(self, message: str, *, expected: str, actual: str, **kw):
        self.expected = expected
        self.actual = actual
        super().__init__(message, **kw)


class OfflineError(DownloadError):
    """An asset is needed, is not cached, and the network may not be used."""


class LinkError(GhostHubError, ValueError):
    """A card's asset link or name that ghosthub refuses to fetch or to store."""


class UnsupportedBackboneError(GhostHubError):
    """A model card or call names a backbone (architecture) ghosthub cannot build."""


class WeightsError(GhostHubError):
    """A checkpoint file cannot be read: missing, empty, truncated, corrupt or not a checkpoint."""


class CheckpointMismatchError(WeightsError):
    """A checkpoint does not fit the network: missing or unexpected keys, or wrong shapes."""


class ImageError(GhostHubError):
    """An input image cannot be read, or has an unusable shape or type."""


class LoadError(GhostHubError, ValueError):
    """A call to load() whose arguments contradict each other."""

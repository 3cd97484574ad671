"""The exception types ghosthub raises; every one derives from GhostHubError."""


class GhostHubError(Exception):
    """Base class of every error ghosthub raises on purpose."""

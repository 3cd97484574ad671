"""The exception types ghosthub raises; every one derives from GhostHubError."""


class GhostHubError(Exception):
    """Base class of every error ghosthub raises on purpose."""


class UnsupportedBackboneError(GhostHubError):
    """A model card or call names a backbone (architecture) ghosthub cannot build."""


class WeightsError(GhostHubError):
    """A checkpoint file cannot be read: missing, empty, truncated, corrupt or not a checkpoint."""


class CheckpointMismatchError(WeightsError):
    """A checkpoint does not fit the network: missing or unexpected keys, or wrong shapes."""


class ImageError(GhostHubError):
    """An input image cannot be read, or has an unusable shape or type."""

"""ghosthub: a model-zoo hub for MindSpore. Model cards in, verified weights and ready networks out."""

from ._version import __version__
from .api import download, get_card, list_models, load, prune_cache, transforms, verify
from .card import Asset, CardError, CardWarning, ModelCard, load_card, parse_card, render_card
from .errors import (
    CheckpointMismatchError,
    DownloadError,
    GhostHubError,
    HashMismatchError,
    LinkError,
    LoadError,
    OfflineError,
    UnsupportedBackboneError,
    WeightsError,
)
from .registry import ModelNotFoundError, Registry

__all__ = [
    "__version__",
    "Asset",
    "CardError",
    "CardWarning",
    "CheckpointMismatchError",
    "DownloadError",
    "GhostHubError",
    "HashMismatchError",
    "LinkError",
    "LoadError",
    "ModelCard",
    "ModelNotFoundError",
    "OfflineError",
    "Registry",
    "UnsupportedBackboneError",
    "WeightsError",
    "download",
    "get_card",
    "list_models",
    "load",
    "load_card",
    "parse_card",
    "prune_cache",
    "render_card",
    "transforms",
    "verify",
]

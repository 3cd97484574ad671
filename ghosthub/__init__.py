"""ghosthub: a model-zoo hub for MindSpore. Model cards in, verified weights and ready networks out."""

from ._version import __version__
from .api import download, get_card, list_models, prune_cache, verify
from .card import Asset, CardError, CardWarning, ModelCard, load_card, parse_card, render_card
from .errors import DownloadError, GhostHubError, HashMismatchError, LinkError, OfflineError
from .registry import ModelNotFoundError, Registry

__all__ = [
    "__version__",
    "Asset",
    "CardError",
    "CardWarning",
    "DownloadError",
    "GhostHubError",
    "HashMismatchError",
    "LinkError",
    "ModelCard",
    "ModelNotFoundError",
    "OfflineError",
    "Registry",
    "download",
    "get_card",
    "list_models",
    "load_card",
    "parse_card",
    "prune_cache",
    "render_card",
    "verify",
]

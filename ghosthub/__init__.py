"""ghosthub: a model-zoo hub for MindSpore. Model cards in, verified weights and ready networks out."""

from ._version import __version__
from .api import get_card, list_models
from .card import Asset, CardError, CardWarning, ModelCard, load_card, parse_card, render_card
from .errors import GhostHubError
from .registry import ModelNotFoundError, Registry

__all__ = [
    "__version__",
    "Asset",
    "CardError",
    "CardWarning",
    "GhostHubError",
    "ModelCard",
    "ModelNotFoundError",
    "Registry",
    "get_card",
    "list_models",
    "load_card",
    "parse_card",
    "render_card",
]

"""ghosthub: a model-zoo hub for MindSpore. Model cards in, verified weights and ready networks out."""

from ._version import __version__

# The public API, by the module that defines it. Attributes are imported on first
# use, so `import ghosthub` and the `ghosthub` command load only what they need.
_EXPORTS = {
    "api": ("download", "get_card", "list_models", "load", "prune_cache", "transforms", "verify"),
    "card": ("Asset", "CardError", "CardWarning", "ModelCard", "load_card", "parse_card", "render_card"),
    "errors": (
        "CheckpointMismatchError",
        "DownloadError",
        "GhostHubError",
        "HashMismatchError",
        "LinkError",
        "LoadError",
        "OfflineError",
        "UnsupportedBackboneError",
        "WeightsError",
    ),
    "registry": ("ModelNotFoundError", "Registry"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *sorted(_MODULE_OF)]

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .api import download, get_card, list_models, load, prune_cache, transforms, verify  # noqa: F401
    from .card import Asset, CardError, CardWarning, ModelCard, load_card, parse_card, render_card  # noqa: F401
    from .errors import (  # noqa: F401
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
    from .registry import ModelNotFoundError, Registry  # noqa: F401


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'ghosthub' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})

"""ghosthub: a model-zoo hub for MindSpore. Model cards in, verified weights and ready networks out."""

from ._utils.lazy import lazy_attributes as _lazy_attributes
from ._version import __version__
from .runtime.isa import pin_cpu_isa as _pin_cpu_isa

# Before MindSpore's first convolution: oneDNN capped at AVX2 on x86 (ghosthub/runtime/isa.py says why:
# on AVX-512 CPUs GhostNet runs 5-20x faster, and training gives the bytes any x86 CPU gives).
_pin_cpu_isa()

# The public API, by the module that defines it. Attributes are imported on first
# use, so `import ghosthub` and the `ghosthub` command load only what they need.
_EXPORTS = {
    "client": ("Client",),
    "api": (
        "download",
        "embed",
        "evaluate",
        "get_card",
        "list_models",
        "load",
        "prune_cache",
        "rebuild",
        "transforms",
        "verify",
    ),
    "architectures": ("register_architecture",),
    "modelcard": ("Asset", "ModelCard", "load_card", "parse_card", "render_card"),
    "errors": (
        "ArchitectureError",
        "CardError",
        "CardWarning",
        "CheckpointMismatchError",
        "ConfigError",
        "DataError",
        "DataWarning",
        "DownloadError",
        "ExportError",
        "ExportMismatchError",
        "FetchWarning",
        "FilterError",
        "GhostHubError",
        "GhostHubWarning",
        "HashMismatchError",
        "HubError",
        "ImageError",
        "LinkError",
        "LoadError",
        "MissingExtraError",
        "ModeError",
        "ModelNotFoundError",
        "OfflineError",
        "PublishError",
        "PreprocessingWarning",
        "PublishWarning",
        "RecipeError",
        "TrainError",
        "TrainWarning",
        "TransferError",
        "UnsupportedBackboneError",
        "UnsupportedLibraryError",
        "WeakHashWarning",
        "WeightsError",
    ),
    "preprocessing": ("Preprocessing",),
    "registry": ("Registry",),
    "data.digits": ("write_digits",),
    "tasks.publish": ("publish",),
    "training.recipe": ("load_recipe",),
    "training.trainer": ("train",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *sorted(_MODULE_OF)]

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .api import download, embed, evaluate, get_card, list_models, load, prune_cache, rebuild, transforms, verify  # noqa: F401
    from .architectures import register_architecture  # noqa: F401
    from .client import Client  # noqa: F401
    from .data.digits import write_digits  # noqa: F401
    from .errors import (  # noqa: F401
        ArchitectureError,
        CardError,
        CardWarning,
        CheckpointMismatchError,
        ConfigError,
        DataError,
        DataWarning,
        DownloadError,
        ExportError,
        ExportMismatchError,
        FetchWarning,
        FilterError,
        GhostHubError,
        GhostHubWarning,
        HashMismatchError,
        HubError,
        ImageError,
        LinkError,
        LoadError,
        MissingExtraError,
        ModeError,
        ModelNotFoundError,
        OfflineError,
        PreprocessingWarning,
        PublishError,
        PublishWarning,
        RecipeError,
        TrainError,
        TrainWarning,
        TransferError,
        UnsupportedBackboneError,
        UnsupportedLibraryError,
        WeakHashWarning,
        WeightsError,
    )
    from .modelcard import Asset, ModelCard, load_card, parse_card, render_card  # noqa: F401
    from .preprocessing import Preprocessing  # noqa: F401
    from .registry import Registry  # noqa: F401
    from .tasks.publish import publish  # noqa: F401
    from .training.recipe import load_recipe  # noqa: F401
    from .training.trainer import train  # noqa: F401


__getattr__ = _lazy_attributes(globals(), _MODULE_OF)


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})

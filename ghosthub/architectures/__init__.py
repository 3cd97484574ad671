"""Architectures are plug-ins: a registry of network builders, and the choice of one for a model card.

An architecture is registered under a name with a builder ``builder(num_classes=1000,
in_channels=3, **kwargs) -> nn.Cell`` and what loading, adapting and running it need to know
(:class:`Architecture`). ghosthub's GhostNet family is the built-in plug-in
(:mod:`.ghostnet`), MindCV's networks the second (:mod:`.mindcv`, with ``ghosthub[mindcv]``), and any
installed package adds more through the ``ghosthub.architectures`` entry-point group, without
ghosthub knowing it:

    # pyproject.toml of a plug-in package
    [project.entry-points."ghosthub.architectures"]
    mynets = "mynets.ghosthub_plugin"     # a module that calls register_architecture when imported

Importing this package imports neither MindSpore nor any plug-in: the built-in registrations are
pure Python, MindCV's names are read from its files, and entry-point modules are imported only when
a name is known to nobody else.
"""

from .._utils.lazy import lazy_attributes as _lazy_attributes
from .hooks import NATIVE, Fit, WeightLayouts
from .registry import (
    ENTRY_POINT_GROUP,
    Architecture,
    Match,
    architecture_of,
    cache_folder,
    find_architecture,
    known_names,
    load_plugins,
    match,
    providers,
    register_architecture,
    register_provider,
    registered,
    using_cache,
    width_families,
)

_LAZY = {
    "check_model": "build",
    "create_model": "build",
    "resolve": "build",
    "unknown_architecture": "build",
    "Availability": "choose",
    "Choice": "choose",
    "availability": "choose",
    "checked_choice": "choose",
    "choose_architecture": "choose",
    "named_architecture": "choose",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "NATIVE",
    "Architecture",
    "Fit",
    "Match",
    "WeightLayouts",
    "architecture_of",
    "cache_folder",
    "find_architecture",
    "known_names",
    "load_plugins",
    "match",
    "providers",
    "register_architecture",
    "register_provider",
    "registered",
    "using_cache",
    "width_families",
    *sorted(_LAZY),
]

# ghosthub's own: the GhostNet family, and MindCV's networks as a provider (both pure Python until used).
from . import ghostnet as _ghostnet  # noqa: E402, F401
from . import mindcv as _mindcv  # noqa: E402, F401

__getattr__ = _lazy_attributes(globals(), _LAZY)

"""Networks: architectures by backbone name, checkpoint files, and loading weights into a network.

Importing this package does not import MindSpore: the architecture modules are imported
when a network is first built or checked.
"""

from ._factory import (
    check_model,
    create_model,
    list_variants,
    parse_width,
    register_backbone,
    register_model,
    supported_backbones,
)

__all__ = [
    "check_model",
    "create_model",
    "list_variants",
    "parse_width",
    "register_backbone",
    "register_model",
    "supported_backbones",
]

"""Network architectures, built by backbone name: one module per architecture, one registry."""

from ._factory import check_model, create_model, list_variants, parse_width, register_backbone, register_model, supported_backbones

# Importing an architecture module registers its backbone and variants.
from . import ghostnet  # noqa: E402,F401  (isort: skip)

__all__ = [
    "check_model",
    "create_model",
    "list_variants",
    "parse_width",
    "register_backbone",
    "register_model",
    "supported_backbones",
]

"""Model cards in MindSpore Hub's format: the card value, reading, validation, rendering, field readings.

A card is a Markdown file: a ``# title`` line, YAML front-matter between the
first two ``---`` lines, then a Markdown body kept as written.
"""

from ..errors import CardError, CardWarning
from .library import check_library, library_of
from .model import ASSET_FIELDS, REQUIRED_FIELDS, Asset, FrontMatterView, ModelCard, is_safe_name, parse_metrics
from .parse import check_card_files, load_card, parse_card
from .render import render_card
from .validate import iter_errors, validate

__all__ = [
    "ASSET_FIELDS",
    "REQUIRED_FIELDS",
    "Asset",
    "CardError",
    "CardWarning",
    "FrontMatterView",
    "ModelCard",
    "check_card_files",
    "check_library",
    "is_safe_name",
    "iter_errors",
    "library_of",
    "load_card",
    "parse_card",
    "parse_metrics",
    "render_card",
    "validate",
]

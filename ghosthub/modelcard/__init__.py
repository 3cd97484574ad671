"""Model cards in MindSpore Hub's format: the card value, reading, validation, rendering, field readings.

A card is a Markdown file: a ``# title`` line, YAML front-matter between the
first two ``---`` lines, then a Markdown body kept as written.
"""

from .._utils.lazy import lazy_attributes as _lazy_attributes
from ..errors import CardError, CardWarning
from .model import (
    ASSET_FIELDS,
    ASSET_SIZE,
    REQUIRED_FIELDS,
    Asset,
    FrontMatterView,
    ModelCard,
    is_safe_name,
    parse_metrics,
)

# The reader, validator and renderer are imported on first use: a `ghosthub list` served by the
# registry's parse index never reads a card, and their patterns alone cost it about a millisecond.
_EXPORTS = {
    "library": ("check_library", "library_of"),
    "parse": ("check_card_files", "load_card", "parse_card"),
    "render": ("render_card",),
    "validate": ("iter_errors", "validate"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "ASSET_FIELDS",
    "ASSET_SIZE",
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

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .library import check_library, library_of  # noqa: F401
    from .parse import check_card_files, load_card, parse_card  # noqa: F401
    from .render import render_card  # noqa: F401
    from .validate import iter_errors, validate  # noqa: F401

__getattr__ = _lazy_attributes(globals(), _MODULE_OF)


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})

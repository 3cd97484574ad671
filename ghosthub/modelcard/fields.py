"""What a card's fields say beyond the card format: the architecture, whole numbers.

Preprocessing fields are read by :class:`ghosthub.preprocessing.Preprocessing`, the
training record by :mod:`ghosthub.modelcard.provenance`.
"""

from __future__ import annotations

from ..errors import CardError
from ..naming import find_architecture, split_name

__all__ = ["architecture", "int_field"]


def architecture(card) -> tuple[str, float | None]:
    """The backbone name and width of a card.

    The width comes from the card's ``width`` field, else from the model name
    (``ghostnet_050``, or a ``ghostnet_NNN`` token anywhere in it), else from the
    weights asset's file name as MindCV names its releases; None when none says it.

    Examples
    --------
    >>> from ghosthub import get_card
    >>> architecture(get_card("ghostnet_050"))
    ('ghostnet', 0.5)
    """
    backbone = (card.backbone or "").strip().lower()
    width = card.get("width")
    if width is not None:
        try:
            return backbone, float(width)
        except ValueError:
            lines = getattr(card, "lines", {}) or {}
            raise CardError(
                "width is not a number", path=card.path, line=lines.get("width"), field="width", found=width
            ) from None
    try:
        found = split_name(card.name).width
    except ValueError:
        found = None
    if found is None:
        names = [card.name] + [a.link.rsplit("/", 1)[-1] for a in card.assets]
        hit = next(filter(None, (find_architecture(n, backbones={backbone}) for n in names)), None)
        found = hit[1] if hit else None
    return backbone, found


def int_field(card, key: str) -> int | None:
    """A whole-number field of a card (``num-classes``), or None when absent; CardError when not a number."""
    value = card.get(key)
    try:
        return int(value) if value is not None else None
    except ValueError:
        lines = getattr(card, "lines", {}) or {}
        raise CardError(
            f"{key} is not a whole number", path=card.path, line=lines.get(key), field=key, found=value
        ) from None

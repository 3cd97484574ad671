"""Rendering a card as text in the MindSpore Hub format."""

from __future__ import annotations

from ._yaml import dump as _dump
from .model import ModelCard

__all__ = ["render_card"]


def render_card(card: ModelCard) -> str:
    """Render a card as text in the MindSpore Hub format: title, front-matter, body.

    ``parse_card(render_card(card)) == card`` for every valid card.
    """
    parts = [f"# {card.title}\n\n" if card.title else "", "---\n\n"]
    for key, value in card.fields.items():
        text = _dump({key: value})
        if isinstance(value, list) and value:  # MindSpore Hub's cards put a blank line before a block list
            head, rest = text.split("\n", 1)
            text = f"{head}\n\n{rest}"
        parts.append(text + "\n")
    parts.append("---\n")
    return "".join(parts) + card.body

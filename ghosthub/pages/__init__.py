"""A hub's pages: ``index.html`` and ``models/<name>.html``, rendered from the index and the cards, byte-deterministic.

:func:`render_pages` is the whole interface a hub writer needs: it takes the index and the
cards and returns ``{relative path: bytes}``, which the writer commits with the index in one
transaction (see :mod:`ghosthub.hub.site` for a folder). The same index and cards always give
the same bytes: no time but the cards' own, no random id. A writer that keeps the pages of a
big hub current renders only the pages whose :func:`page_key` changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..modelcard import ModelCard
from .index_page import INDEX_PAGE, MODELS, model_page_path, render_index_page
from .lineage import base_chain, page_key
from .model_page import render_model_page
from .shell import PAGES_VERSION, read_page_key

__all__ = [
    "INDEX_PAGE",
    "MODELS",
    "PAGES_VERSION",
    "base_chain",
    "model_page_path",
    "page_key",
    "read_page_key",
    "render_index_page",
    "render_model_page",
    "render_pages",
]


def render_pages(
    index: Mapping[str, Any],
    cards: Mapping[str, ModelCard | None],
    *,
    names: Iterable[str] | None = None,
    problems: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    """The pages of a hub: ``{"index.html": ..., "models/<name>.html": ..., ...}``.

    Parameters
    ----------
    index : mapping
        The hub's index (``index.json`` parsed): ``index["models"]`` lists every model.
    cards : mapping of str to ModelCard or None
        The card of each model whose page is wanted (None: the card cannot be read).
    names : iterable of str, optional
        The models whose pages to render (default: every model of the index). ``index.html``
        is always rendered: it reads no card.
    problems : mapping of str to str, optional
        Per model, why its card is missing or does not match the index (shown on its page).

    Returns
    -------
    dict of str to bytes
        Paths relative to the hub's root, in a fixed order: the model pages by name, then
        ``index.html`` (so a writer that commits in this order links to no page not yet there).

    Examples
    --------
    >>> pages = render_pages({"models": {"a": {"card": "cards/a.md"}}}, {"a": None})
    >>> list(pages)
    ['models/a.html', 'index.html']
    """
    models = index.get("models") or {}
    problems = problems or {}
    pages = {}
    for name in sorted(models if names is None else names):
        card, problem = cards.get(name), problems.get(name)
        # A page drawn without its card (or from one the index does not vouch for) carries no key:
        # writers draw it again until the card is right.
        key = page_key(models, name) if card is not None and problem is None else None
        pages[model_page_path(name)] = render_model_page(name, models, card, key=key, problem=problem)
    pages[INDEX_PAGE] = render_index_page(models)
    return pages

"""The top-level verbs users type: list_models, get_card (and, further on, download and load)."""

from __future__ import annotations

import os
from typing import Iterable

from . import config
from .card import ModelCard
from .registry import Registry

__all__ = ["list_models", "get_card", "default_registry"]


def default_registry(cards: Iterable[str | os.PathLike] = (), **settings_kw) -> Registry:
    """A registry over the default sources, with ``cards`` folders searched first."""
    from .registry import default_sources

    settings = config.settings(**settings_kw)
    return Registry(default_sources(cards, settings), settings=settings)


def list_models(pattern: str = "*", *, cards: Iterable[str | os.PathLike] = (), **filters: str) -> list[str]:
    """Names of the cards matching a fnmatch ``pattern`` and every filter, sorted.

    Parameters
    ----------
    pattern : fnmatch pattern on the model name, case-insensitive ("ghostnet_*").
    cards : extra card folders, searched before ``GHOSTHUB_CARDS`` and the rest.
    **filters : ``backbone``, ``dataset``, ``file_format`` or any front-matter
        key (``_`` for ``-``), each a fnmatch pattern.

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.list_models("ghostnet_1*")
    ['ghostnet_100', 'ghostnet_130']
    """
    return default_registry(cards).list(pattern, **filters)


def get_card(name: str, *, cards: Iterable[str | os.PathLike] = ()) -> ModelCard:
    """The model card called ``name``; an unknown name raises ModelNotFoundError with suggestions.

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.get_card("ghostnet_050").metrics
    {'top1': 65.84, 'top5': 86.6}
    """
    return default_registry(cards).get(name)

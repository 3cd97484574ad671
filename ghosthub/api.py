"""The top-level verbs users type: list_models, get_card, download, verify (and, further on, load)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from . import config
from .card import CardError, ModelCard
from .registry import Registry, default_sources

if TYPE_CHECKING:
    from .cache import Verification

__all__ = ["list_models", "get_card", "default_registry", "download", "verify", "prune_cache"]


def default_registry(cards: Iterable[str | os.PathLike] = (), **settings_kw) -> Registry:
    """A registry over the default sources, with ``cards`` folders searched first."""
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


def download(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    offline: bool | None = None,
    progress: bool | None = None,
    file_format: str | None = None,
    cards: Iterable[str | os.PathLike] = (),
) -> Path:
    """The verified local file of a model's weights, downloaded into the cache if needed.

    Parameters
    ----------
    name : model name, as ``ghosthub list`` shows it.
    cache_dir : cache folder; default ``GHOSTHUB_CACHE``, else the user cache folder.
    force_download : download again even when a verified copy is cached.
    offline : never touch the network (default ``GHOSTHUB_OFFLINE``).
    progress : progress bar on a terminal (default: on unless ``GHOSTHUB_NO_PROGRESS=1``).
    file_format : the asset to fetch (``ckpt``, ``safetensors``, ...); default the
        first ckpt or safetensors asset of the card.
    cards : extra card folders, searched first.

    Returns
    -------
    Path of the cached file; its SHA-256 matches the card. A cached copy opens
    no connection.

    Examples
    --------
    >>> import ghosthub
    >>> path = ghosthub.download("ghostnet_050")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'ghostnet_050-ae7771cb-910v2.ckpt'
    """
    from . import cache

    settings = config.settings(cache_dir=cache_dir, offline=offline, progress=progress)
    reg = Registry(default_sources(cards, settings), settings=settings)
    if not force_download:
        # A cache hit works from the registry's index: no YAML, no network stack.
        entry = reg.entry(name)
        indexed = ModelCard(title=None, fields=entry.fields, path=entry.path)
        hit = cache.cached_path(indexed, indexed.weights_asset(file_format), settings)
        if hit is not None:
            return hit
    from .fetch import fetch_asset

    card = reg.get(name)
    return fetch_asset(card, card.weights_asset(file_format), settings=settings, force_download=force_download, progress=progress)


def verify(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    cards: Iterable[str | os.PathLike] = (),
) -> list["Verification"]:
    """Re-hash the cached files of a model against its card: the weights asset and any other cached one.

    Each result's ``status`` is ``OK``, ``MISMATCH`` or ``NOT CACHED``. A
    mismatching file is no longer served: the next download fetches it again.

    Examples
    --------
    >>> import ghosthub
    >>> [v.status for v in ghosthub.verify("ghostnet_050")]  # doctest: +SKIP
    ['OK']
    """
    from . import cache

    settings = config.settings(cache_dir=cache_dir)
    card = default_registry(cards, cache_dir=cache_dir).get(name)
    try:
        chosen = card.weights_asset()
    except CardError:
        chosen = None
    results = []
    for asset in card.assets:
        if asset == chosen or cache.asset_path(settings.cache_dir, card, asset).is_file():
            results.append(cache.verify(card, asset, settings))
    return results


def prune_cache(
    *,
    cache_dir: str | os.PathLike | None = None,
    cards: Iterable[str | os.PathLike] = (),
    dry_run: bool = False,
) -> list[Path]:
    """Remove abandoned partial downloads and cached files that no known card refers to.

    Known cards are those of the registry (``cards`` folders, ``GHOSTHUB_CARDS``,
    the user's and the bundled cards). Returns the files removed (or, with
    ``dry_run``, that would be).

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.prune_cache(dry_run=True)  # doctest: +SKIP
    []
    """
    from . import cache
    from .errors import LinkError

    reg = default_registry(cards, cache_dir=cache_dir)
    keep = set()
    for entry in reg:
        card = ModelCard(title=None, fields=entry.fields, path=entry.path)
        for asset in card.assets:
            try:
                keep.add(cache.asset_path(reg.settings.cache_dir, card, asset))
            except LinkError:
                continue
    return cache.prune(reg.settings.cache_dir, keep, stale_after=reg.settings.lock_timeout, dry_run=dry_run)

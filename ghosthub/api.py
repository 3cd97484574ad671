"""The verbs users type: ``list_models``, ``get_card``, ``download``, ``verify``, ``load``, ``transforms``, ...

Each is a one-liner over a fresh :class:`ghosthub.Client`, as ``requests.get`` is over a
fresh ``Session``: ``ghosthub.load("ghostnet_050")`` is ``Client().load("ghostnet_050")``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .client import Client

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from .download.cache import Verification
    from .modelcard import ModelCard
    from .registry import Registry
    from .tasks.evaluate import EvalResult
    from .training.rebuild import RebuildResult

__all__ = [
    "Client",
    "default_registry",
    "download",
    "embed",
    "evaluate",
    "get_card",
    "list_models",
    "load",
    "prune_cache",
    "rebuild",
    "transforms",
    "verify",
]


# ---------------------------------------------------------------------------- the verbs


def default_registry(cards: Iterable[str | os.PathLike] = (), **settings_kw) -> Registry:
    """A registry over the default sources, with ``cards`` folders searched first."""
    return Client(cards=cards, **settings_kw).registry


def list_models(
    pattern: str = "*", *, cards: Iterable[str | os.PathLike] = (), hub: str | None = None, **filters: str
) -> list[str]:
    """Names of the cards matching a fnmatch ``pattern`` and every filter, sorted (see :meth:`Client.list_models`).

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.list_models("ghostnet_1??")
    ['ghostnet_100', 'ghostnet_130']
    >>> ghosthub.list_models("vit*", library="mindcv")
    ['vit_b32_224', 'vit_l32_224']
    """
    return Client(cards=cards, hub=hub).list_models(pattern, **filters)


def get_card(
    name: str,
    *,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ModelCard:
    """The model card called ``name``; an unknown name raises ModelNotFoundError with suggestions.

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.get_card("ghostnet_050").metrics
    {'top1': 65.84, 'top5': 86.6}
    """
    return Client(cards=cards, hub=hub, cache_dir=cache_dir).get_card(name)


def download(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    offline: bool | None = None,
    progress: bool | None = None,
    file_format: str | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
) -> Path:
    """The verified local file of a model's weights, downloaded into the cache if needed (see :meth:`Client.download`).

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.download("ghostnet_050").name  # doctest: +SKIP
    'ghostnet_050-ae7771cb-910v2.ckpt'
    """
    client = Client(cards=cards, hub=hub, cache_dir=cache_dir, offline=offline, progress=progress)
    return client.download(name, force_download=force_download, progress=progress, file_format=file_format)


def verify(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
) -> list[Verification]:
    """Re-hash the cached files of a model against its card (see :meth:`Client.verify`).

    Examples
    --------
    >>> import ghosthub
    >>> [v.status for v in ghosthub.verify("ghostnet_050")]
    ['NOT CACHED']
    """
    return Client(cards=cards, hub=hub, cache_dir=cache_dir).verify(name)


def prune_cache(
    *,
    cache_dir: str | os.PathLike | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
    dry_run: bool = False,
) -> list[Path]:
    """Remove abandoned partial downloads and cached files no known card refers to.

    See :meth:`ghosthub.download.cache.Cache.prune`. The known cards are those of ``cards``,
    ``hub`` and the default sources.

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.prune_cache(dry_run=True)
    []
    """
    client = Client(cards=cards, hub=hub, cache_dir=cache_dir)
    return client.cache.prune(client.registry, dry_run=dry_run)


def load(
    name: str,
    pretrained: bool = True,
    *,
    num_classes: int | None = None,
    in_channels: int = 3,
    checkpoint_path: str | os.PathLike | None = None,
    architecture: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    offline: bool | None = None,
    progress: bool | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
    **model_kwargs,
):
    """A MindSpore network for a model card, holding the card's weights, in inference mode (see :meth:`Client.load`).

    Raises
    ------
    UnsupportedLibraryError
        Another library builds the card's network (mindocr's ``dbnet_resnet50``); its weights
        still download and verify.

    Examples
    --------
    >>> import ghosthub
    >>> net = ghosthub.load("ghostnet_050", pretrained=True)  # doctest: +SKIP
    >>> net = ghosthub.load("ghostnet_050", pretrained=False, num_classes=10)  # doctest: +SKIP
    >>> # any layout: builds what the file holds
    >>> net = ghosthub.load("downloads/ghostnetv2_100.safetensors")  # doctest: +SKIP
    >>> # MindCV's networks (pip install 'ghosthub[mindcv]'), by card or by architecture name
    >>> net = ghosthub.load("resnet18", pretrained=False, num_classes=10)  # doctest: +SKIP
    >>> net = ghosthub.load("downloads/resnet18-1e65cd21.ckpt", architecture="resnet18")  # doctest: +SKIP
    """
    client = Client(cards=cards, hub=hub, cache_dir=cache_dir, offline=offline, progress=progress)
    return client.load(
        name,
        pretrained,
        num_classes=num_classes,
        in_channels=in_channels,
        checkpoint_path=checkpoint_path,
        architecture=architecture,
        force_download=force_download,
        progress=progress,
        **model_kwargs,
    )


def transforms(name: str, *, cards: Iterable[str | os.PathLike] = (), hub: str | None = None, batch: bool = False):
    """The eval preprocessing of a model as a callable (see :meth:`Client.transforms`).

    Examples
    --------
    >>> import ghosthub, numpy as np
    >>> t = ghosthub.transforms("ghostnet_050")
    >>> t(np.zeros((300, 400, 3), np.uint8)).shape
    (3, 224, 224)
    """
    return Client(cards=cards, hub=hub).transforms(name, batch=batch)


def embed(
    name: str,
    images: Iterable[str | os.PathLike],
    *,
    checkpoint_path: str | os.PathLike | None = None,
    batch_size: int = 32,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
):
    """Pooled features of image files, ``(N, num_features)`` float32 (see :meth:`Client.embed`).

    Examples
    --------
    >>> ghosthub.embed("ghostnet_050", ["cat.jpg", "dog.jpg"]).shape  # doctest: +SKIP
    (2, 1280)
    """
    client = Client(cards=cards, hub=hub, cache_dir=cache_dir, offline=offline)
    return client.embed(name, images, checkpoint_path=checkpoint_path, batch_size=batch_size)


def evaluate(
    model: Any,
    data_dir: str | os.PathLike,
    *,
    arch: str | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
) -> EvalResult:
    """Top-1, top-5, loss and images/s of a network, checkpoint file or model name.

    See :func:`ghosthub.tasks.evaluate.evaluate_model`.

    Examples
    --------
    >>> round(ghosthub.evaluate("runs/digits/best.ckpt", "digits").top1, 1)  # doctest: +SKIP
    97.5
    """
    from .tasks.evaluate import evaluate_model

    client = Client(cards=cards, hub=hub, cache_dir=cache_dir, offline=offline)
    return evaluate_model(client, model, data_dir, arch=arch, batch_size=batch_size, workers=workers, progress=progress)


def rebuild(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    workdir: str | os.PathLike | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    workers: int = 1,
) -> RebuildResult:
    """Retrain a published model from its card's record and compare digests.

    See :func:`ghosthub.training.rebuild.rebuild_model` (``ghosthub rebuild NAME``).

    Examples
    --------
    >>> ghosthub.rebuild("digits_ghostnet_050").matches  # doctest: +SKIP
    True
    """
    from .training.rebuild import rebuild_model

    client = Client(cards=cards, hub=hub, cache_dir=cache_dir)
    return rebuild_model(client, name, data_dir=data_dir, workdir=workdir, workers=workers)

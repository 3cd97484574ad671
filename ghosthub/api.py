"""The top-level verbs users type: list_models, get_card, download, verify, load, transforms."""

from __future__ import annotations

import os
from pathlib import Path

from . import config
from .card import CardError, ModelCard
from .errors import LoadError
from .registry import Registry, default_sources

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from typing import Iterable

    from .cache import Verification

__all__ = ["list_models", "get_card", "default_registry", "download", "verify", "prune_cache", "load", "transforms", "rebuild"]


def default_registry(cards: Iterable[str | os.PathLike] = (), **settings_kw) -> Registry:
    """A registry over the default sources, with ``cards`` folders searched first."""
    settings = config.settings(**settings_kw)
    return Registry(default_sources(cards, settings), settings=settings)


def list_models(pattern: str = "*", *, cards: Iterable[str | os.PathLike] = (), hub: str | None = None, **filters: str) -> list[str]:
    """Names of the cards matching a fnmatch ``pattern`` and every filter, sorted.

    Parameters
    ----------
    pattern : fnmatch pattern on the model name, case-insensitive ("ghostnet_*").
    cards : extra card folders, searched before ``GHOSTHUB_CARDS`` and the rest.
    hub : URL or folder of a published hub (default ``GHOSTHUB_HUB``).
    **filters : ``backbone``, ``dataset``, ``file_format`` or any front-matter
        key (``_`` for ``-``), each a fnmatch pattern.

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.list_models("ghostnet_1*")
    ['ghostnet_100', 'ghostnet_130']
    """
    return default_registry(cards, hub=hub).list(pattern, **filters)


def get_card(
    name: str, *, cards: Iterable[str | os.PathLike] = (), hub: str | None = None, cache_dir: str | os.PathLike | None = None
) -> ModelCard:
    """The model card called ``name``; an unknown name raises ModelNotFoundError with suggestions.

    Examples
    --------
    >>> import ghosthub
    >>> ghosthub.get_card("ghostnet_050").metrics
    {'top1': 65.84, 'top5': 86.6}
    """
    return default_registry(cards, hub=hub, cache_dir=cache_dir).get(name)


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
    hub : URL or folder of a published hub (default ``GHOSTHUB_HUB``).

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

    settings = config.settings(cache_dir=cache_dir, offline=offline, progress=progress, hub=hub)
    card = _indexed_card(name, cards, settings)
    asset = card.weights_asset(file_format)
    if not force_download:
        hit = cache.cached_path(card, asset, settings)  # no network stack imported
        if hit is not None:
            return hit
    from .fetch import fetch_asset

    return fetch_asset(card, asset, settings=settings, force_download=force_download, progress=progress)


def verify(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
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
    card = default_registry(cards, cache_dir=cache_dir, hub=hub).get(name)
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
    hub: str | None = None,
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

    reg = default_registry(cards, cache_dir=cache_dir, hub=hub)
    keep = set()
    for entry in reg:
        card = ModelCard(title=None, fields=entry.fields, path=entry.path)
        for asset in card.assets:
            try:
                keep.add(cache.asset_path(reg.settings.cache_dir, card, asset))
            except LinkError:
                continue
    return cache.prune(reg.settings.cache_dir, keep, stale_after=reg.settings.lock_timeout, dry_run=dry_run)


def load(
    name: str,
    pretrained: bool = True,
    *,
    num_classes: int | None = None,
    in_channels: int = 3,
    checkpoint_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    offline: bool | None = None,
    progress: bool | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
    **model_kwargs,
):
    """A MindSpore network for a model card, holding the card's weights, in inference mode.

    Parameters
    ----------
    name : model name, as ``ghosthub list`` shows it.
    pretrained : download (or take from the cache) the card's weights, verify
        them against the card's SHA-256 and load them strictly. False builds
        the network without any download.
    num_classes : classifier outputs; default the checkpoint's. Another value
        re-initialises the classifier only.
    in_channels : image channels; 1 sums the RGB stem weights, other values
        than the checkpoint's are refused.
    checkpoint_path : load this local ``.ckpt``/``.safetensors`` instead of the
        card's asset (not together with ``pretrained=True``).
    cache_dir, force_download, offline, progress : as for :func:`download`.
    cards : extra card folders, searched first.
    hub : URL or folder of a published hub (default ``GHOSTHUB_HUB``).
    **model_kwargs : passed to the architecture (e.g. ``drop_rate``).

    Returns
    -------
    mindspore.nn.Cell in inference mode (``set_train(False)``).

    Raises
    ------
    ModelNotFoundError, DownloadError, HashMismatchError, WeightsError,
    CheckpointMismatchError, UnsupportedBackboneError

    Examples
    --------
    >>> import ghosthub
    >>> net = ghosthub.load("ghostnet_050", pretrained=True)  # doctest: +SKIP
    >>> net = ghosthub.load("ghostnet_050", pretrained=False, num_classes=10)  # doctest: +SKIP
    """
    if pretrained and checkpoint_path is not None:
        raise LoadError(
            f"load({name!r}): pass either pretrained=True (the card's weights) or checkpoint_path= "
            "(a local file), not both"
        )
    settings = config.settings(cache_dir=cache_dir, offline=offline, progress=progress, hub=hub)
    card = _indexed_card(name, cards, settings)
    backbone, width = architecture(card)
    from .models import check_model

    # Before any download: a card or an argument that cannot work fails now, not after the transfer.
    try:
        check_model(backbone, width, num_classes=1000 if num_classes is None else num_classes, in_channels=in_channels, **model_kwargs)
    except LoadError as exc:
        raise LoadError(f"load({name!r}): {exc}") from None
    if pretrained:
        from .fetch import fetch_asset

        checkpoint_path = fetch_asset(
            card, card.weights_asset(), settings=settings, force_download=force_download, progress=progress
        )
    elif checkpoint_path is None and num_classes is None:
        num_classes = _int_field(card, "num-classes") or 1000

    from .weights import build_network

    return build_network(
        backbone, width, checkpoint_path=checkpoint_path, num_classes=num_classes, in_channels=in_channels, **model_kwargs
    )


def transforms(name: str, *, cards: Iterable[str | os.PathLike] = (), hub: str | None = None, batch: bool = False):
    """The eval preprocessing of a model: a callable from a PIL image, array or path to its input array.

    Sizes and statistics come from the card (``input-size``, ``crop-pct``,
    ``interpolation``, ``mean``, ``std``), else MindCV's ImageNet defaults:
    224, resize 256 bilinear, centre crop, ImageNet mean/std on the 0-255 scale.

    Examples
    --------
    >>> import ghosthub, numpy as np
    >>> t = ghosthub.transforms("ghostnet_050")
    >>> t(np.zeros((300, 400, 3), np.uint8)).shape
    (3, 224, 224)
    """
    from .preprocess import make_transform

    return make_transform(**preprocessing(get_card(name, cards=cards, hub=hub)), batch=batch)


def architecture(card: ModelCard) -> tuple[str, float | None]:
    """The backbone name and width of a card: ``width`` from the card, else from the model name."""
    from .models import parse_width

    width = card.get("width")
    try:
        width = float(width) if width is not None else parse_width(card.name)
    except ValueError:
        raise CardError(
            "width is not a number", path=card.path, line=card.lines.get("width"), field="width", found=width
        ) from None
    return (card.backbone or "").strip().lower(), width


def preprocessing(card: ModelCard) -> dict:
    """Arguments of preprocess.make_transform from a card's fields (missing ones keep their defaults)."""
    cfg: dict = {}
    try:
        if card.get("input-size"):
            cfg["input_size"] = int(card.get("input-size"))
        if card.get("crop-pct"):
            cfg["crop_pct"] = float(card.get("crop-pct"))
        if card.get("interpolation"):
            cfg["interpolation"] = card.get("interpolation")
        for key in ("mean", "std"):
            if card.get(key):
                cfg[key] = tuple(float(v) for v in str(card.get(key)).split(","))
    except ValueError as exc:
        raise CardError(f"preprocessing field is not a number ({exc})", path=card.path) from None
    return cfg


def class_names(card: ModelCard, num_classes: int) -> list[str]:
    """Names of the classes a model predicts: the card's ``class-names``, ImageNet-1k, or indices."""
    names = card.get("class-names")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    if isinstance(names, list) and len(names) == num_classes:
        return [str(n) for n in names]
    if num_classes == 1000:
        from .preprocess import imagenet_classes

        return imagenet_classes()
    return [str(i) for i in range(num_classes)]


def _indexed_card(name: str, cards, settings) -> ModelCard:
    """The card of ``name`` as the registry's index holds it: validated front-matter, no YAML parsed again."""
    entry = Registry(default_sources(cards, settings), settings=settings).entry(name)
    return ModelCard(title=None, fields=entry.fields, path=entry.path)


def _int_field(card: ModelCard, key: str) -> int | None:
    value = card.get(key)
    try:
        return int(value) if value is not None else None
    except ValueError:
        raise CardError(f"{key} is not a whole number", path=card.path, line=card.lines.get(key), field=key, found=value) from None


def rebuild(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    workdir: str | os.PathLike | None = None,
    cards: Iterable[str | os.PathLike] = (),
    hub: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> dict:
    """Retrain a published model from the recipe its card records and compare the checkpoint's SHA-256.

    The card must carry the training record ``ghosthub publish`` writes (its
    recipe, seed, thread count, dataset digest). ``data_dir`` is the training
    data, checked against the recorded digest; scikit-learn's digits are
    regenerated when it is omitted. Run it in a fresh process: MindSpore fixes
    its kernel thread count once per process.

    Returns
    -------
    dict with ``name``, ``expected`` (the card's asset-sha256), ``actual`` (the
    rebuilt checkpoint's) and ``matches``.

    Examples
    --------
    >>> ghosthub.api.rebuild("digits_ghostnet_050")["matches"]  # doctest: +SKIP
    True
    """
    import tempfile

    from .publish import read_provenance
    from .train import TrainError, rebuild as retrain

    card = get_card(name, cards=cards, hub=hub, cache_dir=cache_dir)
    provenance = read_provenance(card)
    if provenance is None:
        raise TrainError(f"{card.path or name}: the card records no training provenance, so {name} cannot be rebuilt")
    expected = card.weights_asset().sha256.lower()
    with tempfile.TemporaryDirectory(prefix="ghosthub-rebuild-") as tmp:
        result = retrain(provenance, data_dir, Path(workdir) if workdir else Path(tmp))
    actual = result.actual_sha256
    return {"name": name, "expected": expected, "actual": actual, "matches": actual.startswith(expected)}

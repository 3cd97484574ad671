"""The Client: a ghosthub session holding settings and one registry, with every verb as a method.

Hold a :class:`Client` to make several calls against the same sources: its registry is
built once, so a URL hub is synced once. The module-level verbs in :mod:`ghosthub.api`
are one-liners over a fresh Client, as ``requests.get`` is over a fresh ``Session``.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import config
from .errors import CardError, HubError, LinkError, LoadError, ModelNotFoundError
from .modelcard.fields import int_field
from .preprocessing import Preprocessing
from .registry import CardEntry, Registry, default_sources

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from .download.cache import Verification
    from .hub.mirror import MirrorItem
    from .modelcard import ModelCard
    from .tasks.evaluate import EvalResult
    from .training.rebuild import RebuildResult

__all__ = ["Client"]

_WEIGHTS_SUFFIXES = (".ckpt", ".safetensors", ".pth", ".pt", ".bin", ".pth.tar")


def _is_weights_file(name: str | os.PathLike) -> bool:
    """A path to a local weights file rather than a model name (model names hold no separator or suffix)."""
    text = os.fspath(name)
    looks = os.sep in text or "/" in text or text.lower().endswith(_WEIGHTS_SUFFIXES)
    return looks and os.path.isfile(text)


class Client:
    """A ghosthub session: settings resolved once and one registry of cards, with the verbs as methods.

    Parameters
    ----------
    cards : iterable of str or os.PathLike
        Extra card folders, searched before ``GHOSTHUB_CARDS`` and the rest.
    hub : str, optional
        URL or folder of a published hub (default ``GHOSTHUB_HUB``).
    cache_dir : str or os.PathLike, optional
        Cache folder (default ``GHOSTHUB_CACHE``, else the user cache folder).
    offline : bool, optional
        Never touch the network (default ``GHOSTHUB_OFFLINE``).
    progress : bool, optional
        Progress bars on a terminal (default: on unless ``GHOSTHUB_NO_PROGRESS=1``).
    connections : int, optional
        Connections for one large download (default ``GHOSTHUB_CONNECTIONS``, else sized
        for the asset: up to 8 when the server answers ranges and one stream is slow).

    Examples
    --------
    >>> client = Client()
    >>> client.list_models("ghostnet_1??")
    ['ghostnet_100', 'ghostnet_130']
    >>> client.get_card("ghostnet_050").metrics
    {'top1': 65.84, 'top5': 86.6}
    """

    def __init__(
        self,
        *,
        cards: Iterable[str | os.PathLike] = (),
        hub: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        offline: bool | None = None,
        progress: bool | None = None,
        connections: int | None = None,
    ):
        self.settings = config.settings(
            cache_dir=cache_dir, offline=offline, hub=hub, progress=progress, connections=connections
        )
        self.cards = tuple(cards)
        self._registry: Registry | None = None

    def __repr__(self) -> str:
        from ._utils.urls import redact

        hub = redact(self.settings.hub) if self.settings.hub else None  # never a password written in the hub's URL
        return f"Client(cards={list(self.cards)!r}, hub={hub!r}, cache_dir={str(self.settings.cache_dir)!r})"

    @property
    def registry(self) -> Registry:
        """The cards of every source, scanned on first use (a URL hub is synced then, once)."""
        if self._registry is None:
            hubs: list = []
            self._registry = Registry(
                default_sources(self.cards, self.settings, hubs), settings=self.settings, hubs=hubs
            )
        return self._registry

    # ------------------------------------------------------------------ cards

    def list_models(self, pattern: str = "*", **filters: str) -> list[str]:
        """Names of the cards matching a fnmatch ``pattern`` and every filter, sorted.

        Parameters
        ----------
        pattern : str
            fnmatch pattern on the model name, case-insensitive (``"ghostnet_*"``).
        **filters : str
            ``backbone``, ``dataset``, ``file_format`` or any front-matter key (``_`` for
            ``-``), each a fnmatch pattern; ``pretrained=True`` (as timm takes it) keeps
            the cards with weights to load.

        Raises
        ------
        FilterError
            A filter key no card has (``datset=``); the message suggests the closest.
        """
        return self.registry.list(pattern, **filters)

    def get_card(self, name: str) -> ModelCard:
        """The model card called ``name``, read in full; an unknown name raises ModelNotFoundError with suggestions."""
        return self.registry.get(name)

    def entry(self, name: str) -> CardEntry:
        """What the registry holds of a card: front-matter and line numbers, without reading the file."""
        return self.registry.entry(name)

    # ------------------------------------------------------------------ weights

    def download(
        self, name: str, *, force_download: bool = False, progress: bool | None = None, file_format: str | None = None
    ) -> Path:
        """The verified local file of a model's weights, downloaded into the cache if needed.

        Parameters
        ----------
        name : str
            Model name, as ``ghosthub list`` shows it.
        force_download : bool
            Download again even when a verified copy is cached.
        progress : bool, optional
            Progress bar on a terminal (default: the Client's setting).
        file_format : str, optional
            The asset to fetch (``ckpt``, ``safetensors``, ...); default the first ckpt or
            safetensors asset of the card.

        Returns
        -------
        Path
            The cached file; its SHA-256 matches the card. A cached copy opens no connection.
        """
        from .download import cache

        entry = self.entry(name)
        asset = entry.weights_asset(file_format)
        if not force_download:
            hit = cache.cached_path(entry, asset, self.settings)  # no network stack imported
            if hit is not None:
                return hit
        from .download.fetch import fetch_asset

        return fetch_asset(entry, asset, settings=self.settings, force_download=force_download, progress=progress)

    def mirror(
        self,
        patterns: str | Iterable[str],
        to: str | os.PathLike,
        *,
        hub: str | None = None,
        base_url: str | None = None,
        dry_run: bool = False,
        prune: bool = False,
        progress: bool | None = None,
    ) -> list[MirrorItem]:
        """Copy matching models (cards and verified assets) into the hub folder ``to``, for an air-gapped site.

        ``patterns`` are model names or shell patterns; ``hub`` copies from that hub only (default:
        every card source of this Client); ``base_url`` makes asset links absolute; ``dry_run``
        changes and fetches nothing; ``prune`` (with ``hub``) also removes the mirror's models matching
        ``patterns`` that the hub no longer has. Returns a :class:`ghosthub.hub.mirror.MirrorItem` per
        model: ``state`` (new, updated, unchanged, removed), asset files ``fetched``, ``kept``, ``removed``.
        """
        from .hub.mirror import mirror

        if prune and hub is None:
            raise HubError("prune needs the one hub to follow (hub=): models of other sources would look gone")
        cards = self.registry
        if hub is not None:
            from .hub.sync import cards_dir

            cards = Registry([cards_dir(hub, self.settings)], settings=self.settings)
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        return mirror(
            cards,
            patterns,
            to,
            settings=self.settings,
            base_url=base_url,
            dry_run=dry_run,
            prune=prune,
            progress=progress,
        )

    def verify(self, name: str) -> list[Verification]:
        """Re-hash the cached files of a model against its card: the weights asset and any other cached one.

        Each result's ``status`` is ``OK``, ``MISMATCH`` or ``NOT CACHED``. A mismatching
        file is no longer served: the next download fetches it again.
        """
        from .download import cache

        entry = self.entry(name)
        try:
            chosen = entry.weights_asset()
        except CardError:
            chosen = None
        results = []
        for asset in entry.assets:
            if asset == chosen or cache.asset_path(self.settings.cache_dir, entry, asset).is_file():
                results.append(cache.verify(entry, asset, self.settings))
        return results

    def prune_cache(self, *, dry_run: bool = False) -> list[Path]:
        """Remove abandoned partial downloads and cached files no known card refers to; the files (to be) removed."""
        from .download import cache

        keep = set()
        for entry in self.registry:
            for asset in entry.assets:
                try:
                    keep.add(cache.asset_path(self.settings.cache_dir, entry, asset))
                except LinkError:
                    continue
        return cache.prune(self.settings.cache_dir, keep, stale_after=self.settings.lock_timeout, dry_run=dry_run)

    def cached_assets(self) -> list:
        """Every file in the cache (:class:`ghosthub.download.cache.CachedAsset`), sorted by model name."""
        from .download import cache

        return cache.entries(self.settings.cache_dir)

    def remove_cached(self, name: str) -> list[Path]:
        """Remove everything cached for model ``name``; the files removed."""
        from .download import cache

        return cache.remove(self.settings.cache_dir, name)

    def clear_cache(self, *, dry_run: bool = False) -> list[Path]:
        """Remove ghosthub's folders from the cache (assets, card index, hub copies); ``dry_run`` only lists them."""
        from .download import cache

        return cache.clear(self.settings.cache_dir, dry_run=dry_run)

    # ------------------------------------------------------------------ networks

    def load(
        self,
        name: str,
        pretrained: bool = True,
        *,
        num_classes: int | None = None,
        in_channels: int = 3,
        checkpoint_path: str | os.PathLike | None = None,
        architecture: str | None = None,
        force_download: bool = False,
        progress: bool | None = None,
        mode: str = "pynative",
        fuse: bool = False,
        runtime: str = "mindspore",
        **model_kwargs,
    ):
        """A MindSpore network for a model card or a weights file, holding its weights, in inference mode.

        The card chooses the architecture (:func:`ghosthub.architectures.choose_architecture`: built
        in, MindCV's, or an installed plug-in's); the weights may be in any layout the architecture
        maps (GhostNet: MindCV, timm / PyTorch, the MindSpore model zoo, GhostNetV3 training form) and
        are loaded strictly, training state dropped. A card without a width (or a local file) gets
        its architecture from the weights.

        Parameters
        ----------
        name : str
            Model name, as ``ghosthub list`` shows it, or the path of a weights file.
        pretrained : bool
            Download (or take from the cache) the card's weights, verify them against the
            card's SHA-256 and load them strictly. False builds the network without any download.
        num_classes : int, optional
            Classifier outputs; default the checkpoint's. Another value re-initialises the
            classifier only.
        in_channels : int
            Image channels; 1 sums the RGB stem weights, other values than the checkpoint's
            are refused.
        checkpoint_path : str or os.PathLike, optional
            Load this local file instead of the card's asset (not together with ``pretrained=True``).
        architecture : str, optional
            The architecture to build, instead of what the card (or a weights file) says; needed
            for a file of another library's names without a card (``load("x.ckpt", architecture="resnet18")``).
        force_download, progress
            As for :meth:`download`.
        mode : {"pynative", "auto", "graph"}
            ``pynative`` (default): a network you can also train. ``auto``/``graph``: the forward
            runs as one compiled graph (3-4x faster on the CPU), compiled on the first call with
            MindSpore's compile cache kept under the ghosthub cache (2.4 s cold, 0.2 s warm);
            while the network is in training mode it runs op by op as usual.
        fuse : bool
            Fold each BatchNorm into the convolution before it (1.1-1.2x faster, same outputs to
            float32 rounding); the network is then for inference only.
        runtime : {"mindspore", "onnxruntime"}
            ``onnxruntime``: export once into the cache, verify against MindSpore's logits,
            then run with ONNX Runtime (``pip install 'ghosthub[onnx]'``).
        **model_kwargs
            Passed to the architecture (e.g. ``drop_rate``).

        Returns
        -------
        mindspore.nn.Cell
            In inference mode (``set_train(False)``); with ``runtime="onnxruntime"`` a callable
            with the same attributes that returns numpy logits.
        """
        from .architectures import using_cache

        with using_cache(self.settings.cache_dir):  # what architectures learn stays in this Client's cache
            net = self._load(
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
        return self.for_running(net, mode=mode, fuse=fuse, runtime=runtime)

    def for_running(self, net, *, mode: str = "auto", fuse: bool = True, runtime: str = "mindspore"):
        """``net`` made ready for inference (:func:`ghosthub.runtime.make_ready`), its caches under this Client's."""
        from .runtime import make_ready

        return make_ready(net, self.settings.cache_dir, mode=mode, fuse=fuse, runtime=runtime)

    def _load(
        self,
        name: str,
        pretrained: bool = True,
        *,
        num_classes: int | None = None,
        in_channels: int = 3,
        checkpoint_path: str | os.PathLike | None = None,
        architecture: str | None = None,
        force_download: bool = False,
        progress: bool | None = None,
        **model_kwargs,
    ):
        """The network of :meth:`load`, before it is made ready for running."""
        from .weights.network import build_network, load_network

        if checkpoint_path is None and _is_weights_file(name):
            # A local weights file, not a card: it says its own architecture and layout, or the caller does.
            return load_network(
                name, architecture=architecture, num_classes=num_classes, in_channels=in_channels, **model_kwargs
            )[0]
        if pretrained and checkpoint_path is not None:
            raise LoadError(
                f"load({name!r}): pass either pretrained=True (the card's weights) or checkpoint_path= "
                "(a local file), not both"
            )
        from .architectures import checked_choice

        try:
            entry = self.entry(name)
        except ModelNotFoundError:
            if pretrained or checkpoint_path is not None:
                raise
            # No card, no weights: an architecture's name builds an untrained network (load("resnet18", False)).
            from .architectures import match

            if match(name) is None:
                raise
            classes = 1000 if num_classes is None else num_classes
            return build_network(name, num_classes=classes, in_channels=in_channels, **model_kwargs)
        # Before any download: a card or an argument that cannot work fails now, not after the transfer.
        choice = checked_choice(
            entry,
            weights=pretrained or checkpoint_path is not None,
            architecture=architecture,
            num_classes=num_classes,
            in_channels=in_channels,
            **model_kwargs,
        )
        if pretrained:
            from .download.fetch import fetch_asset

            checkpoint_path = fetch_asset(
                entry, entry.weights_asset(), settings=self.settings, force_download=force_download, progress=progress
            )
        elif checkpoint_path is None and num_classes is None:
            num_classes = int_field(entry, "num-classes") or 1000
        arch, width = choice.architecture.name, choice.width
        if checkpoint_path is None:
            return build_network(arch, width, num_classes=num_classes, in_channels=in_channels, **model_kwargs)
        return load_network(
            checkpoint_path,
            architecture=arch,
            width=width,
            layout=entry.get("weights-layout"),
            num_classes=num_classes,
            in_channels=in_channels,
            **model_kwargs,
        )[0]

    def embed(
        self,
        name: str,
        images: Iterable[str | os.PathLike],
        *,
        checkpoint_path: str | os.PathLike | None = None,
        batch_size: int = 32,
        **load_kwargs,
    ):
        """Pooled features (``forward_features`` + pooling, before the classifier) of image files.

        The model loads through :meth:`load` (verified weights; ``checkpoint_path``: a local
        file instead) and the images go through the card's preprocessing (:meth:`transforms`).
        Returns a ``(len(images), num_features)`` float32 array.
        """
        import gc

        from .tasks.inference import embed_images

        net = self.load(name, pretrained=checkpoint_path is None, checkpoint_path=checkpoint_path, **load_kwargs)
        try:
            return embed_images(net, list(images), self.transforms(name), batch_size=batch_size)
        finally:
            del net
            gc.collect()

    def preprocessing(self, name: str) -> Preprocessing:
        """The eval preprocessing a model's card states; missing fields: its architecture's defaults."""
        from .architectures import choose_architecture, using_cache
        from .errors import GhostHubError

        entry = self.entry(name)
        try:
            with using_cache(self.settings.cache_dir):
                default = Preprocessing.from_record(choose_architecture(entry).architecture.default_cfg())
        except GhostHubError:  # a card ghosthub cannot build still states what it states (MindCV's defaults)
            default = None
        return Preprocessing.from_card(entry, default=default)

    def transforms(self, name: str, *, batch: bool = False):
        """The eval preprocessing of a model: a callable from a PIL image, array or path to its input array.

        Sizes and statistics come from the card (``input-size``, ``crop-pct``,
        ``interpolation``, ``mean``, ``std``), else MindCV's ImageNet defaults: 224,
        resize 256 bilinear, centre crop, ImageNet mean/std on the 0-255 scale.
        """
        from .data.transforms import make_transform

        return make_transform(**self.preprocessing(name)._asdict(), batch=batch)

    def class_names(self, name: str, num_classes: int) -> list[str]:
        """Names of the classes a model predicts: the card's ``class-names``, ImageNet-1k, or indices.

        Examples
        --------
        >>> Client().class_names("ghostnet_050", 1000)[:2]
        ['tench', 'goldfish']
        """
        names = self.entry(name).get("class-names")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if isinstance(names, list) and len(names) == num_classes:
            return [str(n) for n in names]
        if num_classes == 1000:
            from .data.classes import imagenet_classes

            return imagenet_classes()
        return [str(i) for i in range(num_classes)]

    def record(self, name: str) -> dict[str, Any]:
        """What a card says of preprocessing and classes, in the terms of a checkpoint's record."""
        entry = self.entry(name)
        info: dict[str, Any] = Preprocessing.from_card(entry).record()
        names = entry.get("class-names")
        if isinstance(names, list):
            info["classes"] = [str(n) for n in names]
        return info

    def load_any(self, model: Any, *, arch: str | None = None, **load_kwargs) -> tuple[Any, dict | None]:
        """``(network, record)`` for a network, a checkpoint file or a model name.

        A checkpoint ghosthub wrote names its architecture; another says it through its names and
        shapes where its architecture's layouts can (GhostNet's), or ``arch`` (an architecture name,
        with its width for a family that takes one) names it. A model name loads through
        :meth:`load` and its record comes from the card.
        """
        if not isinstance(model, (str, os.PathLike)):
            return model, None
        path = Path(model)
        if path.is_file():
            from .architectures import named_architecture, using_cache
            from .weights.network import load_network

            with using_cache(self.settings.cache_dir):
                found = named_architecture(arch) if arch else None
                # Otherwise the record ghosthub wrote, else the weights' own names and shapes, say the architecture.
                architecture, width = (found.name, found.width) if found else (None, None)
                net, plan = load_network(path, architecture=architecture, width=width)
            return net, plan.record
        name = os.fspath(model)
        return self.load(name, **load_kwargs), self.record(name)

    def inspect(
        self, path: str | os.PathLike, *, layout: str | None = None, architecture: str | None = None
    ) -> dict[str, Any]:
        """What a weights file holds, from its header: architecture, width, classes, layout, parameters, SHA-256.

        No tensor is read and MindSpore is not imported (see
        :func:`ghosthub.weights.convert.describe_weights`).
        """
        from .architectures import using_cache
        from .weights.convert import describe_weights

        with using_cache(self.settings.cache_dir):
            return describe_weights(path, layout=layout, architecture=architecture)

    def convert(
        self,
        src: str | os.PathLike,
        out: str | os.PathLike,
        *,
        layout: str | None = None,
        record: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Rewrite a weights file of any supported layout in ghosthub's names and record (.ckpt or .safetensors).

        See :func:`ghosthub.weights.convert.convert_weights`.
        """
        from .weights.convert import convert_weights

        return convert_weights(src, out, layout=layout, record=record)

    def for_inference(
        self, model: Any, *, checkpoint_path: str | os.PathLike | None = None, arch: str | None = None, **load_kwargs
    ) -> tuple[Any, Preprocessing, list[str]]:
        """``(network, preprocessing, class names)`` to predict or export with.

        ``model`` is a model name or a checkpoint file (``arch`` names the architecture of
        one ghosthub did not write). With a name and ``checkpoint_path``, the card gives the
        architecture and the checkpoint's record (input size, mean/std, classes), when it
        has one, wins over the card: a PreprocessingWarning says where they differ.
        """
        import warnings

        from .errors import PreprocessingWarning
        from .tasks.evaluate import network_preprocessing

        if checkpoint_path is None and Path(os.fspath(model)).is_file():
            net, info = self.load_any(model, arch=arch)
            return net, network_preprocessing(net, info), _names((info or {}).get("classes"), net.num_classes)
        name = os.fspath(model)
        if checkpoint_path is None:
            net = self.load(name, **load_kwargs)
            return net, self.preprocessing(name), self.class_names(name, net.num_classes)
        from .weights.checkpoint import read_info

        net = self.load(name, pretrained=False, checkpoint_path=checkpoint_path, **load_kwargs)
        info, card = read_info(checkpoint_path) or {}, self.preprocessing(name)
        pre = Preprocessing.from_record(info, default=card)
        names = (
            _names(info.get("classes"), net.num_classes)
            if info.get("classes")
            else self.class_names(name, net.num_classes)
        )
        if pre != card:
            changed = ", ".join(
                f"{k} {getattr(pre, k)} (card: {getattr(card, k)})"
                for k in pre._fields
                if getattr(pre, k) != getattr(card, k)
            )
            warnings.warn(
                f"{checkpoint_path} records other preprocessing than the card of {name}: {changed}; "
                "using the checkpoint's",
                PreprocessingWarning,
                stacklevel=2,
            )
        return net, pre, names

    # ------------------------------------------------------------------ producing

    def evaluate(
        self,
        model: Any,
        data_dir: str | os.PathLike,
        *,
        arch: str | None = None,
        batch_size: int = 64,
        workers: int | None = None,
        progress: bool | None = None,
        mode: str = "auto",
        runtime: str = "mindspore",
        **load_kwargs,
    ) -> EvalResult:
        """Top-1, top-5, loss and images/s of a model on a labelled ImageFolder.

        Parameters
        ----------
        model : mindspore.nn.Cell, str or os.PathLike
            A network (preprocessing from its ``default_cfg``), a checkpoint file, or a model name.
        data_dir : str or os.PathLike
            ``DIR/val/<class>/...`` when DIR has a ``val`` folder, else ``DIR/<class>/...``.
        arch : str, optional
            Model name for a checkpoint whose architecture its shapes do not settle.
        batch_size, workers, progress, mode, runtime, **load_kwargs
            See :func:`ghosthub.tasks.evaluate.evaluate`, :meth:`for_running` (a loaded network
            is compiled, with BatchNorm folded, by default) and :meth:`load`.
        """
        import gc

        from .tasks.evaluate import evaluate, network_preprocessing

        net, info = self.load_any(model, arch=arch, **load_kwargs)
        if isinstance(model, (str, os.PathLike)):  # a network passed in is run as it is
            net = self.for_running(net, mode=mode, runtime=runtime)
        try:
            return evaluate(
                net,
                data_dir,
                preprocessing=network_preprocessing(net, info),
                classes=(info or {}).get("classes"),
                batch_size=batch_size,
                workers=workers,
                progress=self.settings.progress if progress is None else progress,
            )
        finally:
            del net
            gc.collect()

    def rebuild(
        self, name: str, *, data_dir: str | os.PathLike | None = None, workdir: str | os.PathLike | None = None
    ) -> RebuildResult:
        """Retrain a published model from the recipe its card records and compare the checkpoint's SHA-256.

        The card must carry the training record ``ghosthub publish`` writes (its recipe,
        seed, thread count, dataset digest; a fine-tuned model's base by name and SHA-256,
        fetched from the cache or a card by that digest). ``data_dir`` is the training data, checked
        against the recorded digest; scikit-learn's digits are regenerated when it is
        omitted. Run it in a fresh process: MindSpore fixes its kernel thread count once
        per process.
        """
        import dataclasses
        import tempfile

        from .errors import TrainError
        from .modelcard.provenance import read_provenance
        from .training.rebuild import rebuild

        card = self.get_card(name)
        provenance = read_provenance(card)
        if provenance is None:
            raise TrainError(
                f"{card.path or name}: the card records no training provenance, so {name} cannot be rebuilt"
            )
        expected = card.weights_asset().sha256.lower()
        with tempfile.TemporaryDirectory(prefix="ghosthub-rebuild-") as tmp:
            # A fine-tuned model's base weights are found by digest in this Client's cache and cards.
            result = rebuild(
                provenance,
                data_dir,
                Path(workdir) if workdir else Path(tmp),
                registry=self.registry,
                progress=self.settings.progress,
            )
        return dataclasses.replace(result, expected_sha256=expected, name=name)


def _names(classes: Any, num_classes: int) -> list[str]:
    """A checkpoint's recorded class names when they fit the network, else ImageNet's or indices."""
    if isinstance(classes, list) and len(classes) == num_classes:
        return [str(c) for c in classes]
    if num_classes == 1000:
        from .data.classes import imagenet_classes

        return imagenet_classes()
    return [str(i) for i in range(num_classes)]

"""The Client: a ghosthub session holding settings, one registry and one cache, with the verbs users type.

Hold a :class:`Client` to make several calls against the same sources: its registry is
built once, so a URL hub is synced once. The module-level verbs in :mod:`ghosthub.api`
are one-liners over a fresh Client, as ``requests.get`` is over a fresh ``Session``.
What is done *with* a session lives beside the work it does and takes a Client:
:func:`ghosthub.tasks.ready.load_for_inference`, :func:`ghosthub.tasks.evaluate.evaluate_model`,
:func:`ghosthub.training.rebuild.rebuild_model`.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import config
from .errors import HubError, LoadError, ModelNotFoundError
from .modelcard.fields import int_field
from .preprocessing import Preprocessing
from .registry import CardEntry, Registry, default_sources

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from collections.abc import Iterable

    from .download.cache import Cache, Verification
    from .hub.mirror import MirrorItem
    from .modelcard import ModelCard

__all__ = ["Client"]

_WEIGHTS_SUFFIXES = (".ckpt", ".safetensors", ".pth", ".pt", ".bin", ".pth.tar")


def _is_weights_file(name: str | os.PathLike) -> bool:
    """A path to a local weights file rather than a model name (model names hold no separator or suffix)."""
    text = os.fspath(name)
    looks = os.sep in text or "/" in text or text.lower().endswith(_WEIGHTS_SUFFIXES)
    return looks and os.path.isfile(text)


class Client:
    """A ghosthub session: settings resolved once, one registry of cards and one cache, with the verbs as methods.

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

    Raises
    ------
    ConfigError
        An environment variable holds a value ghosthub cannot use (see :func:`ghosthub.config.settings`).

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
        self._cache: Cache | None = None

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

    @property
    def cache(self) -> Cache:
        """The download cache of this session (:class:`ghosthub.download.cache.Cache`): ls, rm, prune, clear, verify.

        Examples
        --------
        >>> Client(cache_dir="/nonexistent").cache.ls()
        []
        """
        if self._cache is None:
            from .download.cache import Cache

            self._cache = Cache(self.settings)
        return self._cache

    # ------------------------------------------------------------------ cards

    def list_models(self, pattern: str = "*", **filters: str) -> list[str]:
        """Names of the cards matching a fnmatch ``pattern`` and every filter, sorted.

        Parameters
        ----------
        pattern : str
            fnmatch pattern on the model name, case-insensitive (``"ghostnet_*"``).
        **filters : str
            ``backbone``, ``dataset``, ``file_format``, ``library`` (``"mindcv"``: the library
            that builds the card) or any front-matter key (``_`` for ``-``), each a fnmatch
            pattern; ``pretrained=True`` (as timm takes it) keeps the cards with weights to load.

        Returns
        -------
        list of str

        Raises
        ------
        FilterError
            A filter key no card has (``datset=``); the message suggests the closest.
        """
        return self.registry.list(pattern, **filters)

    def get_card(self, name: str) -> ModelCard:
        """The model card called ``name``, read in full.

        Parameters
        ----------
        name : str
            Model name, as ``ghosthub list`` shows it.

        Returns
        -------
        ModelCard

        Raises
        ------
        ModelNotFoundError
            No card has that name; the message suggests the closest names.
        CardError
            The card's file cannot be read or parsed (the message names file and line).
        """
        return self.registry.get(name)

    def entry(self, name: str) -> CardEntry:
        """What the registry holds of a card: front-matter and line numbers, without reading the file.

        Raises
        ------
        ModelNotFoundError
            No card has that name.
        """
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
            The cached file; its SHA-256 matches the card. A cached copy opens no connection
            and imports nothing of the network stack.

        Raises
        ------
        ModelNotFoundError
            No card has that name.
        CardError
            The card has no asset of ``file_format`` (or no weights asset).
        OfflineError
            Not cached, and offline mode forbids the network.
        HashMismatchError
            The downloaded bytes do not match the card's digest (nothing is stored).
        DownloadError
            The transfer failed after the configured tries; the message says what to do.
        LinkError
            The card's link or name is not one ghosthub fetches or stores.
        """
        entry = self.entry(name)
        asset = entry.weights_asset(file_format)
        if not force_download:
            hit = self.cache.get(entry, asset, hash_small=False)  # a download hands out the path: stat is enough
            if hit is not None:
                return hit
        from .download.fetch import fetch_asset

        return fetch_asset(entry, asset, settings=self.settings, force_download=force_download, progress=progress)

    def verify(self, name: str) -> list[Verification]:
        """Re-hash the cached files of a model against its card: the weights asset and any other cached one.

        A mismatching file is no longer served: the next download fetches it again.

        Parameters
        ----------
        name : str
            Model name.

        Returns
        -------
        list of Verification
            One per file, each with ``status`` ``OK``, ``MISMATCH`` or ``NOT CACHED``.

        Raises
        ------
        ModelNotFoundError
            No card has that name.
        LinkError
            The card's name or a digest cannot name a cache folder.
        """
        return self.cache.verify_card(self.entry(name))

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

        Parameters
        ----------
        patterns : str or iterable of str
            Model names or shell patterns.
        to : str or os.PathLike
            The mirror's hub folder (created if missing).
        hub : str, optional
            Copy from this hub only (default: every card source of this Client).
        base_url : str, optional
            Where the mirror will be served; asset links become absolute.
        dry_run : bool
            Change and fetch nothing; report what would be done.
        prune : bool
            With ``hub``: also remove the mirror's models matching ``patterns`` that the hub no longer has.
        progress : bool, optional
            Progress bars (default: the Client's setting).

        Returns
        -------
        list of MirrorItem
            One per model (:class:`ghosthub.hub.mirror.MirrorItem`): ``state`` (new, updated,
            unchanged, removed) and the asset files ``fetched``, ``kept``, ``removed``.

        Raises
        ------
        HubError
            ``prune`` without ``hub``, no model matches, another mirror is writing ``to``, or an
            asset changed while it was copied.
        DownloadError, HashMismatchError
            An asset cannot be fetched and verified.
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

        Raises
        ------
        ModelNotFoundError
            No card has that name (and it is no weights file).
        LoadError
            Arguments that contradict each other or the card (``pretrained=True`` with
            ``checkpoint_path``, no width anywhere with ``pretrained=False``, an impossible
            ``num_classes`` or ``in_channels``).
        UnsupportedBackboneError
            The card names an architecture ghosthub cannot build.
        OfflineError, DownloadError, HashMismatchError, LinkError
            The weights cannot be fetched and verified (see :meth:`download`).
        WeightsError
            The weights file cannot be read (missing, truncated, not a checkpoint).
        CheckpointMismatchError
            The weights do not fit the architecture (missing or unexpected keys, shapes).
        ModeError, MissingExtraError
            An unknown ``mode`` or ``runtime``; ``onnxruntime`` not installed.
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

        Parameters
        ----------
        name : str
            Model name; the network loads through :meth:`load` (verified weights).
        images : iterable of str or os.PathLike
            Image files, each through the card's preprocessing (:meth:`transforms`).
        checkpoint_path : str or os.PathLike, optional
            A local weights file to load into the card's architecture instead of its asset.
        batch_size : int
            Images per forward pass.
        **load_kwargs
            Passed to :meth:`load`.

        Returns
        -------
        numpy.ndarray
            ``(len(images), num_features)`` float32, one row per image in the order given.

        Raises
        ------
        ImageError
            An image cannot be read.
        ModelNotFoundError, DownloadError, WeightsError, CheckpointMismatchError
            As :meth:`load` raises them.
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
        """The eval preprocessing a model's card states (missing fields: its architecture's defaults).

        Raises
        ------
        ModelNotFoundError
            No card has that name.
        CardError
            A preprocessing field of the card is not understood (the message names file, line and field).
        """
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

        Parameters
        ----------
        name : str
            Model name.
        batch : bool
            Give the array a leading batch axis of 1: ``(1, 3, S, S)``, ready for the network.

        Returns
        -------
        callable
            Image -> float32 ``(3, S, S)`` array (``(1, 3, S, S)`` with ``batch``).

        Raises
        ------
        ModelNotFoundError, CardError
            As :meth:`preprocessing` raises them.
        """
        from .data.transforms import make_transform

        return make_transform(**self.preprocessing(name)._asdict(), batch=batch)

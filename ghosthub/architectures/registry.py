"""The registry of architectures: ``register_architecture``, lazy providers (MindCV's), entry-point plug-ins.

An architecture is a builder ``builder(num_classes=1000, in_channels=3, **kwargs) -> nn.Cell`` and
what adaptation, loading and inference need to know about it (:class:`Architecture`). Names are
looked up, case-insensitively, in this order; the first that knows a name builds it:

1. architectures registered in this process with :func:`register_architecture`: ghosthub's own
   (the GhostNet family, :mod:`ghosthub.architectures.ghostnet`) and those of imported plug-ins;
2. lazy providers (:func:`register_provider`), which know many names cheaply and build an entry on
   demand: MindCV's networks (:mod:`ghosthub.architectures.mindcv`) when mindcv is installed;
3. the modules of the ``ghosthub.architectures`` entry-point group, imported only now, when a name
   is known to nobody above (``importlib.metadata`` alone costs tens of milliseconds).

A family that takes a width (``width=True``) also answers to ``<name>_<width in hundredths>``:
``ghostnet_050`` is GhostNet at width 0.5. Nothing here imports MindSpore.
"""

from __future__ import annotations

import contextvars
from collections import namedtuple

from ..naming import split_name

TYPE_CHECKING = False  # typing, dataclasses and logging stay out of `ghosthub list`'s imports
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

    from .hooks import WeightLayouts

__all__ = [
    "ENTRY_POINT_GROUP",
    "Architecture",
    "find_architecture",
    "Match",
    "known_names",
    "load_plugins",
    "match",
    "providers",
    "register_architecture",
    "registered",
    "register_provider",
    "cache_folder",
    "using_cache",
    "width_families",
]

ENTRY_POINT_GROUP = "ghosthub.architectures"


_FIELDS = "name builder classifier first_conv preprocessing width options layouts bn_pairs onnx_form library"
_DEFAULTS = (("classifier",), None, None, False, None, None, (), None, "ghosthub")


class Architecture(namedtuple("Architecture", _FIELDS, defaults=_DEFAULTS)):
    """A registered architecture: its builder and what loading, adapting and running it need.

    Attributes
    ----------
    name : str
        The registered name (``ghostnet``, ``resnet50``).
    builder : callable
        ``builder(num_classes=1000, in_channels=3, **kwargs) -> mindspore.nn.Cell``; a family with
        ``width`` also gets ``width=``.
    classifier : tuple of str
        Parameter prefixes of the classifier (``classifier`` for ``classifier.weight``): a head of
        another size than a checkpoint's starts fresh, and the checkpoint's head says its class count.
    first_conv : str or None
        Parameter prefix of the first convolution: a 1-channel network sums it over its input channels.
    preprocessing : dict or None
        The eval preprocessing when neither card nor checkpoint states one (``input_size``,
        ``crop_pct``, ``interpolation``, ``mean``, ``std``; missing keys: MindCV's ImageNet defaults).
    width : bool
        The builder takes a width multiplier, and ``<name>_NNN`` names select it.
    options : tuple of str or None
        Keyword arguments the builder takes besides ``num_classes``, ``in_channels`` (and ``width``);
        others are refused before anything is built or downloaded. None: not checked.
    layouts : WeightLayouts or None
        Weights in other libraries' names the family maps (timm's, the MindSpore model zoo's ...).
    bn_pairs : tuple of (str, str)
        ``(conv, batchnorm)`` attribute names that ``construct`` chains directly, so that inference
        folds them (pairs inside an ``nn.SequentialCell`` are found without help).
    onnx_form : callable or None
        ``onnx_form(net, on)``: switch the network to operators ONNX spells (True) and back (False),
        around an ONNX export.
    library : str
        Who provides it: ``ghosthub``, ``mindcv``, or the plug-in's package.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Architecture({self.name!r}, library={self.library!r}, width={self.width})"

    def default_cfg(self) -> dict[str, Any]:
        """What a network built by it carries as ``default_cfg`` (timm's name): name, head, stem, preprocessing."""
        cfg = dict(self.preprocessing or {})
        cfg["architecture"] = self.name
        cfg["classifier"] = self.classifier[0] if len(self.classifier) == 1 else self.classifier
        if self.first_conv:
            cfg["first_conv"] = self.first_conv
        return cfg


# Where providers keep what they learn about their library (MindCV's name list and checks): the
# cache of the Client at work, so that a Client with its own cache_dir writes nowhere else.
_CACHE_FOLDER: contextvars.ContextVar = contextvars.ContextVar("ghosthub_architectures_cache", default=None)


class using_cache:  # noqa: N801 - a context manager used as a function: with using_cache(folder): ...
    """Within the ``with`` block, providers keep what they learn under ``folder`` (a ghosthub cache folder).

    A class rather than ``contextlib.contextmanager``: contextlib is not on ``ghosthub list``'s imports.
    """

    def __init__(self, folder) -> None:
        self.folder = folder

    def __enter__(self):
        self._token = _CACHE_FOLDER.set(self.folder)
        return self.folder

    def __exit__(self, *exc) -> None:
        _CACHE_FOLDER.reset(self._token)


def cache_folder():
    """The cache folder :func:`using_cache` set, or None (then the environment's, ``GHOSTHUB_CACHE``)."""
    return _CACHE_FOLDER.get()


_REGISTERED: dict[str, Architecture] = {}
_PROVIDERS: list = []
_STATE: dict = {"plugins": None}


def register_architecture(
    name: str,
    *,
    classifier: str | Iterable[str] = "classifier",
    first_conv: str | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    width: bool = False,
    options: Iterable[str] | None = None,
    layouts: WeightLayouts | None = None,
    bn_pairs: Iterable[tuple[str, str]] = (),
    onnx_form: Callable | None = None,
    library: str | None = None,
) -> Callable[[Callable], Callable]:
    """Register a network builder under an architecture name (a decorator).

    Parameters
    ----------
    name : str
        What cards and calls name (``architecture:``, the model name before its first dot, or a
        width-taking family's ``backbone-name``); case-insensitive.
    classifier, first_conv, preprocessing, width, options, layouts, bn_pairs, onnx_form
        See :class:`Architecture`.
    library : str, optional
        Who provides it (default: the top-level package of the builder's module).

    Returns
    -------
    callable
        A decorator that registers the builder and returns it unchanged.

    Raises
    ------
    ValueError
        The name is registered already by another builder.

    Examples
    --------
    >>> from ghosthub.architectures import register_architecture
    >>> @register_architecture("tiny_mlp", classifier="head", preprocessing={"input_size": 28})  # doctest: +SKIP
    ... def tiny_mlp(num_classes=1000, in_channels=3, hidden=64):
    ...     return TinyMLP(num_classes, in_channels, hidden)
    """

    def decorator(builder: Callable) -> Callable:
        key = name.lower()
        previous = _REGISTERED.get(key)
        if previous is not None and previous.builder is not builder:
            raise ValueError(f"architecture {name!r} is already registered by {previous.builder!r}")
        _REGISTERED[key] = Architecture(
            name=name,
            builder=builder,
            classifier=(classifier,) if isinstance(classifier, str) else tuple(classifier),
            first_conv=first_conv,
            preprocessing=dict(preprocessing) if preprocessing else None,
            width=width,
            options=None if options is None else tuple(options),
            layouts=layouts,
            bn_pairs=tuple(tuple(p) for p in bn_pairs),
            onnx_form=onnx_form,
            library=library or builder.__module__.split(".", 1)[0],
        )
        return builder

    return decorator


def register_provider(provider) -> None:
    """Add a lazy provider: a library whose many names are known cheaply and built on demand.

    ``provider`` has ``library`` (str), ``names()`` (a mapping of lower-case name to the library's
    own name, or None when the library is not installed; must not import it) and
    ``architecture(name) -> Architecture`` (may import it). MindCV's networks come this way.
    """
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


class Match(namedtuple("Match", "name library width takes_width spec provider", defaults=(None, None))):
    """Who answers to a name, found without importing any library: the registry's or a provider's entry.

    Attributes
    ----------
    name : str
        The registered name, or the provider library's own spelling of it.
    library : str
        Who provides it.
    width : float or None
        The width the name fixes (``ghostnet_050``), else None.
    takes_width : bool
        A width-taking family.
    spec : Architecture or None
        The registered entry; None for a provider's name until :meth:`architecture` asks for it.
    provider : object or None
        The lazy provider that knows the name.
    """

    __slots__ = ()

    def architecture(self) -> Architecture:
        """The entry itself (a provider's may import its library now)."""
        return self.spec if self.spec is not None else self.provider.architecture(self.name)


def match(name: str, *, plugins: bool = True) -> Match | None:
    """Who answers to a name, without importing a provider's library; None when nobody does.

    Parameters
    ----------
    name : str
        An architecture name; anything after the first ``.`` is a weights tag and ignored.
    plugins : bool
        On a miss, import the entry-point group's modules and look again (False: never).

    Examples
    --------
    >>> m = match("ghostnet_050.85b91860")
    >>> m.name, m.width, m.library
    ('ghostnet', 0.5, 'ghosthub')
    """
    key = name.strip().split(".", 1)[0].lower()
    if not key:
        return None
    found = _known(key)
    if found is None and plugins and _STATE["plugins"] is None:
        load_plugins()
        found = _known(key)
    return found


def _known(key: str) -> Match | None:
    spec = _REGISTERED.get(key)
    if spec is not None:
        return Match(spec.name, spec.library, None, spec.width, spec)
    try:
        parsed = split_name(key)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.width is not None:
        spec = _REGISTERED.get(parsed.backbone)
        if spec is not None and spec.width:
            return Match(spec.name, spec.library, parsed.width, True, spec)
    for provider in _PROVIDERS:
        real = (provider.names() or {}).get(key)
        if real is not None:
            return Match(real, provider.library, None, False, None, provider)
    return None


def find_architecture(name: str, *, plugins: bool = True) -> tuple[Architecture, float | None] | None:
    """The architecture a name selects and the width the name fixes, or None when nobody knows it.

    Like :func:`match`, but a provider's entry is made now (MindCV's imports mindcv).

    Examples
    --------
    >>> spec, width = find_architecture("ghostnet_050")
    >>> spec.name, width
    ('ghostnet', 0.5)
    """
    found = match(name, plugins=plugins)
    return None if found is None else (found.architecture(), found.width)


def architecture_of(net) -> Architecture | None:
    """The architecture a network was built as (its ``default_cfg["architecture"]``), for its hooks; None if unknown."""
    name = (getattr(net, "default_cfg", None) or {}).get("architecture")
    found = match(name, plugins=False) if isinstance(name, str) else None
    return found.architecture() if found is not None else None


def registered() -> list[Architecture]:
    """The architectures registered in this process (built in, and plug-ins imported so far)."""
    return list(_REGISTERED.values())


def providers() -> list:
    """The lazy providers registered (:func:`register_provider`), in lookup order."""
    return list(_PROVIDERS)


def load_plugins() -> list[tuple[str, str, str]]:
    """Import the modules of the ``ghosthub.architectures`` entry-point group, once per process.

    Each entry point names a module that registers architectures when imported (``pkg.arch``), or
    a function that does when called (``pkg.arch:register``). A plug-in that fails to import is
    logged and left out, so that it breaks only its own names.

    Returns
    -------
    list of (str, str, str)
        ``(entry point, value, error)`` of the plug-ins that failed.
    """
    if _STATE["plugins"] is not None:
        return _STATE["plugins"]
    from importlib.metadata import entry_points

    failed = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if ep.attr and callable(loaded):
                loaded()
        except Exception as exc:  # a broken plug-in must not break the others
            import logging

            logging.getLogger(__name__).warning(
                "architecture plug-in %s = %s failed to load: %s", ep.name, ep.value, exc
            )
            failed.append((ep.name, ep.value, f"{type(exc).__name__}: {exc}"))
    _STATE["plugins"] = failed
    return failed


def known_names() -> dict[str, list[str]]:
    """Every name known without importing a plug-in or a provider's library, by who provides it.

    Returns
    -------
    dict of str to list of str
        ``{"ghosthub": ["ghostnet", ...], "mindcv": [...], <plug-in package>: [...]}``; a width-taking
        family is listed under its own name.
    """
    out: dict[str, list[str]] = {}
    for spec in _REGISTERED.values():
        out.setdefault(spec.library, []).append(spec.name)
    for provider in _PROVIDERS:
        names = provider.names()
        if names:
            out.setdefault(provider.library, []).extend(sorted(set(names.values())))
    return {library: sorted(names, key=str.lower) for library, names in out.items()}


def width_families() -> list[str]:
    """Registered names that take a width (``ghostnet`` for ``ghostnet_050``)."""
    return sorted(spec.name for spec in _REGISTERED.values() if spec.width)

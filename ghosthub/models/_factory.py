"""Backbone registry: backbone name (from a model card) + width -> network."""

from __future__ import annotations

import numbers
from collections.abc import Callable

from ..errors import LoadError, UnsupportedBackboneError
from ..naming import split_name

_BACKBONES: dict[str, Callable] = {}
_VARIANTS: dict[str, Callable] = {}
_OPTIONS: dict[str, tuple[str, ...]] = {}  # keyword arguments a builder takes beyond the common ones
_COMMON = ("num_classes", "in_channels", "drop_rate")
# Architecture modules, imported on first use (they import MindSpore); each registers its backbones.
ARCHITECTURE_MODULES = ("ghostnet", "ghostnetv2", "ghostnet600")


def _load_architectures() -> None:
    from importlib import import_module

    for module in ARCHITECTURE_MODULES:
        import_module(f"{__package__}.{module}")


def register_backbone(name: str, *, options: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Register a network builder under a backbone name.

    The builder is called as ``builder(width, num_classes=..., in_channels=..., drop_rate=...,
    **kwargs)`` and returns an ``nn.Cell``.

    Parameters
    ----------
    name : str
        The backbone name as written in a model card's ``backbone-name`` (lower case).
    options : tuple of str
        The other keyword arguments the builder takes; anything else is refused before building.

    Returns
    -------
    callable
        A decorator that registers the builder and returns it unchanged.

    Examples
    --------
    >>> @register_backbone("ghostnet")                        # doctest: +SKIP
    ... def _create_ghostnet(width, **kwargs): ...
    """

    def decorator(builder: Callable) -> Callable:
        key = name.lower()
        if key in _BACKBONES and _BACKBONES[key] is not builder:
            raise ValueError(f"backbone {name!r} is already registered by {_BACKBONES[key]!r}")
        _BACKBONES[key] = builder
        _OPTIONS[key] = tuple(options)
        return builder

    return decorator


def register_model(constructor: Callable) -> Callable:
    """Register a named variant constructor (``ghostnet_050``) under its function name.

    Parameters
    ----------
    constructor : callable
        ``constructor(**kwargs) -> nn.Cell``; its ``__name__`` is the variant name.

    Returns
    -------
    callable
        The constructor, unchanged.
    """
    _VARIANTS[constructor.__name__] = constructor
    return constructor


def supported_backbones() -> list[str]:
    """Names of the backbones ghosthub can build, sorted.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from ghosthub.models import supported_backbones
    >>> "ghostnet" in supported_backbones()
    True
    """
    _load_architectures()
    return sorted(_BACKBONES)


def list_variants() -> list[str]:
    """Names of the registered variant constructors (``ghostnet_050``, ...), sorted."""
    _load_architectures()
    return sorted(_VARIANTS)


def parse_width(model_name: str) -> float | None:
    """Read the width multiplier from a model name (see :func:`ghosthub.naming.split_name`).

    Parameters
    ----------
    model_name : str
        A name like ``ghostnet_050``; anything after the first ``.`` is a weights tag and ignored.

    Returns
    -------
    float or None
        The width (``0.5`` for ``_050``), or None when the name carries no width suffix.

    Examples
    --------
    >>> parse_width("ghostnet_050")
    0.5
    >>> parse_width("ghostnet_130.85b91860")
    1.3
    >>> parse_width("resnet50") is None
    True
    """
    try:
        return split_name(model_name).width
    except ValueError:
        return None


def create_model(
    backbone: str,
    width: float | None = None,
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    drop_rate: float = 0.2,
    **kwargs,
):
    """Build an untrained network for a backbone name and width.

    Parameters
    ----------
    backbone : str
        A backbone name (``"ghostnet"``, case-insensitive) or a registered variant name
        (``"ghostnet_050"``, which fixes the width); a ``.tag`` suffix is ignored.
    width : float, optional
        Channel width multiplier. Required for a bare backbone name; with a variant name it
        must be None or equal to the variant's.
    num_classes : int
        Classifier outputs; 0 gives a network that returns pooled features.
    in_channels : int
        Channels of the input image.
    drop_rate : float
        Dropout probability before the classifier (training only).
    **kwargs
        Passed on to the architecture's builder.

    Returns
    -------
    mindspore.nn.Cell

    Raises
    ------
    UnsupportedBackboneError
        The name is neither a registered backbone nor a variant, or a backbone came without a width.
    LoadError
        An argument out of range or one the architecture does not take (see :func:`check_model`).

    Examples
    --------
    >>> net = create_model("ghostnet", 0.5, num_classes=10)       # doctest: +SKIP
    """
    check_model(backbone, width, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate, **kwargs)
    name = backbone.lower().split(".", 1)[0]
    options = dict(num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate, **kwargs)
    if name in _VARIANTS:
        return _VARIANTS[name](**options)
    return _BACKBONES[name](width, **options)


def check_model(
    backbone: str,
    width: float | None = None,
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    drop_rate: float = 0.2,
    **kwargs,
) -> None:
    """Raise what :func:`create_model` would raise for these arguments, without building anything.

    ``ghosthub.load`` calls it before downloading, so a card or an argument that cannot work
    fails in a second, not after the transfer.

    Raises
    ------
    UnsupportedBackboneError
        Not a registered backbone or variant, a backbone without a width, or a variant with another width.
    LoadError
        A value out of range, or a keyword argument the architecture does not take.
    """
    _load_architectures()
    name = backbone.lower().split(".", 1)[0]
    if name in _VARIANTS:
        if width is not None and width != parse_width(name):
            raise UnsupportedBackboneError(
                f"{backbone!r} is the width-{parse_width(name)} variant, but width={width} was asked: "
                "pass the bare backbone name (e.g. 'ghostnet') to choose another width."
            )
        width, name = parse_width(name), split_name(name).backbone
    if name not in _BACKBONES:
        raise UnsupportedBackboneError(
            f"Unsupported backbone {backbone!r}: ghosthub can build {', '.join(supported_backbones())} "
            f"(variants: {', '.join(list_variants())}). Check the card's backbone-name, or add an "
            "architecture module under ghosthub/models/."
        )
    if width is None:
        raise UnsupportedBackboneError(
            f"No width given for backbone {backbone!r}: pass width= (e.g. 0.5, 1.0, 1.3) or use a "
            f"variant name ({', '.join(list_variants())})."
        )
    problems = []
    if not _is_number(width) or not 0 < width <= 10:
        problems.append(f"width={width!r} (a positive multiplier such as 0.5, 1.0 or 1.3)")
    if not _is_int(num_classes) or num_classes < 0:
        problems.append(f"num_classes={num_classes!r} (a whole number >= 1, or 0 for pooled features)")
    if not _is_int(in_channels) or in_channels < 1:
        problems.append(f"in_channels={in_channels!r} (a whole number >= 1)")
    if not _is_number(drop_rate) or not 0 <= drop_rate < 1:
        problems.append(f"drop_rate={drop_rate!r} (a probability in [0, 1))")
    unknown = sorted(set(kwargs) - set(_OPTIONS.get(name, ())))
    if unknown:
        takes = ", ".join((*_COMMON, *_OPTIONS.get(name, ())))
        problems.append(f"unknown argument{'s' * (len(unknown) > 1)} {', '.join(unknown)} ({name} takes {takes})")
    if problems:
        raise LoadError(f"cannot build {backbone!r}: " + "; ".join(problems))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)

"""Building a network by architecture name, with every argument checked before anything is built or fetched."""

from __future__ import annotations

import difflib
import numbers

from ..errors import ArchitectureError, GhostHubError, LoadError, UnsupportedBackboneError
from ..naming import variant_name
from .registry import (
    ENTRY_POINT_GROUP,
    Architecture,
    find_architecture,
    known_names,
    load_plugins,
    providers,
    width_families,
)

__all__ = ["check_model", "create_model", "resolve", "unknown_architecture"]

_SHOW = 12  # names listed per library in an error message


def resolve(name: str, width: float | None = None, *, library: str | None = None) -> tuple[Architecture, float | None]:
    """The architecture a name selects and the width to build it at.

    Parameters
    ----------
    name : str
        A registered name (``resnet50``), a width-taking family's (``ghostnet``) or one of its
        variants (``ghostnet_050``); a ``.tag`` suffix is ignored.
    width : float, optional
        The width multiplier, for a family that takes one; with a variant name it must agree. For
        an architecture without a width, ``name`` and ``width`` may spell a variant's name
        (``mobilenet_v3_large`` and 1.0 select ``mobilenet_v3_large_100``).
    library : str, optional
        The library a card says builds it, for the advice in the error.

    Returns
    -------
    (Architecture, float or None)

    Raises
    ------
    UnsupportedBackboneError
        Nobody knows the name, a family without a width, or a width where none is taken.

    Examples
    --------
    >>> spec, width = resolve("ghostnet", 0.5)
    >>> spec.name, width
    ('ghostnet', 0.5)
    """
    found = find_architecture(name)
    if found is None and width is not None:
        found = find_architecture(variant_name(name.split(".", 1)[0], width))
        if found is not None and not found[0].width:
            return found[0], None
    if found is None:
        raise unknown_architecture(name, library=library)
    spec, fixed = found
    if fixed is not None:
        if width is not None and width != fixed:
            raise UnsupportedBackboneError(
                f"{name!r} is the width-{fixed} variant, but width={width} was asked: "
                f"pass the bare name ({spec.name!r}) to choose another width."
            )
        width = fixed
    if spec.width and width is None:
        raise UnsupportedBackboneError(
            f"No width given for {name!r}: pass width= (e.g. 0.5, 1.0, 1.3) or a variant name "
            f"({variant_name(spec.name, 0.5)}, {variant_name(spec.name, 1.0)}, ...)."
        )
    if not spec.width and width is not None:
        raise UnsupportedBackboneError(
            f"{name!r} takes no width multiplier, but width={width} was asked: leave the width out, or name a "
            "variant that has it (ghosthub.architectures.known_names() lists the names)."
        )
    return spec, width


def unknown_architecture(name: str, *, library: str | None = None, where: str = "") -> UnsupportedBackboneError:
    """The error for a name no architecture answers to: what is registered, what is close, who would add it.

    Parameters
    ----------
    name : str
        The name asked for.
    library : str, optional
        The library a card's repo-link names, when there is a card.
    where : str
        What named it, for the message (``"card resnet_050 (cards/x.md): "``).
    """
    failed = load_plugins()
    known = known_names()
    listed = []
    for owner, names in known.items():
        shown = ", ".join(names[:_SHOW]) + (f", ... ({len(names)} in all)" if len(names) > _SHOW else "")
        listed.append(f"{owner}: {shown}")
    families = width_families()
    if families:
        listed.append(f"with a width in the name: {', '.join(variant_name(f, 0.5) for f in families[:3])} ...")
    every = {n.lower(): n for names in known.values() for n in names}
    close = difflib.get_close_matches(name.split(".", 1)[0].lower(), list(every), n=3, cutoff=0.75)
    advice = ""
    provider = next((p for p in providers() if p.library == library), None)
    if provider is not None:
        advice = f" The card says {provider.advice(name)}."
    elif library:
        advice = f" The card's repo-link names {library}: a package that adds its architectures to ghosthub is needed."
    broken = "".join(f" The plug-in {ep} = {value} failed to load: {error}." for ep, value, error in failed)
    error = UnsupportedBackboneError(
        f"{where}Unsupported architecture {name!r}: ghosthub can build {'; '.join(listed)}."
        + (f" Did you mean {', '.join(every[c] for c in close)}?" if close else "")
        + advice
        + broken
        + " Check the card's architecture:, model-name or backbone-name field; or install a package that registers "
        f"it (entry-point group {ENTRY_POINT_GROUP!r}), or register a builder with @ghosthub.register_architecture."
    )
    error.library = library
    return error


def check_model(
    name: str, width: float | None = None, *, num_classes: int = 1000, in_channels: int = 3, **kwargs
) -> tuple[Architecture, float | None]:
    """Raise what :func:`create_model` would raise for these arguments, without building anything.

    ``ghosthub.load`` calls it before downloading, so a card or an argument that cannot work
    fails in a second, not after the transfer.

    Returns
    -------
    (Architecture, float or None)
        What :func:`resolve` returns.

    Raises
    ------
    UnsupportedBackboneError
        See :func:`resolve`.
    LoadError
        A value out of range, or a keyword argument the architecture does not take.
    """
    spec, width = resolve(name, width)
    problems = []
    if spec.width and (not _is_number(width) or not 0 < width <= 10):
        problems.append(f"width={width!r} (a positive multiplier such as 0.5, 1.0 or 1.3)")
    if not _is_int(num_classes) or num_classes < 0:
        problems.append(f"num_classes={num_classes!r} (a whole number >= 1, or 0 for pooled features)")
    if not _is_int(in_channels) or in_channels < 1:
        problems.append(f"in_channels={in_channels!r} (a whole number >= 1)")
    if "drop_rate" in kwargs and (not _is_number(kwargs["drop_rate"]) or not 0 <= kwargs["drop_rate"] < 1):
        problems.append(f"drop_rate={kwargs['drop_rate']!r} (a probability in [0, 1))")
    unknown = sorted(set(kwargs) - set(spec.options)) if spec.options is not None else []
    if unknown:
        takes = ", ".join(("num_classes", "in_channels", *spec.options))
        problems.append(f"unknown argument{'s' * (len(unknown) > 1)} {', '.join(unknown)} ({spec.name} takes {takes})")
    if problems:
        raise LoadError(f"cannot build {name!r}: " + "; ".join(problems))
    return spec, width


def create_model(name: str, width: float | None = None, *, num_classes: int = 1000, in_channels: int = 3, **kwargs):
    """Build an untrained network by architecture name.

    Parameters
    ----------
    name : str
        An architecture (``"resnet50"``, ``"ghostnet"``, case-insensitive) or a width-taking
        family's variant (``"ghostnet_050"``, which fixes the width); a ``.tag`` suffix is ignored.
    width : float, optional
        Channel width multiplier of a family that takes one (required with its bare name).
    num_classes : int
        Classifier outputs; 0 gives a network that returns pooled features (where the
        architecture supports it).
    in_channels : int
        Channels of the input image.
    **kwargs
        Passed on to the architecture's builder (``drop_rate``, ...).

    Returns
    -------
    mindspore.nn.Cell
        With ``default_cfg`` (the architecture's name, classifier, first conv, preprocessing),
        ``num_classes`` and ``in_channels``.

    Raises
    ------
    UnsupportedBackboneError, LoadError
        See :func:`check_model`.
    ArchitectureError
        The builder of a plug-in (such as MindCV's) failed in its own code.

    Examples
    --------
    >>> net = create_model("ghostnet", 0.5, num_classes=10)       # doctest: +SKIP
    >>> net = create_model("resnet18", num_classes=10)             # doctest: +SKIP
    """
    spec, width = check_model(name, width, num_classes=num_classes, in_channels=in_channels, **kwargs)
    return build(spec, width, num_classes=num_classes, in_channels=in_channels, **kwargs)


def build(spec: Architecture, width: float | None, *, num_classes: int, in_channels: int, **kwargs):
    """:func:`create_model` for an architecture already resolved and checked."""
    arguments = dict(num_classes=num_classes, in_channels=in_channels, **kwargs)
    if spec.width:
        arguments["width"] = width
    try:
        net = spec.builder(**arguments)
    except GhostHubError:
        raise
    except Exception as exc:
        if spec.library == "ghosthub":
            raise
        error = ArchitectureError(
            f"the builder of {spec.name!r} ({spec.library}) failed: {type(exc).__name__}: {exc}. This is "
            f"{spec.library}'s own failure, not a ghosthub check."
        )
        error.library = spec.library
        raise error from exc
    cfg = {**spec.default_cfg(), **(getattr(net, "default_cfg", None) or {}), "architecture": spec.name}
    net.default_cfg = cfg
    for attribute, value in (("num_classes", num_classes), ("in_channels", in_channels), ("width", width)):
        if value is not None and not hasattr(net, attribute):
            setattr(net, attribute, value)
    return net


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)

"""Which architecture a model card's model is, whether it can be built here, and cards other libraries build.

A card chooses its architecture by, in order:

1. an ``architecture:`` field (timm's key), which must name one;
2. the model name before its first dot, when an architecture answers to it (``resnet50``,
   ``resnet50.c2a4b5a1``, ``mobilenet_v3_large_100``, ``ghostnet_050``);
3. ``backbone-name`` for families that take a width (``ghostnet``), the width from a ``width:``
   field, the model name or the weights' file name (``digits_ghostnet_050``); a name that fixes its
   width (``ghostnet_050``, ``architecture: ghostnet600_175``) is built at that width.

Before any of that, a card whose library (:func:`ghosthub.modelcard.library.library_of`) is one that
builds other kinds of networks (detection, OCR, generation, audio, language) is refused, unless an
installed plug-in provides that library's architectures: mindocr's ``dbnet_resnet50`` says
``backbone-name: resnet50`` and must never be built as a ResNet classifier.
"""

from __future__ import annotations

from collections import namedtuple

from ..errors import GhostHubError
from ..modelcard.fields import architecture as card_backbone
from ..modelcard.library import BUILT_HERE, check_library, library_of
from .registry import Match, known_names, load_plugins, match, providers, registered

__all__ = [
    "Availability",
    "Choice",
    "availability",
    "checked_choice",
    "choose_architecture",
    "named_architecture",
]


class Choice(namedtuple("Choice", "architecture width field library")):
    """The architecture a card chose and the width to build it at.

    Attributes
    ----------
    architecture : Architecture
    width : float or None
        For a family that takes one; None when the card does not say (its weights will).
    field : str
        The card field that chose it: ``architecture``, ``model-name`` or ``backbone-name``.
    library : str or None
        The library the card names (see :func:`ghosthub.modelcard.library.library_of`).
    """

    __slots__ = ()


class Availability(namedtuple("Availability", "buildable architecture library reason")):
    """Whether a card's model can be built here (:func:`availability`).

    Attributes
    ----------
    buildable : bool or None
        None when only importing the installed plug-ins could tell.
    architecture : str or None
        The architecture it would be built as.
    library : str or None
        Who builds it: ``ghosthub``, ``mindcv``, a plug-in's package, or the other library it needs.
    reason : str
        A short phrase for a table: ``built in``, ``mindcv 0.3.0``, ``needs mindocr``,
        ``needs ghosthub[mindcv]``, ``not in mindcv 0.3.0``, ``fails in mindcv 0.3.0`` (building it
        on this machine failed inside mindcv), ``unknown architecture``.
    """

    __slots__ = ()


def _provided(library: str) -> bool:
    """Whether an architecture registered in this process, or a lazy provider, comes from ``library``."""
    return any(a.library == library for a in registered()) or any(p.library == library for p in providers())


def _where(card) -> str:
    path = getattr(card, "path", None)
    return f"card {card.name}" + (f" ({path})" if path else "") + ": "


def _refuse_other_library(card, library: str | None) -> None:
    """Refuse a card another library builds, unless a plug-in provides that library's architectures."""
    if library is None or library in BUILT_HERE:
        return
    load_plugins()
    if library in known_names():
        return
    check_library(card)


def _pick(card, lookup) -> tuple[Match, float | None, str] | None:
    """(match, width, field) by the card's fields in their order, with ``lookup(name) -> Match | None``."""
    _, width = card_backbone(card)  # the width: field, else a backbone_NNN token in the name or file name
    field = card.get("architecture")
    if isinstance(field, str) and field.strip():
        candidates = [(field.strip(), "architecture", False)]
    else:
        candidates = [(card.name, "model-name", False), ((card.backbone or "").strip(), "backbone-name", True)]
    for name, source, families_only in candidates:
        found = lookup(name) if name else None
        if found is not None and (found.takes_width or not families_only):
            # The chosen name's own width (ghostnet_050) first; else the width: field, the name or the file name.
            return found, (found.width if found.width is not None else width) if found.takes_width else None, source
    return None


def choose_architecture(card) -> Choice:
    """The architecture a card's model is built as (see the module's docstring for the order).

    Parameters
    ----------
    card : ModelCard or registry entry
        Its front-matter is read: ``architecture``, ``model-name``, ``backbone-name``, ``width``,
        ``repo-link`` / ``library-name``.

    Returns
    -------
    Choice

    Raises
    ------
    UnsupportedBackboneError
        Another library builds the model, or no architecture answers to the card; the message lists
        what is registered and, where the card says its library, which package would add it.

    Examples
    --------
    >>> from ghosthub import get_card
    >>> choice = choose_architecture(get_card("ghostnet_050"))
    >>> choice.architecture.name, choice.width, choice.field
    ('ghostnet', 0.5, 'model-name')
    """
    library = library_of(card)
    _refuse_other_library(card, library)
    picked = _pick(card, match)
    if picked is None:
        from .build import unknown_architecture

        field = card.get("architecture")
        name = field.strip() if isinstance(field, str) and field.strip() else card.name
        raise unknown_architecture(name, library=library, where=_where(card))
    found, width, field = picked
    return Choice(found.architecture(), width, field, library)


def availability(card) -> Availability:
    """Whether a card's model can be built here, answered without importing MindSpore, mindcv or plug-ins.

    Cheap enough for every ``ghosthub list``: the built-in architectures are registered in pure
    Python and MindCV's names are read from its source files once per installed copy (kept in the
    cache). Plug-ins of the entry-point group are not imported: a card only they could build is
    ``buildable=None``.

    Examples
    --------
    >>> from ghosthub import get_card
    >>> availability(get_card("ghostnet_050"))
    Availability(buildable=True, architecture='ghostnet', library='ghosthub', reason='built in')
    """
    library = library_of(card)
    if library is not None and library not in BUILT_HERE and not _provided(library):
        return Availability(False, None, library, f"needs {library}")
    try:
        picked = _pick(card, lambda name: match(name, plugins=False))
    except GhostHubError:  # a card that cannot be read this far is not buildable either; load says why
        return Availability(False, None, library, "unreadable card")
    if picked is not None:
        found = picked[0]
        if found.library == "ghosthub":
            return Availability(True, found.name, found.library, "built in")
        provider = found.provider
        version = getattr(provider, "version", lambda: None)() if provider is not None else None
        label = f"{found.library} {version}" if version else found.library
        failed = getattr(provider, "failure", lambda name: None)(found.name) if provider is not None else None
        if failed:  # it was tried on this machine and failed inside the library itself
            return Availability(False, found.name, found.library, f"fails in {label}")
        return Availability(True, found.name, found.library, label)
    provider = next((p for p in providers() if p.library == library), None)
    if provider is not None:
        version = getattr(provider, "version", lambda: None)()
        if version is None:
            return Availability(False, None, library, f"needs ghosthub[{library}]")
        return Availability(False, None, library, f"not in {library} {version}")
    return Availability(None, None, library, "unknown architecture")


def checked_choice(
    card,
    *,
    weights: bool,
    architecture: str | None = None,
    num_classes: int | None = None,
    in_channels: int = 3,
    **model_kwargs,
) -> Choice:
    """The architecture a card's model is built as, with the build's arguments checked: what ``load``
    does before any download, so that what cannot work fails in a second, not after the transfer.

    Parameters
    ----------
    card : ModelCard or registry entry
    weights : bool
        Weights will be loaded (they can say a width the card does not).
    architecture : str, optional
        The caller's choice, instead of the card's fields.
    num_classes, in_channels, **model_kwargs
        What the network will be built with (see :func:`ghosthub.architectures.check_model`).

    Returns
    -------
    Choice

    Raises
    ------
    UnsupportedBackboneError
        See :func:`choose_architecture`.
    LoadError
        A family without a width and no weights to say it; an argument out of range or unknown.
    """
    from ..errors import LoadError
    from .build import check_model

    if architecture is None:
        choice = choose_architecture(card)
    else:
        found = named_architecture(architecture)
        width = found.width if found.takes_width and found.width is not None else card_backbone(card)[1]
        choice = Choice(found.architecture(), width if found.takes_width else None, "argument", library_of(card))
    spec = choice.architecture
    if spec.width and choice.width is None and not weights:
        raise LoadError(
            f"load({card.name!r}, pretrained=False): the card names no width (no width: field, no {spec.name}_NNN "
            "in its name or file name), and only its weights could say it: load with pretrained=True, or add width:"
        )
    try:
        check_model(
            spec.name,
            (1.0 if choice.width is None else choice.width) if spec.width else None,
            num_classes=1000 if num_classes is None else num_classes,
            in_channels=in_channels,
            **model_kwargs,
        )
    except LoadError as exc:
        raise LoadError(f"load({card.name!r}): {exc}") from None
    return choice


def named_architecture(name: str) -> Match:
    """What an architecture name a caller passes selects (``arch=``, ``architecture=``); a family needs its width.

    Raises
    ------
    LoadError
        Nobody answers to the name, or it is a family's without a width.
    """
    from ..errors import LoadError
    from ..naming import variant_name
    from .registry import width_families

    found = match(name) if isinstance(name, str) and name.strip() else None
    if found is None or (found.takes_width and found.width is None):
        families = width_families()
        example = variant_name(families[0], 0.5) if families else "NAME_050"
        raise LoadError(
            f"arch {name!r} is not an architecture name with a width, such as {example} (the family, then the "
            "width multiplier times 100 in three digits), nor one that takes none, such as a MindCV model's "
            "name (ghosthub.architectures.known_names() lists them)."
        )
    return found

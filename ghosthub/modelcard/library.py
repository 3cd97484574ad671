"""Which library builds a card's network: its ``library-name``, else the mindspore-lab repository of its ``repo-link``.

MindSpore Hub's cards have no field for it, but each names the library's configuration folder in
``repo-link`` (``https://github.com/mindspore-lab/mindcv/tree/v0.5.0/configs/resnet``). The
repository is the reliable witness: ``backbone-name`` is not (mindocr's ``dbnet_resnet50`` says
``backbone-name: resnet50``). A ``library-name`` field, huggingface_hub's key for the same fact,
wins when a card has one; the cards ``ghosthub publish`` writes say ``library-name: ghosthub``.
Everything here reads the front-matter already parsed: no file, no MindSpore.
"""

from __future__ import annotations

from ..errors import UnsupportedLibraryError

__all__ = ["BUILT_HERE", "library_of", "check_library"]

# The libraries whose cards ghosthub builds: its own, and MindCV's (whose networks it has or takes
# from an installed mindcv). Any other library's card is downloaded and verified, never built.
BUILT_HERE = frozenset({"ghosthub", "mindcv"})

# github.com/mindspore-lab/<repository>, the organisation of MindSpore's model libraries. Other
# hosts (gitee.com/mindspore/models, the model zoo) are folders of scripts, not a library: None.
# Read with string methods: compiling a pattern would cost every `ghosthub list` more than the reading.
_LAB = "github.com/mindspore-lab/"


def library_of(card) -> str | None:
    """The library that builds a card's network, lower-case, or None when the card does not say.

    Parameters
    ----------
    card : ModelCard or CardEntry
        Anything with the card's front-matter as ``fields``.

    Returns
    -------
    str or None
        The ``library-name`` field when the card has one; else ``<lib>`` of a ``repo-link`` under
        ``github.com/mindspore-lab/<lib>``; else None (the MindSpore model zoo, a hub's own URL).

    Examples
    --------
    >>> from ghosthub import get_card
    >>> library_of(get_card("ghostnet_050"))
    'mindcv'
    >>> library_of(get_card("ghostnet_100.2c1db3f2")) is None  # the model zoo's scripts
    True
    """
    return _witness(card)[0]


def check_library(card, built_here=BUILT_HERE) -> None:
    """Refuse to build a card that another library builds.

    A card whose library is not one of ``built_here`` (and not unknown) would otherwise be
    built from its ``backbone-name`` as a look-alike classifier. Downloading and verifying
    such a card's weights do not call this.

    Parameters
    ----------
    card : ModelCard or CardEntry
        The card to build.
    built_here : collection of str
        Libraries whose cards can be built (lower-case); by default :data:`BUILT_HERE`.

    Raises
    ------
    UnsupportedLibraryError
        The card's library is not one of ``built_here``; the message names the library, the field
        that says so, the card and how to get the network.

    Examples
    --------
    >>> from ghosthub import get_card
    >>> check_library(get_card("ghostnet_050"))  # mindcv: built here
    """
    library, field = _witness(card)
    if library is None or library in built_here:
        return
    lines = getattr(card, "lines", None) or {}
    path = getattr(card, "path", None)
    raise UnsupportedLibraryError(
        card.fields.get("model-name"),
        library,
        field=field,
        value=str(card.fields.get(field)),
        path=str(path) if path is not None else None,
        line=lines.get(field),
        home=f"https://github.com/mindspore-lab/{library}" if field == "repo-link" else None,
    )


def _witness(card) -> tuple[str | None, str | None]:
    """``(library, the field that says it)``, or ``(None, None)``."""
    fields = card.fields
    named = fields.get("library-name")
    if isinstance(named, str) and named.strip():
        return named.strip().lower(), "library-name"
    link = fields.get("repo-link")
    if isinstance(link, str):
        where = link.strip().strip("<>").lower().removeprefix("https://").removeprefix("http://")
        where = where.removeprefix("www.")
        if where.startswith(_LAB):
            repository = where[len(_LAB) :].partition("/")[0].partition("?")[0].partition("#")[0]
            repository = repository.removesuffix(".git")
            if repository:
                return repository, "repo-link"
    return None, None

"""Which library builds a card's model: its ``library-name`` field, else the repository its ``repo-link`` names."""

from __future__ import annotations

import re

__all__ = ["library_of"]

# A repository link of the MindSpore organisations: github.com/mindspore-lab/mindcv/tree/...,
# gitee.com/mindspore/models/...; the library is the repository (the model zoo's is "modelzoo").
_REPO = re.compile(r"^https?://(?:www\.)?(?:github\.com|gitee\.com)/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)", re.I)
_OWNERS = ("mindspore-lab", "mindspore-ai", "mindspore")
_MODEL_ZOO = "models"


def library_of(card) -> str | None:
    """The library that builds a card's model, lower case, or None when the card does not say.

    Read from a ``library-name:`` field (huggingface_hub's key), else from ``repo-link``: a
    repository of the MindSpore organisations names its library (``mindcv``, ``mindocr`` ...; the
    model zoo's ``models`` is ``modelzoo``). Not from ``backbone-name``: mindocr's ``dbnet_resnet50``
    says ``backbone-name: resnet50``.

    Examples
    --------
    >>> from ghosthub import get_card
    >>> library_of(get_card("ghostnet_050"))
    'mindcv'
    """
    named = card.get("library-name")
    if isinstance(named, str) and named.strip():
        return named.strip().lower()
    link = card.get("repo-link")
    if not isinstance(link, str):
        return None
    found = _REPO.match(link.strip().strip("<>").strip())
    if found is None or found["owner"].lower() not in _OWNERS:
        return None
    repo = found["repo"].lower().removesuffix(".git")
    return "modelzoo" if repo == _MODEL_ZOO else repo

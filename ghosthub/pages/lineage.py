"""What a model page depends on: its index entry, its base-model chain, and the key that names them together.

A model page is drawn from its card (pinned by the entry's ``card-sha256``), its index entry
and the chain of base models the index lists. :func:`page_key` hashes exactly those, so a
writer re-renders a page only when its key changed, and the pages of 999 untouched models of
a 1,000-model hub are left as they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .shell import renderer_id

__all__ = ["MAX_CHAIN", "base_chain", "page_key"]

MAX_CHAIN = 32  # a longer chain (or a loop a hand-made index holds) is cut


def base_chain(models: Mapping[str, Any], name: str) -> list[tuple[str, bool]]:
    """The base models of ``name``, nearest first: ``[(base, whether this hub lists it), ...]``.

    The chain follows the entries' ``base-model`` and stops at a model this hub does not
    list (its own base is not known here), at a loop, or after :data:`MAX_CHAIN` steps.

    Examples
    --------
    >>> models = {"c": {"base-model": "b"}, "b": {"base-model": "a"}, "a": {"base-model": "imagenet_net"}}
    >>> base_chain(models, "c")
    [('b', True), ('a', True), ('imagenet_net', False)]
    """
    chain: list[tuple[str, bool]] = []
    seen = {name}
    entry = models.get(name)
    while isinstance(entry, Mapping) and len(chain) < MAX_CHAIN:
        base = entry.get("base-model")
        if not isinstance(base, str) or not base or base in seen:
            break
        seen.add(base)
        listed = isinstance(models.get(base), Mapping)
        chain.append((base, listed))
        entry = models.get(base) if listed else None
    return chain


def page_key(models: Mapping[str, Any], name: str) -> str | None:
    """A digest of everything the page of ``name`` shows; None when its entry does not pin its card.

    Examples
    --------
    >>> models = {"a": {"card": "cards/a.md", "card-sha256": "ab" * 32}}
    >>> page_key(models, "a") == page_key({**models, "b": {"card-sha256": "cd" * 32}}, "a")
    True
    """
    entry = models.get(name)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("card-sha256"), str):
        return None
    facts = [renderer_id(), name, entry, base_chain(models, name)]
    text = json.dumps(facts, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]

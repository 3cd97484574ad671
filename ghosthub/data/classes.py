"""Class names shipped with ghosthub: ImageNet-1k in the standard index order."""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["imagenet_classes"]


@functools.lru_cache(maxsize=1)
def _imagenet_classes() -> tuple[str, ...]:
    text = resources.files("ghosthub").joinpath("resources/imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(text.splitlines())


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names in the standard index order (0 = "tench").

    Returns
    -------
    list of str

    Examples
    --------
    >>> imagenet_classes()[:2]
    ['tench', 'goldfish']
    """
    return list(_imagenet_classes())

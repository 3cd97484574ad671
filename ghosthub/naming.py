"""Model names: ``<architecture>[.<tag>]``, the architecture a backbone and a width in hundredths.

``ghostnet_050`` is GhostNet at width 0.5 (timm's and MindCV's naming), ``ghostnet_050.85b91860``
the same architecture with other weights (the tag, after the first dot). This module is the
one place that reads and writes such names.
"""

from __future__ import annotations

import re
from collections import namedtuple

__all__ = ["ModelName", "find_architecture", "split_name", "variant_name"]

# A backbone (lower-case words joined by "_"), then "_" and exactly three digits: "resnet_50" has no width.
_NAME = re.compile(r"(?P<backbone>[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)*?)(?:_(?P<width>\d{3}))?")
# The same token anywhere in a longer text: "digits_ghostnet_050_finetuned", "ghostnet_050-85b91860.ckpt".
_TOKEN = re.compile(r"(?<![a-z0-9])(?P<backbone>[a-z][a-z0-9]*)_(?P<width>\d{3})(?![0-9])")


class ModelName(namedtuple("ModelName", "backbone width tag")):
    """A model name's parts: ``backbone`` (str), ``width`` (float or None), ``tag`` (str, '' for none)."""

    __slots__ = ()


def split_name(name: str) -> ModelName:
    """Split a model name into backbone, width and tag.

    Raises ValueError for a name that is not ``backbone[_NNN][.tag]`` in lower-case words.

    Examples
    --------
    >>> split_name("ghostnet_050")
    ModelName(backbone='ghostnet', width=0.5, tag='')
    >>> split_name("ghostnet_130.85b91860")
    ModelName(backbone='ghostnet', width=1.3, tag='85b91860')
    >>> split_name("ghostnet")
    ModelName(backbone='ghostnet', width=None, tag='')
    """
    base, _, tag = name.strip().partition(".")
    match = _NAME.fullmatch(base.lower())
    if not match:
        raise ValueError(
            f"{name!r} is not a model name such as ghostnet_050 (a backbone, then _ and the width in hundredths)"
        )
    width = match["width"]
    return ModelName(match["backbone"], int(width) / 100 if width else None, tag)


def variant_name(backbone: str, width: float) -> str:
    """The inverse of :func:`split_name` for an architecture.

    Examples
    --------
    >>> variant_name("ghostnet", 0.5), variant_name("ghostnetv2", 1.6)
    ('ghostnet_050', 'ghostnetv2_160')
    """
    return f"{backbone.lower()}_{round(width * 100):03d}"


def find_architecture(text: str, backbones=None) -> tuple[str, float] | None:
    """The first ``backbone_NNN`` token anywhere in ``text`` (a model or file name), or None.

    With ``backbones``, only tokens naming one of them count.

    Examples
    --------
    >>> find_architecture("ghostnet_050_finetuned")
    ('ghostnet', 0.5)
    >>> find_architecture("digits-GhostNet_130-85b91860.ckpt", backbones={"ghostnet"})
    ('ghostnet', 1.3)
    >>> find_architecture("resnet50") is None
    True
    """
    for match in _TOKEN.finditer(text.lower()):
        backbone = match["backbone"]
        if backbones is None or backbone in backbones:
            return backbone, int(match["width"]) / 100
    return None

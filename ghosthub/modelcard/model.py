"""The model card as a value: ModelCard, Asset and the readings of its front-matter."""

from __future__ import annotations

import re
from collections import namedtuple
from pathlib import Path
from types import MappingProxyType

from ..constants import WEIGHT_FORMATS
from ..errors import CardError
from ..errors import shorten as _shorten

TYPE_CHECKING = False  # typing is imported only by type checkers: it costs a cache hit time
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "Asset",
    "FrontMatterView",
    "ModelCard",
    "ASSET_FIELDS",
    "ASSET_SIZE",
    "REQUIRED_FIELDS",
    "is_safe_name",
    "parse_metrics",
]

MAX_CARD_BYTES = 1 << 20

# MindSpore Hub's validator requires these, and a registry needs model-name.
REQUIRED_FIELDS = (
    "model-name",
    "backbone-name",
    "module-type",
    "fine-tunable",
    "model-version",
    "author",
    "update-time",
    "repo-link",
    "user-id",
    "used-for",
    "mindspore-version",
    "license",
    "summary",
)
ASSET_FIELDS = ("file-format", "asset-link", "asset-sha256")
# An optional asset key: the file's size in bytes (a hub's index declares it; see Asset.size).
ASSET_SIZE = "asset-size"

_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_SIZE = re.compile(r"[0-9]{1,19}")  # below 2**63: what the hub index allows
_METRIC = re.compile(r"(?P<name>.*?)(?P<value>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)%?")


class Asset(namedtuple("Asset", "file_format link sha256 extra line", defaults=(MappingProxyType({}), None))):
    """One downloadable file of a card: file-format, asset-link, asset-sha256, other keys, its line."""

    __slots__ = ()

    @property
    def size(self) -> int | None:
        """The file's size in bytes when the card declares one (``asset-size``), else None.

        Cards of MindSpore Hub declare none; a hub's copy of a card carries the size its
        ``index.json`` gives, and a download never writes more (:mod:`ghosthub.download.partfile`).

        Examples
        --------
        >>> Asset("ckpt", "x.ckpt", "ab12cd34", {"asset-size": "1024"}).size
        1024
        """
        value = self.extra.get(ASSET_SIZE)
        return int(value) if isinstance(value, str) and _SIZE.fullmatch(value) else None


class FrontMatterView:
    """Readings of a card's front-matter, shared by ModelCard and the registry's entries.

    Subclasses provide ``fields`` (the front-matter), ``lines`` (field -> line in the
    file, for messages) and ``path`` (the card file, which anchors relative links).
    """

    __slots__ = ()

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def name(self) -> str:
        return self.fields["model-name"]

    @property
    def backbone(self) -> str | None:
        return self.fields.get("backbone-name")

    @property
    def dataset(self) -> str | None:
        return self.fields.get("train-dataset")

    @property
    def fine_tunable(self) -> bool:
        return _bool(self.fields.get("fine-tunable", "false"))

    @property
    def metrics(self) -> dict[str, float]:
        """Figures from ``evaluation``: ``top1acc65.84 | top5acc86.60`` -> top1, top5."""
        value = self.fields.get("evaluation")
        return parse_metrics(value) if isinstance(value, str) else {}

    @property
    def assets(self) -> tuple[Asset, ...]:
        return tuple(
            _asset(item, self.lines.get(f"asset[{i}]")) for i, item in enumerate(self.fields.get("asset") or ())
        )

    @property
    def file_formats(self) -> list[str]:
        return [a.file_format for a in self.assets]

    def weights_asset(self, file_format: str | None = None) -> Asset:
        """The asset to load weights from: the first ckpt/safetensors one, or of ``file_format``."""
        wanted = (file_format,) if file_format else WEIGHT_FORMATS
        for asset in self.assets:
            if asset.file_format in wanted:
                return asset
        formats = ", ".join(a.file_format for a in self.assets) or "none"
        raise CardError(
            "the card has no asset to load weights from",
            path=self.path,
            line=self.lines.get("asset"),
            field="asset",
            expected="an asset with file-format " + " or ".join(wanted),
            found=f"file formats: {formats}",
        )


class ModelCard(FrontMatterView):
    """A parsed model card.

    ``fields`` holds the front-matter as written (strings, lists and
    mappings of strings), in file order. ``body`` is the Markdown after the
    front-matter, byte for byte. ``path``, ``lines`` (field -> line number
    in the file) and ``warnings`` (repairs made while reading) describe where
    the card came from and take no part in equality. Cards are immutable:
    :meth:`replace` makes a changed copy.
    """

    # A plain class rather than a dataclass: importing dataclasses (and inspect
    # with it) would cost a cache hit more time than the hit itself.
    __slots__ = ("title", "fields", "body", "path", "lines", "warnings")
    __hash__ = None  # fields is a dict

    def __init__(
        self,
        title: str | None,
        fields: Mapping[str, Any],
        body: str = "",
        path: Path | None = None,
        lines: Mapping[str, int] | None = None,
        warnings: tuple[str, ...] = (),
    ):
        for name, value in zip(
            self.__slots__, (title, fields, body, path, {} if lines is None else lines, tuple(warnings))
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"a ModelCard is immutable: use card.replace({name}=...)")

    def __eq__(self, other):
        if not isinstance(other, ModelCard):
            return NotImplemented
        return (self.title, self.fields, self.body) == (other.title, other.fields, other.body)

    def __repr__(self) -> str:
        body = _shorten(self.body, 60)
        return f"ModelCard(title={self.title!r}, fields={self.fields!r}, body={body!r}, path={self.path!r})"

    def replace(self, **changes) -> ModelCard:
        """A copy with some attributes or front-matter fields changed.

        Front-matter keys use their card spelling: ``card.replace(**{"model-name": "x"})``.
        """
        attrs = {name: getattr(self, name) for name in self.__slots__}
        attrs.update((k, v) for k, v in changes.items() if k in attrs)
        fields = {k: v for k, v in changes.items() if k not in attrs}
        if fields:
            attrs["fields"] = {**attrs["fields"], **fields}
        return ModelCard(**attrs)


def parse_metrics(evaluation: str) -> dict[str, float]:
    """Parse a MindSpore Hub ``evaluation`` string into named figures.

    Examples
    --------
    >>> parse_metrics("top1acc65.84 | top5acc86.60")
    {'top1': 65.84, 'top5': 86.6}
    >>> parse_metrics("-")
    {}
    """
    metrics: dict[str, float] = {}
    for part in evaluation.split("|"):
        match = _METRIC.fullmatch(part.strip())
        if not match:
            continue
        name = match["name"].rstrip(":= ")
        if name.lower().endswith("acc") and len(name) > 3:
            name = name[:-3]
        if name and name not in metrics:
            metrics[name] = float(match["value"])
    return metrics


def is_safe_name(name: object) -> bool:
    """True for a model name that is safe as a file name and a URL segment."""
    return isinstance(name, str) and bool(_SAFE_NAME.fullmatch(name)) and ".." not in name


def _asset(item: Mapping[str, Any], line: int | None) -> Asset:
    extra = {k: v for k, v in item.items() if k not in ASSET_FIELDS}
    return Asset(item["file-format"], item["asset-link"], item["asset-sha256"], extra, line)


def _bool(value: str) -> bool:
    return value.strip().lower() in _TRUE

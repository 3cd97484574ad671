"""Validation: every rule of the card format a card breaks, as CardErrors naming file, line and field."""

from __future__ import annotations

import re

from ..constants import FILE_FORMATS
from ..errors import CardError
from .model import _FALSE, _SIZE, _TRUE, ASSET_FIELDS, ASSET_SIZE, REQUIRED_FIELDS, ModelCard, is_safe_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["validate", "iter_errors"]

_HEX = re.compile(r"[0-9a-fA-F]{8,64}")

# --------------------------------------------------------------------------- validation


def validate(card: ModelCard) -> None:
    """Raise CardError for the first rule of the card format that ``card`` breaks."""
    errors = list(iter_errors(card))
    if errors:
        raise errors[0]


def iter_errors(card: ModelCard) -> Iterable[CardError]:
    """Every rule of the card format that ``card`` breaks, as CardErrors, in file order."""
    fields, lines, path = card.fields, card.lines, card.path

    def error(reason, key, **kw):
        return CardError(reason, path=path, line=lines.get(key), field=key, **kw)

    for key in REQUIRED_FIELDS:
        value = fields.get(key)
        if key not in fields:
            yield error("missing required field", key, expected="a value")
        elif not isinstance(value, str) or not value.strip():
            yield error("field must be non-empty text", key, expected="text", found=_describe(value))
    name = fields.get("model-name")
    if isinstance(name, str) and name.strip() and not is_safe_name(name):
        yield error(
            "model-name is not a safe name",
            "model-name",
            expected="letters, digits, '.', '_', '+', '-' (no '..', spaces or slashes), at most 128",
            found=repr(name),
        )
    tunable = fields.get("fine-tunable")
    if isinstance(tunable, str) and tunable.strip() and tunable.strip().lower() not in _TRUE | _FALSE:
        yield error("fine-tunable must be a boolean", "fine-tunable", expected="True or False", found=tunable)
    if "asset" in fields:
        yield from _asset_errors(card, error)


def _asset_errors(card, error):
    assets = card.fields["asset"]
    if assets == "":  # `asset:` with nothing under it: no assets
        return
    if not isinstance(assets, list):
        yield error("asset must be a list", "asset", expected="a '- file-format: ...' list", found=_describe(assets))
        return
    for i, item in enumerate(assets):
        where = dict(path=card.path, line=card.lines.get(f"asset[{i}]", card.lines.get("asset")))
        if not isinstance(item, dict):
            yield CardError(
                f"asset {i + 1} must be a mapping",
                field="asset",
                expected="file-format, asset-link, asset-sha256",
                found=_describe(item),
                **where,
            )
            continue
        for key in ASSET_FIELDS:
            if not isinstance(item.get(key), str) or not item[key].strip():
                yield CardError(
                    f"asset {i + 1} lacks {key}", field=key, expected="text", found=_describe(item.get(key)), **where
                )
        digest = item.get("asset-sha256")
        if isinstance(digest, str) and digest.strip() and not _HEX.fullmatch(digest):
            yield CardError(
                f"asset {i + 1} has a bad asset-sha256",
                field="asset-sha256",
                expected="8 to 64 hexadecimal digits (a prefix of the file's SHA-256)",
                found=digest,
                **where,
            )
        size = item.get(ASSET_SIZE)
        if size is not None and not (isinstance(size, str) and _SIZE.fullmatch(size)):
            yield CardError(
                f"asset {i + 1} has a bad {ASSET_SIZE}",
                field=ASSET_SIZE,
                expected="the file's size in bytes (decimal digits)",
                found=_describe(size),
                **where,
            )
        fmt = item.get("file-format")
        if isinstance(fmt, str) and fmt.strip() and fmt not in FILE_FORMATS:
            yield CardError(
                f"asset {i + 1} has an unknown file-format",
                field="file-format",
                expected=" ".join(FILE_FORMATS),
                found=fmt,
                **where,
            )


def _describe(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value) if value.strip() else "an empty value"
    return f"a {'list' if isinstance(value, list) else 'mapping'}"

"""The hub format: a static folder (index.json + cards/ + assets/) that any web server or object store can serve.

``index.json`` lists every model with its card path and digest and its assets'
paths, digests and sizes. Every path in it is checked to be a safe name inside
``cards/`` or ``assets/`` before anything is read or fetched.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .._utils.urls import is_url
from ..errors import HubError
from ..modelcard import is_safe_name

__all__ = ["INDEX", "FORMAT", "MAX_INDEX_BYTES", "empty_index", "index_bytes", "is_url", "parse_index", "read_index"]

INDEX = "index.json"
FORMAT = "ghosthub-hub/1"
MAX_INDEX_BYTES = 16 << 20
_CARD_PATH = re.compile(r"cards/([^/]+)\.md")
_ASSET_PATH = re.compile(r"assets/([^/]+)")


def empty_index() -> dict[str, Any]:
    return {"format": FORMAT, "updated": None, "models": {}}


def read_index(path: str | os.PathLike, *, source: str | None = None) -> dict[str, Any]:
    """Read and check a hub's index.json (a missing file is an empty hub)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return empty_index()
    except OSError as exc:
        raise HubError(f"cannot read hub index {path}: {exc.strerror or exc}") from None
    return parse_index(data, source=source or str(path))


def parse_index(data: bytes, *, source: str) -> dict[str, Any]:
    """Check the shape of index.json bytes: every card and asset path is a safe name in its folder."""
    if len(data) > MAX_INDEX_BYTES:
        raise HubError(f"hub index {source} is larger than {MAX_INDEX_BYTES} bytes")
    try:
        index = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HubError(f"hub index {source} is not valid JSON: {exc}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("models"), dict):
        raise HubError(f"hub index {source} is not a ghosthub hub index; expected format {FORMAT!r} and a 'models' mapping")
    for name, entry in index["models"].items():
        where = f"hub index {source}, model {name!r}"
        if not is_safe_name(name) or not isinstance(entry, dict):
            raise HubError(f"{where}: not a safe model name or not a mapping")
        card = _CARD_PATH.fullmatch(str(entry.get("card", "")))
        if not card or not is_safe_name(card.group(1)):
            raise HubError(f"{where}: card path {entry.get('card')!r} is not cards/<safe name>.md")
        for asset in entry.get("assets", []):
            match = _ASSET_PATH.fullmatch(str(asset.get("path", ""))) if isinstance(asset, dict) else None
            if not match or not is_safe_name(match.group(1)):
                raise HubError(f"{where}: asset path {asset!r} is not assets/<safe file name>")
    return index


def index_bytes(index: dict[str, Any]) -> bytes:
    """index.json as written to disk: models sorted by name."""
    index = {**index, "models": dict(sorted(index["models"].items()))}
    return (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode()

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
from ..errors import HubError, shorten
from ..modelcard import is_safe_name
from .transaction import JOURNAL

__all__ = [
    "INDEX",
    "FORMAT",
    "MAX_INDEX_BYTES",
    "PAGE_FIELDS",
    "asset_file_name",
    "card_facts",
    "empty_index",
    "hub_folder_problem",
    "index_bytes",
    "is_url",
    "model_entry",
    "model_of_asset",
    "parse_index",
    "read_index",
]

INDEX = "index.json"
FORMAT = "ghosthub-hub/1"
MAX_INDEX_BYTES = 16 << 20
_CARD_PATH = re.compile(r"cards/([^/]+)\.md")
_ASSET_PATH = re.compile(r"assets/([^/]+)")
_DIGEST = re.compile(r"[0-9a-fA-F]{8,64}")
# Card fields an entry copies so that index.html is drawn from index.json alone (see ghosthub.pages).
PAGE_FIELDS = ("update-time", "base-model", "parameters")


def asset_file_name(model: str, sha256: str, file_format: str) -> str:
    """The file name of a model's asset in ``assets/``: ``<model>-<first 8 hex digits>.<format>``.

    Examples
    --------
    >>> asset_file_name("ghostnet_050", "1A2B3C4D5E", "ckpt")
    'ghostnet_050-1a2b3c4d.ckpt'
    """
    return f"{model}-{sha256.lower()[:8]}.{file_format}"


def model_of_asset(file_name: str) -> str | None:
    """The model of an :func:`asset_file_name`; None for a name of another shape.

    Examples
    --------
    >>> model_of_asset("ghostnet_050.85b91860-1a2b3c4d.ckpt")
    'ghostnet_050.85b91860'
    >>> model_of_asset("notes.txt") is None
    True
    """
    model, _, rest = file_name.rpartition("-")
    digest, dot, _ = rest.partition(".")
    return model if model and dot and len(digest) == 8 and all(c in "0123456789abcdef" for c in digest) else None


def model_entry(card, card_sha256: str, assets: list[dict[str, Any]]) -> dict[str, Any]:
    """The index entry of a card written to ``cards/<name>.md``: what listings and ``index.html`` show, and its files.

    Parameters
    ----------
    card : ModelCard
        The card as written.
    card_sha256 : str
        SHA-256 of the card file's bytes.
    assets : list of dict
        ``{"path": "assets/...", "file-format", "sha256", "size"}`` per file the hub holds.

    Returns
    -------
    dict
        ``card``, ``card-sha256``, ``backbone``, ``dataset``, ``metrics``, the
        :data:`PAGE_FIELDS` the card has, then ``assets``.
    """
    return {
        "card": f"cards/{card.name}.md",
        "card-sha256": card_sha256,
        "backbone": card.backbone,
        "dataset": card.dataset,
        "metrics": card.metrics,
        **card_facts(card),
        "assets": assets,
    }


def card_facts(card) -> dict[str, Any]:
    """The :data:`PAGE_FIELDS` a card has; ``parameters`` as a count.

    Examples
    --------
    >>> from ghosthub.modelcard import ModelCard
    >>> card_facts(ModelCard("a", {"model-name": "a", "update-time": "2026-12-01", "parameters": "1300000"}))
    {'update-time': '2026-12-01', 'parameters': 1300000}
    """
    facts: dict[str, Any] = {}
    for field in PAGE_FIELDS:
        value = card.get(field)
        if isinstance(value, str) and value not in ("", "-"):
            facts[field] = int(value) if field == "parameters" and value.isdigit() else value
    return facts


def empty_index() -> dict[str, Any]:
    return {"format": FORMAT, "updated": None, "models": {}}


def hub_folder_problem(root: str | os.PathLike) -> str | None:
    """Why folder ``root`` is no sound hub, or None when it is one: the one answer of fsck and mirror --check.

    A hub folder has ``index.json``. A folder with ``cards/``, ``assets/`` or a publish
    journal but no index is an unfinished one (a first publish or mirror that stopped).

    Examples
    --------
    >>> hub_folder_problem("/no/such/hub")
    '/no/such/hub/index.json: missing: not a hub folder'
    """
    root = Path(root)
    if (root / INDEX).is_file():
        return None
    if any((root / part).exists() for part in ("cards", "assets", JOURNAL)):
        return (
            f"{root / INDEX}: missing: an unfinished hub folder (a first publish or mirror that did not finish); "
            "publish or mirror into it again, or remove it"
        )
    return f"{root / INDEX}: missing: not a hub folder"


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
    """Check index.json bytes against the format: every field has its type, every path is a safe name in its folder.

    Anything else (deep nesting, an over-long number, ``"assets": 5``) is a
    HubError naming the source and the model, never another exception.
    """
    if len(data) > MAX_INDEX_BYTES:
        raise HubError(f"hub index {source} is larger than {MAX_INDEX_BYTES} bytes")
    try:
        index = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, or a number of 4300+ digits
        raise HubError(f"hub index {source} is not valid JSON: {shorten(exc)}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("models"), dict):
        raise HubError(
            f"hub index {source} is not a ghosthub hub index; expected format {FORMAT!r} and a 'models' mapping"
        )
    for name, entry in index["models"].items():
        where = f"hub index {source}, model {shorten(name, 60)!r}"
        if not is_safe_name(name) or not isinstance(entry, dict):
            raise HubError(f"{where}: not a safe model name or not a mapping")
        card = _CARD_PATH.fullmatch(entry.get("card", "")) if isinstance(entry.get("card"), str) else None
        if not card or not is_safe_name(card.group(1)):
            raise HubError(f"{where}: card path {shorten(entry.get('card'), 80)!r} is not cards/<safe name>.md")
        if "card-sha256" in entry and not _is_digest(entry["card-sha256"]):
            raise HubError(f"{where}: card-sha256 {shorten(entry['card-sha256'], 80)!r} is not a hexadecimal SHA-256")
        assets = entry.get("assets", [])
        if not isinstance(assets, list):
            raise HubError(f"{where}: 'assets' is {shorten(assets, 40)!r}; expected a list")
        for asset in assets:
            match = (
                _ASSET_PATH.fullmatch(asset.get("path", ""))
                if isinstance(asset, dict) and isinstance(asset.get("path"), str)
                else None
            )
            if not match or not is_safe_name(match.group(1)):
                raise HubError(f"{where}: asset path {shorten(asset, 80)!r} is not assets/<safe file name>")
            if "sha256" in asset and not _is_digest(asset["sha256"]):
                raise HubError(f"{where}: asset sha256 {shorten(asset['sha256'], 80)!r} is not hexadecimal")
            size = asset.get("size")
            if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 1 << 63):
                raise HubError(f"{where}: asset size {shorten(size, 40)!r} is not a byte count")
    return index


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def index_bytes(index: dict[str, Any]) -> bytes:
    """index.json as written to disk: models sorted by name."""
    index = {**index, "models": dict(sorted(index["models"].items()))}
    return (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode()

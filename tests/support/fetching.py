"""Helpers for the fetch tests: cards pointing at the test server, fast settings, cache invariants."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ghosthub import ModelCard, config, load_card, render_card
from ghosthub._utils.hashes import file_hash

FIELDS = {
    "backbone-name": "ghostnet",
    "module-type": "cv",
    "fine-tunable": "True",
    "model-version": "1.0",
    "author": "tests",
    "update-time": "2026-01-01",
    "repo-link": "https://example.org/tests",
    "user-id": "tests",
    "used-for": "inference",
    "mindspore-version": "2.5",
    "license": "Apache2.0",
    "summary": "a test card",
}


@dataclass(frozen=True)
class Served:
    """One asset on the test server: its URL path and bytes, the card naming it, the digits of digest the card gives."""

    path: str
    data: bytes
    name: str = "tiny"
    digits: int = 64

    @property
    def digest(self) -> str:
        return sha256(self.data)[: self.digits]


def write_card(folder: Path, name: str, link: str, sha256: str):
    """Write ``<folder>/<name>.md`` with one ckpt asset and return the parsed card."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    fields = {
        "model-name": name,
        **FIELDS,
        "asset": [{"file-format": "ckpt", "asset-link": link, "asset-sha256": sha256}],
    }
    path.write_text(render_card(ModelCard(title=name, fields=fields)), encoding="utf-8")
    return load_card(path)


def fetch(card, settings, **kw):
    """``fetch_asset`` without the WeakHashWarning that the tests' short digests would raise."""
    import warnings

    from ghosthub.download.fetch import fetch_asset
    from ghosthub.errors import WeakHashWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakHashWarning)
        return fetch_asset(card, settings=settings, **kw)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fast_settings(**changes) -> config.Settings:
    """The environment's settings with short waits, so fault tests take milliseconds."""
    base = dict(backoff=0.01, max_wait=3.0, connect_timeout=2.0, read_timeout=1.0, lock_timeout=10.0, progress=False)
    return config.settings().replace(**{**base, **changes})


def assert_cache_sound(cache_dir: Path) -> None:
    """The invariants every test ends with: no temporary file left, and nothing vouched for that is not so.

    Dot-files are looked at too: a ``.part`` (or its ``.part.json``) or a ``.tmp`` left
    behind fails, every visible file must match its digest folder, and a record that
    vouches for a file (same size and mtime) must name that file's real digest.
    """
    import json

    assets = Path(cache_dir) / "assets"
    if not assets.exists():
        return
    for root, _, files in os.walk(assets):
        for name in files:
            path = Path(root) / name
            assert not name.endswith((".part", ".part.json", ".tmp")), f"temporary file left: {path}"
            if not name.startswith("."):
                digest = path.parent.name
                assert file_hash(path).startswith(digest), f"cached file does not match its digest: {path}"
            elif name.endswith(".json"):
                asset = path.with_name(name[1 : -len(".json")])
                try:
                    record = json.loads(path.read_bytes())
                    st = asset.stat()
                except (OSError, ValueError):
                    continue  # a record of nothing vouches for nothing (prune removes it)
                if record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns:
                    assert record.get("sha256") == file_hash(asset), (
                        f"a record vouches for a file it does not describe: {path}"
                    )


def assert_nothing_cached(cache_dir: Path) -> None:
    """What a failed download may leave: at most its lock files (and folders); no asset, record or part."""
    assert_cache_sound(cache_dir)
    assets = Path(cache_dir) / "assets"
    left = [p for p in assets.rglob("*") if p.is_file() and not p.name.endswith(".lock")] if assets.exists() else []
    assert left == [], f"a failed download left files in the cache: {left}"

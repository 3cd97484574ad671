"""No network, a slow network: fail fast where another try cannot help, say every way forward, never wait silently."""

from __future__ import annotations

import os
import time

import pytest

from ghosthub.download.fetch import fetch_asset
from ghosthub.errors import DownloadError
from tests.support.fetching import assert_cache_sound, fast_settings, sha256, write_card
from tests.support.httpserver import AssetServer

DATA = os.urandom(50_000)


def test_an_unresolvable_host_fails_at_once_with_offline_advice(tmp_path, capfd):
    card = write_card(tmp_path / "cards", "tiny", "https://nonexistent.invalid/w/tiny.ckpt", sha256(DATA))
    settings = fast_settings(backoff=1.0, retries=5, progress=True)  # five tries would wait 0.5+1+2+4 s at least
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch_asset(card, settings=settings)
    assert time.monotonic() - started < 3
    message = str(info.value)
    assert "cannot resolve the host name 'nonexistent.invalid'" in message
    for advice in ("GHOSTHUB_MIRROR", "GHOSTHUB_HUB", "checkpoint_path=", "ghosthub verify tiny"):
        assert advice in message
    target = settings.cache_dir / "assets" / "tiny" / sha256(DATA) / "tiny.ckpt"
    assert f"copy the file to {target}" in message
    assert "retrying" not in capfd.readouterr().err, "a name that does not resolve is not tried again"
    assert_cache_sound(settings.cache_dir)


def test_each_retry_is_a_line_on_stderr(tmp_path, capfd):
    with AssetServer() as server:
        url = server.add("/w/tiny.ckpt", DATA)
        server.fault("/w/tiny.ckpt", "500", "500")
        card = write_card(tmp_path / "cards", "tiny", url, sha256(DATA))
        assert fetch_asset(card, settings=fast_settings(progress=True)).read_bytes() == DATA
    lines = [line for line in capfd.readouterr().err.splitlines() if "retrying in" in line]
    assert len(lines) == 2 and "HTTP 500" in lines[0] and "(try 2 of 5)" in lines[0] and "(try 3 of 5)" in lines[1]


def test_no_retry_lines_when_progress_is_off(tmp_path, capfd):
    with AssetServer() as server:
        url = server.add("/w/tiny.ckpt", DATA)
        server.fault("/w/tiny.ckpt", "500")
        card = write_card(tmp_path / "cards", "tiny", url, sha256(DATA))
        fetch_asset(card, settings=fast_settings(progress=False))
    assert "retrying" not in capfd.readouterr().err

"""Transfers: the token goes to the asset's own host only, which redirects are followed, mirrors and their fallback.

Against the real, fault-injecting HTTP server on 127.0.0.1, through fetch_asset as users reach it.
"""

from __future__ import annotations

import os

import pytest

from ghosthub.download.fetch import fetch_asset
from ghosthub.errors import DownloadError, FetchWarning
from tests.support.fetching import Served, fast_settings, fetch, sha256, write_card
from tests.support.httpserver import AssetServer

# Every fetch here takes milliseconds to seconds: a regression that waits or retries forever fails fast.
pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("sound_cache")]

DATA = os.urandom(300_000)
PATH = "/weights/tiny-3a.ckpt"


@pytest.fixture
def served():
    return Served(PATH, DATA, digits=8)


def test_token_goes_to_the_asset_host_only_never_after_a_redirect(tmp_path, server):
    with AssetServer() as other:
        other.add("/elsewhere.ckpt", DATA)
        server.redirect_to = other.url("/elsewhere.ckpt", host="localhost")
        server.always(PATH, "redirect")
        card = write_card(tmp_path / "cards", "tiny", server.url(PATH), sha256(DATA))
        # GHOSTHUB_TOKEN belongs to the hub's origin: name the server as the hub.
        path = fetch_asset(card, settings=fast_settings(token="s3cret-token", hub=server.url("/")))
        assert path.read_bytes() == DATA
        assert server.seen[0].headers.get("authorization") == "Bearer s3cret-token"
        assert other.seen and all("authorization" not in s.headers for s in other.seen)


def test_after_a_redirect_no_credentials_are_sent_even_to_a_named_host(tmp_path, server):
    """Credentials never leave the origin first asked: a redirect does not pick the next host's token either."""
    with AssetServer() as other:
        other.add("/elsewhere.ckpt", DATA)
        server.redirect_to = other.url("/elsewhere.ckpt", host="localhost")
        server.always(PATH, "redirect")
        card = write_card(tmp_path / "cards", "tiny", server.url(PATH), sha256(DATA))
        tokens = {f"127.0.0.1:{server.port}": "first-token", f"localhost:{other.port}": "second-token"}
        path = fetch_asset(card, settings=fast_settings(tokens=tuple(tokens.items())))
        assert path.read_bytes() == DATA
        assert server.seen[0].headers.get("authorization") == "Bearer first-token"  # the guard: tokens are in use
        assert other.seen and all("authorization" not in s.headers for s in other.seen)


def test_the_token_never_appears_in_errors(card, server):
    server.always(PATH, "404")
    settings = fast_settings(token="s3cret-token")
    with pytest.raises(DownloadError) as info:
        fetch(card, settings)
    assert "s3cret" not in str(info.value) and "s3cret" not in repr(info.value)
    assert "s3cret" not in repr(settings)
    from ghosthub.download.transport import Transport

    assert "s3cret" not in repr(Transport(settings))


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("https://a.example/x", "http://a.example/x", False),  # down from TLS: refused
        ("HTTPS://a.example/x", "HTTP://b.example/x", False),
        ("https://a.example/x", "https://b.example/x", True),
        ("http://a.example/x", "https://b.example/x", True),
        ("http://a.example/x", "http://b.example/x", True),
        ("http://a.example/x", "ftp://b.example/x", False),
        ("https://a.example/x", "file:///etc/passwd", False),
    ],
)
def test_which_redirects_are_followed(source, target, allowed):
    from ghosthub.download.transport import redirect_allowed

    assert redirect_allowed(source, target) is allowed


def test_a_redirect_to_another_scheme_is_refused():
    from ghosthub.download.transport import Transport

    with AssetServer() as srv:
        srv.add("/x", DATA)
        srv.always("/x", "redirect")
        srv.redirect_to = "ftp://example.org/x"
        with pytest.raises(DownloadError, match="refusing a redirect"):
            Transport(fast_settings())._get(srv.url("/x"), {}, srv.url("/x"))


def test_a_mirror_serves_and_the_origin_is_never_asked(card, server):
    with AssetServer() as mirror:
        mirror.add("/m" + PATH, DATA)
        settings = fast_settings(mirrors=((server.url("/"), mirror.url("/m/")),), token="s3cret-token")
        assert fetch(card, settings).read_bytes() == DATA
        assert len(mirror.seen) == 1 and not server.seen
        assert "authorization" not in mirror.seen[0].headers, "the token is for the asset's own host"


def test_a_failing_mirror_falls_back_to_the_origin(card, server):
    with AssetServer() as mirror:
        mirror.add("/m" + PATH, DATA)
        mirror.always("/m" + PATH, "wrong")
        settings = fast_settings(mirrors=((server.url("/"), mirror.url("/m/")),))
        with pytest.warns(FetchWarning, match="mirror failed"):
            assert fetch(card, settings).read_bytes() == DATA
        assert len(server.seen) == 1


def test_unreachable_mirror_falls_back(card, server):
    settings = fast_settings(mirrors=((server.url("/"), "http://127.0.0.1:9/m/"),), retries=2)
    with pytest.warns(FetchWarning, match="mirror failed"):
        assert fetch(card, settings).read_bytes() == DATA

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


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_is_reported_at_once_not_retried(tmp_path):
    import time

    url = f"http://127.0.0.1:{closed_port()}/weights/x.ckpt"
    card = write_card(tmp_path / "cards", "tiny", url, sha256(DATA))
    settings = fast_settings(retries=3, backoff=2.0)  # three tries with backoff would take 3 to 6 s
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch(card, settings)
    assert time.monotonic() - start < 2.5 and "gave up after" not in str(info.value)
    assert "connection refused: nothing listens on 127.0.0.1" in str(info.value) and "start the server" in str(
        info.value
    )


def test_a_refused_connection_after_bytes_came_is_still_retried(tmp_path):
    """A download that already has bytes from the server may meet it restarting: that refusal is retried."""
    from ghosthub.download.partfile import PartFile
    from ghosthub.download.transport import Transport
    from ghosthub.errors import TransferError

    url = f"http://127.0.0.1:{closed_port()}/weights/x.ckpt"
    part = PartFile(tmp_path / "x.part", 1 << 20, None)
    part.write(DATA[:1000])
    try:
        with pytest.raises(TransferError, match="gave up after 2 tries"):
            Transport(fast_settings(retries=2)).download(url, part, origin=url)
    finally:
        part.discard()


def test_an_encoded_body_comes_in_pieces_of_at_most_one_buffer(server):
    import gzip

    from ghosthub.constants import CHUNK_SIZE
    from ghosthub.download.body import body_pieces
    from ghosthub.download.transport import Transport

    data = os.urandom(100_000) + bytes(3 * CHUNK_SIZE)
    server.add("/members", gzip.compress(data[:50_000]) + gzip.compress(data[50_000:]))  # two gzip members
    server.always("/members", "encoded")
    with Transport(fast_settings()).session.get(server.url("/members"), stream=True) as response:
        pieces = list(body_pieces(response))
    assert b"".join(pieces) == data and max(map(len, pieces)) <= CHUNK_SIZE

"""A URL hub is untrusted input: it never reaches this machine's files, a token it was not given,
or a command's time; a broken, slow, mistyped or read-only-cached hub costs one warning, never a crash.

Every hub here is served by the fault-injecting server of tests/httpserver.py on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import ghosthub
from ghosthub import ModelCard, render_card
from ghosthub.cli import main
from ghosthub.client import Client
from ghosthub.errors import CardWarning, DownloadError, LinkError, ModelNotFoundError
from ghosthub.hub import sync as hub_sync
from ghosthub.hub.index import FORMAT, index_bytes
from tests.support.fetching import FIELDS, assert_cache_sound, assert_nothing_cached, fast_settings, sha256
from tests.support.httpserver import AssetServer
from tests.support.paths import REPO

DATA = os.urandom(100_000)
PREFIX = "/hub/"


def card_text(name: str, link: str, digest: str) -> bytes:
    fields = {
        "model-name": name,
        **FIELDS,
        "asset": [{"file-format": "ckpt", "asset-link": link, "asset-sha256": digest}],
    }
    return render_card(ModelCard(title=name, fields=fields)).encode()


def publish_on(
    server: AssetServer, models: dict[str, tuple[str, str]], *, serve_cards: bool = True, sizes: dict | None = None
) -> str:
    """Serve a hub (index.json + cards) whose models link the given (link, digest); returns its URL.

    ``sizes`` (model -> bytes) lists a model's ``../assets/...`` asset in the index with that size.
    """
    index = {"format": FORMAT, "updated": None, "models": {}}
    for name, (link, digest) in models.items():
        text = card_text(name, link, digest) if serve_cards else b""  # unserved cards need no text
        if serve_cards:
            server.add(f"{PREFIX}cards/{name}.md", text)
        assets = []
        if sizes and name in sizes:
            assets = [{"path": link.removeprefix("../"), "file-format": "ckpt", "sha256": digest, "size": sizes[name]}]
        index["models"][name] = {"card": f"cards/{name}.md", "card-sha256": sha256(text), "assets": assets}
    server.add(PREFIX + "index.json", index_bytes(index))
    return server.url(PREFIX)


def hub_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, CardWarning)]


def listed(hub: str, **kw) -> tuple[list[str], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = Client(hub=hub, **kw).list_models()
    return names, hub_warnings(caught)


@pytest.fixture
def server():
    with AssetServer() as srv:
        srv.add(PREFIX + "assets/tiny.ckpt", DATA)
        yield srv


@pytest.fixture
def fast_env(monkeypatch):
    monkeypatch.setenv("GHOSTHUB_TIMEOUT", "1")


def cache_dir() -> Path:
    return Path(os.environ["GHOSTHUB_CACHE"])


def everything_in(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


# --------------------------------------------------------------------------- 1. local files


def test_a_remote_hub_cannot_make_ghosthub_read_local_files(server, tmp_path):
    secret = tmp_path / "secret.ckpt"
    secret.write_bytes(b"a local file the hub knows the digest of")
    passwd = Path("/etc/passwd").read_bytes()
    hub = publish_on(
        server,
        {
            "good_050": ("../assets/tiny.ckpt", sha256(DATA)),
            "passwd_050": ("file:///etc/passwd", sha256(passwd)),
            "secret_050": (secret.as_uri(), sha256(secret.read_bytes())),
            "zero_050": ("file:///dev/zero", "0" * 64),
        },
    )
    names, caught = listed(hub)
    assert "good_050" in names and not {"passwd_050", "secret_050", "zero_050"} & set(names)
    assert len(caught) == 1 and "may only link http(s) URLs" in caught[0] and "passwd_050" in caught[0]
    with pytest.warns(CardWarning, match="3 of 4 cards left out"):  # asked again: rejected cards stay rejected
        assert Client(hub=hub).download("good_050").read_bytes() == DATA
    stored = everything_in(cache_dir())
    assert b"file://" not in stored and secret.read_bytes() not in stored


@pytest.mark.parametrize("link", ["file:///etc/passwd", "SECRET", "file:///dev/zero", "/dev/zero", "../../secret.ckpt"])
def test_a_remote_card_already_in_the_cache_never_reads_local_files(tmp_path, link):
    """A copy written by an older ghosthub (or planted) is still a remote card: its links must be http(s)."""
    secret = tmp_path / "secret.ckpt"
    secret.write_bytes(b"local weights")
    link = link.replace("SECRET", secret.as_uri())
    settings = fast_settings()
    copy = settings.cache_dir / "hubs" / "0123456789abcdef" / "cards"
    copy.mkdir(parents=True)
    (copy / "evil_050.md").write_bytes(card_text("evil_050", link, sha256(secret.read_bytes())))
    entry = ghosthub.registry.Registry([copy], settings=settings).entry("evil_050")
    from ghosthub.download.fetch import fetch_asset

    started = time.monotonic()
    with pytest.raises(LinkError, match="came from a remote hub.*Nothing was read"):
        fetch_asset(entry, settings=settings)
    assert time.monotonic() - started < 2
    assert not (settings.cache_dir / "assets").exists() or not any((settings.cache_dir / "assets").rglob("*.ckpt"))
    # The same link from the user's own folder is still read (file:// is for local cards).
    if link.startswith("file://") and "secret" in link:
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "evil_050.md").write_bytes(card_text("evil_050", link, sha256(secret.read_bytes())))
        mine = ghosthub.registry.Registry([tmp_path / "mine"], settings=settings).entry("evil_050")
        assert fetch_asset(mine, settings=settings).read_bytes() == b"local weights"
    assert_cache_sound(settings.cache_dir)


# --------------------------------------------------------------------------- 2. tokens and secrets


def test_the_hub_token_goes_to_the_hub_origin_only(server, monkeypatch):
    with AssetServer() as other:
        other.add("/w/tiny.ckpt", DATA)
        elsewhere = other.url("/w/tiny.ckpt", host="localhost")
        hub = publish_on(
            server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA)), "there_050": (elsewhere, sha256(DATA))}
        )
        monkeypatch.setenv("GHOSTHUB_TOKEN", "hub-token")
        client = Client(hub=hub)
        client.download("here_050")
        client.download("there_050")
        assert server.seen and all(s.headers.get("authorization") == "Bearer hub-token" for s in server.seen)
        assert len(other.seen) == 1 and "authorization" not in other.seen[0].headers
        # A token named for that host goes there, and only that one.
        monkeypatch.setenv("GHOSTHUB_TOKENS", f"localhost:{other.port}=other-token,example.org=x")
        Client(hub=hub).download("there_050", force_download=True)
        assert other.seen[-1].headers.get("authorization") == "Bearer other-token"


def test_a_netrc_file_names_tokens_per_host(server, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login x password netrc-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("GHOSTHUB_NETRC", str(netrc))
    hub = publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))})
    Client(hub=hub).download("here_050")
    assert all(s.headers.get("authorization") == "Bearer netrc-token" for s in server.seen)
    assert "netrc-token" not in repr(Client(hub=hub).settings)


def test_no_token_over_plain_http_except_to_this_machine():
    from ghosthub.download.transport import Transport

    named = fast_settings(
        tokens=(("example.org", "t1"), ("127.0.0.1", "t2")), token="hub", hub="http://hub.example.org/"
    )
    transport = Transport(named)
    assert transport.credentials("https://example.org/a.ckpt") == "Bearer t1"
    assert transport.credentials("http://example.org/a.ckpt") is None
    assert transport.credentials("http://hub.example.org/a.ckpt") is None, "the hub's token never goes over plain http"
    assert transport.credentials("http://127.0.0.1:8000/a.ckpt") == "Bearer t2"
    assert transport.credentials("https://other.example/a.ckpt") is None
    secure = Transport(fast_settings(token="hub", hub="https://hub.example.org/zoo/"))
    assert secure.credentials("https://hub.example.org/assets/x.ckpt") == "Bearer hub"
    assert secure.credentials("https://hub.example.org:8443/assets/x.ckpt") is None


def test_passwords_and_signatures_stay_out_of_the_cache_and_messages(server):
    signed = server.add("/signed/tiny.ckpt", DATA) + "?sig=SIGNATURE123"
    plain = publish_on(
        server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA)), "signed_050": (signed, sha256(DATA))}
    )
    hub = plain.replace("http://", "http://alice:PASSWORD123@")
    client = Client(hub=hub)
    assert "PASSWORD123" not in repr(client) and "PASSWORD123" not in repr(client.settings)
    client.download("here_050")
    client.download("signed_050")
    # The password went where the user wrote it (the hub, on this machine), as Basic auth.
    import base64

    assert (
        server.requests_for(PREFIX + "index.json")[0].headers["authorization"]
        == "Basic " + base64.b64encode(b"alice:PASSWORD123").decode()
    )
    assert server.requests_for(PREFIX + "assets/tiny.ckpt")[0].headers["authorization"].startswith("Basic ")
    server.always(PREFIX + "index.json", "404")
    _, caught = listed(hub)
    assert caught and all("PASSWORD123" not in w for w in caught)
    stored = everything_in(cache_dir())
    assert b"PASSWORD123" not in stored and b"alice" not in stored
    # The signed link is the card's (its copy needs it to download); the cache's records never keep it.
    assert b"SIGNATURE123" not in everything_in(cache_dir() / "assets")
    hub_json = json.loads(next((cache_dir() / "hubs").glob("*/hub.json")).read_text())
    assert hub_json["url"] == plain


# --------------------------------------------------------------------------- 5. deadlines


def test_a_hub_whose_cards_answer_5xx_costs_seconds_and_one_warning(server, fast_env):
    hub = publish_on(server, {f"m{i}_050": ("../assets/tiny.ckpt", sha256(DATA)) for i in range(10)})
    for i in range(10):
        server.always(f"{PREFIX}cards/m{i}_050.md", "500")
    started = time.monotonic()
    names, caught = listed(hub)
    assert time.monotonic() - started < 10
    assert "ghostnet_050" in names and not any(
        n.startswith("m") and n.endswith("_050") and n[1].isdigit() for n in names
    )
    assert len(caught) == 1 and "10 of 10 cards left out" in caught[0] and "HTTP 500" in caught[0]
    cards = [s for s in server.seen if "/cards/" in s.path]
    assert len(server.requests_for(PREFIX + "index.json")) == 1 and len(cards) == hub_sync.MAX_CARD_FAILURES
    # Remembered: the next command asks nothing and says so once.
    names, caught = listed(hub)
    assert "ghostnet_050" in names and len(caught) == 1 and "asked again after" in caught[0]
    assert len(server.seen) == 1 + hub_sync.MAX_CARD_FAILURES


def test_a_trickled_index_cannot_hold_a_command(server, fast_env, monkeypatch):
    monkeypatch.setattr(hub_sync, "SYNC_DEADLINE", 1.5)
    server.trickle_piece, server.trickle_s = 16, 0.1
    hub = publish_on(server, {f"m{i}_050": ("../assets/tiny.ckpt", sha256(DATA)) for i in range(20)})
    server.always(PREFIX + "index.json", "trickle")
    started = time.monotonic()
    names, caught = listed(hub)
    assert time.monotonic() - started < 6
    assert "ghostnet_050" in names and len(caught) == 1 and "time allowed" in caught[0]
    assert len(server.requests_for(PREFIX + "index.json")) == 1


def test_an_unreachable_hub_costs_one_try_then_nothing_while_remembered(server, fast_env, monkeypatch):
    hub = publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))})
    client = Client(hub=hub)
    client.download("here_050")
    assert len(server.requests_for(PREFIX + "index.json")) == 1
    server.stall_s = 5
    server.always(PREFIX + "index.json", "stall")
    started = time.monotonic()
    with pytest.warns(CardWarning, match="cannot be reached.*using the copy") as caught:
        assert Client(hub=hub).download("here_050").read_bytes() == DATA
    assert time.monotonic() - started < 4 and len(hub_hits := server.requests_for(PREFIX + "index.json")) == 2
    assert len(hub_warnings(caught)) == 1
    started = time.monotonic()
    with pytest.warns(CardWarning, match="asked again after"):
        assert Client(hub=hub).download("here_050").read_bytes() == DATA
    assert time.monotonic() - started < 1 and server.requests_for(PREFIX + "index.json") == hub_hits
    # Once the memory has passed, the hub is asked again.
    monkeypatch.setattr(hub_sync, "FAILURE_MEMORY", 0.0)
    server.always(PREFIX + "index.json", None)
    names, caught = listed(hub)
    assert "here_050" in names and not caught and len(server.requests_for(PREFIX + "index.json")) == 3


def test_an_index_of_100000_missing_cards_has_a_deadline_and_one_warning(server, fast_env):
    entry = '"m%d_050": {"card": "cards/m%d_050.md", "card-sha256": "%s", "assets": []}'
    models = ", ".join(entry % (i, i, "0" * 64) for i in range(100_000))
    server.add(
        PREFIX + "index.json", b'{"format": "%s", "updated": null, "models": {%s}}' % (FORMAT.encode(), models.encode())
    )
    hub = server.url(PREFIX)
    started = time.monotonic()
    names, caught = listed(hub)
    assert time.monotonic() - started < 30
    assert "ghostnet_050" in names and "m1_050" not in names
    assert len(caught) == 1 and "100000 of 100000 cards left out" in caught[0]
    assert len(server.seen) == 1 + hub_sync.MAX_CARD_FAILURES


# --------------------------------------------------------------------------- 6. malformed index


@pytest.mark.parametrize(
    "body",
    [
        b'{"format": "ghosthub-hub/1", "models": {"a_050": {"card": "cards/a_050.md", "assets": 5}}}',
        b'{"format": "ghosthub-hub/1", "models": {"a_050": {"card": "cards/a_050.md", "assets": null}}}',
        b'{"format": "ghosthub-hub/1", "models": {"a_050": {"card": "cards/a_050.md", "assets": [5]}}}',
        b'{"format": "ghosthub-hub/1", "models": {"a_050": {"card": null}}}',
        b'{"format": "ghosthub-hub/1", "models": {"a_050": {"card": "cards/a_050.md", "card-sha256": 7}}}',
        b'{"format": "ghosthub-hub/1", "models": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        b'{"format": "ghosthub-hub/1", "models": {}, "updated": ' + b"9" * 5000 + b"}",
    ],
    ids=["assets-5", "assets-null", "asset-5", "card-null", "digest-7", "deep", "long-number"],
)
def test_a_malformed_index_leaves_the_hub_out_with_one_warning(server, body, capsys):
    server.add(PREFIX + "index.json", body)
    hub = server.url(PREFIX)
    names, caught = listed(hub)
    assert "ghostnet_050" in names and len(caught) == 1 and "left out" in caught[0]
    assert main(["list", "--hub", hub]) == 0
    out = capsys.readouterr()
    assert "ghostnet_050" in out.out and "Traceback" not in out.err


# --------------------------------------------------------------------------- 9. read-only cache


def _read_only(cache: Path, *argv: str) -> subprocess.CompletedProcess:
    """Run ``ghosthub ARGV`` with the cache bind-mounted read-only (chmod stops nothing as root; a mount does)."""
    script = f'mount --bind "{cache}" "{cache}" && mount -o remount,bind,ro "{cache}" "{cache}" && exec "$@"'
    env = {**os.environ, "PYTHONPATH": str(REPO), "GHOSTHUB_CACHE": str(cache)}
    return subprocess.run(
        ["unshare", "-r", "-m", "sh", "-c", script, "sh", sys.executable, "-m", "ghosthub", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def read_only_works(tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("no unshare to mount a read-only folder")
    check = subprocess.run(
        [
            "unshare",
            "-r",
            "-m",
            "sh",
            "-c",
            f'mount --bind "{probe}" "{probe}" && mount -o remount,bind,ro "{probe}" "{probe}" && ! touch "{probe}/x"',
        ],
        capture_output=True,
    )
    if check.returncode != 0:
        pytest.skip("cannot mount a read-only folder here (no user namespaces)")


def test_a_read_only_cache_is_used_as_it_is(server, read_only_works):
    hub = publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))})
    cached = Client(hub=hub).download("here_050")
    before = len(server.seen)
    listing = _read_only(cache_dir(), "list", "--hub", hub)
    assert listing.returncode == 0, listing.stderr
    assert "here_050" in listing.stdout and "ghostnet_050" in listing.stdout
    assert listing.stderr.count("cannot be updated (read-only cache)") == 1 and "Errno" not in listing.stderr
    download = _read_only(cache_dir(), "download", "here_050", "--hub", hub)
    assert download.returncode == 0, download.stderr
    assert str(cached) in download.stdout
    assert len(server.seen) == before, "a read-only copy is used without asking the hub"


def test_a_read_only_cache_without_a_copy_leaves_the_hub_out(server, read_only_works):
    hub = publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))})
    cache_dir().mkdir(parents=True)
    listing = _read_only(cache_dir(), "list", "--hub", hub)
    assert listing.returncode == 0, listing.stderr
    assert (
        "ghostnet_050" in listing.stdout and "cannot be written" in listing.stderr and "Traceback" not in listing.stderr
    )


# --------------------------------------------------------------------------- 13. gzip


def test_a_gzip_encoded_hub_lists_and_its_assets_verify(server):
    hub = publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))})
    for path in list(server.files):
        server.always(path, "gzip")
    names, caught = listed(hub)
    assert "here_050" in names and not caught
    path = Client(hub=hub).download("here_050")
    assert path.read_bytes() == DATA
    record = ghosthub.download.layout.read_record(path)
    assert record["size"] == len(DATA) and record["sha256"] == sha256(DATA)
    assert server.seen[-1].headers["accept-encoding"] == "identity"
    assert_cache_sound(cache_dir())


def test_a_dropped_gzip_transfer_starts_over_and_verifies(tmp_path, server):
    from ghosthub.download.fetch import fetch_asset
    from tests.support.fetching import write_card

    card = write_card(tmp_path / "cards", "tiny", server.url(PREFIX + "assets/tiny.ckpt"), sha256(DATA))
    server.fault(PREFIX + "assets/tiny.ckpt", "gzip-drop", "gzip-truncate")
    server.always(PREFIX + "assets/tiny.ckpt", "gzip")
    path = fetch_asset(card, settings=fast_settings())
    assert path.read_bytes() == DATA
    # Ranges count encoded bytes: a decoded part is never resumed, the file starts over.
    assert len(server.seen) == 3 and all(s.range is None for s in server.seen)
    assert_cache_sound(cache_dir())


# --------------------------------------------------------------------------- 14. declared sizes


def _bytes_written() -> int:
    """Bytes this process has written with write(2) and friends so far (Linux: /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts bytes written through /proc/self/io")
@pytest.mark.parametrize("declared", [len(DATA), (3 << 20) + 5])
def test_an_encoded_bomb_writes_at_most_the_declared_size_plus_one_buffer(server, declared):
    from ghosthub.constants import CHUNK_SIZE

    member = gzip.compress(b"\0" * CHUNK_SIZE, mtime=0)  # about 1 KB on the wire per MiB once decoded
    server.add(PREFIX + "assets/bomb.ckpt", member * 64)  # 64 KB sent, 64 MiB decoded
    server.always(PREFIX + "assets/bomb.ckpt", "encoded")
    hub = publish_on(server, {"bomb_050": ("../assets/bomb.ckpt", sha256(DATA))}, sizes={"bomb_050": declared})
    assert Client(hub=hub).get_card("bomb_050").assets[0].size == declared, "the card's copy declares the index's size"
    before = _bytes_written()
    with pytest.raises(DownloadError) as info:
        Client(hub=hub).download("bomb_050")
    written = _bytes_written() - before
    print(f"bytes written for an encoded bomb asset: {written} (declared {declared}, one buffer {CHUNK_SIZE})")
    assert written <= declared + CHUNK_SIZE + (64 << 10), written
    message = str(info.value)
    assert f"the server sent more than the {declared} bytes the card declares" in message and "cut off" in message
    assert_nothing_cached(cache_dir())


def test_the_index_size_bounds_a_transfer_without_a_length(server):
    server.always(PREFIX + "assets/tiny.ckpt", "chunked")  # no Content-Length: only the index says how much
    hub = publish_on(server, {"short_050": ("../assets/tiny.ckpt", sha256(DATA))}, sizes={"short_050": 60_000})
    with pytest.raises(DownloadError, match="the server sent more than the 60000 bytes the card declares"):
        Client(hub=hub).download("short_050")
    assert_nothing_cached(cache_dir())


@pytest.mark.parametrize("declared", [60_000, 150_000])
def test_a_length_other_than_the_index_size_is_refused_before_a_byte_is_written(server, declared):
    hub = publish_on(server, {"other_050": ("../assets/tiny.ckpt", sha256(DATA))}, sizes={"other_050": declared})
    with pytest.raises(DownloadError) as info:
        Client(hub=hub).download("other_050")
    assert f"the server announces {len(DATA)} bytes, but the card declares {declared}" in str(info.value)
    assert_nothing_cached(cache_dir())


def test_a_card_and_its_index_that_disagree_on_the_size_leave_the_card_out(server):
    fields = {"model-name": "liar_050", **FIELDS}
    fields["asset"] = [
        {"file-format": "ckpt", "asset-link": "../assets/tiny.ckpt", "asset-sha256": sha256(DATA), "asset-size": "5"}
    ]
    text = render_card(ModelCard(title="liar_050", fields=fields)).encode()
    server.add(PREFIX + "cards/liar_050.md", text)
    asset = {"path": "assets/tiny.ckpt", "sha256": sha256(DATA), "size": len(DATA)}
    index = {"card": "cards/liar_050.md", "card-sha256": sha256(text), "assets": [asset]}
    server.add(PREFIX + "index.json", index_bytes({"format": FORMAT, "updated": None, "models": {"liar_050": index}}))
    names, caught = listed(server.url(PREFIX))
    assert (
        "liar_050" not in names and "declares 5 bytes" in caught[0] and f"the hub index says {len(DATA)}" in caught[0]
    )


def test_a_copy_written_before_copies_carried_sizes_is_fetched_again(server):
    hub = publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))}, sizes={"here_050": len(DATA)})
    listed(hub)
    key = hashlib.sha256(hub.encode()).hexdigest()[:16]
    record = cache_dir() / "hubs" / key / "hub.json"
    old = json.loads(record.read_text())
    del old["copy-format"]
    record.write_text(json.dumps(old))
    (cache_dir() / "hubs" / key / "cards" / "here_050.md").write_bytes(server.files[PREFIX + "cards/here_050.md"])
    assert Client(hub=hub).get_card("here_050").assets[0].size == len(DATA)


# --------------------------------------------------------------------------- 15. a mistyped hub


def test_a_mistyped_hub_url_is_named_with_what_to_do(server, capsys):
    publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))})
    typo = server.url("/hbu/")
    assert main(["list", "--hub", typo]) == 0
    err = capsys.readouterr().err
    assert f"hub {typo} has no usable index.json" in err and "check the hub URL" in err and "GHOSTHUB_MIRROR" not in err
    assert main(["download", "here_050", "--hub", typo]) == 1
    err = capsys.readouterr().err
    assert "no model card named 'here_050'" in err and f"hub {typo} gave no cards" in err and "HTTP 404" in err
    with pytest.raises(ModelNotFoundError, match=f"hub {typo} gave no cards"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CardWarning)
            Client(hub=typo).entry("here_050")


def test_a_hub_nothing_listens_on_is_reported_at_once(capsys, monkeypatch):
    """A mistyped port with nothing cached: one warning, without five tries and their backoff (9-10 s before)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        hub = f"http://127.0.0.1:{s.getsockname()[1]}/"
    monkeypatch.setenv("GHOSTHUB_HUB", hub)
    start = time.monotonic()
    assert main(["list"]) == 0
    assert time.monotonic() - start < 3
    err = capsys.readouterr().err
    assert f"hub {hub} cannot be reached (connection refused: nothing listens on" in err and "start the server" in err
    assert "gave up after" not in err and "retrying" not in err


def test_a_missing_hub_folder_is_named(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["list", "--hub", str(missing)]) == 0
    assert f"the hub folder {missing} does not exist" in capsys.readouterr().err
    (tmp_path / "not-a-hub").mkdir()
    with pytest.warns(CardWarning, match="is not a hub"):
        Client(hub=str(tmp_path / "not-a-hub")).list_models()


def test_a_hub_that_lacks_the_model_is_named_in_the_error(server):
    hub = publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))})
    with pytest.raises(ModelNotFoundError, match=f"searched .*hub {hub} \\(its cards in"):
        Client(hub=hub).entry("elsewhere_050")


def test_hub_state_files_are_the_cache_s_own(server):
    """The failure memory lives with the hub's copy and is gone once the hub answers again."""
    hub = publish_on(server, {"here_050": ("../assets/tiny.ckpt", sha256(DATA))})
    listed(hub)
    server.always(PREFIX + "index.json", "500")
    listed(hub)
    key = hashlib.sha256(hub.encode()).hexdigest()[:16]
    state = cache_dir() / "hubs" / key / hub_sync.STATE
    assert json.loads(state.read_text())["failed_at"] > 0

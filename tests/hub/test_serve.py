"""`ghosthub serve`: a static hub server with Range, If-Range, ETag, and no way out of its folder."""

import http.client
import os

import pytest

from ghosthub.errors import GhostHubError
from ghosthub.hub.serve import serve

DATA = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def hub(tmp_path):
    root = tmp_path / "hub"
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "w.ckpt").write_bytes(DATA)
    (root / "index.json").write_text('{"models": []}')
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    with serve(root) as server:
        yield server


def get(server, path, method="GET", **headers):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_full_get_and_head(hub):
    response, body = get(hub, "/assets/w.ckpt")
    assert response.status == 200 and body == DATA
    assert response.getheader("Content-Length") == str(len(DATA))
    assert response.getheader("Accept-Ranges") == "bytes"
    assert response.getheader("ETag") and response.getheader("Last-Modified")
    response, body = get(hub, "/assets/w.ckpt", method="HEAD")
    assert response.status == 200 and body == b"" and response.getheader("Content-Length") == str(len(DATA))


def test_root_is_the_index(hub):
    response, body = get(hub, "/")
    assert response.status == 200 and body == b'{"models": []}'
    assert response.getheader("Content-Type") == "application/json"


@pytest.mark.parametrize(
    "header, start, end",
    [
        ("bytes=100-199", 100, 199),
        ("bytes=16000-", 16000, 16383),
        ("bytes=-10", 16374, 16383),
        ("bytes=0-99999", 0, 16383),
    ],
)
def test_ranges(hub, header, start, end):
    response, body = get(hub, "/assets/w.ckpt", Range=header)
    assert response.status == 206
    assert body == DATA[start : end + 1]
    assert response.getheader("Content-Range") == f"bytes {start}-{end}/{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=16384-", "bytes=500-100", "bytes=-0", "bytes=-"])
def test_unsatisfiable_range(hub, header):
    response, body = get(hub, "/assets/w.ckpt", Range=header)
    assert response.status == 416 and body == b""
    assert response.getheader("Content-Range") == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["items=0-1", "bytes=0-1,5-6", "bytes=0-1, 20000-"])
def test_other_units_and_multiple_ranges_get_the_whole_file(hub, header):
    """A range the server does not do is ignored (RFC 9110), never answered 416."""
    response, body = get(hub, "/assets/w.ckpt", Range=header)
    assert response.status == 200 and body == DATA


def test_if_range(hub):
    first, _ = get(hub, "/assets/w.ckpt")
    etag, modified = first.getheader("ETag"), first.getheader("Last-Modified")
    response, body = get(hub, "/assets/w.ckpt", Range="bytes=10-", **{"If-Range": etag})
    assert response.status == 206 and body == DATA[10:]
    response, body = get(hub, "/assets/w.ckpt", Range="bytes=10-", **{"If-Range": modified})
    assert response.status == 206
    response, body = get(hub, "/assets/w.ckpt", Range="bytes=10-", **{"If-Range": '"stale"'})
    assert response.status == 200 and body == DATA
    response, body = get(hub, "/assets/w.ckpt", **{"If-None-Match": etag})
    assert response.status == 304 and body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets%2f..%2f..%2fsecret.txt",
        "/link.txt",
        "/assets",
        "/nope",
        "/%00",
    ],
)
def test_nothing_outside_the_folder(hub, path):
    response, body = get(hub, path)
    assert response.status == 404 and b"outside" not in body


def test_not_a_folder(tmp_path):
    with pytest.raises(GhostHubError, match="not a folder"):
        serve(tmp_path / "missing")


def test_serve_command(tmp_path):
    import signal
    import subprocess
    import sys

    (tmp_path / "index.json").write_text("{}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ghosthub", "serve", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"serving {tmp_path.resolve()} at http://127.0.0.1:")
        url = line.split(" at ")[1].split()[0]
        host, port = url.removeprefix("http://").strip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/index.json")
        assert conn.getresponse().read() == b"{}"
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    assert "GET /index.json" in proc.stderr.read()


def test_serve_command_port_errors(tmp_path, capsys):
    from ghosthub.cli import main

    with pytest.raises(SystemExit) as info:
        main(["serve", str(tmp_path), "--port", "99999"])
    assert info.value.code == 2 and "not a port number" in capsys.readouterr().err
    with serve(tmp_path) as busy:  # the port is taken
        code = main(["serve", str(tmp_path), "--port", str(busy.server_address[1])])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: cannot listen on 127.0.0.1:") and "choose another --port" in err


@pytest.fixture
def exposed_hub(tmp_path):
    """A hub folder that is also a git checkout, with secrets and a killed publish's leftovers."""
    root = tmp_path / "hub"
    for folder in ("assets", "cards", ".git", "cards/.hidden", "models/sub"):
        (root / folder).mkdir(parents=True)
    (root / "index.json").write_text('{"models": {}}')
    (root / "index.html").write_text("<!DOCTYPE html><title>hub</title>")
    (root / "models" / "m.html").write_text("<!DOCTYPE html><title>m</title>")
    (root / "cards" / "m.md").write_text("# m")
    (root / "assets" / "m.ckpt").write_bytes(DATA)
    secrets = {
        ".git/config": "[remote]\n url = https://user:TOKEN@example.com/hub.git",
        ".env": "GHOSTHUB_TOKEN=TOKEN",
        ".publish-journal.json": '{"steps": []}',
        "assets/.m.ckpt.incoming.ab12.tmp": "TOKEN partial",
        "cards/.hidden/x.md": "TOKEN",
        "README.md": "TOKEN not a hub file",
        "serve.log": "TOKEN",
        "models/.m.html.ab12.tmp": "TOKEN partial page",
        "models/notes.txt": "TOKEN",
        "models/sub/x.html": "TOKEN",
        "page.html": "TOKEN not a page of the hub",
    }
    for name, text in secrets.items():
        (root / name).write_text(text)
    os.symlink(root / ".env", root / "cards" / "env.md")  # a link inside cards/ to a dotfile
    os.symlink(root / ".env", root / "models" / "env.html")
    with serve(root) as server:
        yield server, secrets


def test_only_index_cards_assets_and_pages_are_served(exposed_hub):
    server, secrets = exposed_hub
    for path in ["/index.json", "/", "/cards/m.md", "/assets/m.ckpt"]:
        assert get(server, path)[0].status == 200, path
    for name in [*secrets, "cards/env.md", "models/env.html", ".git/", "cards/.hidden/x.md"]:
        for path in (f"/{name}", f"/{name.replace('.', '%2e', 1)}", f"/cards/../{name}"):
            response, body = get(server, path)
            assert response.status == 404 and b"TOKEN" not in body, path


def test_the_pages_are_served_and_a_browser_asking_for_the_root_gets_them(exposed_hub):
    server, _ = exposed_hub
    for path in ("/index.html", "/models/m.html"):
        response, body = get(server, path)
        assert response.status == 200 and body.startswith(b"<!DOCTYPE html>"), path
        assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    response, body = get(server, "/", Accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert body == b"<!DOCTYPE html><title>hub</title>" and response.getheader("Vary") == "Accept"
    response, body = get(server, "/", Accept="*/*")  # a hub client: the index, as before pages
    assert body == b'{"models": {}}' and response.getheader("Content-Type") == "application/json"


def test_an_idle_connection_is_closed(tmp_path):
    import socket
    import time

    (tmp_path / "index.json").write_text("{}")
    with serve(tmp_path, timeout=0.5) as server:
        host, port = server.server_address[:2]
        idle = socket.create_connection((host, port), timeout=10)
        started = time.monotonic()
        assert idle.recv(1) == b"", "the server closed the silent connection"
        assert time.monotonic() - started < 5
        idle.close()
        assert get(server, "/")[0].status == 200

"""What the s3 hub tests share: moto's S3 API server on 127.0.0.1, a proxy in front of it, small hub objects."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from ghosthub import ModelCard, render_card
from tests.support.fetching import FIELDS

MOTO = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
# The secret key every s3 test uses: a grep of objects, files and outputs for it must find nothing.
SECRET = "ghosthub-test-secret-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """``moto_server -H 127.0.0.1 -p PORT``: an in-memory S3 API that answers failed conditions with 412."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [MOTO, "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of moto that records requests and can misbehave like other stores.

    ``mode``: None (forward as is), ``"drop"`` (remove If-Match / If-None-Match, as a store that
    ignores them), ``"reject"`` (answer a conditional write 501 NotImplemented, as Aliyun OSS does),
    ``"redirect"`` (answer every GET 307 to ``redirect_to`` + the same path and query), ``"revalidate"``
    (answer a GET whose If-None-Match names the object's ETag 304 Not Modified, as S3 does and moto
    does not). ``rate`` caps request bodies to bytes per second (so a test can kill an upload halfway).
    ``seen`` records each request: (method, path with query, headers with lower-case names).
    """

    def __init__(self, target_port: int, *, mode: str | None = None, rate: float | None = None):
        self.target_port = target_port
        self.mode = mode
        self.rate = rate
        self.redirect_to: str | None = None
        self.seen: list[tuple[str, str, dict]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                proxy.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = self._body()
                if proxy.mode == "redirect" and self.command == "GET":
                    return self._answer(307, b"", {"Location": proxy.redirect_to + self.path})
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "host")}
                conditional = [k for k in headers if k.lower() in ("if-match", "if-none-match")]
                if conditional and self.command in ("PUT", "POST"):
                    if proxy.mode == "reject":
                        return self._answer(501, _NOT_IMPLEMENTED)
                    if proxy.mode == "drop":
                        for key in conditional:
                            del headers[key]
                headers["Content-Length"] = str(len(body))
                connection = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=60)
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                wanted = self.headers.get("If-None-Match")
                if (
                    proxy.mode == "revalidate"
                    and self.command == "GET"
                    and wanted
                    and wanted == answer.getheader("ETag")
                ):
                    connection.close()
                    return self._answer(304, b"", {"ETag": wanted})
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if not size:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                data, start = b"", time.monotonic()
                while len(data) < length:
                    data += self.rfile.read(min(length - len(data), 256 << 10))
                    if proxy.rate:
                        time.sleep(max(0.0, len(data) / proxy.rate - (time.monotonic() - start)))
                return data

            def _answer(self, status: int, body: bytes, headers: dict | None = None):
                self.send_response(status)
                for key, value in {"Content-Type": "application/xml", **(headers or {})}.items():
                    self.send_header(key, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def parts_sent(self) -> int:
        return sum(1 for method, path, _ in self.seen if method == "PUT" and "partNumber=" in path)

    def gets(self, rel: str = "") -> list[tuple[str, dict]]:
        """The GETs seen whose path (before the query) ends with ``rel``: (path with query, headers)."""
        return [
            (path, headers)
            for method, path, headers in self.seen
            if method == "GET" and path.split("?")[0].endswith(rel)
        ]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


_NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented</Message></Error>"
)


def card_for(name: str, asset_name: str, sha256: str) -> str:
    """A card as publish writes it into a hub: one ckpt asset linked relative to cards/."""
    fields = {
        "model-name": name,
        **FIELDS,
        "asset": [{"file-format": "ckpt", "asset-link": f"../assets/{asset_name}", "asset-sha256": sha256}],
    }
    return render_card(ModelCard(title=name, fields=fields))


def aws_environment(endpoint: str, secret: str, home: Path) -> dict:
    """The AWS variables of a test: keys, region, endpoint; the user's own AWS files never read."""
    return {
        "AWS_ACCESS_KEY_ID": "AKIAGHOSTHUBTESTS",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class Bucket:
    """A test's bucket on moto: its name, a boto3 client, the AWS variables, the hub ``s3://<bucket>/team``."""

    def __init__(self, endpoint: str, tmp: Path, monkeypatch):
        self.env = aws_environment(endpoint, SECRET, tmp)
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        import boto3

        self.bucket = "zoo-" + uuid.uuid4().hex[:12]
        self.client = boto3.client("s3")
        self.client.create_bucket(Bucket=self.bucket)
        self.hub, self.tmp = f"s3://{self.bucket}/team", tmp

    @property
    def port(self) -> int:
        return int(self.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object of the bucket (under ``prefix``) and its bytes."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        keys = [o["Key"] for page in pages for o in page.get("Contents", ())]
        return {k: self.client.get_object(Bucket=self.bucket, Key=k)["Body"].read() for k in keys}

    def index(self, prefix: str = "team") -> dict:
        return json.loads(self.client.get_object(Bucket=self.bucket, Key=f"{prefix}/index.json")["Body"].read())


def publish_file(hub: str, name: str, data: bytes, *, settings=None, **kw):
    """Publish ``data`` as model ``name`` (no MindSpore: the hub writer itself); returns (Published, sha256)."""
    from ghosthub import config
    from ghosthub._utils.places import hub_place
    from ghosthub.hub.commit import publish_model
    from ghosthub.hub.index import asset_file_name
    from ghosthub.hub.store import writable_store

    settings = settings or config.settings()
    sha = hashlib.sha256(data).hexdigest()
    path = Path(settings.cache_dir) / f"{name}-{sha[:8]}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    asset = asset_file_name(name, sha, "ckpt")
    store = kw.pop("store", None) or writable_store(hub_place(hub), settings)
    entry = {"assets": [{"path": f"assets/{asset}", "file-format": "ckpt", "sha256": sha, "size": len(data)}]}
    done = publish_model(
        store, name, (path, sha, "ckpt", f"assets/{asset}"), card_for(name, asset, sha), entry,
        part_size=settings.part_size, **kw,
    )  # fmt: skip
    return done, sha


def assert_pages_match_the_index(s3: Bucket, prefix: str = "team") -> dict[str, bytes]:
    """The pages in the hub ``prefix`` are its index's: one row and one page per model, each current and inert."""
    from ghosthub.pages import page_key, read_page_key
    from tests.support.pages import assert_inert

    models = s3.index(prefix)["models"]
    stored = {k[len(prefix) + 1 :]: v for k, v in s3.objects(prefix + "/").items()}
    pages = {rel: data for rel, data in stored.items() if rel == "index.html" or rel.startswith("models/")}
    index = assert_inert(pages["index.html"])
    assert [r["data-name"] for r in index.all("tr") if r.get("data-name")] == sorted(models)
    assert sorted(rel for rel in pages if rel != "index.html") == sorted(f"models/{n}.html" for n in models)
    for rel, data in pages.items():
        assert_inert(data)
        if rel != "index.html":
            assert read_page_key(data) == page_key(models, rel[len("models/") : -len(".html")]), f"{rel} is stale"
        head = s3.client.head_object(Bucket=s3.bucket, Key=f"{prefix}/{rel}")
        assert head["ContentType"] == "text/html; charset=utf-8", rel  # a browser shows it, never downloads it
    return pages


def environ_without_aws() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def publish_random(hub: str, name: str, seed: int, size: int, start_at: float, work: str) -> int:
    """One publisher process: a file of ``size`` random bytes (from ``seed``) published as ``name`` into ``hub``.

    Waits until ``start_at`` (time.time()) so several processes commit at once; prints one JSON line.
    """
    import random

    from ghosthub import config
    from ghosthub._utils.places import hub_place
    from ghosthub.errors import PublishError
    from ghosthub.hub.commit import publish_model
    from ghosthub.hub.index import asset_file_name
    from ghosthub.hub.store import writable_store

    data = random.Random(seed).randbytes(size)
    sha = hashlib.sha256(data).hexdigest()
    path = Path(work) / f"{name}-{seed}.ckpt"
    path.write_bytes(data)
    asset = asset_file_name(name, sha, "ckpt")
    settings = config.settings()
    store = writable_store(hub_place(hub), settings)
    time.sleep(max(0.0, start_at - time.time()))
    entry = {"assets": [{"path": f"assets/{asset}", "file-format": "ckpt", "sha256": sha, "size": size}]}
    try:
        done = publish_model(
            store, name, (path, sha, "ckpt", f"assets/{asset}"), card_for(name, asset, sha), entry,
            part_size=settings.part_size, threads=1,
        )  # fmt: skip
    except PublishError as exc:
        print(json.dumps({"ok": False, "sha256": sha, "error": str(exc)}), flush=True)
        return 1
    print(json.dumps({"ok": True, "sha256": sha, "retries": done.retries, "parts": done.uploaded.parts,
                      "kept": done.uploaded.kept}), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":  # python -m tests.support.s3 HUB NAME SEED SIZE START_AT WORK
    hub, name, seed, size, start_at, work = sys.argv[1:7]
    sys.exit(publish_random(hub, name, int(seed), int(size), float(start_at), work))

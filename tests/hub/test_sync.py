"""Reading an s3 hub through the cache's copy: how often the hub is asked, and what a current copy costs.

Against moto's S3 API server on 127.0.0.1 behind the recording proxy of tests/support/s3.py, which
can also answer a GET whose If-None-Match names the object's ETag with 304, as S3 does (moto does not).
(Trust and faults of remote hubs: tests/properties/test_hub_trust.py and test_s3_trust.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ghosthub.client import Client
from tests.support.s3 import MOTO, Proxy, publish_file

pytestmark = [
    pytest.mark.skipif(not os.path.exists(MOTO), reason="moto_server is not installed (pip install 'moto[server]')"),
    pytest.mark.timeout(180),
]


@pytest.fixture
def proxied(s3, monkeypatch):
    proxy = Proxy(s3.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.stop()


def index_gets(proxy: Proxy) -> list[dict]:
    """The headers of ghosthub's own GETs of index.json (the SDK's, during a publish, are not counted)."""
    return [
        headers
        for _, headers in proxy.gets("/team/index.json")
        if headers.get("user-agent", "").startswith("ghosthub/")
    ]


def test_every_command_asks_an_s3_hub_with_the_copy_s_etag_and_a_304_keeps_the_copy(s3, proxied):
    publish_file(s3.hub, "alpha", b"alpha weights")
    assert Client(hub=s3.hub).list_models("alpha") == ["alpha"]
    proxied.mode = "revalidate"  # as S3 answers: 304 when the ETag asked with is still the object's
    proxied.seen.clear()
    for _ in range(2):
        assert Client(hub=s3.hub).list_models("alpha") == ["alpha"]
    asked = index_gets(proxied)
    etag = s3.client.head_object(Bucket=s3.bucket, Key="team/index.json")["ETag"]
    assert [h.get("if-none-match") for h in asked] == [etag, etag]  # asked each time, with the copy's ETag
    assert [p for p, _ in proxied.gets("/cards/")] == []  # 304: no card was fetched again
    publish_file(s3.hub, "beta", b"beta weights")
    assert Client(hub=s3.hub).list_models("*a") == ["alpha", "beta"]  # a new ETag: the new index is read


def test_within_the_hub_ttl_the_copy_is_used_without_asking_until_this_cache_writes_the_hub(s3, proxied, monkeypatch):
    monkeypatch.setenv("GHOSTHUB_HUB_TTL", "600")
    publish_file(s3.hub, "alpha", b"alpha weights")
    assert Client(hub=s3.hub).list_models("alpha") == ["alpha"]
    proxied.seen.clear()
    assert Client(hub=s3.hub).list_models("alpha") == ["alpha"]
    assert index_gets(proxied) == []  # asked less than GHOSTHUB_HUB_TTL seconds ago: not asked again
    publish_file(s3.hub, "beta", b"beta weights")  # a write from this cache: its copy asks at its next use
    assert Client(hub=s3.hub).list_models("*a") == ["alpha", "beta"] and len(index_gets(proxied)) == 1
    # A command that finds its copy current imports neither the AWS SDK nor the HTTP stack.
    code = "import sys, ghosthub; ghosthub.list_models(); print(sorted({'boto3', 'requests'} & set(sys.modules)))"
    env = {**os.environ, "GHOSTHUB_HUB": s3.hub}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
    monkeypatch.setenv("GHOSTHUB_HUB_TTL", "0")  # the default: every command asks
    proxied.seen.clear()
    Client(hub=s3.hub).list_models()
    assert len(index_gets(proxied)) == 1

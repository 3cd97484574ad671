"""An s3 hub is as untrusted as a URL hub: credentials go to the configured endpoint only, cards link only their
own bucket (or http), and an index never names a path outside the hub.

Every hub here lives on moto's S3 API server on 127.0.0.1, most behind the recording proxy of
tests/support/s3.py, so the tests can assert what went over the wire.
"""

from __future__ import annotations

import hashlib
import os
import warnings

import pytest

from ghosthub import config
from ghosthub._utils.places import hub_place
from ghosthub.client import Client
from ghosthub.download.s3 import presigned_get
from ghosthub.download.transport import Transport
from ghosthub.errors import CardWarning, DownloadError, LinkError
from ghosthub.hub.commit import commit_index
from ghosthub.hub.index import FORMAT, index_bytes
from ghosthub.hub.store import ObjectStore
from tests.support.fetching import assert_cache_sound
from tests.support.httpserver import AssetServer
from tests.support.s3 import MOTO, Proxy, card_for, publish_file

pytestmark = [
    pytest.mark.skipif(not os.path.exists(MOTO), reason="moto_server is not installed (pip install 'moto[server]')"),
    pytest.mark.timeout(180),
]


@pytest.fixture
def proxied(s3, monkeypatch):
    """The bucket's hub reached through the recording proxy (AWS_ENDPOINT_URL points at the proxy)."""
    proxy = Proxy(s3.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.stop()


def hub_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, CardWarning)]


def put_card(store: ObjectStore, name: str, text: str) -> None:
    """A hand-made card object and its index entry (what a hostile or careless writer could leave)."""
    store.put(f"cards/{name}.md", text.encode())
    entry = {"card": f"cards/{name}.md", "card-sha256": hashlib.sha256(text.encode()).hexdigest()}
    commit_index(store, lambda index: {**index, "models": {**index["models"], name: entry}})


# --------------------------------------------------------------------------- credentials


def test_a_presigned_get_never_carries_a_bearer_token_even_one_named_for_the_endpoint(s3, proxied, monkeypatch):
    data = os.urandom(40_000)
    _, sha = publish_file(s3.hub, "signed_model", data)
    host = proxied.url.split("//", 1)[1]
    monkeypatch.setenv("GHOSTHUB_TOKENS", f"{host}=endpoint-token")
    path = Client(hub=s3.hub).download("signed_model")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    # ghosthub's own GETs (the SDK's requests of the publish above sign with a header, as they must)
    ours = [(p, headers) for p, headers in proxied.gets() if headers.get("user-agent", "").startswith("ghosthub/")]
    assert len(ours) >= 3 and all("X-Amz-Signature=" in p for p, _ in ours), ours  # index, card, asset: presigned
    assert [p for p, headers in ours if "authorization" in headers] == []
    settings = config.settings()
    url = presigned_get(f"{s3.hub}/index.json", settings)
    transport = Transport(settings)
    assert transport.credentials(url) is None  # its signature is its credential
    assert transport.credentials(url.split("?")[0]) == "Bearer endpoint-token"  # the entry itself is honoured


def test_a_redirect_from_the_endpoint_to_another_host_is_not_followed_with_the_signature(s3, monkeypatch, tmp_path):
    data = os.urandom(40_000)
    publish_file(s3.hub, "moved_model", data)
    Client(hub=s3.hub).list_models()  # the copy of the hub, read straight from the endpoint
    elsewhere = AssetServer().start()
    proxy = Proxy(s3.port, mode="redirect")
    proxy.redirect_to = f"http://127.0.0.1:{elsewhere.port}"
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        refused = "refusing a redirect of a signed request"
        with pytest.warns(CardWarning, match=refused), pytest.raises(DownloadError, match=refused) as info:
            Client(hub=s3.hub, offline=False).download("moved_model")  # the index's sync, then the asset
        assert "X-Amz-Signature" not in str(info.value) and "Credential" not in str(info.value)
        assert proxy.gets("moved_model-" + hashlib.sha256(data).hexdigest()[:8] + ".ckpt")  # asked the endpoint
        assert elsewhere.seen == []  # and nothing, signature or not, reached the other host
    finally:
        proxy.stop()
        elsewhere.stop()
    assert_cache_sound(tmp_path / "cache")
    assert [p for p in (tmp_path / "cache" / "assets").rglob("*.ckpt") if not p.name.startswith(".")] == []


# --------------------------------------------------------------------------- what cards may link


def test_a_card_of_an_s3_hub_cannot_link_another_bucket_or_climb_out_of_its_own(s3):
    store = ObjectStore(hub_place(s3.hub), config.settings())
    links = {
        "other_bucket": "s3://other-bucket/team/assets/x.ckpt",
        "climbing": "../../../../x.ckpt",  # above the bucket's root: no object of this bucket
        "local_file": "/etc/passwd",
    }
    for name, link in links.items():
        put_card(store, name, card_for(name, "x.ckpt", "a" * 64).replace("../assets/x.ckpt", link))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = Client(hub=s3.hub).list_models()
    said = " ".join(hub_warnings(caught))
    assert not set(links) & set(names)
    assert "s3://other-bucket/team/assets/x.ckpt" in said and "its own bucket" in said


def test_a_cached_card_edited_to_link_another_bucket_is_refused_at_download(s3):
    data = os.urandom(20_000)
    publish_file(s3.hub, "edited", data)
    client = Client(hub=s3.hub)
    card = client.get_card("edited")
    text = card.path.read_text(encoding="utf-8")
    card.path.write_text(text.replace(f"s3://{s3.bucket}/", "s3://other-bucket/"), encoding="utf-8")
    offline = Client(hub=s3.hub, offline=True)  # the edited copy is what is read
    with pytest.raises(LinkError, match="refused: this card came from a remote hub"):
        offline.download("edited")


def test_a_url_hub_card_cannot_link_an_s3_object(tmp_path):
    with AssetServer() as server:
        text = card_for("sneaky", "x.ckpt", "a" * 64).replace("../assets/x.ckpt", "s3://zoo/team/assets/x.ckpt")
        server.add("/hub/cards/sneaky.md", text.encode())
        entry = {"card": "cards/sneaky.md", "card-sha256": hashlib.sha256(text.encode()).hexdigest()}
        server.add("/hub/index.json", index_bytes({"format": FORMAT, "updated": None, "models": {"sneaky": entry}}))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = Client(hub=server.url("/hub/"), cache_dir=tmp_path / "cache").list_models()
    assert "sneaky" not in names
    assert any("s3://zoo/team/assets/x.ckpt" in w and "http(s)" in w for w in hub_warnings(caught))


# --------------------------------------------------------------------------- what an index may name


@pytest.mark.parametrize(
    "field, value",
    [("card", "cards/../../elsewhere/evil.md"), ("card", "cards/..md"), ("asset", "assets/../index.json")],
)
def test_an_index_entry_path_with_dot_dot_leaves_the_hub_out_and_is_never_asked_for(s3, proxied, field, value):
    store = ObjectStore(hub_place(s3.hub), config.settings())
    entry = {"card": "cards/good.md", "card-sha256": "ab" * 32, "assets": []}
    if field == "card":
        entry["card"] = value
    else:
        entry["assets"] = [{"path": value, "file-format": "ckpt", "sha256": "ab" * 32}]
    store.put("index.json", index_bytes({"format": FORMAT, "updated": None, "models": {"bad": entry}}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = Client(hub=s3.hub).list_models()
    assert "bad" not in names
    said = " ".join(hub_warnings(caught))
    assert f"hub {s3.hub}/ is left out" in said and "safe" in said, said
    assert [p for p, _ in proxied.gets() if "elsewhere" in p or "good.md" in p or p.count("index.json") > 1] == []
    assert [p for p, _ in proxied.gets() if not p.split("?")[0].endswith("/team/index.json")] == []

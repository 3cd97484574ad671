"""An object-store hub's pages: written with the index, settled against the index that won, only what changed.

Against moto's S3 API server on 127.0.0.1, the writes counted by the recording proxy of
tests/support/s3.py. The race of many publishers is in test_store.py (the pages are checked there too).
"""

from __future__ import annotations

import json
import os

import pytest

from ghosthub import config
from ghosthub._utils.places import hub_place
from ghosthub.cli import main
from ghosthub.hub.commit import commit_index
from ghosthub.hub.site_store import RECORD, StorePages
from ghosthub.hub.store import ObjectStore
from tests.support.s3 import MOTO, Proxy, assert_pages_match_the_index, publish_file

pytestmark = [
    pytest.mark.skipif(not os.path.exists(MOTO), reason="moto_server is not installed (pip install 'moto[server]')"),
    pytest.mark.timeout(180),
]


@pytest.fixture
def proxied(s3, monkeypatch):
    """Requests go through the recording proxy (AWS_ENDPOINT_URL points at it)."""
    proxy = Proxy(s3.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.stop()


def html_puts(proxy: Proxy) -> list[str]:
    """The pages the proxy saw written, by hub-relative name."""
    return sorted(
        path.split("?")[0].split("/team/", 1)[1]
        for method, path, _ in proxy.seen
        if method == "PUT" and path.split("?")[0].endswith(".html")
    )


def store_of(s3) -> ObjectStore:
    return ObjectStore(hub_place(s3.hub), config.settings())


def test_a_publish_writes_the_pages_of_its_index_then_only_the_pages_that_change(s3, proxied):
    publish_file(s3.hub, "alpha", b"alpha weights")
    publish_file(s3.hub, "beta", b"beta weights")
    before = assert_pages_match_the_index(s3)
    assert json.loads(s3.objects("team/")[f"team/{RECORD}"])["pages"].keys() == set(before)
    proxied.seen.clear()
    publish_file(s3.hub, "gamma", b"gamma weights")
    assert html_puts(proxied) == ["index.html", "models/gamma.html"]  # alpha's and beta's pages are current
    card_gets = [p for p, _ in proxied.gets("/cards/")]
    assert card_gets == []  # nor were their cards read: the record and one listing said so
    after = assert_pages_match_the_index(s3)
    assert {k: v for k, v in after.items() if k.startswith("models/") and "gamma" not in k} == {
        k: v for k, v in before.items() if k.startswith("models/")
    }


def test_pages_written_for_an_index_that_never_was_are_settled_by_their_writer(s3):
    """A writer whose try lost (or whose update found a conflict) may write its pages after the winner settled."""
    publish_file(s3.hub, "alpha", b"alpha weights")
    publish_file(s3.hub, "beta", b"beta weights")
    store = store_of(s3)
    late = StorePages(store)
    index = s3.index()
    ghost = {**index["models"]["beta"], "metrics": {"top1": 12.5}}
    late.write({**index, "models": {**index["models"], "ghost": ghost}})  # the pages of a lost try
    assert "team/models/ghost.html" in s3.objects("team/models/")
    with pytest.raises(AssertionError):
        assert_pages_match_the_index(s3)
    assert "models/ghost.html" in late.settle()
    assert_pages_match_the_index(s3)


def test_a_conflict_found_after_the_pages_were_written_leaves_the_pages_of_the_index_as_it_stands(s3):
    publish_file(s3.hub, "alpha", b"alpha weights")
    store = store_of(s3)
    tries = []

    def update(index):
        tries.append(1)
        if len(tries) == 1:  # another writer commits between our read and our write
            other = {**index["models"]["alpha"], "metrics": {"top1": 1.0}}
            commit_index(store, lambda i: {**i, "models": {**i["models"], "other": other}})
            index["models"]["mine"] = {**index["models"]["alpha"]}
            return index
        raise RuntimeError("a conflict the second read finds")

    with pytest.raises(RuntimeError):
        commit_index(store, update, pages=StorePages(store))
    # The first try wrote the pages of alpha + mine; the conflict ended the commit; what stands is alpha + other.
    assert sorted(s3.index()["models"]) == ["alpha", "other"]
    assert_pages_match_the_index(s3)


def test_fsck_rewrites_the_pages_that_do_not_match_the_index(s3, capsys):
    publish_file(s3.hub, "alpha", b"alpha weights")
    publish_file(s3.hub, "beta", b"beta weights")
    put = s3.client.put_object
    s3.client.delete_object(Bucket=s3.bucket, Key="team/models/alpha.html")
    put(Bucket=s3.bucket, Key="team/index.html", Body=b"<p>an old index</p>")
    put(Bucket=s3.bucket, Key="team/models/gone.html", Body=b"<p>a model the index no longer lists</p>")
    put(Bucket=s3.bucket, Key=f"team/{RECORD}", Body=b"{not json")
    before = s3.objects("team/")
    assert main(["fsck", s3.hub, "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pages"] == ["index.html", "models/alpha.html", "models/gone.html"]
    assert s3.objects("team/") == before  # a dry run writes nothing
    assert main(["fsck", s3.hub]) == 0
    assert "wrote 3 page(s)" in capsys.readouterr().out
    assert_pages_match_the_index(s3)
    assert main(["fsck", s3.hub, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pages"] == []


def test_a_lost_record_costs_a_rendering_never_a_write(s3, proxied):
    publish_file(s3.hub, "alpha", b"alpha weights")
    publish_file(s3.hub, "beta", b"beta weights")
    s3.client.delete_object(Bucket=s3.bucket, Key=f"team/{RECORD}")
    proxied.seen.clear()
    assert StorePages(store_of(s3)).settle() == []
    assert html_puts(proxied) == []  # the pages' ETags are their MD5s: the same bytes are not sent again
    assert json.loads(s3.objects("team/")[f"team/{RECORD}"])["pages"]  # the record is back for next time


def test_a_model_whose_card_is_missing_gets_a_page_that_says_so_and_settling_ends(s3):
    done, _ = publish_file(s3.hub, "alpha", b"alpha weights")
    s3.client.delete_object(Bucket=s3.bucket, Key=f"team/{done.card}")
    store = store_of(s3)
    s3.client.delete_object(Bucket=s3.bucket, Key="team/models/alpha.html")
    assert StorePages(store).settle() == ["models/alpha.html"]
    page = s3.objects("team/models/")["team/models/alpha.html"]
    assert f"the card {done.card} is missing".encode() in page
    assert StorePages(store).settle() == []  # a page without a key is compared by its bytes

"""Hub folders: index.json checks and the all-or-nothing transaction publishing relies on."""

import json
import os

import pytest

from ghosthub.errors import HubError
from ghosthub.hub.index import FORMAT, INDEX, index_bytes, parse_index, read_index
from ghosthub.hub.transaction import JOURNAL, Transaction, recover


def tree(root):
    """Every file under root (journal and hidden temporaries included) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def hub(tmp_path):
    root = tmp_path / "hub"
    (root / "cards").mkdir(parents=True)
    (root / "cards" / "old.md").write_text("old card")
    (root / INDEX).write_bytes(index_bytes({"format": FORMAT, "updated": None, "models": {}}))
    return root


def test_commit_replaces_all(hub):
    txn = Transaction(hub)
    txn.stage(hub / "cards" / "old.md", b"new card")
    txn.stage(hub / "assets" / "w.ckpt", b"weights")
    txn.commit()
    assert tree(hub) == {
        "cards/old.md": b"new card",
        "assets/w.ckpt": b"weights",
        INDEX: (hub / INDEX).read_bytes(),
    }


def test_failure_mid_commit_rolls_back(hub, monkeypatch):
    before = tree(hub)
    txn = Transaction(hub)
    txn.stage(hub / "assets" / "w.ckpt", b"weights")
    txn.stage(hub / "cards" / "old.md", b"new card")
    txn.stage(hub / INDEX, b"{}")
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        txn.commit()
    monkeypatch.setattr(os, "replace", real_replace)
    txn.discard()
    assert tree(hub) == before


def test_recover_after_a_kill(hub, monkeypatch):
    """A journal left by a killed commit is rolled back by the next publish."""
    before = tree(hub)
    txn = Transaction(hub)
    txn.stage(hub / "assets" / "w.ckpt", b"weights")
    txn.stage(hub / "cards" / "old.md", b"new card")
    txn.stage(hub / INDEX, b"{}")
    real_replace, calls = os.replace, []

    class Killed(BaseException):
        pass

    def dying_replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # the journal, the asset and the card are in place; the index is not
            raise Killed
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    monkeypatch.setattr(
        "ghosthub.hub.transaction._roll_back", lambda root, steps: None
    )  # a killed process rolls nothing back
    with pytest.raises(Killed):
        txn.commit()
    monkeypatch.undo()
    assert (hub / JOURNAL).exists() and (hub / "cards" / "old.md").read_bytes() == b"new card"
    assert recover(hub) is True
    assert tree(hub) == before
    assert recover(hub) is False


def test_recover_refuses_a_journal_pointing_outside(hub, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    steps = [{"tmp": str(hub / "x.tmp"), "final": str(victim), "backup": None}]
    (hub / JOURNAL).write_text(json.dumps({"steps": steps}))
    with pytest.raises(HubError, match="outside the hub"):
        recover(hub)
    assert victim.read_text() == "keep me"


def test_read_index_missing_is_empty(tmp_path):
    assert read_index(tmp_path / "index.json")["models"] == {}


@pytest.mark.parametrize(
    "index, problem",
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a ghosthub hub index"),
        (b'{"format": "other", "models": {}}', "not a ghosthub hub index"),
        (b'{"format": "ghosthub-hub/1", "models": {"../x": {}}}', "safe model name"),
        (b'{"format": "ghosthub-hub/1", "models": {"x": {"card": "../x.md"}}}', "card path"),
        (b'{"format": "ghosthub-hub/1", "models": {"x": {"card": "cards/a/b.md"}}}', "card path"),
        (
            b'{"format": "ghosthub-hub/1", '
            b'"models": {"x": {"card": "cards/x.md", "assets": [{"path": "assets/../../x"}]}}}',
            "asset path",
        ),
        (
            b'{"format": "ghosthub-hub/1", '
            b'"models": {"x": {"card": "cards/x.md", "assets": [{"path": "/etc/passwd"}]}}}',
            "asset path",
        ),
    ],
)
def test_bad_index(index, problem):
    with pytest.raises(HubError, match=problem):
        parse_index(index, source="hub/index.json")


# ----------------------------------------------------------------------------- reading hubs (folder and URL)

import gc  # noqa: E402
import hashlib  # noqa: E402

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402

import ghosthub  # noqa: E402
from ghosthub.hub.serve import serve  # noqa: E402
from ghosthub.modelcard import CardWarning, load_card  # noqa: E402
from tests.support.publishing import published_hub  # noqa: E402


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A hub folder with two published models, and the logits of each network."""
    return published_hub(tmp_path_factory.mktemp("pub") / "hub")


def requests_seen(capfd):
    return [line for line in capfd.readouterr().err.splitlines() if '"GET ' in line]


def test_folder_hub(published, monkeypatch):
    monkeypatch.setenv("GHOSTHUB_HUB", str(published["root"]))
    assert {"alpha_050", "beta_050"} <= set(ghosthub.list_models())
    net = ghosthub.load("alpha_050")
    np.testing.assert_array_equal(net(ms.Tensor(published["x"])).asnumpy(), published["logits"]["alpha_050"])


def test_url_hub_is_cached_with_etag_and_works_offline(published, isolated_env, capfd):
    with serve(published["root"], quiet=False) as server:
        assert {"alpha_050", "beta_050"} <= set(ghosthub.list_models(hub=server.url))
        first = requests_seen(capfd)
        assert sum("/index.json" in r for r in first) == 1 and sum("/cards/" in r for r in first) == 2
        copy = next((isolated_env / "cache" / "hubs").iterdir())
        cached = load_card(copy / "cards" / "alpha_050.md")
        assert cached.assets[0].link.startswith(server.url + "assets/alpha_050-")  # links made absolute
        # Again: one conditional request answered 304, no card fetched again.
        ghosthub.list_models(hub=server.url)
        again = requests_seen(capfd)
        assert len(again) == 1 and '"GET /index.json HTTP/1.1" 304' in again[0]
        net = ghosthub.load("alpha_050", hub=server.url)
        np.testing.assert_array_equal(net(ms.Tensor(published["x"])).asnumpy(), published["logits"]["alpha_050"])
        del net
        gc.collect()
    # The server is gone: offline use works from the copies, online use warns and goes on.
    net = ghosthub.load("alpha_050", hub=server.url, offline=True)
    np.testing.assert_array_equal(net(ms.Tensor(published["x"])).asnumpy(), published["logits"]["alpha_050"])
    del net
    gc.collect()
    with pytest.warns(CardWarning, match="cannot be reached"):
        assert "beta_050" in ghosthub.list_models(hub=server.url)


def test_url_hub_offline_before_any_fetch(published):
    with serve(published["root"]) as server, pytest.warns(CardWarning, match="has not been fetched yet"):
        names = ghosthub.api.default_registry(hub=server.url, offline=True).list()
    assert "alpha_050" not in names and "ghostnet_050" in names


def test_tampered_card_is_skipped(published, tmp_path):
    import shutil

    root = tmp_path / "hub"
    shutil.copytree(published["root"], root)
    card = root / "cards" / "beta_050.md"
    card.write_text(card.read_text().replace("summary:", "summary: tampered"))
    with serve(root) as server:
        with pytest.warns(CardWarning, match="beta_050.*SHA-256"):
            names = ghosthub.list_models(hub=server.url)
    assert "alpha_050" in names and "beta_050" not in names


def test_card_removed_from_the_index_disappears(published, tmp_path, isolated_env):
    import shutil

    root = tmp_path / "hub"
    shutil.copytree(published["root"], root)
    with serve(root) as server:
        assert "beta_050" in ghosthub.list_models(hub=server.url)
        index = json.loads((root / "index.json").read_text())
        del index["models"]["beta_050"]
        (root / "index.json").write_bytes(index_bytes(index))
        assert "beta_050" not in ghosthub.list_models(hub=server.url)
    copy = next((isolated_env / "cache" / "hubs").iterdir())
    assert sorted(p.name for p in (copy / "cards").iterdir()) == ["alpha_050.md"]
    assert (
        hashlib.sha256((copy / "index.json").read_bytes()).hexdigest()
        == hashlib.sha256((root / "index.json").read_bytes()).hexdigest()
    )


def test_one_client_syncs_a_url_hub_once(published, capfd):
    """list + get_card + download + load through one Client: one index.json request (a verb each made one)."""
    with serve(published["root"], quiet=False) as server:
        client = ghosthub.Client(hub=server.url)
        assert "alpha_050" in client.list_models()
        assert client.get_card("alpha_050").name == "alpha_050"
        path = client.download("alpha_050")
        net = client.load("alpha_050")
        np.testing.assert_array_equal(net(ms.Tensor(published["x"])).asnumpy(), published["logits"]["alpha_050"])
        del net
        gc.collect()
        seen = requests_seen(capfd)
    assert sum("/index.json" in r for r in seen) == 1, seen
    assert sum("/assets/" in r for r in seen) == 1 and path.is_file(), "one transfer; load used the cached file"

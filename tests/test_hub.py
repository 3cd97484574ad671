"""Hub folders: index.json checks and the all-or-nothing transaction publishing relies on."""

import json
import os

import pytest

from ghosthub import hub as hubs
from ghosthub.hub import HubError, Transaction, parse_index, read_index, recover


def tree(root):
    """Every file under root (journal and hidden temporaries included) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def hub(tmp_path):
    root = tmp_path / "hub"
    (root / "cards").mkdir(parents=True)
    (root / "cards" / "old.md").write_text("old card")
    (root / hubs.INDEX).write_bytes(hubs.index_bytes({"format": hubs.FORMAT, "updated": None, "models": {}}))
    return root


def test_commit_replaces_all(hub):
    txn = Transaction(hub)
    txn.stage(hub / "cards" / "old.md", b"new card")
    txn.stage(hub / "assets" / "w.ckpt", b"weights")
    txn.commit()
    assert tree(hub) == {
        "cards/old.md": b"new card",
        "assets/w.ckpt": b"weights",
        hubs.INDEX: (hub / hubs.INDEX).read_bytes(),
    }


def test_failure_mid_commit_rolls_back(hub, monkeypatch):
    before = tree(hub)
    txn = Transaction(hub)
    txn.stage(hub / "assets" / "w.ckpt", b"weights")
    txn.stage(hub / "cards" / "old.md", b"new card")
    txn.stage(hub / hubs.INDEX, b"{}")
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
    txn.stage(hub / hubs.INDEX, b"{}")
    real_replace, calls = os.replace, []

    class Killed(BaseException):
        pass

    def dying_replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # the journal, the asset and the card are in place; the index is not
            raise Killed
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    monkeypatch.setattr(hubs, "_roll_back", lambda root, steps: None)  # a killed process rolls nothing back
    with pytest.raises(Killed):
        txn.commit()
    monkeypatch.undo()
    assert (hub / hubs.JOURNAL).exists() and (hub / "cards" / "old.md").read_bytes() == b"new card"
    assert recover(hub) is True
    assert tree(hub) == before
    assert recover(hub) is False


def test_recover_refuses_a_journal_pointing_outside(hub, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    steps = [{"tmp": str(hub / "x.tmp"), "final": str(victim), "backup": None}]
    (hub / hubs.JOURNAL).write_text(json.dumps({"steps": steps}))
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
        (b'{"format": "ghosthub-hub/1", "models": {"x": {"card": "cards/x.md", "assets": [{"path": "assets/../../x"}]}}}', "asset path"),
        (b'{"format": "ghosthub-hub/1", "models": {"x": {"card": "cards/x.md", "assets": [{"path": "/etc/passwd"}]}}}', "asset path"),
    ],
)
def test_bad_index(index, problem):
    with pytest.raises(HubError, match=problem):
        parse_index(index, source="hub/index.json")

"""What killed publishes leave in a hub is removed by the next publish and by `ghosthub fsck`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ghosthub.cli import main
from ghosthub.download.parts import _host
from ghosthub.errors import HubError, PublishWarning
from ghosthub.hub.fsck import fsck, leftovers
from ghosthub.hub.serve import serve
from ghosthub.tasks.publish import publish
from tests.support.paths import REPO
from tests.support.publishing import save_checkpoints

pytest.importorskip("mindspore")  # the checkpoints are real ones


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_checkpoints(tmp_path_factory.mktemp("ckpt"), (1,))[1]


def dotfiles(hub: Path) -> list[str]:
    return sorted(str(p.relative_to(hub)) for p in hub.rglob(".*") if p.name != ".publish.lock")


def killed_publish(checkpoint: Path, hub: Path, name: str) -> None:
    """A real publish in another process, killed (SIGKILL) just before it commits."""
    code = textwrap.dedent(f"""
        import os, signal
        from ghosthub.hub import transaction
        transaction.Transaction.commit = lambda self: os.kill(os.getpid(), signal.SIGKILL)
        from ghosthub.tasks.publish import publish
        publish({str(checkpoint)!r}, name={name!r}, hub={str(hub)!r}, width=0.5)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLOG_v": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == -9, out.stderr[-2000:]


def test_a_killed_publish_is_cleaned_by_the_next_and_never_served(checkpoint, tmp_path):
    hub = tmp_path / "hub"
    publish(checkpoint, name="first", hub=hub, width=0.5)
    before = {p: p.read_bytes() for p in hub.rglob("*") if p.is_file() and p.name != ".publish.lock"}
    killed_publish(checkpoint, hub, "second")
    left = dotfiles(hub)
    assert any(n.startswith("assets/.second.incoming.") for n in left) and len(left) >= 3, left
    with serve(hub) as server:  # in-flight and left-over files are never served
        import urllib.request

        for name in left:
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(server.url + name, timeout=10)
    with pytest.warns(PublishWarning, match=f"removed {len(left)} temporary file"):
        publish(checkpoint, name="first", hub=hub, width=0.5)
    assert dotfiles(hub) == []
    assert {p: p.read_bytes() for p in hub.rglob("*") if p.is_file() and p.name != ".publish.lock"} == before


def test_fsck_removes_a_killed_publish_and_keeps_a_live_one(checkpoint, tmp_path, capsys):
    hub = tmp_path / "hub"
    publish(checkpoint, name="first", hub=hub, width=0.5)
    killed_publish(checkpoint, hub, "second")
    left = dotfiles(hub)
    live = hub / "assets" / f".third.incoming.abcd1234.{_host()}-{os.getpid()}.tmp"  # a publish still staging
    live.write_bytes(b"x" * 1000)
    assert main(["fsck", str(hub), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove {len(left)} leftover file(s)" in out and dotfiles(hub) == sorted(
        [*left, str(live.relative_to(hub))]
    )
    assert main(["fsck", str(hub), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(str(Path(p).relative_to(hub)) for p in report["removed"]) == left and report["freed"] > 1 << 20
    assert dotfiles(hub) == [str(live.relative_to(hub))], "a live publish's staged copy is kept"
    assert main(["fsck", str(hub)]) == 0 and "clean" in capsys.readouterr().out


def test_fsck_rolls_back_a_journal_and_reports_missing_files(tmp_path, capsys):
    hub = tmp_path / "hub"
    (hub / "assets").mkdir(parents=True)
    (hub / "cards").mkdir()
    (hub / "cards" / "m.md").write_text("# m")
    (hub / "assets" / "orphan.ckpt").write_bytes(b"o")
    index = {
        "format": "ghosthub-hub/1",
        "updated": None,
        "models": {"m": {"card": "cards/m.md", "assets": [{"path": "assets/m.ckpt"}]}},
    }
    (hub / "index.json").write_text(json.dumps(index))
    old = time.time() - 3600
    stale = hub / "assets" / ".x.incoming.abcd.tmp"  # an older ghosthub's staged copy, an hour old
    stale.write_bytes(b"s")
    os.utime(stale, (old, old))
    fresh = hub / "assets" / ".y.incoming.abcd.tmp"
    fresh.write_bytes(b"f")
    tmp = hub / "cards" / ".m.md.zz.tmp"
    tmp.write_text("half a card")
    (hub / ".publish-journal.json").write_text(
        json.dumps({"steps": [{"tmp": str(tmp), "final": str(hub / "cards" / "n.md"), "backup": None}]})
    )
    report = fsck(hub)
    assert report.recovered and not (hub / ".publish-journal.json").exists() and not tmp.exists()
    assert report.removed == [stale] and fresh.exists()
    assert report.problems == [
        "m: asset assets/m.ckpt is missing",
        "assets/orphan.ckpt is not listed in index.json (an orphan: remove it or publish it)",
    ]
    assert main(["fsck", str(hub)]) == 1
    assert "asset assets/m.ckpt is missing" in capsys.readouterr().err
    assert leftovers(hub) == []


@pytest.mark.parametrize(
    "journal, found",
    [
        (b'{"steps": 5}', "is {'steps': 5}, not {\"steps\": [...]}"),
        (b"[1, 2]", 'is [1, 2], not {"steps": [...]}'),
        (b'"a string"', "is 'a string', not"),
        (b'{"steps": [{"final": 5}]}', "step 1 is {'final': 5}, not its files"),
        (b'{"steps": [{"final": "x", "tmp": ["a"]}]}', "step 1 is"),
        (b'{"steps": [', "is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
    ],
)
def test_a_malformed_journal_is_reported_and_left_in_place_with_its_backups(tmp_path, capsys, journal, found):
    hub = tmp_path / "hub"
    (hub / "assets").mkdir(parents=True)
    (hub / "index.json").write_text(json.dumps({"format": "ghosthub-hub/1", "updated": None, "models": {}}))
    (hub / ".publish-journal.json").write_bytes(journal)
    backup = hub / ".index.json.123.0.bak"  # what a person restores from: kept while the journal is unresolved
    backup.write_text("{}")
    report = fsck(hub)
    assert not report.ok and not report.recovered and report.removed == []
    assert f"the publish journal {hub / '.publish-journal.json'}" in report.problems[0]
    assert found in report.problems[0] and "it was left in place" in report.problems[0]
    assert len(report.problems[0]) < 600, "a bounded excerpt of what was found"
    assert (hub / ".publish-journal.json").read_bytes() == journal and backup.exists()
    assert main(["fsck", str(hub)]) == 1 and "left in place" in capsys.readouterr().err
    with pytest.raises(HubError, match="left in place"):
        from ghosthub.hub.transaction import recover

        recover(hub)


def test_fsck_refuses_what_is_not_a_hub(tmp_path):
    with pytest.raises(HubError, match="not a hub folder"):
        fsck(tmp_path)


def test_an_older_asset_kept_by_publish_force_is_no_problem_but_a_real_orphan_is(checkpoint, tmp_path, capsys):
    """`publish --force` keeps the replaced asset for copies of the older card; fsck names it as kept and
    exits 0. A file no listed model could have published stays a problem."""
    hub = tmp_path / "hub"
    first = publish(checkpoint, name="first", hub=hub, width=0.5)
    second = publish(save_checkpoints(tmp_path, (2,))[2], name="first", hub=hub, width=0.5, force=True)
    older = f"assets/{first.asset_path.name}"
    assert first.sha256 != second.sha256 and (hub / older).exists()
    report = fsck(hub)
    assert report.ok and report.superseded == (older,)
    assert main(["fsck", str(hub), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["superseded"] == [older]
    (hub / "assets" / "gone_model-0123abcd.ckpt").write_bytes(b"x")  # the name of a model not in the index
    report = fsck(hub)
    assert report.superseded == (older,) and report.problems == [
        "assets/gone_model-0123abcd.ckpt is not listed in index.json (an orphan: remove it or publish it)"
    ]
    assert main(["fsck", str(hub)]) == 1

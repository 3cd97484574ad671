"""`ghosthub mirror`: a hub copied from a URL hub served by `ghosthub serve`, then used offline and served again."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

pytest.importorskip("mindspore")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402

import ghosthub  # noqa: E402
from ghosthub import Client  # noqa: E402
from ghosthub.architectures import create_model  # noqa: E402
from ghosthub.cli import main  # noqa: E402
from ghosthub.hub.index import INDEX, read_index  # noqa: E402
from ghosthub.hub.mirror import check_mirror  # noqa: E402
from ghosthub.hub.serve import serve  # noqa: E402
from ghosthub.modelcard import load_card  # noqa: E402
from ghosthub.tasks.publish import publish  # noqa: E402
from tests.support.publishing import published_hub  # noqa: E402

NAMES = ("alpha_050", "beta_050")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A published hub folder with two real checkpoints, and the logits of each network."""
    return published_hub(tmp_path_factory.mktemp("src") / "hub", NAMES)


def asset_gets(capfd) -> list[str]:
    """The asset requests `ghosthub serve` logged since the last call."""
    return [line for line in capfd.readouterr().err.splitlines() if '"GET /assets/' in line]


def test_mirror_from_a_url_hub_then_offline_and_served(source, tmp_path, capfd, monkeypatch):
    dest = tmp_path / "mirror"
    with serve(source["root"], quiet=False) as server:
        items = Client(cache_dir=tmp_path / "c1").mirror("*_050", dest, hub=server.url)
        assert [(i.name, i.state, len(i.fetched)) for i in items] == [(n, "new", 1) for n in NAMES]
        assert len(asset_gets(capfd)) >= 2
        # Again, from a fresh cache: the mirror's own files are verified, nothing is transferred.
        again = Client(cache_dir=tmp_path / "c2").mirror(["alpha_050", "beta_050"], dest, hub=server.url)
        assert [(i.state, i.fetched, len(i.kept)) for i in again] == [("unchanged", [], 1)] * 2
        assert asset_gets(capfd) == [], "a second run transfers no asset"
    assert check_mirror(dest) == []
    index = read_index(dest / INDEX)
    assert set(index["models"]) == set(NAMES)
    card = load_card(dest / "cards" / "alpha_050.md")
    assert card.assets[0].link.startswith("../assets/alpha_050-") and len(card.assets[0].sha256) == 64
    assert sorted(p.name for p in dest.rglob(".*")) == [".mirror-verified.json", ".mirror.lock"], (
        "no temporary file or journal left"
    )

    # Air-gapped: the source is gone, the cache is empty, the network is off.
    monkeypatch.setenv("GHOSTHUB_HUB", str(dest))
    monkeypatch.setenv("GHOSTHUB_OFFLINE", "1")
    monkeypatch.setenv("GHOSTHUB_CACHE", str(tmp_path / "airgap-cache"))
    assert set(NAMES) <= set(ghosthub.list_models())
    for name in NAMES:
        net = ghosthub.load(name)
        np.testing.assert_array_equal(net(ms.Tensor(source["x"])).asnumpy(), source["logits"][name])
        del net
    gc.collect()
    monkeypatch.delenv("GHOSTHUB_OFFLINE")
    monkeypatch.delenv("GHOSTHUB_HUB")

    # A static server serves the mirror as a hub.
    with serve(dest) as mirror_server:
        path = Client(hub=mirror_server.url, cache_dir=tmp_path / "c3").download("beta_050")
    assert path.read_bytes() == (dest / index["models"]["beta_050"]["assets"][0]["path"]).read_bytes()


def test_check_finds_a_corrupt_asset_and_a_rerun_repairs_it(source, tmp_path, capsys):
    dest = tmp_path / "mirror"
    Client(cache_dir=tmp_path / "c").mirror(NAMES, dest, hub=str(source["root"]))
    asset = next((dest / "assets").glob("alpha_050-*"))
    data = bytearray(asset.read_bytes())
    data[len(data) // 2] ^= 0xFF
    asset.write_bytes(bytes(data))
    problems = check_mirror(dest)
    assert len(problems) == 1 and "alpha_050" in problems[0] and "corrupt" in problems[0]
    assert main(["mirror", "--check", str(dest), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and "corrupt" in report["problems"][0]
    items = Client(cache_dir=tmp_path / "c").mirror(NAMES, dest, hub=str(source["root"]))
    assert [(i.name, i.state, len(i.fetched)) for i in items] == [
        ("alpha_050", "updated", 1),
        ("beta_050", "unchanged", 0),
    ]
    assert check_mirror(dest) == []
    assert main(["mirror", "--check", str(dest)]) == 0


def test_check_finds_a_broken_link(source, tmp_path):
    dest = tmp_path / "mirror"
    Client(cache_dir=tmp_path / "c").mirror(["beta_050"], dest, hub=str(source["root"]))
    card = dest / "cards" / "beta_050.md"
    card.write_text(card.read_text().replace("../assets/", "../elsewhere/"))
    problems = check_mirror(dest)
    assert any("does not match the SHA-256" in p for p in problems)
    assert any("does not point at an asset of this mirror" in p for p in problems)


def test_dry_run_base_url_and_a_changed_card(source, tmp_path, capsys):
    dest = tmp_path / "mirror"
    src = tmp_path / "src"
    import shutil

    shutil.copytree(source["root"], src)
    code = main(
        [
            "mirror",
            "alpha_050",
            "--to",
            str(dest),
            "--hub",
            str(src),
            "--dry-run",
            "--json",
            "--cache-dir",
            str(tmp_path / "c"),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["models"][0]["state"] == "new" and report["models"][0]["fetched"] == [
        "assets/" + next(p.name for p in (src / "assets").glob("alpha_050-*"))
    ]
    assert not dest.exists(), "a dry run changes nothing"

    url = "https://models.example.lan/hub"
    assert (
        main(
            [
                "mirror",
                "alpha_050",
                "--to",
                str(dest),
                "--hub",
                str(src),
                "--base-url",
                url,
                "--cache-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert load_card(dest / "cards" / "alpha_050.md").assets[0].link.startswith(url + "/assets/alpha_050-")
    assert check_mirror(dest) == []

    card = src / "cards" / "alpha_050.md"
    card.write_text(card.read_text() + "\nA note added upstream.\n")
    items = Client(cache_dir=tmp_path / "c").mirror("alpha_050", dest, hub=str(src), base_url=url)
    assert (items[0].state, items[0].fetched) == ("updated", [])
    assert "A note added upstream." in (dest / "cards" / "alpha_050.md").read_text()
    assert check_mirror(dest) == []


def test_no_match_is_a_clear_error(source, tmp_path):
    from ghosthub.errors import HubError

    with pytest.raises(HubError, match="no model matches"):
        Client(cache_dir=tmp_path / "c").mirror("nothing_*", tmp_path / "m", hub=str(source["root"]))


def test_a_killed_runs_leftovers_are_removed_and_one_writer_at_a_time(source, tmp_path):
    from ghosthub._utils.lock import FileLock
    from ghosthub.errors import HubError
    from ghosthub.hub.mirror import LOCK

    dest = tmp_path / "mirror"
    (dest / "assets").mkdir(parents=True)
    leftover = dest / "assets" / ".alpha_050-1234.ckpt.abcd1234.tmp"  # a copy a killed run left
    leftover.write_bytes(b"half a copy")
    with FileLock(dest / LOCK), pytest.raises(HubError, match="another `ghosthub mirror`"):
        Client(cache_dir=tmp_path / "c").mirror("alpha_050", dest, hub=str(source["root"]))
    assert leftover.exists(), "a running writer's files are left alone"
    items = Client(cache_dir=tmp_path / "c").mirror("alpha_050", dest, hub=str(source["root"]))
    assert items[0].state == "new" and not leftover.exists()
    assert check_mirror(dest) == []


def test_prune_follows_a_hub_that_replaced_one_model_and_dropped_another(source, tmp_path, capsys):
    """Upstream re-publishes alpha_050 with new weights and removes beta_050: the mirror follows with
    --prune (dry run first), keeps no superseded asset, and stays sound for `mirror --check`."""
    import shutil

    from ghosthub.hub.index import index_bytes

    src, dest, cache = tmp_path / "src", tmp_path / "mirror", str(tmp_path / "c")
    shutil.copytree(source["root"], src)
    assert main(["mirror", "*_050", "--to", str(dest), "--hub", str(src), "--cache-dir", cache]) == 0
    old_alpha = next((dest / "assets").glob("alpha_050-*")).name
    beta_files = sorted(p.relative_to(dest) for p in dest.rglob("beta_050*"))
    assert len(beta_files) == 3  # its card, its asset and its page

    ms.set_seed(7)
    net = create_model("ghostnet", 0.5, num_classes=3)
    ckpt = tmp_path / "alpha_v2.ckpt"
    ms.save_checkpoint(net, str(ckpt))
    del net
    publish(ckpt, name="alpha_050", hub=src, width=0.5, dataset="toy", force=True)
    index = read_index(src / INDEX)
    beta = index["models"].pop("beta_050")
    (src / INDEX).write_bytes(index_bytes(index))
    for rel in [beta["card"], *(a["path"] for a in beta["assets"])]:
        (src / rel).unlink()
    capsys.readouterr()

    # A pattern that does not match beta_050 leaves it alone, prune or not.
    items = Client(cache_dir=cache).mirror("alpha_*", dest, hub=str(src), prune=True, dry_run=True)
    assert [(i.name, i.state, i.removed) for i in items] == [("alpha_050", "updated", [f"assets/{old_alpha}"])]
    assert (dest / "assets" / old_alpha).exists(), "a dry run changes nothing"

    assert (
        main(["mirror", "*_050", "--to", str(dest), "--hub", str(src), "--prune", "--dry-run", "--cache-dir", cache])
        == 0
    )
    out = capsys.readouterr().out
    assert "beta_050" in out and "would remove its card and 1 asset(s)" in out
    assert sorted(p.relative_to(dest) for p in dest.rglob("beta_050*")) == beta_files

    assert (
        main(["mirror", "*_050", "--to", str(dest), "--hub", str(src), "--prune", "--json", "--cache-dir", cache]) == 0
    )
    report = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert report["alpha_050"]["state"] == "updated" and report["alpha_050"]["removed"] == [f"assets/{old_alpha}"]
    assert report["beta_050"]["state"] == "removed"
    assert not list(dest.rglob("beta_050*")) and not (dest / "assets" / old_alpha).exists()
    assert set(read_index(dest / INDEX)["models"]) == {"alpha_050"}
    assert check_mirror(dest) == [], "no superseded or orphaned file is left"
    assert sorted(p.name for p in dest.rglob(".*")) == [".mirror-verified.json", ".mirror.lock"]


def test_prune_needs_the_hub_it_follows(source, tmp_path, capsys):
    from ghosthub.errors import HubError

    with pytest.raises(HubError, match="prune needs the one hub"):
        Client(cache_dir=tmp_path / "c").mirror("*_050", tmp_path / "m", prune=True)
    assert main(["mirror", "*_050", "--to", str(tmp_path / "m"), "--prune"]) == 2
    assert "--hub" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_plain_static_server_serves_the_mirror(source, tmp_path):
    """No ghosthub on the serving side: Python's own static file server (no ranges, no index pages
    of ours), as nginx or any web server would, serves the mirror folder as a hub."""
    import functools
    import http.server
    import threading

    dest = tmp_path / "mirror"
    Client(cache_dir=tmp_path / "c").mirror(NAMES, dest, hub=str(source["root"]))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(dest)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        client = Client(hub=f"http://127.0.0.1:{httpd.server_address[1]}/", cache_dir=tmp_path / "fresh")
        assert set(NAMES) <= set(client.list_models())
        path = client.download("alpha_050")
        assert path.read_bytes() == next((dest / "assets").glob("alpha_050-*")).read_bytes()
        net = client.load("beta_050")
        np.testing.assert_array_equal(net(ms.Tensor(source["x"])).asnumpy(), source["logits"]["beta_050"])
        del net
    finally:
        httpd.shutdown()
        httpd.server_close()
    gc.collect()


def test_a_second_sync_reads_no_asset_its_records_vouch_for(source, tmp_path, monkeypatch):
    """At scale a nightly sync must not read every byte it holds: an asset hashed by an earlier run and
    unchanged since (size, mtime, ctime, inode) is trusted; one whose stat moved is read again."""
    import os

    from ghosthub.hub import mirror as mirror_module

    dest, cache = tmp_path / "mirror", tmp_path / "c"
    Client(cache_dir=cache).mirror(NAMES, dest, hub=str(source["root"]))
    cache = tmp_path / "another-cache"  # a sync in a fresh container: the records are the mirror's own
    hashed = []
    real = mirror_module.file_hash
    monkeypatch.setattr(mirror_module, "file_hash", lambda path: hashed.append(Path(path).name) or real(path))
    items = Client(cache_dir=cache).mirror(NAMES, dest, hub=str(source["root"]))
    assert [(i.state, i.fetched, len(i.kept)) for i in items] == [("unchanged", [], 1)] * 2
    assert hashed == [], "no asset read again"

    touched = next((dest / "assets").glob("beta_050-*"))
    os.utime(touched)  # same bytes, another mtime: the record no longer vouches
    items = Client(cache_dir=cache).mirror(NAMES, dest, hub=str(source["root"]))
    assert hashed == [touched.name] and [i.state for i in items] == ["unchanged"] * 2


def test_check_drops_the_record_of_silent_corruption_and_the_next_sync_repairs_it(source, tmp_path):
    """Bit rot leaves the stat as it was: the sync's records cannot see it, `mirror --check` (which reads
    everything) can, and drops the record, so the next sync fetches the asset again."""
    from ghosthub.hub.verified import VerifiedFiles

    dest, cache = tmp_path / "mirror", tmp_path / "c"
    Client(cache_dir=cache).mirror(NAMES, dest, hub=str(source["root"]))
    asset = next((dest / "assets").glob("alpha_050-*"))
    rel = f"assets/{asset.name}"
    with open(asset, "r+b") as f:  # flip one byte in place: same size
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    records = VerifiedFiles(dest)
    records.note(rel, records.files[rel]["sha256"])  # as if the stat had not moved
    records.save()
    items = Client(cache_dir=cache).mirror("alpha_050", dest, hub=str(source["root"]))
    assert items[0].state == "unchanged", "the records vouch for it: the sync cannot tell"
    assert main(["mirror", "--check", str(dest)]) == 1
    assert rel not in VerifiedFiles(dest).files
    items = Client(cache_dir=cache).mirror("alpha_050", dest, hub=str(source["root"]))
    assert (items[0].state, items[0].fetched) == ("updated", [rel])
    assert check_mirror(dest) == []


def _with_index_size(root: Path, name: str, change: int) -> None:
    """Make a hub folder's index.json declare ``change`` bytes more for ``name``'s asset than the file has."""
    index = json.loads((root / INDEX).read_text())
    index["models"][name]["assets"][0]["size"] += change
    (root / INDEX).write_text(json.dumps(index))


@pytest.mark.parametrize("cached_first", [False, True])
def test_mirror_refuses_an_asset_of_another_size_than_the_index_declares(source, tmp_path, cached_first):
    import shutil

    from ghosthub.errors import DownloadError, HubError

    hub = tmp_path / "hub"
    shutil.copytree(source["root"], hub)
    dest = tmp_path / "mirror"
    client = Client(cache_dir=tmp_path / "cache")
    with serve(hub) as server:
        if cached_first:  # the asset verified into the cache while the index was right: a cache hit later
            Client(hub=server.url, cache_dir=tmp_path / "cache").download("alpha_050")
        _with_index_size(hub, "alpha_050", +1)
        with pytest.raises((DownloadError, HubError)) as info:
            client.mirror("alpha_050", dest, hub=server.url)
    size = (hub / read_index(hub / INDEX)["models"]["alpha_050"]["assets"][0]["path"]).stat().st_size
    assert str(size) in str(info.value) and str(size + 1) in str(info.value), "both sizes are named"
    assert not dest.exists(), "a failed first run leaves no skeleton of a hub"


def test_a_failed_mirror_into_a_folder_the_user_made_keeps_only_that_folder(source, tmp_path):
    import shutil

    from ghosthub.errors import DownloadError

    hub, dest = tmp_path / "hub", tmp_path / "mine"
    shutil.copytree(source["root"], hub)
    _with_index_size(hub, "alpha_050", -1)  # the download fails once the mirror's folders are made
    dest.mkdir()
    with serve(hub) as server, pytest.raises(DownloadError, match="but the card declares"):
        Client(cache_dir=tmp_path / "c").mirror("alpha_050", dest, hub=server.url)
    # The folder and the lock file that names the folder's writer stay; the cards/ and assets/ the run made go.
    assert dest.is_dir() and [p.name for p in dest.iterdir()] == [".mirror.lock"]


def test_fsck_and_check_agree_that_a_skeleton_is_no_hub(tmp_path, capsys):
    from ghosthub.hub.fsck import fsck

    skeleton = tmp_path / "skeleton"
    (skeleton / "cards").mkdir(parents=True)
    (skeleton / "assets").mkdir()
    problems = check_mirror(skeleton)
    report = fsck(skeleton)
    assert problems == [f"{skeleton / INDEX}: missing: an unfinished hub folder (a first publish or mirror that "
                        "did not finish); publish or mirror into it again, or remove it"]  # fmt: skip
    assert not report.ok and report.problems == problems and report.pages == ()
    assert main(["fsck", str(skeleton)]) == 1 and main(["mirror", "--check", str(skeleton)]) == 1
    assert not (skeleton / "index.html").exists(), "fsck writes no pages for what is no hub"


def test_check_calls_a_mirror_whose_card_and_index_disagree_on_a_size_unsound(source, tmp_path):
    import hashlib

    dest = tmp_path / "mirror"
    with serve(source["root"]) as server:
        Client(cache_dir=tmp_path / "c").mirror("alpha_050", dest, hub=server.url)
    assert check_mirror(dest) == []
    card_path = dest / "cards" / "alpha_050.md"
    size = read_index(dest / INDEX)["models"]["alpha_050"]["assets"][0]["size"]
    text = card_path.read_text()
    assert f"asset-size: '{size}'" in text or f"asset-size: {size}" in text, "the mirror's card declares the size"
    card_path.write_text(text.replace(str(size), str(size + 7)))
    index = json.loads((dest / INDEX).read_text())
    index["models"]["alpha_050"]["card-sha256"] = hashlib.sha256(card_path.read_bytes()).hexdigest()
    (dest / INDEX).write_text(json.dumps(index))
    problems = check_mirror(dest)
    assert len(problems) == 1 and f"the card declares {size + 7} bytes" in problems[0] and f"says {size}" in problems[0]

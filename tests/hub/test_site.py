"""Pages written with the index: every writer keeps them, in the same commit, only what changed, never apart from
the index beside them (a failed or killed commit rolls them back too)."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from ghosthub.hub.fsck import fsck
from ghosthub.hub.index import INDEX, PAGE_FIELDS, index_bytes, read_index
from ghosthub.hub.transaction import Transaction
from ghosthub.pages import page_key, read_page_key
from tests.support.pages import Page, assert_inert
from tests.support.paths import REPO
from tests.support.publishing import published_hub, tree

pytest.importorskip("mindspore")  # the hubs hold real published checkpoints

HISTORY = [
    {"epoch": 1, "train_loss": 1.9, "val_loss": 1.5, "val_top1": 40.0, "val_top5": 90.0, "lr": 0.05},
    {"epoch": 2, "train_loss": 1.2, "val_loss": 1.1, "val_top1": 66.7, "val_top5": 100.0, "lr": 0.01},
]


def publish_one(hub: Path, name: str, seed: int, **kwargs):
    import mindspore as ms

    from ghosthub.architectures import create_model
    from ghosthub.tasks.publish import publish

    ms.set_seed(seed)
    net = create_model("ghostnet", 0.5, num_classes=3)
    ckpt = hub.parent / f"{name}-{seed}.ckpt"
    ms.save_checkpoint(net, str(ckpt))
    del net
    gc.collect()
    kwargs.setdefault("provenance", None)
    return publish(ckpt, name=name, hub=hub, width=0.5, dataset="toy", **kwargs)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """alpha_050 and beta_050, and gamma_050 fine-tuned from alpha_050 with a recorded history."""
    root = tmp_path_factory.mktemp("built") / "hub"
    published_hub(root)
    record = {"seed": 7, "epochs": 2, "best_epoch": 2, "history": HISTORY, "base_model": "alpha_050"}
    publish_one(root, "gamma_050", 3, provenance=record)
    return root


@pytest.fixture
def hub(built, tmp_path):
    root = tmp_path / "hub"
    shutil.copytree(built, root)
    return root


def pages_of(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree(root).items() if k == "index.html" or k.startswith("models/")}


def assert_pages_match_the_index(root: Path) -> None:
    """The HTML-parse check of a hub's pages: one row and one page per model, every link resolves, inert."""
    models = read_index(root / INDEX)["models"]
    index = assert_inert((root / "index.html").read_bytes())
    assert [r["data-name"] for r in index.all("tr") if r.get("data-name")] == sorted(models)
    assert sorted(p.name for p in (root / "models").iterdir()) == sorted(f"{n}.html" for n in models)
    for path in [root / "index.html", *(root / "models").iterdir()]:
        page = assert_inert(path.read_bytes())
        for href in page.links() + [i["src"] for i in page.all("img")]:
            parts = urlsplit(href)
            if parts.scheme or not parts.path:  # another site, or an anchor of this page
                continue
            target = (path.parent / unquote(parts.path)).resolve()
            assert target.is_relative_to(root.resolve()) and target.is_file(), f"{path.name}: {href} leads nowhere"
        if path.parent.name == "models":
            assert read_page_key(path.read_bytes()) == page_key(models, path.stem), f"{path.name} is stale"


def test_publish_writes_pages_that_match_the_index_and_draw_the_training_curves(built):
    assert_pages_match_the_index(built)
    gamma = Page((built / "models" / "gamma_050.html").read_bytes())
    assert "alpha_050.html" in gamma.links()  # its base model, a link in this hub
    assert len(gamma.all("svg")) == 2 and len(gamma.all("polyline")) == 4
    index = Page((built / "index.html").read_bytes())
    assert "1.3 M" in index.plain and index.links().count("models/alpha_050.html") == 2  # its row, gamma's base
    entry = json.loads((built / INDEX).read_text())["models"]["gamma_050"]
    assert entry["base-model"] == "alpha_050" and entry["parameters"] > 1_000_000 and "update-time" in entry


def test_one_publish_rewrites_only_the_pages_that_change(hub):
    def stats():
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (hub / "models").iterdir()}

    before, index_before = stats(), (hub / "index.html").read_bytes()
    publish_one(hub, "delta_050", 4)
    after = stats()
    assert {n: s for n, s in after.items() if n != "delta_050.html"} == before, "untouched pages were rewritten"
    assert (hub / "index.html").read_bytes() != index_before and "delta_050.html" in after
    # New weights for alpha_050: its page changes; gamma_050 (fine-tuned from it) still links to it, unchanged.
    publish_one(hub, "alpha_050", 5, force=True)
    again = stats()
    assert [n for n in again if again[n] != after[n]] == ["alpha_050.html"]
    assert_pages_match_the_index(hub)


def test_the_pages_are_the_same_bytes_when_rendered_again_from_the_hub(hub):
    written = pages_of(hub)
    shutil.rmtree(hub / "models")
    (hub / "index.html").unlink()
    report = fsck(hub)
    assert sorted(report.pages) == sorted(written) and report.ok
    assert pages_of(hub) == written


def test_fsck_gives_pages_to_a_hub_published_before_pages(hub, capsys):
    from ghosthub.cli import main

    index = read_index(hub / INDEX)
    for entry in index["models"].values():
        for field in PAGE_FIELDS:
            entry.pop(field, None)
    (hub / INDEX).write_bytes(index_bytes(index))
    shutil.rmtree(hub / "models")
    (hub / "index.html").unlink()
    old = tree(hub)

    assert main(["fsck", str(hub), "--dry-run"]) == 0
    assert "would write 4 page(s)" in capsys.readouterr().out and tree(hub) == old, "a dry run changes nothing"
    assert main(["fsck", str(hub)]) == 0
    assert "wrote 4 page(s)" in capsys.readouterr().out
    assert_pages_match_the_index(hub)
    completed = read_index(hub / INDEX)["models"]
    assert completed["gamma_050"]["base-model"] == "alpha_050" and "update-time" in completed["alpha_050"]
    assert Page((hub / "index.html").read_bytes()).links().count("models/alpha_050.html") == 2
    assert main(["fsck", str(hub)]) == 0 and "clean" in capsys.readouterr().out


def test_a_failed_commit_leaves_the_pages_of_the_old_index(hub, monkeypatch):
    before = tree(hub)
    real_replace = os.replace

    def fail_on_index(src, dst, **kw):
        if str(dst).endswith(INDEX) and str(src).endswith(".tmp"):  # the commit's, not the roll-back's
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "replace", fail_on_index)
    with pytest.raises(OSError):
        publish_one(hub, "delta_050", 4)
    monkeypatch.undo()
    assert tree(hub) == before and not (hub / "models" / "delta_050.html").exists()


# Replaces files as publish asks and dies like a killed process right after index.html is in place:
# the new pages are there, index.json is not updated.
KILLED_AFTER_THE_PAGES = textwrap.dedent(
    """
    import os, signal, sys
    import mindspore as ms
    from ghosthub.architectures import create_model
    real_replace = os.replace

    def replace_then_die(src, dst, **kw):
        real_replace(src, dst, **kw)
        if str(dst).endswith("index.html"):
            os.kill(os.getpid(), signal.SIGKILL)

    ms.set_seed(4)
    ms.save_checkpoint(create_model("ghostnet", 0.5, num_classes=3), sys.argv[1])
    os.replace = replace_then_die
    from ghosthub.tasks.publish import publish
    publish(sys.argv[1], name="delta_050", hub=sys.argv[2], width=0.5, provenance=None)
    """
)


def test_a_publish_killed_after_its_pages_is_rolled_back_pages_and_all(hub, tmp_path):
    before = tree(hub)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "GLOG_v": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_THE_PAGES, str(tmp_path / "delta.ckpt"), str(hub)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (hub / "models" / "delta_050.html").exists(), "the kill must land after the pages were replaced"
    assert "delta_050" not in read_index(hub / INDEX)["models"]

    report = fsck(hub)
    assert report.recovered and report.pages == ()
    assert tree(hub) == before
    assert_pages_match_the_index(hub)


def test_a_removal_in_a_failed_commit_is_restored(tmp_path, monkeypatch):
    root = tmp_path / "hub"
    (root / "models").mkdir(parents=True)
    page = root / "models" / "a.html"
    page.write_bytes(b"page")
    (root / INDEX).write_bytes(b"old")
    txn = Transaction(root)
    txn.remove(page)
    txn.stage(root / INDEX, b"new")
    real_replace = os.replace

    def fail_on_index(src, dst, **kw):
        if str(dst).endswith(INDEX) and str(src).endswith(".tmp"):  # the commit's, not the roll-back's
            raise OSError(5, "Input/output error")
        return real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "replace", fail_on_index)
    with pytest.raises(OSError):
        txn.commit()
    txn.discard()
    assert page.read_bytes() == b"page" and (root / INDEX).read_bytes() == b"old"
    assert sorted(p.name for p in root.rglob("*")) == ["a.html", "index.json", "models"]  # no backup, no journal


def test_mirror_writes_pages_and_prune_takes_a_models_page_out_with_its_entry(hub, tmp_path):
    from ghosthub import Client

    dest, cache = tmp_path / "mirror", tmp_path / "cache"
    Client(cache_dir=cache).mirror("*_050", dest, hub=str(hub))
    assert_pages_match_the_index(dest)
    index = read_index(hub / INDEX)
    beta = index["models"].pop("beta_050")
    (hub / INDEX).write_bytes(index_bytes(index))
    for rel in [beta["card"], *(a["path"] for a in beta["assets"])]:
        (hub / rel).unlink()
    Client(cache_dir=cache).mirror("*_050", dest, hub=str(hub), prune=True)
    assert not (dest / "models" / "beta_050.html").exists() and "beta_050" not in (dest / "index.html").read_text()
    assert_pages_match_the_index(dest)

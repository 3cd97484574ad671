"""A shared cache cannot be turned against its user: planted links, and edits that keep size and mtime.

A download never writes through a link, a lock never creates a
file through one, ``cache rm`` reports only what it removed, and a cache hit is keyed on
size, mtime, ctime and inode, with small files hashed on every load.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ghosthub import config
from ghosthub.download import layout, parts
from ghosthub.download.cache import Cache
from ghosthub.errors import ConfigError, FetchWarning, LinkError
from tests.support.fetching import Served, assert_cache_sound, fetch, sha256

DATA = os.urandom(200_000)
PATH = "/weights/tiny.ckpt"


@pytest.fixture
def served():
    return Served(PATH, DATA)


def target_of(card, settings) -> Path:
    path = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def dead_part(target: Path) -> Path:
    """The name a killed process's partial download has (pid 999999 is not running)."""
    return target.with_name(f".{target.name}.{parts._host()}-999999-0badc0de.part")


# --------------------------------------------------------------------------- links in the cache


def test_a_planted_part_link_is_never_written_through(card, settings, server, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious data outside the cache")
    target = target_of(card, settings)
    part = dead_part(target)
    os.symlink(victim, part)
    parts.part_meta(part).write_text(f'{{"url": "{server.url(PATH)}", "total": {len(DATA)}}}')
    path = fetch(card, settings)
    assert victim.read_bytes() == b"precious data outside the cache", "the link's target was overwritten"
    assert not path.is_symlink() and path.read_bytes() == DATA, "the cached asset is a regular file"
    assert os.path.islink(part), "the planted link is left alone (cache prune removes it), never followed"
    part.unlink()
    parts.part_meta(part).unlink(missing_ok=True)
    assert_cache_sound(settings.cache_dir)


def test_a_planted_asset_link_is_never_served(card, settings, server, tmp_path):
    outside = tmp_path / "outside.ckpt"
    outside.write_bytes(DATA)  # even the right bytes: the cache holds files, not links to elsewhere
    target = target_of(card, settings)
    os.symlink(outside, target)
    assert layout.is_vouched(target, sha256(DATA)) is None, "a link is never vouched for"
    with pytest.raises(LinkError, match="outside the cache"):
        fetch(card, settings)
    assert outside.read_bytes() == DATA and not server.seen


def test_a_dangling_lock_link_creates_nothing_outside(card, settings, server, tmp_path):
    outside = tmp_path / "created-by-ghosthub"
    target = target_of(card, settings)
    os.symlink(outside, layout.lock_path(target))
    with pytest.warns(FetchWarning, match="cannot lock"):
        path = fetch(card, settings)
    assert path.read_bytes() == DATA
    assert not os.path.lexists(outside), "the lock was created through a dangling link"


def test_cache_rm_on_a_linked_model_folder_removes_the_link_only(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "ae7771cb"
    elsewhere.mkdir(parents=True)
    (elsewhere / "w.ckpt").write_bytes(b"not the cache's")
    root = tmp_path / "cache"
    (root / "assets").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere", root / "assets" / "tiny")
    removed = Cache(config.settings(cache_dir=root)).rm("tiny")
    assert removed == [root / "assets" / "tiny"], "only the link went, and only it is reported"
    assert (elsewhere / "w.ckpt").read_bytes() == b"not the cache's"
    assert not os.path.lexists(root / "assets" / "tiny")


def test_cache_rm_reports_only_what_it_removed(tmp_path):
    folder = tmp_path / "assets" / "tiny" / "ae7771cb"
    folder.mkdir(parents=True)
    (folder / "w.ckpt").write_bytes(b"w")
    (folder / ".w.ckpt.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    os.symlink(outside, folder / "sub")
    removed = Cache(config.settings(cache_dir=tmp_path)).rm("tiny")
    assert sorted(p.name for p in removed) == [".w.ckpt.json", "sub", "w.ckpt"]
    assert (outside / "keep.txt").read_text() == "keep"


# --------------------------------------------------------------------------- what a cache hit trusts


def flip_keeping_size_and_mtime(path: Path) -> None:
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_one_bit_change_with_size_and_mtime_restored_is_not_vouched_for(card, settings, server):
    path = fetch(card, settings)
    assert Cache(settings).vouched(card) == path
    flip_keeping_size_and_mtime(path)
    assert layout.is_vouched(path, sha256(DATA)) is False, "the ctime changed: the record no longer vouches"
    assert Cache(settings).vouched(card) is None, "list's CACHED column does not show it"
    with pytest.warns(FetchWarning, match="corrupt"):
        assert fetch(card, settings.replace(rehash_below=0)).read_bytes() == DATA
    assert len(server.seen) == 2
    assert_cache_sound(settings.cache_dir)


def test_a_replaced_file_is_not_vouched_for(card, settings, server, tmp_path):
    path = fetch(card, settings)
    stat = path.stat()
    copy = tmp_path / "copy"
    copy.write_bytes(DATA)
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(copy, path)  # same bytes, size and mtime: another inode
    assert layout.is_vouched(path, sha256(DATA)) is False


def test_small_files_are_hashed_on_every_load(card, settings, server, monkeypatch):
    path = fetch(card, settings)
    hashed = []
    real = layout.file_hash
    monkeypatch.setattr(layout, "file_hash", lambda p, **kw: hashed.append(p) or real(p, **kw))
    record = layout.read_record(path)
    assert fetch(card, settings) == path and hashed == [path], "below rehash_below a hit is hashed"
    assert layout.read_record(path) == record, "a hit that matched rewrites nothing"
    assert fetch(card, settings.replace(rehash_below=len(DATA))) == path and len(hashed) == 1, "at or above: stat only"
    assert Cache(settings).vouched(card) == path and len(hashed) == 1, "list never hashes"
    assert len(server.seen) == 1


def test_an_undetectable_edit_is_caught_by_the_load_time_hash(card, settings, server):
    # Even a change the stat check cannot see (the record rewritten to match) is caught below the limit.
    path = fetch(card, settings)
    flip_keeping_size_and_mtime(path)
    record = layout.read_record(path)
    record.pop("version")
    record.update(layout.stat_fields(os.lstat(path)))
    layout.write_record(path, record)
    assert layout.is_vouched(path, sha256(DATA)) is True
    with pytest.warns(FetchWarning, match="corrupt"):
        assert fetch(card, settings).read_bytes() == DATA


def test_rehash_below_setting(monkeypatch):
    assert config.settings(env={}).rehash_below == 256 << 20
    assert config.settings(env={"GHOSTHUB_REHASH_BELOW": "1G"}).rehash_below == 1 << 30
    assert config.settings(env={"GHOSTHUB_REHASH_BELOW": "0"}).rehash_below == 0
    with pytest.raises(ConfigError, match="GHOSTHUB_REHASH_BELOW"):
        config.settings(env={"GHOSTHUB_REHASH_BELOW": "lots"})

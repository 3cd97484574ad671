"""Durability of the cache, seen through the system calls: what is synced, what is renamed, in which order.

A crash can only be simulated so far; what a test can see is the order of the calls
that make a write survive one. Each test wraps ``os.fsync`` and ``os.replace`` (the
module objects ghosthub calls through) and checks the promise on the recorded trace:

- the part file is flushed to disk before it is renamed into place;
- the record is in place, and vouches for the file, before the file becomes visible;
- the record itself is written atomically: a synced temporary file renamed onto it;
- the asset's folder is synced after the rename, so the rename survives a crash.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from ghosthub.download import layout
from tests.support.fetching import Served, assert_cache_sound, fetch, sha256

pytestmark = pytest.mark.timeout(60)

DATA = os.urandom(50_000)
PATH = "/weights/durable.ckpt"
ASSET = "durable.ckpt"


@pytest.fixture
def served():
    return Served(PATH, DATA, name="durable")


class Trace:
    """Every fsync (by inode, file or folder) and every replace (source inode, destination), in order."""

    def __init__(self, monkeypatch):
        self.events: list[tuple] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            st = os.fstat(fd)
            self.events.append(("fsync", st.st_ino, stat.S_ISDIR(st.st_mode)))
            return real_fsync(fd)

        def replace(src, dst, **kw):
            ino = os.stat(src).st_ino
            real_replace(src, dst, **kw)
            # Whether the file is vouched for the moment it becomes visible (for the asset only).
            vouched = layout.is_vouched(Path(dst), sha256(DATA)) if Path(dst).name == ASSET else None
            self.events.append(("replace", ino, Path(dst), vouched))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        # fdatasync during the transfer is a speed-up, not the promise; keep it out of the trace.
        monkeypatch.delattr(os, "fdatasync", raising=False)

    def index(self, kind: str, match) -> list[int]:
        return [i for i, e in enumerate(self.events) if e[0] == kind and match(e)]


def test_the_part_file_is_synced_before_it_is_renamed_into_place(card, settings, server, monkeypatch):
    trace = Trace(monkeypatch)
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    asset_ino = path.stat().st_ino  # a rename keeps the inode: the part file's
    renames = trace.index("replace", lambda e: e[2] == path)
    assert len(renames) == 1, trace.events
    syncs = trace.index("fsync", lambda e: e[1] == asset_ino and not e[2])
    assert syncs and syncs[0] < renames[0], f"the part file was not synced before the rename: {trace.events}"
    assert_cache_sound(settings.cache_dir)


def test_a_visible_file_is_vouched_for_only_by_a_record_of_it(card, settings, server, monkeypatch):
    """The record describes the file as it is once renamed (ctime, inode): nothing vouches for it before.

    A crash between the rename and the record leaves a file that is re-hashed, never trusted;
    a record written before the rename would describe another ctime and never vouch at all.
    """
    trace = Trace(monkeypatch)
    path = fetch(card, settings)
    asset_rename = trace.index("replace", lambda e: e[2] == path)
    record_rename = trace.index("replace", lambda e: e[2] == layout.record_path(path))
    assert len(asset_rename) == 1 and record_rename, trace.events
    assert trace.events[asset_rename[0]][3] is False, "the moment it appears, the file is not yet vouched for"
    assert layout.is_vouched(path, sha256(DATA)) is True, "after the fetch, its record vouches for it"
    assert len(server.seen) == 1 and fetch(card, settings) == path and len(server.seen) == 1


def test_the_record_is_written_atomically(card, settings, server, monkeypatch):
    """The record appears by renaming a synced temporary file onto it, never by writing it in place."""
    trace = Trace(monkeypatch)
    path = fetch(card, settings)
    record = layout.record_path(path)
    record_ino = record.stat().st_ino
    renames = trace.index("replace", lambda e: e[2] == record)
    assert renames and trace.events[renames[-1]][1] == record_ino, (
        f"the record was not renamed into place: {trace.events}"
    )
    syncs = trace.index("fsync", lambda e: e[1] == record_ino and not e[2])
    assert syncs and syncs[0] < renames[-1], f"the record was not synced before its rename: {trace.events}"
    folder_syncs = trace.index("fsync", lambda e: e[1] == path.parent.stat().st_ino and e[2])
    assert any(i > renames[-1] for i in folder_syncs), f"the record's rename was not made durable: {trace.events}"
    # A re-hash rewrites the record (a touched file): the same promise holds there.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    trace.events.clear()
    assert fetch(card, settings) == path and len(server.seen) == 1
    renames = trace.index("replace", lambda e: e[2] == record)
    assert renames and trace.events[renames[-1]][1] == record.stat().st_ino != record_ino, trace.events
    assert not trace.index("replace", lambda e: e[2] == path), "a re-hash renames nothing but the record"
    folder_syncs = trace.index("fsync", lambda e: e[1] == path.parent.stat().st_ino and e[2])
    assert any(i > renames[-1] for i in folder_syncs), (
        f"the rewritten record's rename was not made durable: {trace.events}"
    )
    assert layout.is_vouched(path, sha256(DATA)) is True


def test_the_rename_is_made_durable_by_syncing_the_folder(card, settings, server, monkeypatch):
    trace = Trace(monkeypatch)
    path = fetch(card, settings)
    folder_ino = path.parent.stat().st_ino
    asset_rename = trace.index("replace", lambda e: e[2] == path)[0]
    after = trace.index("fsync", lambda e: e[1] == folder_ino and e[2])
    assert any(i > asset_rename for i in after), f"the folder was not synced after the rename: {trace.events}"


def test_a_hub_commit_makes_its_renames_durable_before_dropping_the_journal(tmp_path, monkeypatch):
    """Without the journal nothing can roll back: every renamed file's folder is synced before it goes."""
    from ghosthub.hub.transaction import JOURNAL, Transaction

    root = tmp_path / "hub"
    (root / "cards").mkdir(parents=True)
    txn = Transaction(root)
    txn.stage(root / "cards" / "a.md", b"card")
    txn.stage(root / "index.json", b"{}")
    trace = Trace(monkeypatch)
    real_unlink = os.unlink
    monkeypatch.setattr(
        os, "unlink", lambda path, **kw: (trace.events.append(("unlink", Path(path))), real_unlink(path, **kw))[1]
    )
    txn.commit()
    assert (root / "cards" / "a.md").read_bytes() == b"card" and not (root / JOURNAL).exists()
    (gone,) = trace.index("unlink", lambda e: e[1] == root / JOURNAL)
    for final in (root / "cards" / "a.md", root / "index.json"):
        (renamed,) = trace.index("replace", lambda e, final=final: e[2] == final)
        folder_ino = final.parent.stat().st_ino
        assert any(renamed < i < gone for i in trace.index("fsync", lambda e, ino=folder_ino: e[1] == ino and e[2])), (
            f"{final.parent} was not synced between the rename of {final.name} and the journal's removal: "
            f"{trace.events}"
        )


def test_writeback_is_started_as_the_download_goes_and_the_fsync_still_precedes_the_rename(
    card, settings, server, monkeypatch
):
    """Every span of the file has its flush to disk started during the transfer (the final fsync waits
    only for the tail), and the fsync before the rename is still there: starting writeback is a speed-up."""
    from ghosthub._utils import fs
    from ghosthub.download import partfile

    spans = []

    def recording(fd, offset, length):
        spans.append((offset, length))
        return fs.start_writeback(fd, offset, length)

    monkeypatch.setattr(partfile, "start_writeback", recording)
    monkeypatch.setattr(partfile.PartFile, "SYNC_EVERY", 8 << 10)
    trace = Trace(monkeypatch)
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    assert spans and spans[0][0] == 0, spans
    assert all(a + n == b for (a, n), (b, _) in zip(spans, spans[1:])), spans  # contiguous, in order
    assert all(n >= 8 << 10 for _, n in spans) and len(DATA) - sum(n for _, n in spans) < 8 << 10, spans
    syncs = trace.index("fsync", lambda e: e[1] == path.stat().st_ino and not e[2])
    assert syncs and syncs[0] < trace.index("replace", lambda e: e[2] == path)[0]
    assert_cache_sound(settings.cache_dir)


def test_start_writeback_leaves_the_data_as_written(tmp_path):
    from ghosthub._utils.fs import start_writeback

    target = tmp_path / "f"
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, DATA)
        started = start_writeback(fd, 0, len(DATA))
        assert started is sys.platform.startswith("linux")
    finally:
        os.close(fd)
    assert target.read_bytes() == DATA

"""Parallel ranged downloads against the real test server: connections, fallback, retries, resume, the digest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ghosthub.download import parts, ranges
from tests.support.fetching import Served, fast_settings, fetch, sha256, write_card
from tests.support.paths import REPO

DATA = os.urandom(4 << 20)
PATH = "/weights/big-1.ckpt"
PIECE = ranges.plan(len(DATA), 4)[0][2]  # 256 KiB: 16 pieces for 4 connections
pytestmark = pytest.mark.usefixtures("sound_cache")


@pytest.fixture
def served():
    return Served(PATH, DATA, name="big")


@pytest.fixture
def settings():
    return fast_settings(connections=4, parallel_min=1 << 20)


def starts(server) -> list[int]:
    return [int(s.range.removeprefix("bytes=").split("-")[0]) if s.range else 0 for s in server.requests_for(PATH)]


def test_plan_covers_the_file_in_order():
    pieces = ranges.plan(10_000_000, 3)
    assert pieces[0][0] == 0 and pieces[-1][2] == 10_000_000
    assert all(a[2] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert ranges.connections_for(256 << 20, fast_settings()) == 8
    assert ranges.connections_for(1 << 20, fast_settings()) == 1, "a small asset is one stream"
    assert ranges.connections_for(256 << 20, fast_settings(connections=1)) == 1


def test_n_connections_fetch_disjoint_pieces_concurrently(card, settings, server):
    server.rate = 8 << 20  # per connection: four of them must run at once to be quick
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    # Four at once; the server may count a piece's answer a moment after the client has it whole
    # and has asked for the next (one more, two on a loaded machine).
    assert 4 <= server.max_active <= 6
    assert sorted(starts(server)) == [p[0] for p in ranges.plan(len(DATA), 4)], "each piece asked for once"
    assert server.requests_for(PATH)[0].range is None, "the first request is the plain GET"
    assert all(s.headers.get("if-range") for s in server.requests_for(PATH)[1:]), "pieces are tied to one version"
    assert not list(path.parent.glob("*.part*"))


def test_a_small_asset_is_one_stream(tmp_path, settings, server):
    server.add("/small.ckpt", DATA[: 512 << 10])
    card = write_card(tmp_path / "c2", "small", server.url("/small.ckpt"), sha256(DATA[: 512 << 10]))
    assert fetch(card, settings).read_bytes() == DATA[: 512 << 10]
    assert len(server.requests_for("/small.ckpt")) == 1


def test_a_server_that_ignores_ranges_falls_back_to_one_stream(card, settings, server):
    server.always(PATH, "norange")  # 200 and the whole file to every Range request
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    seen = server.requests_for(PATH)
    assert len(seen) <= 4
    # Only the first request asks from the start: it goes on as the one stream. (The server's count of
    # whole files sent is no witness here: an ignored 200 to a piece may fit the socket buffers whole.)
    assert [s.range for s in seen].count(None) == 1, "nothing is fetched from the start again"


def test_a_failing_piece_is_retried_alone(card, settings, server):
    server.rate = 16 << 20
    third = 2 * PIECE
    server.fault_at(PATH, third, "drop")  # half the piece, then a reset
    server.fault_at(PATH, 5 * PIECE, "500")
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    got = starts(server)
    retried = [s for s in got if third < s < third + PIECE]
    assert retried == [third + PIECE // 2], "the dropped piece resumes where it stopped, once"
    assert got.count(5 * PIECE) == 2, "a piece answered 500 is asked again"
    others = [s for s in got if s not in (third, 5 * PIECE) and s not in retried]
    assert len(others) == len(set(others)) == len(ranges.plan(len(DATA), 4)) - 2, "no other piece was fetched twice"


def test_a_piece_that_keeps_failing_fails_the_download_and_leaves_nothing(card, server):
    settings = fast_settings(connections=4, parallel_min=1 << 20, retries=2)
    server.fault_at(PATH, 3 * PIECE, "500", "500", "500")
    with pytest.raises(Exception) as info:
        fetch(card, settings)
    assert "HTTP 500" in str(info.value)
    assert not any(settings.cache_dir.rglob("*.part*")), "the failed download's part and its record are removed"


def test_the_digest_is_final_when_the_last_byte_lands(card, settings, server, monkeypatch):
    server.rate = 8 << 20
    seen = {}
    finish = ranges._PrefixHash.finish

    def spy_write(self, index, data, write=ranges._Job.write):
        try:
            write(self, index, data)
        except ranges._Done:
            if all(p[1] >= p[2] for p in self.pieces):
                seen["at_end"] = self.hash.frontier
            raise

    def spy_finish(self, total):
        digest = finish(self, total)
        seen.update(hashed=self.hashed, read_back=self.read_back)
        return digest

    monkeypatch.setattr(ranges._Job, "write", spy_write)
    monkeypatch.setattr(ranges._PrefixHash, "finish", spy_finish)
    fetch(card, settings)
    assert seen["hashed"] + seen["read_back"] == len(DATA), "every byte hashed exactly once"
    assert seen["hashed"] > 0 and seen["read_back"] < len(DATA)
    # When the last byte lands, the hash has (or has queued) all but the pieces still in flight.
    assert len(DATA) - seen["at_end"] <= 4 * PIECE


def test_every_piece_starts_its_writeback_while_the_download_goes(card, settings, server, monkeypatch):
    """The spans handed to writeback cover the whole file once: the final fsync is left only the tail."""
    from ghosthub._utils import fs

    spans = []

    def recording(fd, offset, length):
        spans.append((offset, offset + length))
        return fs.start_writeback(fd, offset, length)

    monkeypatch.setattr(ranges, "start_writeback", recording)
    monkeypatch.setattr(ranges, "WRITEBACK_EVERY", 64 << 10)
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    covered = sorted(spans)
    assert covered[0][0] == 0 and covered[-1][1] == len(DATA)
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:])), "every byte once, no gap, no overlap"
    assert len(spans) >= len(ranges.plan(len(DATA), 4)), "at least one per piece"


@pytest.mark.parametrize("from_memory", [True, False], ids=["from-memory", "read-back"])
def test_a_fall_back_after_the_hash_passed_other_pieces_still_hashes_every_byte_once(
    tmp_path, monkeypatch, from_memory
):
    """The race behind a flaky "internal error: hashed N of M bytes": piece 1 landed, piece 0 (the first
    answer) completed and the hash took both; then a piece is answered 200 and the first answer must go
    on as the one stream, rewriting piece 1. Its bytes before the hash's frontier are not hashed again,
    whether the hash takes bytes from memory or (lagging) reads them back from the file."""
    import threading
    from types import SimpleNamespace

    from ghosthub.download.partfile import PartFile

    if not from_memory:
        monkeypatch.setattr(ranges, "MAX_QUEUED", 0)

    data = os.urandom(1 << 20)
    part = PartFile(tmp_path / "x.part", 1 << 30, None)
    part.begin(len(data), url="http://127.0.0.1/x", etag='"v1"', last_modified=None)
    transport = SimpleNamespace(settings=fast_settings(read_timeout=5.0))
    job = ranges._Job(
        transport, "http://127.0.0.1/x", "http://127.0.0.1", part, len(data), ranges.plan(len(data), 2), 2
    )
    job.taken[0] = job.streaming = True
    (_, _, end0), (_, _, end1) = job.pieces[0], job.pieces[1]
    with pytest.raises(ranges._Done):
        job.write(1, data[end0:end1])
    outcome = []
    first = threading.Thread(target=lambda: outcome.append(job.write(0, data[:end0])))
    first.start()  # completes piece 0, then waits to hear whether the server serves ranges
    deadline = time.monotonic() + 5
    while job.hash.frontier < end1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.hash.frontier == end1, "the hash passed piece 1"
    job._fall_back()  # another piece answered 200
    first.join(5)
    assert outcome == [None], "the first answer's write returns: it goes on as the one stream"
    assert job.pieces == [[0, end0, len(data)]] and job.streaming
    with pytest.raises(ranges._Done):
        job.write(0, data[end0:])  # the one stream rewrites piece 1, then the rest
    job.finish()
    assert part.digest.hexdigest() == sha256(data)
    assert job.hash.hashed + job.hash.read_back == len(data), "every byte hashed exactly once"
    if from_memory:  # only piece 1, which landed ahead of the frontier, is read back from the file
        assert job.hash.read_back == end1 - end0
    assert (tmp_path / "x.part").read_bytes() == data
    part.discard()


def test_sigkill_mid_download_resumes_every_piece(tmp_path, card, server):
    settings = fast_settings(connections=4, parallel_min=1 << 20)
    server.rate = 1 << 20  # 4 MiB over 4 connections: about a second
    script = textwrap.dedent(
        f"""
        import sys, warnings
        sys.path[:0] = [{str(REPO)!r}]
        warnings.simplefilter("ignore")
        from ghosthub import load_card
        from ghosthub.download.fetch import fetch_asset
        from tests.support.fetching import fast_settings
        s = fast_settings(connections=4, parallel_min=1 << 20, cache_dir={str(settings.cache_dir)!r})
        fetch_asset(load_card({str(card.path)!r}), settings=s)
        """
    )
    env = {**os.environ, "GHOSTHUB_CACHE": str(settings.cache_dir)}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    target_dir = settings.cache_dir / "assets" / "big" / sha256(DATA)
    meta = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = list(target_dir.glob("*.part.json")) if target_dir.exists() else []
        meta = json.loads(found[0].read_text()) if found else None
        if meta and meta.get("ranges") and sum(d - s for s, d, _ in meta["ranges"]) > len(DATA) // 4:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert meta and meta.get("ranges"), "piece progress is saved beside the part"
    meta = json.loads(next(target_dir.glob("*.part.json")).read_text())
    saved = {s: d for s, d, e in meta["ranges"]}
    started = [s for s, d, e in meta["ranges"] if d > s]
    assert len(started) >= 2, "several pieces were in flight"
    before = len(server.seen)
    server.rate = None
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    resumed = starts(server)[before:]
    unfinished = sorted(d for s, d, e in meta["ranges"] if d < e)
    assert sorted(resumed) == unfinished, "each unfinished piece continues where it stopped, nothing else is asked"
    assert all(saved[s] in resumed for s in started if saved[s] < dict((a, c) for a, _, c in meta["ranges"])[s])
    assert not any(parts.parts_of(path))


@pytest.mark.parametrize("mode", ["drop", "truncate", "500", "429", "stall", "chunked", "norange", "416", "trickle"])
def test_every_fault_on_one_piece_recovers(card, settings, server, mode):
    server.retry_after, server.stall_s, server.trickle_piece = "0", 1.5, 65536
    server.fault_at(PATH, 3 * PIECE, mode)
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    assert not any(parts.parts_of(path))


def test_a_piece_that_cannot_be_had_fails_cleanly(card, settings, server):
    from ghosthub.errors import DownloadError

    server.fault_at(PATH, 3 * PIECE, "404")
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(card, settings)
    assert not [p for p in settings.cache_dir.rglob("*.ckpt*") if not p.name.endswith(".lock")], (
        "nothing cached, no part left"
    )


def test_connections_setting(monkeypatch):
    from ghosthub import Client, config
    from ghosthub.errors import ConfigError

    assert config.settings().connections == 0
    monkeypatch.setenv("GHOSTHUB_CONNECTIONS", "3")
    assert config.settings().connections == 3
    assert Client(connections=6).settings.connections == 6, "an argument beats the environment"
    monkeypatch.setenv("GHOSTHUB_CONNECTIONS", "auto")
    assert config.settings().connections == 0
    monkeypatch.setenv("GHOSTHUB_CONNECTIONS", "many")
    with pytest.raises(ConfigError, match="GHOSTHUB_CONNECTIONS"):
        config.settings()


def test_the_connections_flag_of_download_and_mirror(tmp_path, server, capsys):
    from ghosthub.cli import main

    big = os.urandom((17 << 20) + 5)  # above the default parallel_min (16 MiB)
    server.add("/one.ckpt", big)
    server.add("/four.ckpt", big[::-1])
    cards = tmp_path / "cards"
    write_card(cards, "one", server.url("/one.ckpt"), sha256(big))
    write_card(cards, "four", server.url("/four.ckpt"), sha256(big[::-1]))
    common = ["--cards", str(cards), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(["download", "one", "--connections", "1", *common]) == 0
    assert [s.range for s in server.requests_for("/one.ckpt")] == [None], "one stream, not even a probe"
    server.rate = 32 << 20  # per connection, so the four overlap
    assert main(["download", "four", "--connections", "4", *common]) == 0
    assert len(server.requests_for("/four.ckpt")) == len(ranges.plan(len(big), 4)) and server.max_active >= 4
    assert Path(capsys.readouterr().out.split()[-1]).read_bytes() == big[::-1]
    for bad in ("0", "many"):
        with pytest.raises(SystemExit) as exit_info:
            main(["download", "one", "--connections", bad, *common])
        assert exit_info.value.code == 2 and "number of connections" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["mirror", "one", "--to", str(tmp_path / "m"), "--connections", "-1"])


def test_a_fast_single_stream_is_not_split(card, server, monkeypatch):
    """With connections left to size themselves, a fast first answer stays the one stream."""
    monkeypatch.setattr(ranges, "FAST_STREAM", 1 << 20)  # "fast" that a loaded test machine surely reaches
    settings = fast_settings(parallel_min=1 << 20)  # connections: auto
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    assert [s.range for s in server.requests_for(PATH)] == [None]


def test_a_slow_single_stream_is_split(card, server, monkeypatch):
    monkeypatch.setattr(ranges, "PROBE_S", 0.05)
    server.rate = 4 << 20  # well under FAST_STREAM
    path = fetch(card, fast_settings(parallel_min=1 << 20))
    assert path.read_bytes() == DATA
    seen = server.requests_for(PATH)
    assert seen[0].range is None and len(seen) > 1 and server.max_active >= 2
    assert not any(s.range and s.range.startswith("bytes=0-") for s in seen), "the first answer is not asked for again"


def test_one_progress_bar_for_all_the_pieces(card, server, monkeypatch):
    import threading as _threading

    made = []

    class Bar:
        def __init__(self, **kw):
            self.kw, self.n, self.lock = kw, kw.get("initial", 0), _threading.Lock()
            made.append(self)

        def update(self, n):
            with self.lock:  # tqdm locks too: pieces report from several threads
                self.n += n

        def reset(self, total=None):
            self.n = 0

        def close(self):
            pass

    monkeypatch.setattr("tqdm.tqdm", Bar)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    server.rate = 8 << 20
    fetch(card, fast_settings(connections=4, parallel_min=1 << 20, progress=True))
    (bar,) = made
    assert bar.kw["total"] == len(DATA) and bar.n == len(DATA)
    assert len(server.requests_for(PATH)) > 4

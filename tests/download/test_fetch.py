"""fetch_asset against a real, fault-injecting HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest

import ghosthub
from ghosthub.download import layout, parts
from ghosthub.download.cache import Cache
from ghosthub.download.fetch import fetch_asset
from ghosthub.errors import DownloadError, FetchWarning, HashMismatchError, LinkError, OfflineError, WeakHashWarning
from tests.support.fetching import Served, assert_nothing_cached, fast_settings, fetch, sha256, write_card
from tests.support.paths import REPO

# Every fetch here takes milliseconds to seconds: a regression that waits or retries forever fails fast.
pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("sound_cache")]

DATA = os.urandom(300_000)
PATH = "/weights/tiny-3a.ckpt"


@pytest.fixture
def served():
    return Served(PATH, DATA, digits=8)


# --------------------------------------------------------------------------- the happy path


def test_download_verifies_records_and_hits_without_a_request(card, settings, server):
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    assert path == settings.cache_dir / "assets" / "tiny" / sha256(DATA)[:8] / "tiny-3a.ckpt"
    record = layout.read_record(path)
    assert record["url"] == server.url(PATH)
    assert record["size"] == len(DATA)
    assert record["sha256"] == sha256(DATA)
    assert record["etag"] and record["last_modified"] and record["verified_at"].endswith("Z")
    assert len(server.seen) == 1
    assert fetch(card, settings) == path
    assert len(server.seen) == 1, "a cache hit must not touch the network"
    headers = server.seen[0].headers
    assert headers["user-agent"] == f"ghosthub/{ghosthub.__version__}"
    assert headers["accept-encoding"] == "identity"


def test_force_download_fetches_again(card, settings, server):
    fetch(card, settings)
    fetch(card, settings, force_download=True)
    assert server.full_transfers[PATH] == 2


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "modes, expect_range",
    [
        (["drop"], True),  # connection reset mid-body: resume within the call
        (["truncate"], True),  # clean close before Content-Length was reached
        (["500"], False),
        (["500", "500", "500"], False),
        (["chunked"], False),  # no Content-Length at all
        (["drop", "norange"], True),  # the server ignores Range: start over cleanly
        (["drop", "416"], True),  # the server refuses the range: start over cleanly
        (["trickle"], False),  # a very slow body, each piece within the read timeout
        (["stall"], False),  # a read timeout, then success
    ],
)
def test_faults_that_recover(card, settings, server, modes, expect_range):
    server.stall_s = 1.5  # beyond the 1 s read timeout
    server.trickle_piece = 16384
    server.fault(PATH, *modes)
    path = fetch(card, settings)
    assert path.read_bytes() == DATA
    ranges = [s.range for s in server.requests_for(PATH)]
    assert any(ranges) == expect_range, ranges
    if expect_range:
        assert ranges[1] == f"bytes={len(DATA) // 2}-", "the resume starts right after what was received"


def test_a_resume_answered_from_the_wrong_offset_starts_over(card, settings, server):
    server.fault(PATH, "drop", "badrange")  # the resume is answered 206, but from byte 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", FetchWarning)  # a clean restart, not a failed verification
        path = fetch(card, settings)
    assert path.read_bytes() == DATA
    assert [s.range for s in server.requests_for(PATH)] == [None, f"bytes={len(DATA) // 2}-", None]


def test_429_honours_retry_after(card, settings, server):
    server.fault(PATH, "429")
    server.retry_after = "1"
    start = time.monotonic()
    fetch(card, settings)
    assert time.monotonic() - start >= 0.9
    assert len(server.requests_for(PATH)) == 2


@pytest.mark.timeout(15)  # a broken cap waits for the server's hour
def test_retry_after_is_capped(card, settings, server):
    server.fault(PATH, "429")
    server.retry_after = "3600"
    start = time.monotonic()
    fetch(card, fast_settings(max_wait=0.2))
    assert time.monotonic() - start < 5


def test_persistent_5xx_gives_up_after_the_configured_tries(card, server):
    server.always(PATH, "500")
    with pytest.raises(DownloadError) as info:
        fetch(card, fast_settings(retries=3))
    assert len(server.requests_for(PATH)) == 3
    message = str(info.value)
    assert "HTTP 500" in message and server.url(PATH) in message and "tiny" in message
    assert "3 tries" in message


def test_404_fails_at_once_with_what_to_do(card, settings, server):
    server.always(PATH, "404")
    with pytest.raises(DownloadError) as info:
        fetch(card, settings)
    assert len(server.requests_for(PATH)) == 1
    message = str(info.value)
    assert "HTTP 404" in message and server.url(PATH) in message
    assert str(layout.asset_path(settings.cache_dir, card, card.weights_asset())) in message
    assert "GHOSTHUB_MIRROR" in message
    assert info.value.card == "tiny" and info.value.url == server.url(PATH)


def test_wrong_bytes_raise_a_full_report_and_cache_nothing(card, settings, server):
    server.always(PATH, "wrong")
    with pytest.raises(HashMismatchError) as info:
        fetch(card, settings)
    error = info.value
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    for fact in ("tiny", str(card.path), server.url(PATH), str(target), sha256(DATA)[:8], error.actual, "--force"):
        assert fact in str(error)
    assert error.expected == sha256(DATA)[:8] and len(error.actual) == 64
    assert not target.exists()
    assert_nothing_cached(settings.cache_dir)


def test_a_resumed_download_that_does_not_verify_starts_over_once(card, settings, server):
    # Another file at the same URL while a part from a killed process waits: no validator matches
    # (the leftover has none), so the resume glues old and new bytes; the digest catches it.
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    leave_dead_part(
        target, os.urandom(1000), {"url": server.url(PATH), "etag": None, "last_modified": None, "total": None}
    )
    with pytest.warns(FetchWarning, match="start"):
        path = fetch(card, settings)
    assert path.read_bytes() == DATA
    assert [s.range for s in server.requests_for(PATH)] == ["bytes=1000-", None]


def test_size_limit_from_content_length(card, server, monkeypatch):
    from ghosthub.download.partfile import PartFile

    received = []
    real_write = PartFile.write
    monkeypatch.setattr(PartFile, "write", lambda self, data: (received.append(len(data)), real_write(self, data))[1])
    with pytest.raises(DownloadError, match="size limit"):
        fetch(card, fast_settings(max_size=1000))
    assert len(server.seen) == 1, "a size over the limit is not retried"
    assert received == [], "Content-Length over the limit is refused before any of the body is taken"


def test_size_limit_is_enforced_while_streaming(card, server):
    server.always(PATH, "chunked")  # no Content-Length to check beforehand
    with pytest.raises(DownloadError, match="GHOSTHUB_MAX_SIZE"):
        fetch(card, fast_settings(max_size=100_000))


def test_not_enough_disk_space_is_found_before_downloading(card, settings, server, monkeypatch):
    from ghosthub.download.partfile import PartFile

    monkeypatch.setattr("ghosthub.download.partfile._free_space", lambda folder: 10)
    received = []
    real_write = PartFile.write
    monkeypatch.setattr(PartFile, "write", lambda self, data: (received.append(len(data)), real_write(self, data))[1])
    with pytest.raises(DownloadError, match="disk space"):
        fetch(card, settings)
    # "Before": the check runs on the headers; not one byte of the body was taken, and it is not retried.
    assert received == [], f"{sum(received)} bytes of the body were received before the check"
    assert len(server.requests_for(PATH)) == 1


# --------------------------------------------------------------------------- cache hits and corruption


def test_a_corrupt_cached_file_is_fetched_again_once_with_a_warning(card, settings, server):
    path = fetch(card, settings)
    path.write_bytes(b"x" * len(DATA))  # same size, new mtime
    with pytest.warns(FetchWarning, match="corrupt"):
        assert fetch(card, settings).read_bytes() == DATA
    assert server.full_transfers[PATH] == 2


def test_a_touched_but_intact_file_is_rehashed_not_downloaded(card, settings, server):
    path = fetch(card, settings)
    os.utime(path, ns=(0, 0))
    assert fetch(card, settings) == path
    assert len(server.seen) == 1
    assert layout.read_record(path)["mtime_ns"] == 0


def test_a_file_without_a_record_is_adopted_after_hashing(card, settings, server):
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    target.parent.mkdir(parents=True)
    target.write_bytes(DATA)  # e.g. copied in by hand for an offline machine
    assert fetch(card, fast_settings(offline=True)) == target
    assert layout.read_record(target)["sha256"] == sha256(DATA)


def test_weak_hash_warns_once_per_asset(tmp_path, server):
    card = write_card(tmp_path / "c1", "weakling", server.url(PATH), sha256(DATA)[:8])
    with pytest.warns(WeakHashWarning) as caught:
        fetch_asset(card, settings=fast_settings())
    (message,) = [str(w.message) for w in caught]
    assert message == (
        "weakling: its card gives 8 of the 64 hex digits of the SHA-256; the download matches them, which rules out "
        "a corrupt file but not a forged one"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeakHashWarning)
        fetch_asset(card, settings=fast_settings(), force_download=True)
        full = write_card(tmp_path / "c2", "strong", server.url(PATH), sha256(DATA))
        fetch_asset(full, settings=fast_settings())


def test_a_failed_download_has_its_error_and_no_weak_hash_warning(tmp_path, server):
    """The warning is about a file that was downloaded: a failure says only what failed."""
    card = write_card(tmp_path / "c1", "gone", server.url("/no-such.ckpt"), sha256(DATA)[:8])
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeakHashWarning)
        with pytest.raises(DownloadError, match="404"):
            fetch_asset(card, settings=fast_settings())
    wrong = write_card(tmp_path / "c2", "wrong", server.url(PATH), "0" * 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeakHashWarning)
        with pytest.raises(HashMismatchError):
            fetch_asset(wrong, settings=fast_settings())


# --------------------------------------------------------------------------- offline


def test_offline_serves_the_cache(card, settings, server):
    path = fetch(card, settings)
    assert fetch(card, fast_settings(offline=True)) == path
    assert len(server.seen) == 1


def test_offline_miss_names_card_url_and_path(card, server):
    settings = fast_settings(offline=True)
    with pytest.raises(OfflineError) as info:
        fetch(card, settings)
    message = str(info.value)
    assert "tiny" in message and server.url(PATH) in message
    assert str(layout.asset_path(settings.cache_dir, card, card.weights_asset())) in message
    assert not server.seen


def test_offline_opens_no_socket(tmp_path, card, server):
    """In a fresh process: an audit hook counts every socket connection; requests is never imported."""
    code = textwrap.dedent(
        f"""
        import sys
        connects = []
        sys.addaudithook(lambda event, args: connects.append(args) if event == "socket.connect" else None)
        import ghosthub
        from ghosthub.errors import OfflineError
        try:
            ghosthub.download("tiny", cards=[{str(card.path.parent)!r}])
        except OfflineError:
            pass
        else:
            raise SystemExit("expected OfflineError")
        print(len(connects), "requests" in sys.modules)
        """
    )
    env = {**os.environ, "GHOSTHUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False"]
    assert not server.seen


# --------------------------------------------------------------------------- local links


def test_file_and_relative_links_are_copied_and_verified(tmp_path, settings):
    source = tmp_path / "cards" / "weights" / "local.ckpt"
    source.parent.mkdir(parents=True)
    source.write_bytes(DATA)
    relative = write_card(tmp_path / "cards", "rel", "weights/local.ckpt", sha256(DATA))
    assert fetch(relative, settings).read_bytes() == DATA
    absolute = write_card(tmp_path / "cards", "abs", source.as_uri(), sha256(DATA))
    assert fetch(absolute, settings).read_bytes() == DATA
    # local files need no network: offline mode still copies them
    other = write_card(tmp_path / "cards", "rel2", "weights/local.ckpt", sha256(DATA))
    assert fetch(other, fast_settings(offline=True)).read_bytes() == DATA


@pytest.mark.parametrize(
    "link", ["ftp://example.org/x.ckpt", "/abs/path/x.ckpt", "gs://bucket/x.ckpt", "file://otherhost/x.ckpt"]
)
def test_other_links_are_refused(tmp_path, settings, link):
    card = write_card(tmp_path / "cards", "refused", link, "0" * 64)
    with pytest.raises(LinkError):
        fetch(card, settings)


# --------------------------------------------------------------------------- resume across processes


def leave_dead_part(target: Path, data: bytes, meta: dict) -> Path:
    """A partial download as a process killed mid-transfer leaves it (its pid no longer exists)."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = parts.new_part(target)
    part = part.with_name(part.name.replace(f"-{os.getpid()}-", f"-{dead}-"))
    part.write_bytes(data)
    parts.part_meta(part).write_text(json.dumps(meta))
    return part


def test_a_dead_process_part_is_resumed(card, settings, server):
    from tests.support.httpserver import etag_of

    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    part = leave_dead_part(
        target,
        DATA[:123_456],
        {"url": server.url(PATH), "etag": etag_of(DATA), "last_modified": None, "total": len(DATA)},
    )
    assert fetch(card, settings).read_bytes() == DATA
    seen = server.requests_for(PATH)
    assert [s.range for s in seen] == ["bytes=123456-"]
    assert seen[0].headers["if-range"] == etag_of(DATA)
    assert not part.exists()


def test_a_part_of_another_url_is_not_resumed(card, settings, server):
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    leave_dead_part(target, b"junk", {"url": "http://elsewhere/x", "etag": None, "last_modified": None, "total": None})
    assert fetch(card, settings).read_bytes() == DATA
    assert [s.range for s in server.requests_for(PATH)] == [None]


def test_a_live_process_part_is_left_alone(card, settings, server):
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    target.parent.mkdir(parents=True)
    live = parts.new_part(target)  # ours: this process is alive
    live.write_bytes(b"in progress")
    try:
        assert fetch(card, settings).read_bytes() == DATA
        assert live.exists() and [s.range for s in server.requests_for(PATH)] == [None]
    finally:
        live.unlink()


def _part_of(target: Path, host: str, pid: int, data: bytes, meta: dict) -> Path:
    """A partial download named as process ``pid`` on ``host`` names its own."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{host}-{pid}-0badc0de.part")
    part.write_bytes(data)
    parts.part_meta(part).write_text(json.dumps(meta))
    return part


def test_a_stalled_live_process_part_is_never_taken_over(card, settings, server):
    """Its owner could write on into it: a stalled part on this host is left alone, however old."""
    settings = settings.replace(lock_timeout=0.1)
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)  # the part is written after its owner started, as a real one is
        meta = {"url": server.url(PATH), "etag": None, "last_modified": None, "total": len(DATA)}
        part = _part_of(target, parts._host(), owner.pid, DATA[:1000], meta)
        time.sleep(0.3)  # older than lock_timeout: stale by age alone
        assert not parts.is_abandoned(part, settings.lock_timeout)
        assert fetch(card, settings).read_bytes() == DATA
        assert [s.range for s in server.requests_for(PATH)] == [None], "the live part must not be resumed"
        assert part.read_bytes() == DATA[:1000] and parts.part_meta(part).exists()
    finally:
        owner.kill()
        owner.wait()
    assert parts.is_abandoned(part, 3600), "its owner is gone now"
    Cache(settings).prune([card])
    assert not part.exists() and not parts.part_meta(part).exists()


def test_a_part_whose_pid_was_reused_is_abandoned(tmp_path):
    """A live process that started after the part was last written cannot be its owner."""
    target = tmp_path / "assets" / "x" / "abc" / "x.ckpt"
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        part = _part_of(target, parts._host(), stranger.pid, b"old", {})
        old = time.time() - 600
        os.utime(part, (old, old))
        assert parts.is_abandoned(part, 1e9)
        os.utime(part)  # written now: the running process could be the owner
        assert not parts.is_abandoned(part, 1e9)
    finally:
        stranger.kill()
        stranger.wait()


def test_another_hosts_stale_part_is_copied_not_taken(card, settings, server):
    """Its owner may be alive on the other host: resume from a copy and leave its file as it was."""
    from tests.support.httpserver import etag_of

    settings = settings.replace(lock_timeout=0.1)
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    meta = {"url": server.url(PATH), "etag": etag_of(DATA), "last_modified": None, "total": len(DATA)}
    part = _part_of(target, "otherhost", 4242, DATA[:100_000], meta)
    assert not parts.is_abandoned(part, 3600), "fresh: the other host's process may be writing"
    old = time.time() - 60
    os.utime(part, (old, old))
    assert parts.is_abandoned(part, settings.lock_timeout)
    assert fetch(card, settings).read_bytes() == DATA
    assert [s.range for s in server.requests_for(PATH)] == ["bytes=100000-"]
    assert part.read_bytes() == DATA[:100_000] and parts.part_meta(part).exists(), "never taken over"
    Cache(settings).prune([card])
    assert not part.exists() and not parts.part_meta(part).exists()


def test_a_part_removed_mid_download_is_a_clear_error(card, settings, server):
    server.trickle_piece = 16384
    server.trickle_s = 0.02
    server.always(PATH, "trickle")
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    outcome = {}

    def run():
        try:
            fetch(card, settings)
        except BaseException as exc:  # noqa: BLE001 - examined below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(p.stat().st_size for p in parts.parts_of(target) if p.exists()):
        time.sleep(0.01)
    for part in parts.parts_of(target):
        part.unlink()  # what `cache prune` on another host, or a person, might do
    thread.join(30)
    error = outcome.get("error")
    assert isinstance(error, DownloadError) and "was removed while downloading" in str(error)
    assert not target.exists()


def _download_script(cards: Path, **env) -> str:
    return textwrap.dedent(
        f"""
        import sys, warnings
        warnings.simplefilter("ignore")
        import ghosthub
        from ghosthub import config
        from ghosthub.download.fetch import fetch_asset
        card = ghosthub.get_card("tiny", cards=[{str(cards)!r}])
        settings = config.settings().replace(backoff=0.05, progress=False)
        print(fetch_asset(card, settings=settings))
        """
    )


def test_sigkill_mid_download_then_rerun_resumes(tmp_path, card, settings, server):
    server.trickle_piece = 8192
    server.trickle_s = 0.02  # about 400 KiB/s: the kill lands mid-body
    server.always(PATH, "trickle")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _download_script(card.path.parent)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = parts.parts_of(target)
        if found and found[0].exists() and found[0].stat().st_size >= 64 * 1024:
            break
        time.sleep(0.01)
    else:
        proc.kill()
        pytest.fail(f"the download never started: {proc.communicate()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert parts.parts_of(target) and not target.exists(), "a killed download leaves its part, never the asset"
    server.always(PATH, None)
    rerun = subprocess.run(
        [sys.executable, "-c", _download_script(card.path.parent)], env=env, capture_output=True, text=True, timeout=60
    )
    assert rerun.returncode == 0, rerun.stderr
    assert Path(rerun.stdout.strip()) == target and target.read_bytes() == DATA
    ranges = [s.range for s in server.requests_for(PATH)]
    assert ranges[0] is None and ranges[-1] and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    assert server.full_transfers[PATH] == 0, "nothing was sent twice in full"


# --------------------------------------------------------------------------- concurrency


def test_eight_processes_cause_one_transfer(tmp_path, card, settings, server):
    server.trickle_piece = 4096
    server.trickle_s = 0.025  # about 2 s: the others start while the first downloads, and wait
    server.always(PATH, "trickle")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _download_script(card.path.parent)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    assert {Path(out.strip()) for out, _ in outputs} == {target}
    assert server.full_transfers[PATH] == 1
    assert len(server.requests_for(PATH)) == 1
    assert target.read_bytes() == DATA


def test_eight_threads_cause_one_transfer(card, settings, server):
    server.trickle_piece = 32768
    server.always(PATH, "trickle")
    results, errors = [], []

    def run():
        try:
            results.append(fetch(card, settings))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert len(server.requests_for(PATH)) == 1


def test_a_stuck_lock_holder_is_not_waited_for_forever(card, server):
    """A lock whose holder makes no progress (as after a kill on NFS) is given up after lock_timeout."""
    settings = fast_settings(lock_timeout=0.5)
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    target.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from ghosthub._utils.lock import FileLock; l = "
            f"FileLock({str(layout.lock_path(target))!r}); l.acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.warns(FetchWarning, match="going on without it"):
            assert fetch(card, settings).read_bytes() == DATA
        assert time.monotonic() - start < 10
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------- progress


class FakeBar:
    made: list = []

    def __init__(self, **kw):
        self.kw = kw
        self.n = kw.get("initial", 0)
        FakeBar.made.append(self)

    def update(self, n):
        self.n += n

    def reset(self, total=None):
        self.n = 0

    def close(self):
        pass


def test_progress_bar_starts_at_the_resumed_size(card, settings, server, monkeypatch):
    from tests.support.httpserver import etag_of

    FakeBar.made = []
    monkeypatch.setattr("tqdm.tqdm", FakeBar)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    leave_dead_part(
        target,
        DATA[:100_000],
        {"url": server.url(PATH), "etag": etag_of(DATA), "last_modified": None, "total": len(DATA)},
    )
    fetch(card, fast_settings(progress=True))
    (bar,) = FakeBar.made
    assert bar.kw["initial"] == 100_000 and bar.kw["total"] == len(DATA) and bar.kw["unit"] == "B"
    assert bar.n == len(DATA)


def test_no_progress_bar_when_disabled_or_not_a_terminal(card, settings, server, monkeypatch):
    FakeBar.made = []
    monkeypatch.setattr("tqdm.tqdm", FakeBar)
    fetch(card, fast_settings(progress=True))  # stderr is not a terminal under pytest
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    fetch(card, fast_settings(progress=False), force_download=True)
    assert FakeBar.made == []


def test_ctrl_c_keeps_the_part_and_the_next_call_resumes(card, settings, server, monkeypatch):
    from ghosthub.download.partfile import PartFile as _PartFile

    original = _PartFile.write

    def interrupted(self, data):
        if self.size >= 100_000:
            raise KeyboardInterrupt
        original(self, data)

    server.trickle_piece = 16384
    server.always(PATH, "trickle")  # small reads, so the interruption lands mid-body
    monkeypatch.setattr(_PartFile, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(card, settings)
    target = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    (part,) = parts.parts_of(target)
    kept = part.stat().st_size
    assert kept >= 100_000 and not target.exists()
    monkeypatch.setattr(_PartFile, "write", original)
    # Same process, so the part's owner looks alive: a new process (pid) would take it at once.
    monkeypatch.setattr(parts, "_alive", lambda pid, since: False)
    assert fetch(card, settings).read_bytes() == DATA
    assert server.requests_for(PATH)[-1].range == f"bytes={kept}-"

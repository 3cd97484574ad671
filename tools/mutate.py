"""Mutation testing by hand-written mutations: break a promise of the code, check that a test sees it.

Each mutation names a file, one snippet that occurs exactly once in it, its replacement,
and the test files that claim to guard the promise. The script copies the repository to a
temporary folder (the checkout is never touched), runs those tests once unmutated (a
failing baseline would make every mutation look caught), then once per mutation with
``-x``, and prints the score per module and every survivor with what it broke.

A mutation whose snippet is gone (the code moved on) is reported as STALE, not scored:
update its snippet. A mutation listed with ``known=`` is expected to survive, for the
reason given there; it still counts against the score.

Usage (from the repository root; slow: minutes, one pytest run per mutation)::

    GLOG_v=3 python tools/mutate.py                  # every mutation
    GLOG_v=3 python tools/mutate.py -k fetch -k publish   # mutations whose id or module contains a word
    python tools/mutate.py --list                    # what would run
    python tools/mutate.py --show fetch.record-after-rename   # the diff of one mutation

Not part of the test suite: it runs the suite's tests many times over.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DURABILITY = "tests/properties/test_durability.py"
FETCH = "tests/download/test_fetch.py"
TRANSPORT = "tests/download/test_transport.py"
CACHE = "tests/download/test_cache.py"
CLI_FETCH = "tests/cli/test_cache.py"
HUB = "tests/hub/test_hub.py"
PUBLISH = "tests/tasks/test_publish.py"
RECOVERY = "tests/tasks/test_publish.py::test_a_killed_publish_is_rolled_back_by_the_next_publish"
WEIGHTS = "tests/weights/test_strict.py"
LOAD = "tests/test_api.py"
RANGES = "tests/download/test_ranges.py"
MIRROR = "tests/hub/test_mirror.py"
FSCK = "tests/hub/test_fsck.py"


@dataclasses.dataclass(frozen=True)
class Mutation:
    id: str
    module: str
    file: str
    edits: tuple[tuple[str, str], ...]  # (unique original snippet, replacement), applied in order
    tests: tuple[str, ...]
    what: str
    known: str = ""  # why it is expected to survive, if it is


def m(id, module, file, old, new, tests, what, *more, known=""):
    """One mutation; ``more`` holds further (old, new) pairs in the same file."""
    return Mutation(id, module, file, ((old, new), *zip(more[::2], more[1::2])), tuple(tests), what, known)


FETCH_PY = "ghosthub/download/fetch.py"
PARTFILE_PY = "ghosthub/download/partfile.py"
TRANSPORT_PY = "ghosthub/download/transport.py"
CACHE_PY = "ghosthub/download/cache.py"
LAYOUT_PY = "ghosthub/download/layout.py"
FS_PY = "ghosthub/_utils/fs.py"
TXN_PY = "ghosthub/hub/transaction.py"
PUBLISH_PY = "ghosthub/tasks/publish.py"
NETWORK_PY = "ghosthub/weights/network.py"
STRICT_PY = "ghosthub/weights/strict.py"
CHECKPOINT_PY = "ghosthub/weights/checkpoint.py"
RANGES_PY = "ghosthub/download/ranges.py"
MIRROR_PY = "ghosthub/hub/mirror.py"
VERIFIED_PY = "ghosthub/hub/verified.py"
FSCK_PY = "ghosthub/hub/fsck.py"

MUTATIONS = [
    # ------------------------------------------------------------------ fetch: durability and order
    m(
        "fetch.no-part-fsync",
        "fetch",
        PARTFILE_PY,
        "        os.fsync(self._file.fileno())\n        self._close()",
        "        self._close()",
        [DURABILITY],
        "the part file is not synced before it is renamed into place",
    ),
    m(
        "fetch.record-before-rename",
        "fetch",
        FETCH_PY,
        "            commit(sink.path, target)  # rename, then sync the folder so the rename survives a crash\n"
        "            store.store(target, record)",
        "            store.store(target, record)\n"
        "            commit(sink.path, target)  # rename, then sync the folder so the rename survives a crash",
        [DURABILITY],
        "the record is written before the rename, of a file that then changes (ctime)",
    ),
    m(
        "fetch.no-folder-fsync",
        "fetch",
        FETCH_PY,
        "            commit(sink.path, target)  # rename,",
        "            os.replace(sink.path, target)  # rename,",
        [DURABILITY],
        "the asset's rename is not made durable",
        known="equivalent while the record is written after the rename: its commit syncs the same folder",
    ),
    # ------------------------------------------------------------------ fetch: verification and cleanup
    m(
        "fetch.no-hash-check",
        "fetch",
        FETCH_PY,
        "        if hash_matches(asset.sha256, actual):\n            return actual",
        "        if True:\n            return actual",
        [FETCH],
        "a download is stored without checking its digest",
    ),
    m(
        "fetch.no-retry-after-a-bad-resume",
        "fetch",
        FETCH_PY,
        "        if not sink.resumed:\n            break",
        "        if True:\n            break",
        [FETCH],
        "a resumed download that does not verify is not tried again from the start",
    ),
    m(
        "fetch.keep-part-on-failure",
        "fetch",
        FETCH_PY,
        "    except BaseException:\n        sink.discard()",
        "    except BaseException:\n        sink.keep()",
        [FETCH],
        "a failed download leaves its part file behind",
    ),
    m(
        "fetch.offline-before-cache",
        "fetch",
        FETCH_PY,
        "    if not force_download:\n        hit = store.get(card, asset)",
        "    if False:\n        hit = store.get(card, asset)",
        [FETCH],
        "offline mode refuses even what is cached",
    ),
    m(
        "fetch.no-mirrors",
        "fetch",
        FETCH_PY,
        "        for url in urls[:-1]:",
        "        for url in urls[:0]:",
        [TRANSPORT],
        "mirrors are never tried",
    ),
    m(
        "fetch.no-mirror-fallback",
        "fetch",
        FETCH_PY,
        '            except DownloadError as exc:\n                warnings.warn(f"mirror failed',
        '            except ZeroDivisionError as exc:\n                warnings.warn(f"mirror failed',
        [TRANSPORT],
        "a failing mirror is not followed by the origin",
    ),
    m(
        "fetch.corrupt-cache-served",
        "cache",
        CACHE_PY,
        "        ok, actual = rehash(target, asset, record=not vouched)\n        if ok:",
        "        ok, actual = rehash(target, asset, record=not vouched)\n        if True:",
        [FETCH],
        "a corrupt cached file is served",
    ),
    m(
        "fetch.weak-hash-silent",
        "fetch",
        FETCH_PY,
        "    if is_weak(asset.sha256) and key not in _warned_weak:",
        "    if False:",
        [FETCH],
        "an 8-digit digest is accepted without a warning",
    ),
    # ------------------------------------------------------------------ fetch: the part file
    m(
        "fetch.free-space-after-body",
        "fetch",
        PARTFILE_PY,
        "            free = _free_space(self.path.parent)\n            if total - self.size > free:",
        "            free = _free_space(self.path.parent)\n            self._late = (total, free)\n            if "
        "False:",
        [FETCH],
        "the free-space check runs after the whole body was received",
        "    def hexdigest(self) -> str:\n        self._drain()",
        "    def hexdigest(self) -> str:\n        self._drain()\n"
        "        if getattr(self, '_late', None) and self._late[0] > self._late[1]:\n"
        "            raise Stop('not enough disk space', 'free some space')",
    ),
    m(
        "fetch.no-size-limit",
        "fetch",
        PARTFILE_PY,
        "            if total > self.max_size:",
        "            if False:",
        [FETCH],
        "Content-Length over the size limit is not refused up front",
    ),
    m(
        "fetch.no-streaming-size-limit",
        "fetch",
        PARTFILE_PY,
        "        if self.size + n > self.max_size:",
        "        if False:",
        [FETCH],
        "a body without Content-Length may exceed the size limit",
    ),
    m(
        "fetch.resume-any-url",
        "fetch",
        PARTFILE_PY,
        'wanted = adopted is None and meta and meta.get("url") == redact(url)',
        "wanted = adopted is None and meta",
        [FETCH],
        "a dead process's part of another URL is resumed",
    ),
    m(
        "fetch.take-foreign-part",
        "fetch",
        PARTFILE_PY,
        "        if parts.is_foreign(part):",
        "        if False:",
        [FETCH],
        "another host's part is taken over by rename instead of copied",
    ),
    m(
        "fetch.restart-keeps-bytes",
        "fetch",
        PARTFILE_PY,
        "        self._file.seek(0)\n        self._file.truncate()",
        "        pass",
        [FETCH],
        "starting over keeps the old bytes in the file",
    ),
    # ------------------------------------------------------------------ fetch: the transport
    m(
        "fetch.no-range",
        "fetch",
        TRANSPORT_PY,
        '        if offset or end:\n            headers["Range"]',
        '        if False:\n            headers["Range"]',
        [FETCH],
        "a dropped connection starts over instead of resuming",
    ),
    m(
        "fetch.retry-after-uncapped",
        "fetch",
        TRANSPORT_PY,
        "            return min(retry_after, settings.max_wait)",
        "            return retry_after",
        [FETCH],
        "a server's Retry-After of an hour is obeyed (the test must fail by its time limit, not hang)",
    ),
    m(
        "fetch.token-everywhere",
        "fetch",
        TRANSPORT_PY,
        "            auth = self.credentials(url) if same_origin(url, first) else None",
        "            auth = self.credentials(url)",
        [TRANSPORT],
        "the token follows redirects to other hosts",
    ),
    m(
        "fetch.short-body-accepted",
        "fetch",
        TRANSPORT_PY,
        "            received = _wire_bytes(response, sink.size) if encoded else sink.size\n            if total is "
        "not None and received != total:",
        "            received = _wire_bytes(response, sink.size) if encoded else sink.size\n            if False:",
        [FETCH],
        "a body shorter than Content-Length is taken as complete",
    ),
    m(
        "fetch.wrong-resume-offset",
        "fetch",
        TRANSPORT_PY,
        "                if first != offset or",
        "                if False and first != offset or",
        [FETCH],
        "a 206 starting elsewhere than asked is appended",
    ),
    # ------------------------------------------------------------------ cache
    m(
        "cache.record-in-place",
        "cache",
        LAYOUT_PY,
        "    atomic_write(record_path(path), ",
        "    record_path(path).write_bytes(",
        [DURABILITY],
        "the record is written in place, not atomically",
    ),
    m(
        "cache.record-unsynced",
        "cache",
        LAYOUT_PY,
        'indent=1).encode("utf-8"))',
        'indent=1).encode("utf-8"), sync=False)',
        [DURABILITY],
        "the record is written without the fsyncs",
    ),
    m(
        "cache.no-staged-fsync",
        "cache",
        FS_PY,
        "            if sync:\n                os.fsync(f.fileno())",
        "            pass",
        [DURABILITY],
        "atomic writes (records) are not synced before the rename",
    ),
    m(
        "cache.no-commit-folder-fsync",
        "cache",
        FS_PY,
        "    if sync:\n        fsync_dir(Path(path).parent)",
        "    pass",
        [DURABILITY],
        "an atomic write's rename is not made durable",
    ),
    m(
        "cache.vouch-ignores-mtime",
        "cache",
        LAYOUT_PY,
        '        and record.get("mtime_ns") == stat.st_mtime_ns\n',
        "",
        [CACHE, FETCH],
        "a file changed since it was hashed is still vouched for",
    ),
    m(
        "cache.vouch-ignores-size",
        "cache",
        LAYOUT_PY,
        '        and record.get("size") == stat.st_size\n',
        "",
        [CACHE, FETCH],
        "a file of another size is still vouched for",
    ),
    m(
        "cache.vouch-ignores-digest",
        "cache",
        LAYOUT_PY,
        '        and hash_matches(expected, record.get("sha256", ""))\n',
        "",
        [CACHE, FETCH],
        "a record of another digest vouches for the file",
    ),
    m(
        "cache.rehash-keeps-bad-record",
        "cache",
        LAYOUT_PY,
        "    elif not ok:\n        record_path(path).unlink(missing_ok=True)",
        "    elif not ok:\n        pass",
        [CACHE, FETCH],
        "a mismatching file keeps its record",
    ),
    m(
        "cache.rehash-forgets-record",
        "cache",
        LAYOUT_PY,
        "                write_record(path, kept)",
        "                pass",
        [CACHE, FETCH],
        "a successful re-hash is not recorded (every later hit hashes again)",
    ),
    m(
        "cache.outside-allowed",
        "cache",
        LAYOUT_PY,
        "    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:",
        "    if False:",
        [CACHE],
        "a symlinked folder may lead writes outside the cache",
    ),
    m(
        "cache.hidden-names",
        "cache",
        LAYOUT_PY,
        '    name = _UNSAFE.sub("_", name).lstrip("._-")',
        '    name = _UNSAFE.sub("_", name)',
        [CACHE],
        "a link may name a dot-file among ghosthub's own files",
    ),
    m(
        "cache.unsafe-name",
        "cache",
        LAYOUT_PY,
        "    if not is_safe_name(name):\n        raise LinkError(\n",
        "    if False:\n        raise LinkError(\n",
        [CACHE],
        "an unsafe model name becomes a cache folder",
    ),
    m(
        "cache.ls-shows-dotfiles",
        "cache",
        CACHE_PY,
        '                if item.name.startswith(".") or not item.is_file(follow_symlinks=False):',
        "                if not item.is_file(follow_symlinks=False):",
        [CACHE, CLI_FETCH],
        "records and locks are listed as assets",
    ),
    m(
        "cache.prune-live-parts",
        "cache",
        CACHE_PY,
        '        elif name.endswith(".part"):\n            gone = is_abandoned(path, stale_after)',
        '        elif name.endswith(".part"):\n            gone = True',
        [CACHE, CLI_FETCH],
        "prune removes a download in progress",
    ),
    m(
        "cache.prune-keeps-unreferenced",
        "cache",
        CACHE_PY,
        "    unwanted = {n for n in assets if folder / n not in keep}",
        "    unwanted = set()",
        [CACHE, CLI_FETCH],
        "prune keeps assets no card refers to",
    ),
    m(
        "cache.clear-everything",
        "cache",
        CACHE_PY,
        "            folder = self.root / name\n            if folder.is_dir() and not folder.is_symlink():",
        "            folder = self.root\n            if folder.is_dir() and not folder.is_symlink():",
        [CACHE],
        "clear removes the user's own files beside ghosthub's folders",
    ),
    m(
        "cache.remove-file-first",
        "cache",
        LAYOUT_PY,
        "    record_path(path).unlink(missing_ok=True)\n    path.unlink(missing_ok=True)",
        "    path.unlink(missing_ok=True)\n    record_path(path).unlink(missing_ok=True)",
        [CACHE, FETCH],
        "a corrupt file is removed before its record",
        known="equivalent but for a crash between the two unlinks: a record without its file vouches for nothing",
    ),
    # ------------------------------------------------------------------ hub transaction and publish
    m(
        "publish.no-recover",
        "publish",
        PUBLISH_PY,
        "            recover(root)\n",
        "",
        [RECOVERY],
        "a publish killed mid-commit is not rolled back by the next publish",
    ),
    m(
        "publish.no-rollback",
        "publish",
        TXN_PY,
        "        except BaseException:\n            _roll_back(self.root, self.steps)",
        "        except BaseException:\n            pass",
        [HUB, PUBLISH],
        "a commit that fails half-way is not rolled back",
    ),
    m(
        "publish.no-backup",
        "publish",
        TXN_PY,
        '                    _link_or_copy(Path(step["final"]), Path(step["backup"]))',
        "                    pass",
        [HUB, PUBLISH],
        "a replaced file cannot be restored",
    ),
    m(
        "publish.no-journal",
        "publish",
        TXN_PY,
        '        atomic_write(journal, json.dumps({"steps": self.steps}).encode())',
        "        pass",
        [HUB, RECOVERY],
        "a killed commit leaves no journal to recover from",
    ),
    m(
        "publish.journal-dropped-before-sync",
        "publish",
        TXN_PY,
        "            fsync_dir(folder)  # the renames are durable before the journal goes",
        "            pass",
        [DURABILITY],
        "the journal is removed before the renames it guards are durable",
    ),
    m(
        "publish.journal-left",
        "publish",
        TXN_PY,
        "        journal.unlink()\n",
        "",
        [HUB, PUBLISH],
        "a finished commit leaves its journal",
    ),
    m(
        "publish.backups-left",
        "publish",
        TXN_PY,
        '                Path(step["backup"]).unlink(missing_ok=True)',
        "                pass",
        [HUB, PUBLISH],
        "a finished commit leaves its backups",
    ),
    m(
        "publish.rollback-outside",
        "publish",
        TXN_PY,
        "        if not _inside(root, final) or not _inside(root, tmp)",
        "        if False and not _inside(root, final) or not _inside(root, tmp)",
        [HUB],
        "a forged journal rolls back files outside the hub",
    ),
    m(
        "publish.rollback-keeps-created",
        "publish",
        TXN_PY,
        "            final.unlink(missing_ok=True)  # created by the commit",
        "            pass  # created by the commit",
        [HUB, PUBLISH],
        "a file the failed commit created stays",
    ),
    m(
        "publish.overwrite-card",
        "publish",
        PUBLISH_PY,
        "    if card_path.exists() and not force:",
        "    if False:",
        [PUBLISH],
        "a different card is overwritten without --force",
    ),
    m(
        "publish.overwrite-asset",
        "publish",
        PUBLISH_PY,
        "    if asset_there and file_hash(asset_path) != sha256 and not force:",
        "    if False:",
        [PUBLISH],
        "a different asset is overwritten without --force",
    ),
    m(
        "publish.no-op-republishes",
        "publish",
        PUBLISH_PY,
        "        if asset_there and _indexed(root, name, text, sha256):",
        "        if False:",
        [PUBLISH],
        "the same publication twice rewrites the hub",
    ),
    m(
        "publish.missing-asset-not-restored",
        "publish",
        PUBLISH_PY,
        "        if force or not asset_there:",
        "        if force:",
        [PUBLISH],
        "a missing asset is not restored by publishing again",
    ),
    m(
        "publish.staged-copy-left",
        "publish",
        PUBLISH_PY,
        "    finally:\n        staged.unlink(missing_ok=True)",
        "    finally:\n        pass",
        [PUBLISH],
        "a refused publish leaves its staged copy in the hub",
    ),
    m(
        "publish.no-strict-check",
        "publish",
        PUBLISH_PY,
        '        net = _build_checked(params, checkpoint, backbone, width, info.get("model_options"))',
        "        net = None",
        [PUBLISH],
        "a checkpoint of another architecture is published",
    ),
    m(
        "publish.index-not-updated",
        "publish",
        PUBLISH_PY,
        "        txn.stage(root / INDEX, index_bytes(index))\n",
        "",
        [PUBLISH],
        "index.json does not list the publication",
    ),
    # ------------------------------------------------------------------ weights
    m(
        "weights.build-before-read",
        "weights",
        NETWORK_PY,
        "    plan = plan_weights(path, layout=layout, architecture=architecture, width=width)\n",
        '    build(*check_model(architecture or "ghostnet", width or 1.0), num_classes=1000, in_channels=3)  # first\n'
        "    plan = plan_weights(path, layout=layout, architecture=architecture, width=width)\n",
        [WEIGHTS],
        "a bad checkpoint is found only after a network was built",
    ),
    m(
        "weights.not-strict",
        "weights",
        STRICT_PY,
        "        if strict:\n            error = CheckpointMismatchError(",
        "        if False:\n            error = CheckpointMismatchError(",
        [WEIGHTS],
        "a checkpoint that does not fit is loaded partly, silently",
    ),
    m(
        "weights.unexpected-ignored",
        "weights",
        STRICT_PY,
        "    unexpected = [n for n in ckpt if n not in shapes]",
        "    unexpected = []",
        [WEIGHTS],
        "keys the network lacks are ignored",
    ),
    m(
        "weights.empty-file-accepted",
        "weights",
        CHECKPOINT_PY,
        "    if size == 0:",
        "    if False:",
        [WEIGHTS],
        "an empty file is not named as empty",
    ),
    # ------------------------------------------------------------------ parallel ranges and writeback
    m(
        "ranges.overlap-read-back",
        "ranges",
        RANGES_PY,
        "        if offset <= self.frontier < end and",
        "        if offset == self.frontier and",
        [RANGES],
        "after a fall-back, the one stream's bytes past the hash's frontier are read back from the file, not hashed "
        "from memory",
    ),
    m(
        "ranges.stale-piece-index",
        "ranges",
        RANGES_PY,
        "                self.hash.index = 0\n",
        "",
        [RANGES],
        "after a fall-back, a lagging hash never reads the one stream's bytes back",
    ),
    m(
        "ranges.no-writeback",
        "ranges",
        RANGES_PY,
        "            start_writeback(self.fd, flushed, piece[1] - flushed)",
        "            pass",
        [RANGES],
        "pieces leave their whole flush to the final fsync",
    ),
    m(
        "ranges.no-part-writeback",
        "ranges",
        PARTFILE_PY,
        "            if not start_writeback(fd, self._file.tell() - n, n):",
        "            if False:",
        [DURABILITY],
        "one stream leaves its whole flush to the final fsync",
    ),
    # ------------------------------------------------------------------ mirror and fsck
    m(
        "mirror.records-ignore-stat",
        "mirror",
        VERIFIED_PY,
        "                    and {k: record.get(k) for k in now} == now)",
        "                    )",
        [MIRROR],
        "a sync trusts an asset changed since it was hashed",
    ),
    m(
        "mirror.check-keeps-corrupt-record",
        "mirror",
        MIRROR_PY,
        '                verified.forget(item["path"])',
        "                pass",
        [MIRROR],
        "a corrupt asset found by --check is still vouched for by the next sync",
    ),
    m(
        "mirror.superseded-kept",
        "mirror",
        MIRROR_PY,
        "    _unlink_inside(root, dropped)  # after the commit",
        "    # after the commit",
        [MIRROR],
        "an asset an updated card no longer links stays in the mirror",
    ),
    m(
        "mirror.prune-beyond-patterns",
        "mirror",
        MIRROR_PY,
        " and any(fnmatch.fnmatchcase(n.lower(), p) for p in wanted))",
        ")",
        [MIRROR],
        "prune removes models the patterns do not name",
    ),
    m(
        "mirror.fsck-superseded-is-a-problem",
        "mirror",
        FSCK_PY,
        "            if model_of_asset(name) in models:",
        "            if False:",
        [FSCK],
        "fsck fails a hub where publish --force kept the older asset",
    ),
]


# --------------------------------------------------------------------------- running


def copy_repo(dest: Path) -> None:
    """The files git knows (tracked and untracked, not ignored), as they are in the checkout now."""
    names = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def apply(text: str, mutation: Mutation) -> str | None:
    """The mutated text, or None when a snippet is not there exactly once (a stale mutation)."""
    for old, new in mutation.edits:
        if text.count(old) != 1:
            return None
        text = text.replace(old, new)
    return text


def run_tests(repo: Path, tests: tuple[str, ...], timeout: float) -> tuple[int, float, str]:
    env = {**os.environ, "GLOG_v": os.environ.get("GLOG_v", "3")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH", "")]))
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-header",
        "-o",
        "addopts=",
        *tests,
    ]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, time.monotonic() - start, "timed out"
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    failed = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    return proc.returncode, time.monotonic() - start, (failed or lines[-1:] or [""])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-k", action="append", default=[], help="run mutations whose id or module contains this word")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--show", metavar="ID", help="print the diff of one mutation and exit")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per pytest run (default 600)")
    args = parser.parse_args(argv)
    chosen = [mu for mu in MUTATIONS if not args.k or any(k in mu.id or k == mu.module for k in args.k)]
    if args.list:
        for mu in chosen:
            print(f"{mu.id:40} {mu.file:34} {' '.join(mu.tests)}")
        return 0
    if args.show:
        (mu,) = [mu for mu in MUTATIONS if mu.id == args.show]
        text = (ROOT / mu.file).read_text()
        mutated = apply(text, mu)
        if mutated is None:
            print(f"{mu.id}: STALE (a snippet is not in {mu.file} exactly once)")
            return 1
        sys.stdout.writelines(
            difflib.unified_diff(text.splitlines(True), mutated.splitlines(True), mu.file, mu.file + " (mutated)")
        )
        return 0

    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still removes the copy
    with tempfile.TemporaryDirectory(prefix="ghosthub-mutate-") as tmp:
        repo = Path(tmp)
        copy_repo(repo)
        print(f"mutation testing {len(chosen)} mutations in a copy at {repo}", flush=True)
        baseline: dict[tuple[str, ...], bool] = {}
        results: list[tuple[Mutation, str, float, str]] = []
        for mu in chosen:
            if mu.tests not in baseline:
                code, took, last = run_tests(repo, mu.tests, args.timeout)
                baseline[mu.tests] = code == 0
                print(
                    f"  baseline {' '.join(mu.tests)}: {'passes' if code == 0 else 'FAILS: ' + last} ({took:.0f} s)",
                    flush=True,
                )
            path = repo / mu.file
            original = path.read_text()
            mutated = apply(original, mu)
            if mutated is None:
                status, took, detail = "STALE", 0.0, "a snippet is not in the file exactly once"
            elif not baseline[mu.tests]:
                status, took, detail = "NO BASELINE", 0.0, "the tests fail without the mutation"
            else:
                path.write_text(mutated)
                try:
                    code, took, detail = run_tests(repo, mu.tests, args.timeout)
                finally:
                    path.write_text(original)
                status = {0: "SURVIVED", 1: "killed", -1: "killed (timeout)"}.get(code, f"killed (pytest exit {code})")
            results.append((mu, status, took, detail))
            print(f"  {status:18} {mu.id:40} {took:5.0f} s  {detail[:110]}", flush=True)

    print("\nscore per module (killed / scored; stale and no-baseline mutations are not scored)")
    for module in dict.fromkeys(mu.module for mu, *_ in results):
        scored = [r for r in results if r[0].module == module and r[1] not in ("STALE", "NO BASELINE")]
        killed = sum(r[1].startswith("killed") for r in scored)
        share = f"{100 * killed / len(scored):.0f}%" if scored else "-"
        print(f"  {module:10} {killed:3} / {len(scored):<3} {share}")
    scored = [r for r in results if r[1] not in ("STALE", "NO BASELINE")]
    killed = sum(r[1].startswith("killed") for r in scored)
    if scored:
        print(f"  {'all':10} {killed:3} / {len(scored):<3} {100 * killed / len(scored):.0f}%")
    left = [r for r in results if not r[1].startswith("killed")]
    if left:
        print("\nsurvivors and unscored mutations")
        for mu, status, _, _detail in left:
            reason = f" (known: {mu.known})" if mu.known else ""
            print(f"  {status:12} {mu.id}: {mu.what}{reason}; {mu.file}")
    return 1 if any(r[1] == "SURVIVED" and not r[0].known for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

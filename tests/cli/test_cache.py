"""`ghosthub download`, `verify` and `cache`: output and exit codes (0 ok, 1 a check failed, 2 usage)."""

from __future__ import annotations

import json
import os

import pytest

from ghosthub import config, load_card
from ghosthub.cli import main
from ghosthub.download import layout
from tests.support.fetching import assert_cache_sound, sha256, write_card
from tests.support.httpserver import AssetServer

DATA = os.urandom(50_000)


@pytest.fixture
def server():
    with AssetServer() as srv:
        srv.add("/a.ckpt", DATA)
        yield srv


@pytest.fixture
def cards(tmp_path, server):
    folder = tmp_path / "cards"
    write_card(folder, "tiny", server.url("/a.ckpt"), sha256(DATA))
    return folder


@pytest.fixture(autouse=True)
def sound_cache():
    yield
    assert_cache_sound(config.settings().cache_dir)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_download_prints_the_path(capsys, cards, server):
    code, out, _ = run(capsys, "download", "tiny", "--cards", cards)
    assert code == 0
    path = out.strip()
    assert open(path, "rb").read() == DATA
    code, out, _ = run(capsys, "download", "tiny", "--cards", cards, "--json")
    assert code == 0 and json.loads(out) == [{"name": "tiny", "path": path}]
    assert len(server.seen) == 1


def test_download_cache_dir_option(capsys, cards, tmp_path):
    code, out, _ = run(capsys, "download", "tiny", "--cards", cards, "--cache-dir", tmp_path / "elsewhere")
    assert code == 0 and out.startswith(str(tmp_path / "elsewhere"))


def test_download_failures_exit_1_and_the_rest_still_run(capsys, cards, server):
    code, out, err = run(capsys, "download", "nosuch", "tiny", "--cards", cards)
    assert code == 1 and "nosuch" in err and out.strip().endswith("a.ckpt")


def test_a_cache_folder_that_is_a_file_is_a_clear_error(capsys, cards, server, tmp_path):
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("a file")
    code, out, err = run(capsys, "download", "tiny", "--cards", cards, "--cache-dir", not_a_folder)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "cannot create the cache folder" in err and "Traceback" not in err
    assert "set GHOSTHUB_CACHE or --cache-dir DIR to a folder" in err and "cache_dir=" not in err
    assert not_a_folder.read_text() == "a file" and not server.seen


def test_download_offline_miss(capsys, cards, server):
    code, _, err = run(capsys, "download", "tiny", "--cards", cards, "--offline")
    assert code == 1 and "offline" in err and server.url("/a.ckpt") in err
    assert not server.seen


def test_verify_ok_mismatch_and_not_cached(capsys, cards, server):
    code, out, err = run(capsys, "verify", "tiny", "--cards", cards)
    assert code == 0 and out.startswith("NOT CACHED") and err == "0 OK, 0 MISMATCH, 1 NOT CACHED\n"
    assert run(capsys, "verify", "tiny", "--cards", cards, "--fail-on-missing")[0] == 1
    run(capsys, "download", "tiny", "--cards", cards)
    code, out, _ = run(capsys, "verify", "tiny", "--cards", cards)
    assert code == 0 and out.startswith("OK") and sha256(DATA) in out
    card = load_card(cards / "tiny.md")
    path = layout.asset_path(config.settings().cache_dir, card, card.weights_asset())
    path.write_bytes(b"\0" * len(DATA))
    code, out, _ = run(capsys, "verify", "tiny", "--cards", cards, "--json")
    (row,) = json.loads(out)
    assert code == 1 and row["status"] == "MISMATCH"
    assert row["expected"] == sha256(DATA) and row["actual"] == sha256(b"\0" * len(DATA))
    path.unlink()  # leave the cache sound


def test_verify_name_and_all_follow_one_rule_for_what_was_never_downloaded(capsys, cards):
    """NOT CACHED is reported and is no failure, for NAME and --all alike; --fail-on-missing makes it one."""
    for which in (["tiny"], ["--all"]):
        code, out, _ = run(capsys, "verify", *which, "--cards", cards)
        assert code == 0 and "NOT CACHED" in out and "tiny" in out
        assert run(capsys, "verify", *which, "--cards", cards, "--fail-on-missing")[0] == 1


def test_verify_file(capsys, tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    assert run(capsys, "verify", "--file", path, "--sha256", sha256(DATA)[:8].upper())[0] == 0
    code, out, _ = run(capsys, "verify", "--file", path, "--sha256", "00000000")
    assert code == 1 and "MISMATCH" in out and sha256(DATA) in out
    assert run(capsys, "verify", "--file", path)[0] == 2
    assert run(capsys, "verify", "--file", path, "--sha256", "xyz")[0] == 2
    assert run(capsys, "verify", "--file", tmp_path / "missing", "--sha256", "00000000")[0] == 1


def test_verify_cards_reports_every_problem(capsys, tmp_path, cards):
    bad = tmp_path / "bad"
    bad.mkdir()
    text = (cards / "tiny.md").read_text()
    text = text.replace("author: tests\n", "").replace("license: Apache2.0\n", "").replace(sha256(DATA), "nothex!")
    (bad / "broken.md").write_text(text)
    (bad / "unreadable.md").write_text("no front matter here")
    (bad / "dup.md").write_text((cards / "tiny.md").read_text())
    (bad / "dup2.md").write_text((cards / "tiny.md").read_text())
    code, out, _ = run(capsys, "verify", "--cards", bad)
    assert code == 1
    for fact in ("'author'", "'license'", "asset-sha256", "no front-matter", "used by another card"):
        assert fact in out, fact
    assert run(capsys, "verify", "--cards", cards)[0] == 0


def test_verify_without_anything_to_check_is_a_usage_error(capsys):
    assert run(capsys, "verify")[0] == 2


def test_cache_ls_rm_prune_clear(capsys, cards):
    assert run(capsys, "cache", "ls")[0] == 0
    run(capsys, "download", "tiny", "--cards", cards)
    code, out, _ = run(capsys, "cache", "ls")
    assert code == 0 and "tiny" in out and "48.8 KiB" in out
    code, out, _ = run(capsys, "cache", "ls", "--json")
    (row,) = json.loads(out)
    assert row["name"] == "tiny" and row["size"] == len(DATA) and row["verified_at"] and row["sha256"] == sha256(DATA)
    code, out, _ = run(capsys, "cache", "prune", "--cards", cards)
    assert code == 0 and not out
    code, out, _ = run(capsys, "cache", "prune", "--dry-run")
    assert code == 0 and "would remove" in out and "tiny" in out, "without its card folder the asset is unreferenced"
    assert run(capsys, "cache", "rm", "tiny")[0] == 0
    assert run(capsys, "cache", "rm", "tiny")[0] == 1
    code, out, _ = run(capsys, "cache", "clear", "--yes")
    assert code == 0 and "registry" in out
    assert run(capsys, "cache")[0] == 2


def test_cache_ls_total_and_clear_needs_confirmation(capsys, cards, monkeypatch):
    """`cache ls` ends with a total and the path; `cache clear` asks, or wants --yes."""
    import io

    from ghosthub import config

    root = config.settings().cache_dir
    run(capsys, "download", "tiny", "--cards", cards)
    code, out, _ = run(capsys, "cache", "ls")
    lines = out.splitlines()
    assert lines[-2] == f"1 file(s), 48.8 KiB in {root}"
    assert lines[-1].startswith("  + registry/ ") and lines[-1].endswith(" KiB: the card folders' parsed front-matter")
    code, out, _ = run(capsys, "cache", "clear", "--dry-run")
    assert code == 0 and f"would remove {root / 'assets'}" in out and (root / "assets").is_dir()
    code, _, err = run(capsys, "cache", "clear")  # stdin is not a terminal here
    assert code == 2 and "--yes" in err and (root / "assets").is_dir()
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    assert run(capsys, "cache", "clear")[0] == 1 and (root / "assets").is_dir()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    code, out, _ = run(capsys, "cache", "clear")
    assert code == 0 and not (root / "assets").exists() and "freed " in out and str(root) in out


def test_a_large_download_says_when_it_starts_and_ends_where_no_bar_shows(capsys, tmp_path):
    """Through a pipe a large download is two lines (start, end); a small one stays quiet."""
    big = os.urandom(17 << 20)  # past LogLines.LOG_FROM
    with AssetServer() as srv:
        srv.add("/big.ckpt", big)
        write_card(tmp_path / "cards", "big", srv.url("/big.ckpt"), sha256(big))
        code, out, err = run(capsys, "download", "big", "--cards", tmp_path / "cards")
    assert code == 0 and out.strip().endswith("big.ckpt")
    lines = err.splitlines()
    assert lines[0] == "downloading big.ckpt (17.0 MiB)", err
    assert lines[1].startswith("big.ckpt: 17.0 MiB received in ") and lines[1].endswith("/s)")
    assert len(lines) == 2


def test_a_small_download_says_nothing_but_its_path(capsys, cards):
    code, out, err = run(capsys, "download", "tiny", "--cards", cards)
    assert code == 0 and out.strip().endswith("a.ckpt") and err == ""

"""The cache layout, its safety against hostile links and names, records, verify, ls/rm/prune/clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ghosthub import Asset, ModelCard
from ghosthub.download import layout, parts
from ghosthub.download.cache import Cache
from ghosthub.errors import LinkError
from tests.support.fetching import fast_settings, sha256, write_card
from tests.support.paths import REPO

DIGEST = "ae7771cb"


def card_with(name="tiny", link="https://h/x/tiny.ckpt", sha=DIGEST) -> tuple[ModelCard, Asset]:
    asset = Asset("ckpt", link, sha)
    card = ModelCard(
        title=None,
        fields={"model-name": name, "asset": [{"file-format": "ckpt", "asset-link": link, "asset-sha256": sha}]},
    )
    return card, asset


# --------------------------------------------------------------------------- layout and safety


def test_layout(tmp_path):
    card, asset = card_with(sha="AE7771CB")
    path = layout.asset_path(tmp_path, card, asset)
    assert path == tmp_path / "assets" / "tiny" / "ae7771cb" / "tiny.ckpt"
    assert layout.record_path(path).name == ".tiny.ckpt.json"
    assert layout.lock_path(path).name == ".tiny.ckpt.lock"
    part = parts.new_part(path)
    assert part.parent == path.parent and part.name.startswith(".tiny.ckpt.") and part.name.endswith(".part")
    assert parts.new_part(path) != part, "no two writers share a temporary file"


@pytest.mark.parametrize(
    "link",
    [
        "http://h/../../x",
        "http://h/a/%2e%2e%2f%2e%2e%2fx",
        "http://h/a/..%2f..%2f..%2fetc%2fpasswd",
        "http://h/a/%2fetc%2fpasswd",
        "http://h/a/x%00.ckpt",
        "http://h/a/..\\..\\x",
        "/etc/passwd",
        "../../../../etc/passwd",
        "http://h/",
        "http://h/..",
        "http://h/.lock",
        "http://h/%2e%2e",
        "file:///etc/passwd",
    ],
)
def test_no_link_writes_outside_the_asset_folder(tmp_path, link):
    card, asset = card_with(link=link)
    path = layout.asset_path(tmp_path, card, asset)
    assert path.parent == tmp_path / "assets" / "tiny" / DIGEST
    assert not path.name.startswith(".") and "\x00" not in path.name and "/" not in path.name


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "/abs", "a\x00b", "", "a..b", "x" * 200, None])
def test_unsafe_model_names_are_refused(tmp_path, name):
    card, asset = card_with(name=name)
    with pytest.raises(LinkError):
        layout.asset_path(tmp_path, card, asset)


@pytest.mark.parametrize("sha", ["../../x", "zzzzzzzz", "1234", "ae7771cb/..", ""])
def test_digests_that_are_not_hex_are_refused(tmp_path, sha):
    card, asset = card_with(sha=sha)
    with pytest.raises(LinkError):
        layout.asset_path(tmp_path, card, asset)


def test_a_symlinked_model_folder_pointing_out_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "cache" / "assets").mkdir(parents=True)
    (tmp_path / "cache" / "assets" / "tiny").symlink_to(outside)
    card, asset = card_with()
    with pytest.raises(LinkError, match="outside the cache"):
        layout.asset_path(tmp_path / "cache", card, asset)


@given(st.text(max_size=300), st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=10))
def test_safe_file_name_property(link, fmt):
    name = layout.safe_file_name(link, fmt)
    assert name and len(name) <= 128
    assert not name.startswith(".") and name not in ("..", ".")
    assert all(c.isascii() and (c.isalnum() or c in "._+-") for c in name)


# --------------------------------------------------------------------------- records and cheap checks


def test_cached_path_is_cheap_and_exact(tmp_path):
    data = b"weights"
    card, asset = card_with(sha=sha256(data)[:8])
    settings = fast_settings()
    assert Cache(settings).vouched(card, asset) is None
    path = layout.asset_path(settings.cache_dir, card, asset)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    assert Cache(settings).vouched(card, asset) is None, "an unrecorded file is not vouched for"
    assert Cache(settings).verify(card, asset).status == "OK"
    assert Cache(settings).vouched(card, asset) == path
    path.write_bytes(b"WEIGHTS")  # same size, new mtime
    assert Cache(settings).vouched(card, asset) is None
    # Each recorded fact counts on its own: a record that differs from the file in one of them vouches for nothing.
    path.write_bytes(data)
    assert Cache(settings).verify(card, asset).status == "OK"
    record = layout.read_record(path)
    record.pop("version")
    layout.write_record(path, record)  # the guard: rewriting the record as it is keeps the file vouched for
    assert Cache(settings).vouched(card, asset) == path
    for key, other in (
        ("size", record["size"] + 1),
        ("mtime_ns", record["mtime_ns"] + 1),
        ("sha256", sha256(b"other")),
    ):
        layout.write_record(path, {**record, key: other})
        assert Cache(settings).vouched(card, asset) is None, f"a record with another {key} vouched for the file"


def test_cached_path_imports_no_network_stack(tmp_path):
    code = (
        "import sys, ghosthub; from ghosthub.download.cache import Cache;"
        "card = ghosthub.get_card('ghostnet_050');"
        "assert Cache().vouched(card) is None;"
        "print(sorted(m for m in ('requests', 'urllib3', 'tqdm', 'filelock', 'yaml', 'mindspore', 'dataclasses', "
        "'typing', 'hashlib') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", "a plain card is read without YAML, and a cache check imports nothing heavy"


def test_verify_reports_and_forgets_a_corrupt_file(tmp_path):
    data = b"weights"
    card, asset = card_with(sha=sha256(data))
    settings = fast_settings()
    assert Cache(settings).verify(card, asset).status == "NOT CACHED"
    path = layout.asset_path(settings.cache_dir, card, asset)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    ok = Cache(settings).verify(card, asset)
    assert ok.ok and ok.actual == sha256(data) and layout.read_record(path)["verified_at"]
    stat = path.stat()
    path.write_bytes(b"wEights")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # bit rot: size and mtime unchanged
    bad = Cache(settings).verify(card, asset)
    assert bad.status == "MISMATCH" and bad.expected == sha256(data) and bad.actual == sha256(b"wEights")
    assert layout.read_record(path) is None, "a mismatching file is never served from its old record"
    assert Cache(settings).vouched(card, asset) is None


# --------------------------------------------------------------------------- ls / rm / prune / clear


KEPT = card_with("kept", "https://h/kept.ckpt", sha256(b"kept"))


def at(root: Path) -> Cache:
    """The Cache of the folder ``root``."""
    from ghosthub import config

    return Cache(config.settings(cache_dir=root))


def populate(root: Path) -> dict[str, Path]:
    """A cache with: a kept asset, an unreferenced one, a dead part, a live part, other folders."""
    kept_card, kept_asset = KEPT
    gone_card, gone_asset = card_with("gone", "https://h/gone.ckpt", sha256(b"gone"))
    kept = layout.asset_path(root, kept_card, kept_asset)
    gone = layout.asset_path(root, gone_card, gone_asset)
    for path, data, asset in ((kept, b"kept", kept_asset), (gone, b"gone", gone_asset)):
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        layout.rehash(path, asset)
        layout.lock_path(path).touch()
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    dead = parts.new_part(kept)
    dead = dead.with_name(dead.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    dead.write_bytes(b"half")
    parts.part_meta(dead).write_text("{}")
    live = parts.new_part(kept)
    live.write_bytes(b"in progress")
    for folder in ("registry", "hubs"):
        (root / folder).mkdir()
        (root / folder / "keep.json").write_text("{}")
    (root / "mine.txt").write_text("a user's file")
    return {"kept": kept, "gone": gone, "dead": dead, "live": live}


def test_entries_list_what_is_cached(tmp_path):
    files = populate(tmp_path)
    listed = {e.name: e for e in at(tmp_path).ls()}
    assert set(listed) == {"kept", "gone"}
    assert listed["kept"].path == files["kept"] and listed["kept"].size == 4
    assert listed["kept"].sha256 == sha256(b"kept") and listed["kept"].verified_at


def test_prune_removes_dead_parts_and_unreferenced_files_only(tmp_path):
    files = populate(tmp_path)
    dry = at(tmp_path).prune([KEPT[0]], dry_run=True)
    assert files["gone"] in dry and files["gone"].exists()
    removed = at(tmp_path).prune([KEPT[0]])
    assert set(removed) == set(dry)
    assert files["kept"].exists() and layout.read_record(files["kept"])
    assert files["live"].exists(), "a download in progress is never pruned"
    assert not files["gone"].exists() and not files["dead"].exists() and not parts.part_meta(files["dead"]).exists()
    assert not (tmp_path / "assets" / "gone").exists()
    assert (tmp_path / "registry" / "keep.json").exists() and (tmp_path / "hubs" / "keep.json").exists()


def test_remove_one_model(tmp_path):
    files = populate(tmp_path)
    removed = at(tmp_path).rm("gone")
    assert files["gone"] in removed and not files["gone"].exists() and files["kept"].exists()
    assert at(tmp_path).rm("gone") == []
    with pytest.raises(LinkError):
        at(tmp_path).rm("../registry")


def test_clear_removes_ghosthubs_folders_only(tmp_path):
    populate(tmp_path)
    for name in ("compile", "onnx", "publish"):  # MindSpore's compile cache, ONNX exports, staged publishes
        (tmp_path / name / "x").mkdir(parents=True)
    (tmp_path / "my-notes").mkdir()
    removed = at(tmp_path).clear()
    assert {p.name for p in removed} == {"assets", "registry", "hubs", "compile", "onnx", "publish"}
    assert sorted(os.listdir(tmp_path)) == ["mine.txt", "my-notes"]


def test_every_folder_the_code_writes_in_the_cache_is_in_the_one_list():
    """`cache clear` and `cache ls` know a folder only if CACHE_FOLDERS names it: a new one must be added there."""
    import re

    from ghosthub.constants import CACHE_FOLDERS

    written = set()
    for path in (REPO / "ghosthub").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r"cache_dir\)?\s*/\s*\"([A-Za-z0-9_.-]+)\"", text))
        written |= set(re.findall(r"join\(os\.fspath\(cache_dir\),\s*\"([A-Za-z0-9_.-]+)\"", text))
    written |= {layout.ASSETS}
    assert {"compile", "onnx", "hubs", "registry", "publish", "architectures"} <= written, "the scan finds the folders"
    assert written <= set(CACHE_FOLDERS), written - set(CACHE_FOLDERS)


def test_prune_through_the_api_keeps_what_cards_refer_to(tmp_path):
    import ghosthub

    data = b"weights"
    settings = fast_settings()
    card = write_card(tmp_path / "cards", "carded", "https://h/carded.ckpt", sha256(data))
    path = layout.asset_path(settings.cache_dir, card, card.weights_asset())
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    orphan_card, orphan_asset = card_with("orphan", "https://h/o.ckpt", sha256(b"o"))
    orphan = layout.asset_path(settings.cache_dir, orphan_card, orphan_asset)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"o")
    removed = ghosthub.prune_cache(cards=[tmp_path / "cards"])
    assert removed == [orphan] and path.exists()


def test_default_cache_folder_is_platformdirs(monkeypatch, tmp_path):
    import platformdirs

    from ghosthub import config

    monkeypatch.delenv("GHOSTHUB_CACHE")
    for xdg in (None, str(tmp_path / "xdg")):
        for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME"):
            if xdg is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, xdg)
        assert config.settings().cache_dir == Path(platformdirs.user_cache_dir("ghosthub", appauthor=False))
        assert config.user_cards_dir() == Path(platformdirs.user_data_dir("ghosthub", appauthor=False)) / "cards"
    assert config.settings(cache_dir=tmp_path / "arg").cache_dir == tmp_path / "arg"


def test_network_settings_from_the_environment():
    from ghosthub import config
    from ghosthub.errors import ConfigError

    env = {"GHOSTHUB_TIMEOUT": "2.5", "GHOSTHUB_RETRIES": "2", "GHOSTHUB_MAX_SIZE": "10M", "GHOSTHUB_CACHE": "/c"}
    settings = config.settings(env=env)
    assert (settings.read_timeout, settings.retries, settings.max_size) == (2.5, 2, 10 << 20)
    for bad in ({"GHOSTHUB_RETRIES": "0"}, {"GHOSTHUB_TIMEOUT": "soon"}):
        with pytest.raises(ConfigError):
            config.settings(env={**env, **bad})

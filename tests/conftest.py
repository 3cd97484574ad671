"""Shared fixtures: every test runs with its own empty cache and user folders."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("GLOG_v", "3")  # MindSpore's log lines would bury pytest's output

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "cards" / "ghostnet_050.md"



def _find_corpus():
    """The public MindSpore Hub card corpus, which lives beside the checkout (../shared)."""
    candidates = [os.environ.get("GHOSTHUB_TEST_CORPUS"), REPO.parent / "shared/corpus/mshub-cards", "/work/shared/corpus/mshub-cards"]
    for candidate in filter(None, candidates):
        if Path(candidate).is_dir():
            return Path(candidate)
    return None


CORPUS = _find_corpus()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real cache, cards or hub."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("GHOSTHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GHOSTHUB_CACHE", str(home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    monkeypatch.setenv("GHOSTHUB_NO_PROGRESS", "1")
    # Downloads from the tests' own server on 127.0.0.1 never go through the caller's proxy.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return home


@pytest.fixture
def seed_text():
    return SEED.read_text(encoding="utf-8")

"""Every test and doctest runs with its own empty cache and user folders, and no proxy."""

import os

import pytest

os.environ.setdefault("GLOG_v", "3")  # MindSpore's log lines would bury pytest's output


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


def pytest_unconfigure(config):
    """MindSpore 2.10 prints a traceback for every Cell still alive at interpreter exit (cells held by
    module-level fixtures and caches): thousands of lines after pytest's summary. Nothing is left to
    free by then, so its __del__ is switched off once the session is over."""
    import sys

    cell = sys.modules.get("mindspore.nn.cell")
    if cell is not None:
        cell.Cell.__del__ = lambda self: None

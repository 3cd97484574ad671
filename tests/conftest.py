"""Shared fixtures: every test gets its own cache folder and a clean ghosthub environment."""

import pytest

_ISOLATED = (
    "GHOSTHUB_OFFLINE",
    "GHOSTHUB_MIRROR",
    "GHOSTHUB_TOKEN",
    "GHOSTHUB_CARDS",
    "GHOSTHUB_HUB",
    "GHOSTHUB_MAX_SIZE",
    "GHOSTHUB_TIMEOUT",
    "GHOSTHUB_RETRIES",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test reads or writes the user's cache, or follows the caller's network settings."""
    for name in _ISOLATED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GHOSTHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GHOSTHUB_NO_PROGRESS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

"""Fixtures the tests share. The isolation fixture (own cache and user folders, no proxy) is in ../conftest.py.

The fetch tests share one set: ``server`` serves the module's ``served`` asset on 127.0.0.1,
``card`` names it, ``settings`` has short waits, ``sound_cache`` checks the cache once the test is
done. A module sets what it serves by defining its own ``served`` fixture (and its own
``settings`` where it needs other ones).
"""

import pytest

from tests.support.fetching import Served, assert_cache_sound, fast_settings, write_card
from tests.support.httpserver import AssetServer
from tests.support.paths import SEED
from tests.support.s3 import Bucket, MotoServer


@pytest.fixture
def seed_text():
    return SEED.read_text(encoding="utf-8")


@pytest.fixture
def served() -> Served:
    """What ``server`` serves and ``card`` names: each module that uses them says so."""
    pytest.fail("a test module that uses the server or card fixture defines a served() fixture", pytrace=False)


@pytest.fixture
def server(served):
    with AssetServer() as srv:
        srv.add(served.path, served.data)
        yield srv


@pytest.fixture
def card(tmp_path, server, served):
    return write_card(tmp_path / "cards", served.name, server.url(served.path), served.digest)


@pytest.fixture
def settings():
    return fast_settings()


@pytest.fixture
def sound_cache(settings):
    """Ends the test with the cache invariants checked; a module opts in with ``usefixtures``."""
    yield
    assert_cache_sound(settings.cache_dir)


@pytest.fixture(scope="session")
def moto():
    """moto's S3 API server on 127.0.0.1, one for the session (each test takes a bucket of its own)."""
    pytest.importorskip("boto3")
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def s3(moto, monkeypatch, tmp_path) -> Bucket:
    """A fresh bucket on moto, the AWS variables pointing at it, and a cache of this test's own."""
    monkeypatch.setenv("GHOSTHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GHOSTHUB_NO_PROGRESS", "1")
    return Bucket(moto.url, tmp_path, monkeypatch)

"""Fixtures the tests share. The isolation fixture (own cache and user folders, no proxy) is in ../conftest.py."""

import pytest

from tests.support.paths import SEED


@pytest.fixture
def seed_text():
    return SEED.read_text(encoding="utf-8")

"""Shared test data: the repository, the seed card, the MindSpore Hub card corpus.

The isolation fixture is in ../conftest.py."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "cards" / "ghostnet_050.md"


def _find_corpus():
    """The public MindSpore Hub card corpus, which lives beside the checkout (../shared)."""
    candidates = [
        os.environ.get("GHOSTHUB_TEST_CORPUS"),
        REPO.parent / "shared/corpus/mshub-cards",
        "/work/shared/corpus/mshub-cards",
    ]
    for candidate in filter(None, candidates):
        if Path(candidate).is_dir():
            return Path(candidate)
    return None


CORPUS = _find_corpus()


@pytest.fixture
def seed_text():
    return SEED.read_text(encoding="utf-8")

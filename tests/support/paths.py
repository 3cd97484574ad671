"""Where the tests find the repository, the seed card and the MindSpore Hub card corpus."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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

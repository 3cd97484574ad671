"""A publish killed mid-commit (SIGKILL, in another process) is rolled back by the next publish, which then lands."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from publish_helpers import save_checkpoints, tree

from ghosthub.hub.index import INDEX
from ghosthub.hub.transaction import JOURNAL
from ghosthub.tasks.publish import publish

pytest.importorskip("mindspore")  # the checkpoints are real ones

ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.date(2026, 11, 27)

# Replaces files as publish asks, and dies like a killed process right after the card is in place:
# the journal, the new asset and the new card are there, the index is not updated, nothing rolls back.
KILLED_PUBLISH = textwrap.dedent(
    """
    import os, signal, sys
    real_replace = os.replace

    def replace_then_die(src, dst, **kw):
        real_replace(src, dst, **kw)
        if str(dst).endswith(".md"):
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace_then_die
    from ghosthub.tasks.publish import publish
    publish(sys.argv[1], name="tiny_050", hub=sys.argv[2], width=0.5, force=True, provenance=None)
    """
)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return save_checkpoints(tmp_path_factory.mktemp("ckpt"), (1, 2))


def test_a_killed_publish_is_rolled_back_by_the_next_publish(checkpoints, tmp_path):
    hub = tmp_path / "hub"
    publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, today=TODAY, provenance=None)
    before = tree(hub)
    old_card = (hub / "cards" / "tiny_050.md").read_bytes()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISH, str(checkpoints[2]), str(hub)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    # The precondition: the process died mid-commit, leaving the journal and a half-replaced hub.
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (hub / JOURNAL).exists()
    assert (hub / "cards" / "tiny_050.md").read_bytes() != old_card, "the kill must land after the card was replaced"
    assert tree(hub) != before

    result = publish(checkpoints[1], name="again_050", hub=hub, width=0.5, today=TODAY, provenance=None)
    assert result.changed
    after = tree(hub)
    mine = {"cards/again_050.md", f"assets/{result.asset_path.name}", "models/again_050.html"}
    # The killed publish is gone without a trace: no journal, no backup, no temporary, its card and page
    # rolled back (index.json and index.html list the new model, as they must).
    assert {k: v for k, v in after.items() if k not in mine and k not in (INDEX, "index.html")} == {
        k: v for k, v in before.items() if k not in (INDEX, "index.html")
    }
    index = json.loads((hub / INDEX).read_text())
    assert index["models"]["tiny_050"] == json.loads(before[INDEX])["models"]["tiny_050"]
    # ... and the new publish landed.
    assert set(index["models"]) == {"tiny_050", "again_050"}
    assert result.asset_path.read_bytes() == checkpoints[1].read_bytes()
    assert mine <= set(after)

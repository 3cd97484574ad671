"""Publishing: checkpoint -> verified asset + card + index.json, never overwriting without force, undone if killed."""

import datetime
import gc
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import mindspore as ms
import numpy as np
import pytest

import ghosthub
from ghosthub.cli import main
from ghosthub.errors import PublishError
from ghosthub.hub.index import FORMAT, INDEX
from ghosthub.hub.serve import serve
from ghosthub.hub.transaction import JOURNAL
from ghosthub.modelcard import load_card
from ghosthub.tasks.publish import publish
from tests.support.paths import REPO
from tests.support.publishing import save_checkpoints, tree

TODAY = datetime.date(2026, 11, 27)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    paths = save_checkpoints(root, (1, 2))
    paths["wide"] = save_checkpoints(root, (3,), width=1.0)[3].rename(root / "wide.ckpt")
    return paths


def test_publish_writes_asset_card_and_index(checkpoints, tmp_path):
    hub = tmp_path / "hub"
    ckpt = checkpoints[1]
    sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    result = publish(
        ckpt, name="tiny_050", hub=hub, width=0.5, dataset="toy", metrics={"top1": 97.5, "top5": 100.0}, today=TODAY
    )
    assert result.changed and result.sha256 == sha
    assert result.asset_path == hub / "assets" / f"tiny_050-{sha[:8]}.ckpt"
    assert result.asset_path.read_bytes() == ckpt.read_bytes()
    card = load_card(hub / "cards" / "tiny_050.md")
    assert card == result.card
    assert card.assets[0].sha256 == sha and len(card.assets[0].sha256) == 64
    assert card.assets[0].link == f"../assets/tiny_050-{sha[:8]}.ckpt"
    assert card.fields["update-time"] == "2026-11-27"
    assert card.fields["evaluation"] == "top1acc97.50 | top5acc100.00"
    assert card.metrics == {"top1": 97.5, "top5": 100.0}
    assert card.fields["width"] == "0.5" and card.backbone == "ghostnet"
    assert card.fields["library-name"] == "ghosthub", "the hub's URL in repo-link does not say what builds it"
    assert (
        "| tiny_050 | ghostnet | 0.5 | toy | 97.50 | 100.00 |" in card.body and 'ghosthub.load("tiny_050"' in card.body
    )
    index = json.loads((hub / "index.json").read_text())
    entry = index["models"]["tiny_050"]
    assert index["format"] == FORMAT
    assert entry["card"] == "cards/tiny_050.md"
    assert entry["card-sha256"] == hashlib.sha256((hub / "cards" / "tiny_050.md").read_bytes()).hexdigest()
    assert entry["assets"] == [
        {"path": f"assets/tiny_050-{sha[:8]}.ckpt", "file-format": "ckpt", "sha256": sha, "size": ckpt.stat().st_size}
    ]
    assert not [p for p in hub.rglob(".*") if p.name != ".publish.lock"]  # no temporaries, no journal


def test_published_model_loads_from_the_folder_and_over_http(checkpoints, tmp_path):
    hub = tmp_path / "hub"
    publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, dataset="toy", today=TODAY)
    x = ms.Tensor(np.ones((1, 3, 32, 32), np.float32))
    net = ghosthub.load("tiny_050", cards=[hub / "cards"])
    local = net(x).asnumpy()
    del net
    with serve(hub) as server:
        other = tmp_path / "remote-cards"
        other.mkdir()
        card = load_card(hub / "cards" / "tiny_050.md")
        (other / "tiny_050.md").write_text(
            (hub / "cards" / "tiny_050.md").read_text().replace("../assets/", server.url + "assets/")
        )
        net = ghosthub.load("tiny_050", cards=[other], cache_dir=tmp_path / "other-cache")
        remote = net(x).asnumpy()
        del net
    gc.collect()
    np.testing.assert_array_equal(local, remote)
    assert card.fields["model-name"] == "tiny_050"


def test_base_url_makes_absolute_links(checkpoints, tmp_path):
    result = publish(
        checkpoints[1], name="tiny_050", hub=tmp_path / "hub", width=0.5, base_url="https://hub.example.org/zoo/"
    )
    assert result.card.assets[0].link == f"https://hub.example.org/zoo/assets/tiny_050-{result.sha256[:8]}.ckpt"


def test_same_publication_twice_is_a_no_op(checkpoints, tmp_path):
    hub = tmp_path / "hub"
    publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, today=TODAY)
    before = tree(hub)
    again = publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, today=TODAY + datetime.timedelta(days=3))
    assert not again.changed and tree(hub) == before


def test_republishing_restores_a_missing_asset_or_index_entry(checkpoints, tmp_path):
    hub = tmp_path / "hub"
    first = publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, today=TODAY)
    complete = tree(hub)
    first.asset_path.unlink()
    again = publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, today=TODAY + datetime.timedelta(days=3))
    assert again.changed and first.asset_path.read_bytes() == checkpoints[1].read_bytes()
    assert {k: v for k, v in tree(hub).items() if k != "index.json"} == {
        k: v for k, v in complete.items() if k != "index.json"
    }
    (hub / "index.json").unlink()
    again = publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5)
    assert again.changed
    entry = json.loads((hub / "index.json").read_text())["models"]["tiny_050"]
    assert entry["card-sha256"] == hashlib.sha256((hub / "cards" / "tiny_050.md").read_bytes()).hexdigest()
    assert not publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5).changed


def test_a_training_record_of_another_checkpoint_is_not_published(checkpoints, tmp_path):
    from ghosthub.errors import PublishWarning

    record = {
        "checkpoint_sha256": hashlib.sha256(checkpoints[2].read_bytes()).hexdigest(),
        "seed": 2,
        "recipe_digest": "ab" * 32,
        "dataset_digest": "cd" * 32,
    }
    hub = tmp_path / "hub"
    with pytest.raises(PublishError, match="describes another checkpoint"):
        publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, provenance=record)
    assert not (hub / "cards" / "tiny_050.md").exists()
    # The record found beside a checkpoint (provenance="auto") may describe another one: left out, with a warning.
    (checkpoints[1].parent / "provenance.json").write_text(json.dumps(record))
    with pytest.warns(PublishWarning, match="publishing without provenance"):
        result = publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5)
    (checkpoints[1].parent / "provenance.json").unlink()
    assert "Provenance" not in result.card.body and "ab" * 32 not in (hub / "cards" / "tiny_050.md").read_text()
    matching = publish(checkpoints[2], name="tiny2_050", hub=hub, width=0.5, provenance=record)
    assert "ab" * 32 in matching.card_path.read_text()


def test_never_overwrites_a_different_card_without_force(checkpoints, tmp_path, capsys):
    hub = tmp_path / "hub"
    first = publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, today=TODAY)
    before = tree(hub)
    with pytest.raises(PublishError, match="already describes other weights") as info:
        publish(checkpoints[2], name="tiny_050", hub=hub, width=0.5)
    assert "pass force=True to replace it" in str(info.value)  # the Python caller's words; --force in the command
    assert main(["publish", str(checkpoints[2]), "--name", "tiny_050", "--hub", str(hub), "--width", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "pass --force to replace it" in err and "force=True" not in err
    assert tree(hub) == before
    second = publish(checkpoints[2], name="tiny_050", hub=hub, width=0.5, force=True)
    assert second.changed and second.sha256 != first.sha256
    assert load_card(hub / "cards" / "tiny_050.md").assets[0].sha256 == second.sha256
    index = json.loads((hub / "index.json").read_text())
    assert index["models"]["tiny_050"]["assets"][0]["sha256"] == second.sha256
    # Both assets stay: the old one may be referenced by copies of the old card.
    assert {p.name for p in (hub / "assets").iterdir() if not p.name.startswith(".")} == {
        f"tiny_050-{first.sha256[:8]}.ckpt",
        f"tiny_050-{second.sha256[:8]}.ckpt",
    }


def test_never_overwrites_a_different_asset_without_force(checkpoints, tmp_path):
    hub = tmp_path / "hub"
    sha = hashlib.sha256(checkpoints[1].read_bytes()).hexdigest()
    (hub / "assets").mkdir(parents=True)
    squatter = hub / "assets" / f"tiny_050-{sha[:8]}.ckpt"
    squatter.write_bytes(b"something else")
    with pytest.raises(PublishError, match="other content"):
        publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5)
    assert squatter.read_bytes() == b"something else"
    assert not (hub / "cards" / "tiny_050.md").exists() and not (hub / "index.json").exists()


def test_architecture_mismatch_is_refused(checkpoints, tmp_path, capsys):
    hub = tmp_path / "hub"
    with pytest.raises(ghosthub.CheckpointMismatchError, match="shape mismatches") as info:
        publish(checkpoints["wide"], name="wrong_050", hub=hub, width=0.5)
    message = str(info.value)
    assert str(checkpoints["wide"]) in message and ".tmp" not in message, "name the user's file, not the staged copy"
    assert "strict=False" not in message and "check backbone= and width= against the checkpoint" in message
    assert not hub.exists(), "a failed publish removes the hub folders it made"
    assert main(["publish", str(checkpoints["wide"]), "--name", "wrong_050", "--hub", str(hub), "--width", "0.5"]) == 1
    assert "check --backbone and --width against the checkpoint" in capsys.readouterr().err  # as the command says it
    assert not hub.exists()


@pytest.mark.parametrize("damage", ["truncated", "not a checkpoint"])
def test_a_file_that_is_no_checkpoint_is_refused_naming_it(checkpoints, tmp_path, damage):
    data = checkpoints[1].read_bytes()
    bad = tmp_path / "in" / "best.ckpt"
    bad.parent.mkdir()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x0f" * 4096)
    hub = tmp_path / "hub"
    with pytest.raises(ghosthub.WeightsError) as info:
        publish(bad, name="broken_050", hub=hub, width=0.5)
    message = str(info.value)
    assert str(bad) in message and ".tmp" not in message and "incoming" not in message
    assert not hub.exists(), "nothing staged or left, not even an empty folder"


def test_a_failed_publish_into_a_folder_the_user_made_keeps_the_folder(checkpoints, tmp_path):
    hub = tmp_path / "mine"
    hub.mkdir()
    (tmp_path / "bad.ckpt").write_bytes(b"\x0f" * 4096)
    with pytest.raises(ghosthub.WeightsError):
        publish(tmp_path / "bad.ckpt", name="broken_050", hub=hub, width=0.5)
    assert hub.is_dir() and list(hub.iterdir()) == [], "the user's folder stays; the cards/ and assets/ made go"


def test_interrupted_publish_leaves_the_hub_as_it_was(checkpoints, tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, today=TODAY)
    before = tree(hub)
    real_replace, calls = os.replace, []

    def interrupted(src, dst):
        calls.append(dst)
        if str(dst).endswith(".md"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish(checkpoints[2], name="other_050", hub=hub, width=0.5)
    monkeypatch.undo()
    assert tree(hub) == before
    assert any(str(c).endswith(".ckpt") for c in calls)  # the asset had been moved in, then rolled back


@pytest.mark.parametrize("name", ["../evil", "a/b", "with space", ""])
def test_unsafe_names(checkpoints, tmp_path, name):
    with pytest.raises(PublishError, match="safe model name"):
        publish(checkpoints[1], name=name, hub=tmp_path / "hub", width=0.5)
    assert not (tmp_path / "hub").exists()


def test_bad_inputs(checkpoints, tmp_path):
    with pytest.raises(PublishError, match="not a URL"):
        publish(checkpoints[1], name="x_050", hub="https://example.org/hub", width=0.5)
    with pytest.raises(PublishError, match=".ckpt or .safetensors"):
        publish(tmp_path / "weights.bin", name="x_050", hub=tmp_path / "hub", width=0.5)
    with pytest.raises(PublishError, match="no such file"):
        publish(tmp_path / "missing.ckpt", name="x_050", hub=tmp_path / "hub", width=0.5)


def test_publish_with_eval_dir_reads_the_checkpoint_once_and_builds_once(checkpoints, tmp_path, monkeypatch):
    """publish(eval_dir=...) evaluates and strict-loads one network built from one read of the file."""
    from ghosthub.tasks import publish as publish_module
    from ghosthub.weights import checkpoint, network
    from tests.support.images import make_image_folder

    reads, builds = [], []
    real_read, real_create = checkpoint.read_with_info, network.build_network

    def counting_read(path):
        reads.append(path)
        return real_read(path)

    def counting_build(*args, **kwargs):
        builds.append(args)
        return real_create(*args, **kwargs)

    monkeypatch.setattr(publish_module, "read_with_info", counting_read)
    monkeypatch.setattr(checkpoint, "read_with_info", counting_read)
    monkeypatch.setattr(publish_module, "build_network", counting_build)
    data = make_image_folder(tmp_path / "data", classes=("a", "b", "c"), train=1, val=2, size=32)
    result = publish(checkpoints[1], name="tiny_050", hub=tmp_path / "hub", width=0.5, eval_dir=data / "val")
    assert len(reads) == 1 and len(builds) == 1, (reads, builds)
    assert set(result.metrics) == {"top1", "top5"} and result.card.metrics == pytest.approx(result.metrics, abs=0.01)


def test_card_author_license_summary_from_the_command_line_never_the_login_name(checkpoints, tmp_path, capsys):
    """--author/--license/--summary: no login name, no local recipe path in a published card."""
    import getpass

    hub = tmp_path / "hub"
    assert (
        main(
            [
                "publish",
                str(checkpoints[1]),
                "--name",
                "a_050",
                "--hub",
                str(hub),
                "--width",
                "0.5",
                "--author",
                "Ada Lovelace",
                "--license",
                "MIT",
                "--summary",
                "digits, for the demo",
            ]
        )
        == 0
    )
    card = load_card(hub / "cards" / "a_050.md")
    assert (card.fields["author"], card.fields["license"], card.fields["summary"]) == (
        "Ada Lovelace",
        "MIT",
        "digits, for the demo",
    )
    sha = hashlib.sha256(checkpoints[2].read_bytes()).hexdigest()
    record = {"checkpoint_sha256": sha, "recipe_source": "/home/someone/private/recipes/digits.yaml", "seed": 1}
    publish(checkpoints[2], name="b_050", hub=hub, width=0.5, provenance=record)
    text = (hub / "cards" / "b_050.md").read_text()
    card = load_card(hub / "cards" / "b_050.md")
    assert card.fields["author"] == "-" and card.fields["user-id"] == "-"
    assert f": {getpass.getuser()}\n" not in text
    assert "/home/someone" not in text and '"recipe_source": "digits.yaml"' in text


# ----------------------------------------------------------------------------- killed in another process

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


def test_a_killed_publish_is_rolled_back_by_the_next_publish(checkpoints, tmp_path):
    hub = tmp_path / "hub"
    publish(checkpoints[1], name="tiny_050", hub=hub, width=0.5, today=TODAY, provenance=None)
    before = tree(hub)
    old_card = (hub / "cards" / "tiny_050.md").read_bytes()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
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

"""The trained -> published -> rebuilt path, and the demo (`ghosthub demo`), end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghosthub.cli import main
from ghosthub.errors import CardError
from ghosthub.modelcard import load_card, render_card
from ghosthub.modelcard.provenance import read_provenance
from ghosthub.training.trainer import train
from tests.support.images import make_image_folder
from tests.support.paths import REPO
from tests.support.recipes import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = make_image_folder(tmp_path_factory.mktemp("data") / "tiny")
    recipe = tmp_path_factory.mktemp("recipe") / "tiny.yaml"
    recipe.write_text(TINY, encoding="utf-8")
    os.environ["GHOSTHUB_NO_PROGRESS"] = "1"
    result = train(recipe, data, tmp_path_factory.mktemp("run") / "run")
    return {"data": data, "result": result}


@pytest.fixture(scope="module")
def published(trained, tmp_path_factory):
    hub = tmp_path_factory.mktemp("hub")
    ckpt = trained["result"].best_checkpoint
    code = main(
        ["publish", ckpt, "--name", "tiny_010", "--hub", str(hub), "--eval-dir", str(trained["data"]), "--json"]
    )
    assert code == 0
    return hub


def test_publish_records_architecture_preprocessing_and_provenance(trained, published):
    card = load_card(published / "cards" / "tiny_010.md")
    result = trained["result"]
    assert card.backbone == "ghostnet" and card.fields["width"] == "0.1" and card.fields["train-dataset"] == "tiny"
    assert card.fields["input-size"] == "16" and card.fields["num-classes"] == str(len(card.fields["class-names"]))
    assert isinstance(card.fields["class-names"], list)
    assert card.fields["train-recipe-sha256"] == result.provenance["recipe_digest"]
    assert card.fields["train-data-sha256"] == result.provenance["dataset_digest"]
    assert card.fields["train-seed"] == "7"
    assert card.metrics.keys() == {"top1", "top5"}  # from --eval-dir
    assert card.assets[0].sha256 == result.checkpoint_sha256
    recorded = json.loads(Path(result.best_checkpoint).with_name("provenance.json").read_text())
    # A published card names the recipe file, not where it lay on the publisher's disk.
    assert read_provenance(card) == {**recorded, "recipe_source": Path(recorded["recipe_source"]).name}
    assert str(Path(recorded["recipe_source"]).parent) not in (published / "cards" / "tiny_010.md").read_text()


def test_verify_rebuild_retrains_and_matches(trained, published, capsys):
    code = main(
        ["verify", "--rebuild", "tiny_010", "--cards", str(published / "cards"), "--data-dir", str(trained["data"])]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("OK ") and trained["result"].checkpoint_sha256 in out


def test_verify_rebuild_refuses_an_altered_card(published, tmp_path, capsys):
    card = load_card(published / "cards" / "tiny_010.md")
    (tmp_path / "tiny_010.md").write_text(render_card(card.replace(**{"train-seed": "8"})))
    with pytest.raises(CardError, match="altered"):
        read_provenance(load_card(tmp_path / "tiny_010.md"))
    code = main(["verify", "--rebuild", "tiny_010", "--cards", str(tmp_path)])
    assert code == 1 and "altered" in capsys.readouterr().err


def test_verify_rebuild_needs_a_record(capsys):
    code = main(["verify", "--rebuild", "ghostnet_050"])
    assert code == 1 and "records no training provenance" in capsys.readouterr().err


def test_rebuild_is_its_own_command(trained, published, capsys):
    cards = str(published / "cards")
    code = main(["rebuild", "tiny_010", "--cards", cards, "--data-dir", str(trained["data"]), "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    row = json.loads(out)
    assert row["status"] == "OK" and row["matches"] is True and row["name"] == "tiny_010"
    assert row["actual"] == row["expected"] == trained["result"].checkpoint_sha256


def test_a_card_recording_64_workers_starts_one_and_says_what_it_costs(trained, published, tmp_path, capsys):
    """A remote card's worker count never starts processes: the user's --workers (default 1) does."""
    text = (published / "cards" / "tiny_010.md").read_text(encoding="utf-8")
    assert '"workers": 1\n' in text
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "tiny_010.md").write_text(text.replace('"workers": 1\n', '"workers": 64\n'), encoding="utf-8")
    workdir = tmp_path / "work"
    code = main(
        ["rebuild", "tiny_010", "--cards", str(tmp_path / "cards"), "--data-dir", str(trained["data"]),
         "--workdir", str(workdir)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err  # one worker, as the run really was: the digest matches
    assert "the recorded run used 64 workers and this rebuild starts 1" in captured.err
    assert not (workdir / "train" / "msrun").exists(), "no msrun, no worker processes"
    plan = [line for line in captured.err.splitlines() if line.startswith("rebuild: ")]
    assert plan and "2 epochs over 18 training images" in plan[0] and "1 worker (the record says 64)" in plan[0]


def test_rebuild_needs_a_name_and_a_record(capsys):
    with pytest.raises(SystemExit) as info:
        main(["rebuild"])
    assert info.value.code == 2 and "NAME" in capsys.readouterr().err
    assert main(["rebuild", "ghostnet_050"]) == 1
    assert "records no training provenance, so ghostnet_050 cannot be rebuilt" in capsys.readouterr().err


def test_demo_end_to_end(tmp_path):
    """The README's demo, shortened to one epoch: every step runs for real, offline, and leaves nothing behind."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "GHOSTHUB_CACHE": str(tmp_path / "user-cache"), "GLOG_v": "3", "TMPDIR": str(tmp)}
    proc = subprocess.run(
        [sys.executable, "-m", "ghosthub", "demo", "--epochs", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    steps = [line.split()[0] for line in lines if line[:1].isdigit()]
    assert steps == ["1/6", "2/6", "3/6", "4/6", "5/6", "6/6"]
    # Through a pipe too, the trainer's log says what it does once its inputs are checked, and a line per epoch.
    assert "compiles the network graph" in proc.stderr
    assert any(line.startswith("epoch 1/1  loss ") for line in proc.stderr.splitlines())
    assert "downloaded, sha256 verified, strict load" in proc.stdout
    assert (
        lines[-1].startswith("done in ") and "are removed with" in lines[-1] and "--workdir DIR keeps them" in lines[-1]
    )
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(tmp) == [], "the work folder is removed"
    assert not (tmp_path / "user-cache").exists()  # the demo keeps to its own folder

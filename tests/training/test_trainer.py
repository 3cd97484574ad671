"""The trainer: schedule, checkpoints, byte-identical reruns, exact resume, msrun data parallel."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ghosthub._utils.hashes import file_hash as file_sha256
from ghosthub.errors import TrainError
from ghosthub.training.epochs import prune_checkpoints
from ghosthub.training.provenance import HISTORY_KEYS, PROVENANCE_KEYS
from ghosthub.training.recipe import Recipe, load_recipe
from ghosthub.training.schedule import lr_schedule
from ghosthub.training.trainer import train
from ghosthub.weights.checkpoint import read_checkpoint, read_info
from ghosthub.weights.network import build_network
from tests.support.images import make_image_folder
from tests.support.paths import REPO
from tests.support.recipes import TINY


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_log():
    """What the reference run logged at INFO, as ``logging.basicConfig(level=logging.INFO)`` would show it."""
    return []


@pytest.fixture(scope="module")
def full_run(data, recipe_file, tmp_path_factory, run_log):
    """An uninterrupted 2-epoch run, the reference the other runs are compared with."""
    import logging

    os.environ["GHOSTHUB_NO_PROGRESS"] = "1"
    seen = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: run_log.append(record.getMessage())
    logger = logging.getLogger("ghosthub")
    level, logger.level = logger.level, logging.INFO
    logger.addHandler(handler)
    try:
        result = train(recipe_file, data, tmp_path_factory.mktemp("run") / "full", callback=seen.append)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [e.epoch for e in seen] == [1, 2]
    return result


def test_the_log_says_what_training_does_then_a_line_per_epoch(full_run, data, run_log):
    """Where no progress bar shows (a pipe, a notebook's log), the library's INFO lines are the progress."""
    trained = [line for line in run_log if line.startswith(("training ", "epoch "))]
    assert trained[0].startswith(f"training tiny on {data} (18 images, 3 classes) into {full_run.out_dir}: 2 epochs")
    assert "the first step compiles the network graph" in trained[0]
    assert [line.split()[1] for line in trained[1:]] == ["1/2", "2/2"]
    assert all("loss " in line and " val top-1 " in line and " img/s " in line for line in trained[1:])


def test_lr_schedule_warmup_cosine_and_prefix():
    r = Recipe.from_dict(
        {
            "model": "ghostnet_050",
            "epoch_size": 10,
            "lr": 0.4,
            "batch_size": 8,
            "min_lr": 1e-7,
            "warmup_epochs": 2,
            "decay_epochs": 6,
        }
    )
    lr = lr_schedule(r, 5, 50)
    assert lr[0] == 0 and lr[5] == pytest.approx(0.2) and lr[10] == pytest.approx(0.4)
    assert lr[25] == pytest.approx(1e-7 + 0.5 * (0.4 - 1e-7))  # half-way through the decay
    assert np.all(lr[40:] == np.float32(1e-7))  # decay done: min_lr holds
    assert np.array_equal(lr_schedule(r.replace(epoch_size=4), 5, 20), lr[:20])  # a prefix
    stair = lr_schedule(r.replace(lr_epoch_stair=True), 5, 50)
    assert len(set(stair[10:15].tolist())) == 1


def test_prune_keeps_the_newest(tmp_path):
    for n in (1, 2, 3, 10):
        (tmp_path / f"epoch-{n:04d}.ckpt").write_bytes(b"x")
    (tmp_path / "best.ckpt").write_bytes(b"x")
    prune_checkpoints(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "epoch-0003.ckpt", "epoch-0010.ckpt"]


def test_outputs_and_architecture_record(full_run, data):
    out = full_run.out_dir
    assert sorted(os.listdir(out)) == [
        "best.ckpt",
        "epoch-0001.ckpt",
        "epoch-0002.ckpt",
        "metrics.jsonl",
        "provenance.json",
        "recipe.yaml",
        "result.json",
    ]
    info = read_info(full_run.best_checkpoint)
    assert info["kind"] == "network" and (info["backbone"], info["width"], info["num_classes"]) == ("ghostnet", 0.1, 3)
    assert info["input_size"] == [3, 16, 16] and info["classes"] == ["a", "b", "c"]
    # The record is a string entry: read_checkpoint sees only the network, which loads strictly.
    assert len(read_checkpoint(full_run.best_checkpoint)) == 432
    net = build_network("ghostnet", 0.1, checkpoint_path=full_run.best_checkpoint)
    assert net.num_classes == 3
    epoch_info = read_info(os.path.join(out, "epoch-0002.ckpt"))
    assert epoch_info["kind"] == "training" and epoch_info["epoch"] == 2 and epoch_info["global_step"] == 8
    provenance = json.loads(open(os.path.join(out, "provenance.json")).read())
    assert tuple(provenance) == PROVENANCE_KEYS
    assert provenance["checkpoint_sha256"] == full_run.checkpoint_sha256 == file_sha256(full_run.best_checkpoint)
    assert provenance["threads"] == 2 and provenance["seed"] == 7 and provenance["workers"] == 1
    assert provenance["recipe_digest"] == Recipe.from_dict(provenance["recipe"]).digest()
    lines = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [m["epoch"] for m in lines] == [1, 2] and all(m["val_top1"] is not None for m in lines)
    # The per-epoch figures a hub page draws its curves from, without the timings of this run.
    assert [sorted(h) for h in provenance["history"]] == [sorted(HISTORY_KEYS)] * 2
    for kept, line in zip(provenance["history"], lines):
        assert all(kept[k] == pytest.approx(line[k], rel=1e-5) for k in HISTORY_KEYS)
    assert full_run.best.epoch in (1, 2) and full_run.images_per_second > 0


def test_interrupted_and_resumed_run_ends_byte_identical(full_run, data, recipe_file, tmp_path):
    """A separate process trains the same recipe (byte-identical epoch 1), is killed; a resume finishes it."""
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLOG_v": "3"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ghosthub",
            "train",
            "--recipe",
            str(recipe_file),
            "--data-dir",
            str(data),
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    first = out / "epoch-0001.ckpt"
    deadline = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # a crash right after the first epoch's checkpoint
    stderr = proc.communicate()[1].decode()
    assert first.exists(), stderr
    # Same recipe, data and seed in another process: the same bytes.
    assert file_sha256(first) == file_sha256(os.path.join(full_run.out_dir, "epoch-0001.ckpt"))

    resumed = train(recipe_file, data, tmp_path / "resumed", resume=first)
    assert [e.epoch for e in resumed.epochs] == [2]
    assert resumed.weights_sha256 == full_run.weights_sha256
    assert file_sha256(tmp_path / "resumed" / "epoch-0002.ckpt") == file_sha256(
        os.path.join(full_run.out_dir, "epoch-0002.ckpt")
    )
    # The best network so far comes along into the new folder: the run ends with the same best.ckpt.
    assert resumed.checkpoint_sha256 == full_run.checkpoint_sha256
    assert file_sha256(tmp_path / "resumed" / "best.ckpt") == file_sha256(full_run.best_checkpoint)


def test_resume_and_output_folder_refusals(full_run, data, recipe_file, tmp_path):
    with pytest.raises(TrainError, match="holds the checkpoints of an earlier run: continue it with resume='") as info:
        train(recipe_file, data, full_run.out_dir)
    assert "pass another out_dir= (or delete them)" in str(info.value)
    changed = load_recipe(recipe_file, lr=0.1)
    with pytest.raises(TrainError, match=r"recipe differs .*lr: 0.05 -> 0.1"):
        train(changed, data, tmp_path / "x", resume=os.path.join(full_run.out_dir, "epoch-0001.ckpt"))
    with pytest.raises(TrainError, match="not a ghosthub epoch checkpoint"):
        train(recipe_file, data, tmp_path / "y", resume=full_run.best_checkpoint)
    with pytest.raises(TrainError, match="nothing left to do"):
        train(recipe_file, data, tmp_path / "z", resume=os.path.join(full_run.out_dir, "epoch-0002.ckpt"))


def test_data_errors(data, recipe_file, tmp_path):
    from ghosthub.errors import DataError

    with pytest.raises(DataError, match="has no 'train' folder"):
        train(recipe_file, data / "val", tmp_path / "runs" / "a")
    with pytest.raises(DataError, match="recipe key 'num_classes' is 5 but .* has 3 class folders"):
        train(load_recipe(recipe_file, num_classes=5), data, tmp_path / "b")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "b").exists(), "a failed run leaves no empty folder"
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError):
        train(recipe_file, data / "val", tmp_path / "mine")
    assert (tmp_path / "mine").is_dir(), "a folder the user made is kept"


def test_two_msrun_workers_end_with_identical_weights(data, recipe_file, tmp_path):
    recipe = load_recipe(recipe_file, epoch_size=1, val_while_train=False)
    result = train(recipe, data, tmp_path / "dp", workers=2)
    assert len(result.rank_weights_sha256) == 2 and len(set(result.rank_weights_sha256)) == 1
    assert result.provenance["workers"] == 2
    # 18 images sharded over 2 ranks: 9 each, 2 steps of 4 per rank, 16 images per epoch in all.
    assert (result.epochs[0].steps, result.epochs[0].images) == (2, 16)
    written = sorted(os.listdir(tmp_path / "dp"))
    assert written == [
        "best.ckpt",
        "epoch-0001.ckpt",
        "metrics.jsonl",
        "msrun",
        "provenance.json",
        "recipe.yaml",
        "result.json",
    ]


def test_rebuild_from_provenance_matches(full_run, data, tmp_path):
    from ghosthub.errors import DataError
    from ghosthub.training.rebuild import rebuild

    provenance = dict(full_run.provenance)
    rebuilt = rebuild(provenance, data, tmp_path / "rebuilt")
    assert rebuilt.matches and rebuilt.actual_sha256 == full_run.checkpoint_sha256
    assert rebuilt.result.best_checkpoint == str(tmp_path / "rebuilt" / "train" / "best.ckpt")

    with pytest.raises(TrainError, match="recorded recipe's digest"):
        rebuild({**provenance, "recipe": {**provenance["recipe"], "lr": 0.5}}, data, tmp_path / "a")
    with pytest.raises(TrainError, match="cannot regenerate: pass the data dir"):
        rebuild(provenance, None, tmp_path / "b")
    other = make_image_folder(tmp_path / "other", seed=1)
    with pytest.raises(DataError, match="not what the model was trained on"):
        rebuild(provenance, other, tmp_path / "c")


def test_a_resume_into_another_folder_brings_the_best_network(tmp_path):
    from ghosthub.architectures import create_model
    from ghosthub.training.resume import carry_best as _carry_best
    from ghosthub.weights.checkpoint import save_checkpoint

    net = create_model("ghostnet", 0.1, num_classes=3)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    save_checkpoint(net, first / "best.ckpt", {"kind": "network", "epoch": 1})
    resume = first / "epoch-0002.ckpt"
    saved = []
    _carry_best(resume, second, 1, 2, lambda: saved.append(True))  # copied: epoch 1 was the best
    assert file_sha256(second / "best.ckpt") == file_sha256(first / "best.ckpt") and not saved
    _carry_best(resume, second, 1, 2, lambda: saved.append(True))  # already there: nothing to do
    assert not saved and not list(second.glob(".*tmp"))
    _carry_best(resume, tmp_path / "third", 2, 2, lambda: saved.append(True))  # the resume epoch is the best
    assert saved == [True]
    (tmp_path / "fourth").mkdir()
    with pytest.raises(TrainError, match=r"best network so far \(epoch 2\) should be .*first/best.ckpt"):
        _carry_best(first / "epoch-0003.ckpt", tmp_path / "fourth", 2, 3, lambda: None)  # it holds epoch 1
    (first / "best.ckpt").unlink()
    with pytest.raises(TrainError, match="missing or of another epoch"):
        _carry_best(resume, tmp_path / "fourth", 1, 2, lambda: None)
    assert not list((tmp_path / "fourth").iterdir())

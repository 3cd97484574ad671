"""Evaluation: metric arithmetic, labels and padding end to end, checkpoints with and without a record, CLI."""

import json

import numpy as np
import pytest

from ghosthub.api import evaluate
from ghosthub.cli import main
from ghosthub.data.imagefolder import scan_image_folder
from ghosthub.errors import GhostHubError
from ghosthub.preprocessing import Preprocessing
from ghosthub.tasks.evaluate import _Accumulator, evaluate_folder, network_preprocessing
from ghosthub.weights.checkpoint import save_checkpoint
from tests.support.images import make_image_folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "tiny", val=3)


def test_accumulator_top1_top5_and_loss():
    acc = _Accumulator()
    logits = np.log(
        np.array([[0.7, 0.1, 0.1, 0.05, 0.03, 0.02], [0.1, 0.2, 0.3, 0.15, 0.15, 0.1], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]])
    )
    acc.add(logits, np.array([0, 5, 1]))
    assert (acc.n, acc.correct1, acc.correct5) == (3, 1, 2)  # row 1: class 5 ties class 0, which takes 5th place
    assert acc.loss / acc.n == pytest.approx(-(np.log(0.7) + np.log(0.1) + np.log(0.1)) / 3)


class ChannelOracle:
    """Not a network: predicts the class whose colour channel is brightest (how _images draws them)."""

    default_cfg = {"input_size": (3, 16, 16), "crop_pct": 1.0, "mean": (0, 0, 0), "std": (1, 1, 1)}

    def set_train(self, mode):
        pass

    def __call__(self, x):
        import mindspore as ms

        return ms.Tensor(x.asnumpy().mean(axis=(2, 3)))


def test_perfect_predictions_score_100_with_a_padded_last_batch(data):
    folder = scan_image_folder(data / "val")
    result = evaluate_folder(ChannelOracle(), folder, network_preprocessing(ChannelOracle()), batch_size=4)
    assert (result.top1, result.top5, result.images) == (100.0, 100.0, 9)
    assert result.images_per_second > 0 and 0 <= result.loss < 1e-3


def tiny_checkpoint(tmp_path, info=True):
    from ghosthub.architectures import create_model

    net = create_model("ghostnet", 0.1, num_classes=3)
    record = {
        "backbone": "ghostnet",
        "width": 0.1,
        "num_classes": 3,
        "input_size": [3, 16, 16],
        "crop_pct": 1.0,
        "interpolation": "bilinear",
        "mean": [127.5] * 3,
        "std": [127.5] * 3,
        "classes": ["a", "b", "c"],
    }
    path = tmp_path / ("with.ckpt" if info else "plain.ckpt")
    if info:
        save_checkpoint(net, path, record)
    else:
        import mindspore as ms

        ms.save_checkpoint(net, str(path))
    return net, path


def test_checkpoint_evaluates_like_its_network(data, tmp_path):
    net, path = tiny_checkpoint(tmp_path)
    from_path = evaluate(path, data, batch_size=4, progress=False)
    folder = scan_image_folder(data / "val")
    pre = Preprocessing(input_size=16, crop_pct=1.0, mean=(127.5,) * 3, std=(127.5,) * 3)
    direct = evaluate_folder(net, folder, pre, batch_size=4)
    assert (from_path.top1, from_path.top5, from_path.images) == (direct.top1, direct.top5, 9)
    assert from_path.loss == pytest.approx(direct.loss, rel=1e-6)


def test_checkpoint_without_record_reads_its_architecture_from_its_shapes(data, tmp_path):
    _, path = tiny_checkpoint(tmp_path, info=False)
    inferred = evaluate(path, data, batch_size=4, progress=False)
    named = evaluate(path, data, arch="ghostnet_010", batch_size=4, progress=False)
    assert (inferred.top1, inferred.top5, inferred.images) == (named.top1, named.top5, 9)
    with pytest.raises(GhostHubError, match="holds a ghostnet of width 0.1"):  # 0.1 is not 0.5
        evaluate(path, data, arch="ghostnet_050")


def test_cli_eval_json_and_text(data, tmp_path, capsys):
    _, path = tiny_checkpoint(tmp_path)
    assert main(["eval", str(path), "--data-dir", str(data), "--json", "--batch-size", "4"]) == 0
    shown = capsys.readouterr()
    out = json.loads(shown.out)
    # No progress bar here (stderr is no terminal): a line when the evaluation starts and one when it ends.
    assert f"evaluating on 9 images in {data / 'val'}\n" in shown.err and "evaluated 9 images: top-1 " in shown.err
    assert out["images"] == 9 and 0 <= out["top1"] <= 100 and set(out) >= {"top1", "top5", "loss", "images_per_second"}
    assert main(["eval", str(path), "--data-dir", str(data / "val")]) == 0  # a folder of classes works too
    assert "top-1" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "nope"), "--data-dir", str(data)]) == 1
    train_only = tmp_path / "train_only"
    (train_only / "train").mkdir(parents=True)
    assert main(["eval", str(path), "--data-dir", str(train_only)]) == 1
    assert "has a train/ folder but no val/" in capsys.readouterr().err


def test_a_safetensors_checkpoint_evaluates_with_arch(data, tmp_path):
    import mindspore as ms

    net, path = tiny_checkpoint(tmp_path, info=False)
    st = tmp_path / "plain.safetensors"
    ms.save_checkpoint(net, str(st), format="safetensors")
    from_ckpt = evaluate(path, data, arch="ghostnet_010", batch_size=4, progress=False)
    from_st = evaluate(st, data, arch="ghostnet_010", batch_size=4, progress=False)
    assert (from_st.top1, from_st.top5, from_st.images) == (from_ckpt.top1, from_ckpt.top5, 9)
    inferred = evaluate(st, data, batch_size=4, progress=False)  # the architecture from the shapes
    assert (inferred.top1, inferred.top5) == (from_ckpt.top1, from_ckpt.top5)


@pytest.mark.parametrize("arch", ["Bad Name", "ghostnet", "ghostnet_5"])
def test_an_arch_without_a_width_is_a_clear_error(data, tmp_path, arch):
    _, path = tiny_checkpoint(tmp_path, info=False)
    with pytest.raises(GhostHubError, match="not an architecture name with a width, such as ghostnet_050"):
        evaluate(path, data, arch=arch)


def test_a_model_name_evaluates_through_its_card(data, tmp_path):
    """evaluate(NAME): card -> verified asset -> network, with the card's preprocessing."""
    from ghosthub._utils.hashes import file_hash
    from ghosthub.modelcard import ModelCard, render_card

    _, path = tiny_checkpoint(tmp_path)
    cards = tmp_path / "cards"
    cards.mkdir()
    fields = {
        "model-name": "tiny_010",
        "backbone-name": "ghostnet",
        "module-type": "cv",
        "fine-tunable": "True",
        "model-version": "1.0",
        "author": "tests",
        "update-time": "2026-11-27",
        "repo-link": "-",
        "user-id": "tests",
        "used-for": "inference",
        "mindspore-version": "2.10",
        "license": "Apache2.0",
        "summary": "a test card",
        "input-size": "16",
        "crop-pct": "1.0",
        "mean": "127.5, 127.5, 127.5",
        "std": "127.5, 127.5, 127.5",
        "class-names": ["a", "b", "c"],
        "asset": [{"file-format": "ckpt", "asset-link": "../with.ckpt", "asset-sha256": file_hash(path)}],
    }
    (cards / "tiny_010.md").write_text(render_card(ModelCard(title="tiny_010", fields=fields)), encoding="utf-8")
    by_name = evaluate("tiny_010", data, cards=[cards], cache_dir=tmp_path / "cache", batch_size=4, progress=False)
    by_file = evaluate(path, data, batch_size=4, progress=False)
    assert (by_name.top1, by_name.top5, by_name.images) == (by_file.top1, by_file.top5, 9)
    assert by_name.loss == pytest.approx(by_file.loss, rel=1e-6)
    assert list((tmp_path / "cache" / "assets" / "tiny_010").rglob("with.ckpt")), "the asset came through the cache"

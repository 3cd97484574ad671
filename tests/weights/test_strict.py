"""models/checkpoint.py and models/builder.py: reading real MindSpore checkpoints, strict loading, head and stem
adaptation."""

import os

os.environ.setdefault("GLOG_v", "3")  # before mindspore is imported: keep its log lines out

import gc
import logging
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from ghosthub.architectures import create_model
from ghosthub.errors import CheckpointMismatchError, GhostHubError, WeightsError
from ghosthub.weights.checkpoint import read_checkpoint, split_training_state
from ghosthub.weights.network import build_network
from ghosthub.weights.strict import load_weights
from tests.support.paths import REPO


def _save(params, path, fmt="ckpt"):
    """Write a name -> array mapping with mindspore.save_checkpoint (mode 0400, as MindSpore does)."""
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in params.items()], str(path), format=fmt)
    return path


@pytest.fixture(scope="module")
def weights():
    """Random but deterministic weights of a width-0.5 GhostNet, as a name -> array dict."""
    net = create_model("ghostnet", 0.5)
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in net.parameters_dict().items()}
    del net
    gc.collect()
    return params


@pytest.fixture(scope="module")
def ckpt(weights, tmp_path_factory):
    return _save(weights, tmp_path_factory.mktemp("ckpt") / "ghostnet_050-00000000.ckpt")


@pytest.fixture(scope="module")
def safetensors_file(weights, tmp_path_factory):
    return _save(weights, tmp_path_factory.mktemp("st") / "w.safetensors", fmt="safetensors")


def _values(net):
    return {k: p.asnumpy() for k, p in net.parameters_dict().items()}


def _assert_loaded(net, weights, skip=()):
    values = _values(net)
    for k, v in weights.items():
        if k not in skip:
            assert np.array_equal(values[k], v), k


# --- reading -------------------------------------------------------------------------------


def test_read_checkpoint_roundtrip(weights, ckpt):
    assert oct(os.stat(ckpt).st_mode & 0o777) == "0o400"  # what mindspore writes
    params = read_checkpoint(ckpt)
    assert list(params) == list(weights)
    assert all(np.array_equal(params[k], weights[k]) for k in weights)


def test_safetensors_roundtrip(weights, safetensors_file):
    path = safetensors_file
    params = read_checkpoint(path)
    assert set(params) == set(weights)
    assert all(np.array_equal(params[k], weights[k]) for k in weights)
    net = build_network("ghostnet", 0.5, checkpoint_path=path)
    _assert_loaded(net, weights)


@pytest.mark.parametrize("fmt", ["ckpt", "safetensors"])
def test_format_is_read_from_content_not_name(weights, tmp_path, fmt):
    small = {k: weights[k] for k in list(weights)[:3]}
    path = _save(small, tmp_path / f"w.{fmt}", fmt=fmt)
    renamed = tmp_path / "downloaded.bin"
    os.rename(path, renamed)
    assert set(read_checkpoint(renamed)) == set(small)


def _bad_file(tmp_path, kind, ckpt):
    path = tmp_path / f"{kind}.ckpt"
    data = open(ckpt, "rb").read()
    content = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "garbage": b"<html><body>404 Not Found</body></html>\n" * 20,
        "random": np.random.default_rng(1).bytes(4096),
        "corrupt_safetensors": (1000).to_bytes(8, "little") + b'{"a": {"dtype": "F32", "shape": [10, 10]',
    }[kind]
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "kind", ["empty", "truncated", "garbage", "random", "corrupt_safetensors", "truncated_safetensors"]
)
def test_bad_files_raise_weights_error_naming_the_file(tmp_path, ckpt, safetensors_file, kind):
    if kind == "truncated_safetensors":
        path = tmp_path / "w.safetensors"
        path.write_bytes(safetensors_file.read_bytes()[:-1000])
    else:
        path = _bad_file(tmp_path, kind, ckpt)
    with pytest.raises(WeightsError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert "download it again" in message
    assert "Traceback" not in message and isinstance(info.value, GhostHubError)
    if kind == "empty":
        assert "is empty (0 bytes)" in message, "an empty file (a failed copy) is named as such, not as corrupt"


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(WeightsError, match="not a regular file"):
        read_checkpoint(tmp_path)


def test_build_network_with_bad_file_fails_before_building(tmp_path, ckpt, monkeypatch):
    from ghosthub.architectures import build as builder

    builds = []
    real_build = builder.build
    monkeypatch.setattr(builder, "build", lambda *a, **kw: builds.append(a) or real_build(*a, **kw))
    path = _bad_file(tmp_path, "truncated", ckpt)
    with pytest.raises(WeightsError, match="truncated"):
        build_network("ghostnet", 0.5, checkpoint_path=path)
    assert builds == [], "the file is read, and found bad, before any network is built"
    build_network("ghostnet", 0.5, checkpoint_path=ckpt)  # the count sees a build when there is one
    assert len(builds) == 1


# --- strict loading ------------------------------------------------------------------------


def test_strict_load_success_and_inference_mode(weights, ckpt):
    net = build_network("ghostnet", 0.5, checkpoint_path=ckpt)
    assert net.training is False
    assert net.num_classes == 1000
    _assert_loaded(net, weights)


def test_training_state_is_ignored(weights, tmp_path):
    extra = {
        "moments.conv_stem.weight": weights["conv_stem.weight"],
        "ema.conv_stem.weight": weights["conv_stem.weight"],
        "learning_rate": np.array(0.1, np.float32),
        "global_step": np.array([5], np.int32),
        "scale_sense": np.array(1024.0, np.float32),
        "current_iterator_step": np.array(5, np.int32),
        "last_overflow_iterator_step": np.array(0, np.int32),
        "epoch_num": np.array(3, np.int64),
        "step_num": np.array(30, np.int64),
    }
    path = _save({**weights, **extra}, tmp_path / "train.ckpt")
    net = create_model("ghostnet", 0.5)
    result = load_weights(net, read_checkpoint(path), source=str(path))
    assert sorted(result.ignored) == sorted(extra)
    assert len(result.loaded) == 432 and result.reinitialized == []
    _assert_loaded(net, weights)
    network, ignored = split_training_state({"adam_m.x": 1, "x": 2, "momentum": 3})
    assert network == {"x": 2} and ignored == ["adam_m.x", "momentum"]


def test_an_integer_tensor_for_a_float_parameter_is_refused_by_name(weights, tmp_path):
    path = _save({**weights, "conv_stem.weight": weights["conv_stem.weight"].astype(np.int32)}, tmp_path / "int.ckpt")
    with pytest.raises(CheckpointMismatchError, match=r"number kinds that differ.*conv_stem.weight int32 vs Float32"):
        build_network("ghostnet", 0.5, checkpoint_path=path)


def test_an_integer_parameter_loads_from_an_integer_tensor(tmp_path):
    """Some networks hold integer parameters (Swin-V2's relative position index): they load as they are."""
    import mindspore as ms
    from mindspore import nn

    class WithIndex(nn.Cell):
        def __init__(self):
            super().__init__()
            self.dense = nn.Dense(2, 3)
            self.index = ms.Parameter(ms.Tensor(np.zeros(4, np.int32)), requires_grad=False)

    net = WithIndex()
    params = {n: p.asnumpy() for n, p in net.parameters_dict().items()}
    params["index"] = np.arange(4, dtype=np.int32)
    result = load_weights(net, params, source="with-index")
    assert sorted(result.loaded) == ["dense.bias", "dense.weight", "index"]
    assert net.index.asnumpy().tolist() == [0, 1, 2, 3]


def test_missing_keys_are_listed_with_counts(weights, tmp_path):
    dropped = [k for k in weights if k.startswith("blocks.8.")]
    assert len(dropped) > 10
    path = _save({k: v for k, v in weights.items() if k not in dropped}, tmp_path / "partial.ckpt")
    with pytest.raises(CheckpointMismatchError) as info:
        build_network("ghostnet", 0.5, checkpoint_path=path)
    message = str(info.value)
    assert str(path) in message
    assert f"{len(dropped)} missing keys" in message
    assert all(k in message for k in dropped[:10]) and dropped[10] not in message
    assert f"and {len(dropped) - 10} more" in message
    assert "unexpected" not in message
    assert info.value.missing == dropped


def test_unexpected_keys_are_listed(weights, tmp_path):
    path = _save({**weights, "head.fc.weight": np.zeros((2, 2), np.float32)}, tmp_path / "extra.ckpt")
    with pytest.raises(CheckpointMismatchError) as info:
        build_network("ghostnet", 0.5, checkpoint_path=path)
    assert "1 unexpected keys (in the checkpoint, not in the network): head.fc.weight" in str(info.value)
    assert info.value.unexpected == ["head.fc.weight"] and info.value.missing == []


def test_shape_mismatch_lists_shapes_and_counts(ckpt):
    with pytest.raises(CheckpointMismatchError) as info:
        build_network("ghostnet", 1.0, checkpoint_path=ckpt)  # width-0.5 weights, width-1.0 network
    message = str(info.value)
    assert "conv_stem.weight (8, 3, 3, 3) vs (16, 3, 3, 3)" in message
    assert f"{len(info.value.mismatched)} shape mismatches" in message
    assert "width=1.0" in message and "width" in message.splitlines()[-1]


def test_a_mismatch_ends_with_the_default_advice_or_the_callers_own(ckpt):
    from ghosthub.weights.strict import MISMATCH_ADVICE

    with pytest.raises(CheckpointMismatchError) as info:
        build_network("ghostnet", 1.0, checkpoint_path=ckpt)
    message = str(info.value)
    held = "The file holds a ghostnet of width 0.5 with 1000 classes"
    assert f"\n{MISMATCH_ADVICE}\n{held}" in message and "strict=False" in MISMATCH_ADVICE
    with pytest.raises(CheckpointMismatchError) as info:
        build_network("ghostnet", 1.0, checkpoint_path=ckpt, advice="Name the width this file was trained with.")
    message = str(info.value)
    assert f"\nName the width this file was trained with.\n{held}" in message and "strict=False" not in message
    assert "conv_stem.weight (8, 3, 3, 3) vs (16, 3, 3, 3)" in message, "the facts stay the loader's"


def test_non_strict_loads_the_matching_part_and_warns(weights, tmp_path, caplog):
    path = _save({k: v for k, v in weights.items() if k != "conv_head.bias"}, tmp_path / "partial.ckpt")
    with caplog.at_level(logging.WARNING, logger="ghosthub.weights.strict"):
        net = build_network("ghostnet", 0.5, checkpoint_path=path, strict=False)
    assert "conv_head.bias" in caplog.text
    _assert_loaded(net, weights, skip={"conv_head.bias"})


def test_half_precision_checkpoint_is_cast(weights, tmp_path):
    path = _save({k: v.astype(np.float16) for k, v in weights.items()}, tmp_path / "fp16.ckpt")
    net = build_network("ghostnet", 0.5, checkpoint_path=path)
    stem = net.parameters_dict()["conv_stem.weight"]
    assert stem.dtype == ms.float32
    assert np.array_equal(stem.asnumpy(), weights["conv_stem.weight"].astype(np.float16).astype(np.float32))


# --- adaptation ----------------------------------------------------------------------------


def test_num_classes_resets_only_the_classifier(weights, ckpt, caplog):
    with caplog.at_level(logging.INFO, logger="ghosthub.weights.strict"):
        net = build_network("ghostnet", 0.5, checkpoint_path=ckpt, num_classes=10)
    assert "re-initialising classifier" in caplog.text
    values = _values(net)
    assert values["classifier.weight"].shape == (10, 1280)
    assert not np.any(values["classifier.bias"])  # fresh zeros, not checkpoint values
    _assert_loaded(net, weights, skip={"classifier.weight", "classifier.bias"})
    assert net(ms.Tensor(np.zeros((1, 3, 64, 64), np.float32))).shape == (1, 10)


def test_num_classes_none_takes_the_checkpoints(weights, tmp_path):
    rng = np.random.default_rng(2)
    head = {
        "classifier.weight": rng.standard_normal((10, 1280)).astype(np.float32),
        "classifier.bias": rng.standard_normal(10).astype(np.float32),
    }
    path = _save({**weights, **head}, tmp_path / "ten.ckpt")
    net = build_network("ghostnet", 0.5, checkpoint_path=path)
    assert net.num_classes == 10
    _assert_loaded(net, {**weights, **head})


def test_num_classes_zero_drops_the_classifier(weights, ckpt):
    net = build_network("ghostnet", 0.5, checkpoint_path=ckpt, num_classes=0)
    assert net(ms.Tensor(np.zeros((1, 3, 64, 64), np.float32))).shape == (1, 1280)
    _assert_loaded(net, weights, skip={"classifier.weight", "classifier.bias"})


def test_in_channels_1_sums_the_stem(weights, ckpt):
    net = build_network("ghostnet", 0.5, checkpoint_path=ckpt, in_channels=1)
    stem = net.parameters_dict()["conv_stem.weight"].asnumpy()
    assert stem.shape == (8, 1, 3, 3)
    assert np.allclose(stem, weights["conv_stem.weight"].sum(axis=1, keepdims=True), rtol=0, atol=1e-6)
    _assert_loaded(net, weights, skip={"conv_stem.weight"})


def test_in_channels_2_is_refused(ckpt):
    with pytest.raises(WeightsError) as info:
        build_network("ghostnet", 0.5, checkpoint_path=ckpt, in_channels=2)
    message = str(info.value)
    assert str(ckpt) in message and "in_channels=2" in message and "3-channel" in message
    assert not isinstance(info.value, CheckpointMismatchError)


def test_one_channel_checkpoint_refuses_three_channels(weights, tmp_path):
    gray = {**weights, "conv_stem.weight": weights["conv_stem.weight"][:, :1]}
    path = _save(gray, tmp_path / "gray.ckpt")
    with pytest.raises(WeightsError, match="only in_channels=1 can use"):
        build_network("ghostnet", 0.5, checkpoint_path=path)
    net = build_network("ghostnet", 0.5, checkpoint_path=path, in_channels=1)
    _assert_loaded(net, gray)


def test_without_checkpoint_just_builds():
    net = build_network("ghostnet_050", num_classes=4)
    assert net.training is False and net.num_classes == 4


def test_weights_module_imports_without_mindspore():
    code = (
        "import sys, ghosthub.weights.checkpoint, ghosthub.weights.strict, ghosthub.weights.plan, "
        "ghosthub.data.transforms; assert 'mindspore' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)

"""GhostNet: MindCV checkpoint layout, parameter counts, interface, and building it by architecture name."""

import os

os.environ.setdefault("GLOG_v", "3")  # before mindspore is imported: keep its log lines out

import gc

import mindspore as ms  # noqa: E402
import numpy as np
import pytest

from ghosthub.architectures import create_model, known_names, match  # noqa: E402
from ghosthub.architectures.ghostnet.ghostnet import GhostNet, make_divisible  # noqa: E402
from ghosthub.errors import UnsupportedBackboneError  # noqa: E402
from ghosthub.naming import split_name  # noqa: E402
from ghosthub.weights.strict import load_weights

WIDTHS = {0.5: ("ghostnet_050", 2_598_276), 1.0: ("ghostnet_100", 5_204_476), 1.3: ("ghostnet_130", 7_387_356)}


def _shapes(net):
    return {name: tuple(p.shape) for name, p in net.parameters_dict().items()}


def _input(n=2, c=3, size=64, seed=0):
    return ms.Tensor(np.random.default_rng(seed).standard_normal((n, c, size, size)).astype(np.float32))


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_parameter_count_and_tensor_count(width):
    net = create_model("ghostnet", width)
    shapes = _shapes(net)
    assert len(shapes) == 432
    assert sum(int(np.prod(s)) for s in shapes.values()) == WIDTHS[width][1]


def test_key_template():
    shapes = _shapes(create_model("ghostnet", 0.5))
    for key in [
        "conv_stem.weight",
        "bn1.gamma",
        "bn1.moving_variance",
        "blocks.0.0.ghost1.primary_conv.0.weight",
        "blocks.0.0.ghost1.primary_conv.1.moving_mean",
        "blocks.0.0.ghost2.cheap_operation.0.weight",
        "blocks.0.0.ghost2.cheap_operation.1.beta",
        "blocks.1.0.conv_dw.weight",
        "blocks.1.0.bn_dw.gamma",
        "blocks.3.0.se.conv_reduce.weight",
        "blocks.3.0.se.conv_expand.bias",
        "blocks.1.0.shortcut.0.weight",
        "blocks.1.0.shortcut.3.moving_mean",
        "blocks.6.4.se.conv_reduce.bias",
        "blocks.8.3.ghost2.primary_conv.0.weight",
        "blocks.9.features.0.weight",
        "blocks.9.features.1.gamma",
        "conv_head.weight",
        "conv_head.bias",
        "classifier.weight",
        "classifier.bias",
    ]:
        assert key in shapes, key
    assert shapes["classifier.weight"] == (1000, 1280)
    assert "blocks.0.0.shortcut.0.weight" not in shapes  # identity shortcut
    assert "blocks.0.0.conv_dw.weight" not in shapes  # stride-1 block


def test_make_divisible():
    assert [make_divisible(v) for v in (8, 16 * 0.5, 16 * 1.3, 960 * 1.3, 5.0)] == [8, 8, 20, 1248, 8]
    assert make_divisible(1) == 4  # never below the divisor


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_same_keys_and_shapes_as_mindcv(width):
    mindcv = pytest.importorskip("mindcv")
    ours, ref = create_model("ghostnet", width), mindcv.create_model(WIDTHS[width][0])
    assert _shapes(ours) == _shapes(ref)
    del ours, ref
    gc.collect()


def _randomise(net, seed=0):
    """Give every parameter (BN statistics too) random values so a comparison means something."""
    rng = np.random.default_rng(seed)
    for name, p in net.parameters_dict().items():
        value = rng.standard_normal(p.shape).astype(np.float32) * 0.1
        if name.endswith(("moving_variance", "gamma")):
            value = np.abs(value) + 0.5
        p.set_data(ms.Tensor(value))


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_same_logits_as_mindcv(width):
    mindcv = pytest.importorskip("mindcv")
    ref = mindcv.create_model(WIDTHS[width][0])
    _randomise(ref)
    ours = create_model("ghostnet", width)
    load_weights(ours, {k: p.asnumpy() for k, p in ref.parameters_dict().items()}, source="mindcv")
    ref.set_train(False)
    ours.set_train(False)
    x = _input()
    assert np.abs(ours(x).asnumpy() - ref(x).asnumpy()).max() <= 1e-5
    del ours, ref
    gc.collect()


def test_forward_features_head_and_attributes():
    net = create_model("ghostnet", 0.5, num_classes=7, drop_rate=0.3)
    net.set_train(False)
    assert isinstance(net, GhostNet)
    assert (net.num_classes, net.in_channels, net.drop_rate, net.num_features) == (7, 3, 0.3, 1280)
    x = _input()
    features = net.forward_features(x)
    assert features.shape == (2, make_divisible(960 * 0.5), 2, 2)  # stride 32
    assert net.forward_head(features, pre_logits=True).shape == (2, 1280)
    logits = net.forward_head(features)
    assert logits.shape == (2, 7)
    assert np.allclose(logits.asnumpy(), net(x).asnumpy())


def test_reset_classifier():
    net = create_model("ghostnet", 0.5)
    net.set_train(False)
    net.reset_classifier(10)
    assert net.num_classes == 10
    assert net.get_classifier().weight.shape == (10, 1280)
    assert _shapes(net)["classifier.weight"] == (10, 1280)  # names survive the swap
    assert net(_input()).shape == (2, 10)
    net.reset_classifier(0)
    assert net(_input()).shape == (2, 1280)
    assert not any(k.startswith("classifier") for k in _shapes(net))


def test_in_channels_and_dropout_in_eval_is_identity():
    net = create_model("ghostnet", 0.5, in_channels=1, num_classes=5)
    assert _shapes(net)["conv_stem.weight"] == (8, 1, 3, 3)
    net.set_train(False)
    x = _input(c=1)
    assert np.array_equal(net(x).asnumpy(), net(x).asnumpy())


def test_default_cfg_for_preprocessing():
    from ghosthub.data.transforms import make_transform
    from ghosthub.preprocessing import Preprocessing

    cfg = create_model("ghostnet_050").default_cfg
    assert cfg["input_size"] == (3, 224, 224)
    assert cfg["crop_pct"] == 0.875 and cfg["interpolation"] == "bilinear"
    assert np.allclose(cfg["mean"], [123.675, 116.28, 103.53])
    assert np.allclose(cfg["std"], [58.395, 57.12, 57.375])
    out = make_transform(**Preprocessing.from_record(cfg)._asdict())(np.zeros((300, 400, 3), np.uint8))
    assert out.shape == (3, 224, 224)


# --- factory -------------------------------------------------------------------------------


def test_supported_backbones_and_variants():
    assert {"ghostnet", "ghostnetv2", "ghostnetv3", "ghostnet600"} <= set(known_names()["ghosthub"])
    assert [(match(n).name, match(n).width) for n in ("ghostnet_050", "ghostnet_100", "ghostnet_130")] == [
        ("ghostnet", 0.5),
        ("ghostnet", 1.0),
        ("ghostnet", 1.3),
    ]


def test_variant_names_and_tags():
    net = create_model("ghostnet_130.85b91860", num_classes=3)
    assert (net.width, net.num_classes) == (1.3, 3)
    assert create_model("GhostNet", 0.5).width == 0.5


def test_unsupported_backbone_names_it_and_lists_supported():
    with pytest.raises(UnsupportedBackboneError) as info:
        create_model("nosuchnet50", 1.0)  # resnet50 is MindCV's now: a name nobody registers
    assert "'nosuchnet50'" in str(info.value) and "ghostnet" in str(info.value)


def test_width_required_and_consistent():
    with pytest.raises(UnsupportedBackboneError, match="width"):
        create_model("ghostnet")
    with pytest.raises(UnsupportedBackboneError, match="width"):
        create_model("ghostnet_050", 1.0)


@pytest.mark.parametrize(
    "name, width",
    [
        ("ghostnet_050", 0.5),
        ("ghostnet_100", 1.0),
        ("ghostnet_130", 1.3),
        ("ghostnet_130.85b91860", 1.3),
        ("ghostnet_050.in1k.v2", 0.5),
        ("ghostnet", None),
        ("resnet50", None),
        ("resnet_50", None),
        ("ghostnet.tag_050", None),
    ],
)
def test_parse_width(name, width):
    try:
        parsed = split_name(name).width
    except ValueError:
        parsed = None
    assert parsed == width

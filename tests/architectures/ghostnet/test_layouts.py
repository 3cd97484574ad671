"""GhostNet-family weights: layouts, V3 fusion, architecture inference and readers, against the sources.

The fixtures in tests/support/ghostnet_family/ were made by tools/make_ghostnet_fixtures.py from the
real source networks (timm for v1 / V2 / V3, the MindSpore model zoo for its layouts): random
weights under the source's own names, an input and the source's logits. Each test loads the
weights through ghosthub's readers and layouts into a ghosthub network and must reproduce the
logits; torch is never needed.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from ghosthub.architectures import Fit, create_model
from ghosthub.architectures.ghostnet._channels import ghostnet_plan
from ghosthub.architectures.ghostnet.layouts import (
    LAYOUTS,
    detect_layout,
    infer_architecture,
    model_options,
    to_ghosthub,
)
from ghosthub.architectures.ghostnet.v3 import fuse_v3
from ghosthub.errors import CheckpointMismatchError, WeightsError
from ghosthub.weights.formats import read_foreign, read_safetensors, read_torch, sniff, unwrap_state_dict
from tests.support.family import DATA, FIXTURES, close, load_fixture


def assign_strict(net, params: dict) -> None:
    """Set every network parameter from ``params``: the same names, the same shapes, nothing left over."""
    import mindspore as ms

    targets = net.parameters_dict()
    missing = sorted(set(targets) - set(params))
    unexpected = sorted(set(params) - set(targets))
    wrong = sorted(n for n in set(targets) & set(params) if tuple(targets[n].shape) != params[n].shape)
    assert not (missing or unexpected or wrong), (
        f"missing {missing[:5]}, unexpected {unexpected[:5]}, shapes {wrong[:5]}"
    )
    for name, p in targets.items():
        p.set_data(ms.Tensor(np.asarray(params[name], np.float32)))


def build(params: dict, layout: str | None = None, **overrides):
    """Source-named params -> (ghosthub network in eval mode, mapped params, layout, architecture)."""
    layout = layout or detect_layout(params)
    mapped = to_ghosthub(params, layout)
    arch = infer_architecture(mapped)
    options = {**model_options(mapped, layout), **overrides}
    net = create_model(arch.family, arch.width, num_classes=arch.num_classes, in_channels=arch.in_channels, **options)
    assign_strict(net, mapped)
    net.set_train(False)
    return net, mapped, layout, arch


def run(net, x: np.ndarray) -> np.ndarray:
    import mindspore as ms

    return net(ms.Tensor(x)).asnumpy()


_NETS: dict = {}


def fixture_net(name: str):
    """Built once per fixture for the whole module (building and loading cost seconds)."""
    if name not in _NETS:
        params, x, ref, meta = load_fixture(name)
        _NETS[name] = (*build(params), params, x, ref, meta)
    return _NETS[name]


def test_fixtures_present_and_small():
    assert {
        "timm_ghostnet_050",
        "timm_ghostnetv2_050",
        "timm_ghostnetv3_050",
        "modelzoo_ghostnet_1x",
        "modelzoo_ghostnetv2_1x",
        "modelzoo_ghostnet600_100",
    } <= set(FIXTURES)
    sizes = [p.stat().st_size for p in DATA.glob("*.npz")]
    assert max(sizes) < 4e6 and sum(sizes) < 15e6


@pytest.mark.parametrize("name", FIXTURES)
def test_source_logits_reproduced(name):
    net, _, layout, arch, _, x, ref, meta = fixture_net(name)
    assert layout == meta["layout"]
    assert arch == Fit(meta["family"], meta["width"], meta["num_classes"], meta["in_channels"])
    y = run(net, x)
    assert close(y, ref), f"{name}: max |diff| {np.abs(y - ref).max():.3g} for max |y| {np.abs(ref).max():.3g}"


@pytest.mark.parametrize("wrong", ["swap BN mean and variance", "swap two BNs' means"])
def test_wrong_mapping_fails_the_tolerance(wrong):
    net, mapped, *_, x, ref, _ = fixture_net("timm_ghostnet_050")
    bad = dict(mapped)
    bn = "blocks.6.2.ghost1.primary_conv.1"
    if wrong == "swap BN mean and variance":
        mean, var = f"{bn}.moving_mean", f"{bn}.moving_variance"
        bad[mean], bad[var] = mapped[var], mapped[mean]
    else:
        other = "blocks.6.2.ghost1.cheap_operation.1"
        a, b = f"{bn}.moving_mean", f"{other}.moving_mean"
        bad[a], bad[b] = mapped[b], mapped[a]
    try:
        assign_strict(net, bad)
        assert not close(run(net, x), ref)
    finally:
        assign_strict(net, mapped)


@pytest.mark.parametrize("name, wrong", [("modelzoo_ghostnetv2_1x", "nearest"), ("timm_ghostnetv2_050", "bilinear")])
def test_v2_gate_upsampling_matters(name, wrong):
    """The model zoo's bilinear gate and timm's nearest one give different logits: the switch is needed."""
    params, x, ref, _ = load_fixture(name)
    net, *_ = build(params, upsample=wrong)
    assert not close(run(net, x), ref)


# -- layouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_detect_layout(name):
    params, _, _, meta = load_fixture(name)
    assert detect_layout(params) == meta["layout"] in LAYOUTS
    native = "modelzoo-600m" if meta["family"] == "ghostnet600" else "mindcv"  # 600M's own names are the zoo's
    assert detect_layout(to_ghosthub(params)) == native  # mapped weights are native


def test_modelzoo_training_state_dropped():
    params, *_ = load_fixture("modelzoo_ghostnet_1x")
    assert {"learning_rate", "global_step", "moments.conv_stem.weight"} <= set(params)
    mapped = to_ghosthub(params, "modelzoo")
    assert not any(n.startswith("moments.") or n in ("learning_rate", "global_step", "momentum") for n in mapped)
    assert len(mapped) == 432
    assert mapped["blocks.9.features.0.weight"] is params["blocks.16.conv.weight"]
    assert mapped["blocks.7.0.conv_dw.weight"] is params["blocks.11.dw.conv.weight"]
    assert mapped["blocks.3.0.shortcut.3.gamma"] is params["blocks.3.shortcut.1.bn.gamma"]


def test_ghostnet600_matches_the_model_zoo_names_and_size():
    """The published GhostNet-600M (width 1.75): the model zoo's 540 entries, 11,939,796 trainable numbers."""
    net = create_model("ghostnet600", 1.75)
    assert len(net.parameters_dict()) == 540
    assert sum(p.size for p in net.trainable_params()) == 11_939_796
    shapes = {n: tuple(p.shape) for n, p in net.parameters_dict().items()}
    assert shapes["conv_stem.weight"] == (28, 3, 3, 3) and shapes["blocks.0.se.conv_reduce.weight"] == (8, 32, 1, 1)
    assert shapes["blocks.19.bn.moving_mean"] == (1680,) and shapes["conv_head.weight"] == (1400, 1680, 1, 1)
    arch = infer_architecture({n: np.zeros(s, np.float32) for n, s in shapes.items()})
    assert arch == ("ghostnet600", 1.75, 1000, 3)


def test_modelzoo_v2_attention_names():
    params, *_ = load_fixture("modelzoo_ghostnetv2_1x")
    mapped = to_ghosthub(params, "modelzoo-v2")
    assert mapped["blocks.8.3.ghost1.short_conv.4.weight"] is params["blocks.15.ghost1.short_conv.2.conv.weight"]
    assert (
        mapped["blocks.8.3.ghost1.short_conv.5.moving_variance"]
        is params["blocks.15.ghost1.short_conv.2.bn.moving_variance"]
    )


def test_timm_bn_decided_by_running_mean_sibling():
    params = {
        "conv_stem.weight": np.zeros((8, 3, 3, 3)),
        "bn1.weight": np.ones(8),
        "bn1.bias": np.zeros(8),
        "bn1.running_mean": np.zeros(8),
        "bn1.running_var": np.ones(8),
        "bn1.num_batches_tracked": np.array(3),
        "blocks.3.0.se.conv_reduce.weight": np.zeros((4, 8, 1, 1)),
        "blocks.3.0.se.conv_reduce.bias": np.zeros(4),
        "blocks.9.0.conv.weight": np.zeros((16, 8, 1, 1)),
        "blocks.9.0.bn1.weight": np.ones(16),
        "blocks.9.0.bn1.bias": np.zeros(16),
        "blocks.9.0.bn1.running_mean": np.zeros(16),
        "blocks.9.0.bn1.running_var": np.ones(16),
        "classifier.weight": np.zeros((10, 1280)),
        "classifier.bias": np.zeros(10),
        "total_ops": np.zeros(1),
    }
    assert sorted(to_ghosthub(params, "timm")) == sorted(
        [
            "conv_stem.weight",
            "bn1.gamma",
            "bn1.beta",
            "bn1.moving_mean",
            "bn1.moving_variance",
            "blocks.3.0.se.conv_reduce.weight",
            "blocks.3.0.se.conv_reduce.bias",  # a conv bias stays a bias
            "blocks.9.features.0.weight",
            "blocks.9.features.1.gamma",
            "blocks.9.features.1.beta",
            "blocks.9.features.1.moving_mean",
            "blocks.9.features.1.moving_variance",
            "classifier.weight",
            "classifier.bias",
        ]
    )


def test_unknown_layout_names_what_was_found():
    with pytest.raises(WeightsError, match=r"match no GhostNet layout.*2 names found: fc\.bias, features\.0\.weight"):
        detect_layout(["features.0.weight", "fc.bias", "learning_rate"])
    with pytest.raises(WeightsError, match="no network parameters"):
        detect_layout(["learning_rate", "moments.a"])
    with pytest.raises(WeightsError, match="quantisation"):
        detect_layout(["conv_stem.weight", "conv_stem.scale_w", "bn1.moving_mean"])
    ghostnet600 = [f"blocks.{i}.ghost1.primary_conv.conv.weight" for i in range(19)] + ["blocks.19.conv.weight"]
    assert detect_layout(ghostnet600) == "modelzoo-600m"
    with pytest.raises(WeightsError, match="17 bottlenecks.*GhostNet \\(16\\) and GhostNet-600M \\(19\\) only"):
        detect_layout(ghostnet600[:17] + ["blocks.17.conv.weight"])
    with pytest.raises(WeightsError, match="unknown weights layout 'keras'"):
        to_ghosthub({"conv_stem.weight": np.zeros(1)}, "keras")


def test_infer_architecture_widths_and_errors():
    params, *_ = load_fixture("timm_ghostnet_050")
    mapped = to_ghosthub(params)
    assert infer_architecture(mapped) == ("ghostnet", 0.5, 10, 3)
    headless = {k: v for k, v in mapped.items() if not k.startswith("classifier.")}
    assert infer_architecture(headless).num_classes == 0
    bad = dict(mapped)
    bad["blocks.6.1.ghost1.primary_conv.0.weight"] = np.zeros((47, 40, 1, 1), np.float32)
    with pytest.raises(
        CheckpointMismatchError,
        match=r"width 0\.5.*blocks\.6\.1\.ghost1\.primary_conv\.0\.weight: "
        r"expected 46 channels, found 47",
    ):
        infer_architecture(bad)
    with pytest.raises(CheckpointMismatchError, match="no conv_stem.weight"):
        infer_architecture({k: v for k, v in mapped.items() if k != "conv_stem.weight"})
    for width, last in ((1.3, 1248), (1.6, 1536), (1.0, 960)):
        shapes = {n: np.zeros((c, 3, 1, 1)) for n, c in ghostnet_plan(width)}
        assert infer_architecture(shapes).width == width and shapes["blocks.9.features.0.weight"].shape[0] == last


def test_fuse_v3_accepts_huawei_bn_names_and_leaves_no_branch():
    params, *_ = load_fixture("timm_ghostnetv3_050")
    fused = fuse_v3(params)
    assert not any("_rpr_" in n for n in fused)
    huawei = {n.replace(".bn1.", ".bn.") if "_rpr_" in n else n: v for n, v in params.items()}
    assert detect_layout(huawei) == "timm-v3"
    again = fuse_v3(huawei)
    assert sorted(again) == sorted(fused)
    assert all(np.array_equal(again[n], fused[n]) for n in fused)
    # Each fused conv's bias sits in a BN that is the identity plus that bias.
    assert np.array_equal(fused["blocks.3.0.bn_dw.weight"], np.ones_like(fused["blocks.3.0.bn_dw.weight"]))


# -- readers -----------------------------------------------------------------------------------

_ST_DTYPES = {"<f4": "F32", "<f2": "F16", "<i8": "I64", "<f8": "F64", "|u1": "U8"}


def write_safetensors(path: Path, arrays: dict, header_extra: dict | None = None, dtypes: dict | None = None) -> None:
    """A minimal safetensors writer (the format's spec), for the tests only."""
    header, blobs, offset = {}, [], 0
    for name, value in arrays.items():
        value = np.require(value, requirements="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        blob = value.tobytes()
        header[name] = {
            "dtype": (dtypes or {}).get(name) or _ST_DTYPES[value.dtype.str],
            "shape": list(value.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    header.update(header_extra or {})
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def test_safetensors_roundtrip_loads_the_network(tmp_path):
    params, x, ref, _ = load_fixture("timm_ghostnetv2_050")
    path = tmp_path / "model.safetensors"
    write_safetensors(path, params, {"__metadata__": {"format": "pt"}})
    assert sniff(path) == "safetensors"
    read = read_foreign(path)
    assert list(read) == list(params) and all(np.array_equal(read[k], params[k]) for k in params)
    net, *_ = build(read)
    assert close(run(net, x), ref)


def test_safetensors_bf16_widened(tmp_path):
    values = np.array([1.5, -2.25, 3.0e-3], np.float32)
    path = tmp_path / "bf16.safetensors"
    # bfloat16 is the upper half of a float32: write those halves and label them BF16.
    write_safetensors(path, {"w": (values.view("<u4") >> 16).astype("<u2")}, dtypes={"w": "BF16"})
    out = read_safetensors(path)["w"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, values, rtol=1e-2)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", "outside the .*data section"),
        ("header too long", "header claims"),
        ("not json", "not valid JSON"),
        ("bad dtype", "unknown dtype 'Q8'"),
        ("shape mismatch", "bytes for a F32 tensor of shape"),
        ("overlap", "overlap"),
        ("bad shape", "not a list of non-negative integers"),
    ],
)
def test_safetensors_header_validated_before_reading(tmp_path, damage, message):
    path = tmp_path / "bad.safetensors"
    write_safetensors(path, {"a": np.zeros((2, 3), np.float32), "b": np.ones(4, np.float32)})
    raw = path.read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + header_len])
    if damage == "truncate":
        raw = raw[:-4]
    elif damage == "header too long":
        raw = struct.pack("<Q", len(raw)) + raw[8:]
    elif damage == "not json":
        raw = raw[:8] + b"{" * header_len + raw[8 + header_len :]
    else:
        if damage == "bad dtype":
            header["a"]["dtype"] = "Q8"
        elif damage == "shape mismatch":
            header["a"]["shape"] = [3, 3]
        elif damage == "overlap":
            header["b"]["data_offsets"] = [16, 32]
        elif damage == "bad shape":
            header["a"]["shape"] = [2, -3]
        text = json.dumps(header).encode()
        raw = struct.pack("<Q", len(text)) + text + raw[8 + header_len :]
    path.write_bytes(raw)
    with pytest.raises(WeightsError, match=message):
        read_safetensors(path)


def test_torch_files_need_the_optional_extra(tmp_path, monkeypatch):
    path = tmp_path / "ck_ghostnetv2_10.pth.tar"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 60)
    assert sniff(path) == "torch"
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(WeightsError, match=r"needs torch.*pip install 'ghosthub\[torch\]'"):
        read_foreign(path)
    with pytest.raises(WeightsError, match="needs torch"):
        read_torch(path)


def test_mindspore_ckpt_is_not_foreign(tmp_path):
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"\n\x10conv_stem.weight" + b"\0" * 32)
    with pytest.raises(WeightsError, match="neither safetensors nor a PyTorch"):
        read_foreign(path)
    with pytest.raises(WeightsError, match="empty"):
        (tmp_path / "empty.safetensors").write_bytes(b"")
        read_foreign(tmp_path / "empty.safetensors")


def test_unwrap_state_dict():
    inner = {"module.conv_stem.weight": 1, "module.bn1.weight": 2}
    assert unwrap_state_dict({"state_dict": inner, "args": object()}) == {"conv_stem.weight": 1, "bn1.weight": 2}
    assert unwrap_state_dict({"state_dict": {"a": 1}, "state_dict_ema": {"a": 2}}, ema=True) == {"a": 2}
    assert unwrap_state_dict({"model": {"a": 1}}) == {"a": 1}
    with pytest.raises(WeightsError, match="not a dict of tensors"):
        unwrap_state_dict([1, 2])


def test_torch_roundtrip_when_installed(tmp_path):
    torch = pytest.importorskip("torch")
    params, x, ref, _ = load_fixture("timm_ghostnet_050")
    path = tmp_path / "model.pth.tar"
    torch.save({"state_dict": {k: torch.from_numpy(np.asarray(v)) for k, v in params.items()}, "epoch": 3}, path)
    read = read_foreign(path)
    net, *_ = build(read)
    assert close(run(net, x), ref)

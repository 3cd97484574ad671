"""Any GhostNet weights file loads: architecture from the weights, foreign layouts end to end, inspect,
convert, publish, bundled model-zoo cards, and weights that would cost more memory than the file holds.

Weights come from the fixtures of tests/support/family.py (random weights under each source's own names,
with the source's logits), written as real .safetensors / MindSpore .ckpt files. The model-zoo cards
are checked against tests/support/ghostnet_family/modelzoo_names.json: the parameter names and shapes of
the model zoo's networks (from ../shared/reference/ghostnet-params/mz_params.json), so no download
is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ghosthub
from ghosthub.cli import main
from ghosthub.errors import CheckpointMismatchError, LoadError, WeightsError
from ghosthub.hub.serve import serve
from ghosthub.modelcard import load_card, render_card
from ghosthub.weights.convert import describe_weights
from ghosthub.weights.formats import write_safetensors
from tests.support.family import DATA, close, load_fixture
from tests.support.paths import REPO, SEED

OPTIMIZER = ("learning_rate", "global_step", "momentum")  # what the model zoo's train checkpoints add


def logits(net, x):
    import mindspore as ms

    return net(ms.Tensor(x)).asnumpy()


def save_ckpt(path, params):
    import mindspore as ms

    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in params.items()], str(path))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Foreign-layout weights files (timm safetensors, a model-zoo training .ckpt) served over HTTP."""
    root = tmp_path_factory.mktemp("weights")
    (root / "assets").mkdir()
    out = {}
    params, x, ref, _ = load_fixture("timm_ghostnetv2_050")
    write_safetensors(root / "assets" / "v2.safetensors", params)
    out["timm"] = (root / "assets" / "v2.safetensors", x, ref)
    params, x, ref, _ = load_fixture("modelzoo_ghostnet_1x")
    # A training checkpoint: the weights plus the optimizer's state, as the model zoo saves them.
    training = {
        **params,
        **{f"moments.{k}": np.zeros_like(v) for k, v in list(params.items())[:20]},
        **{k: np.array(0.1, np.float32) for k in OPTIMIZER},
    }
    save_ckpt(root / "assets" / "pets-weights.ckpt", training)
    out["modelzoo"] = (root / "assets" / "pets-weights.ckpt", x, ref)
    params, x, ref, _ = load_fixture("modelzoo_ghostnetv2_1x")
    write_safetensors(root / "assets" / "mzv2.safetensors", params)
    out["modelzoo-v2"] = (root / "assets" / "mzv2.safetensors", x, ref)
    with serve(root) as server:
        out["url"] = server.url
        yield out


def write_card(folder, name, link, digest, **fields):
    card = load_card(SEED).replace(
        title=name,
        **{"model-name": name, "asset": [{"file-format": "ckpt", "asset-link": link, "asset-sha256": digest}]},
        **fields,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(render_card(card), encoding="utf-8")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- architecture from the weights ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["timm", "modelzoo", "modelzoo-v2"])
def test_load_a_path_builds_what_the_file_holds(files, kind):
    path, x, ref = files[kind]
    net = ghosthub.load(str(path))
    assert close(logits(net, x), ref)


def test_a_card_without_width_gets_it_from_the_weights(files, tmp_path):
    path, x, ref = files["modelzoo"]
    link = files["url"] + "assets/pets-weights.ckpt"
    write_card(tmp_path, "pets_finetuned", link, sha256(path))  # no width: field, no ghostnet_NNN anywhere
    net = ghosthub.load("pets_finetuned", cards=[tmp_path])
    assert net.width == 1.0 and net.num_classes == 10
    assert close(logits(net, x), ref)
    with pytest.raises(LoadError, match="names no width.*pretrained=True"):
        ghosthub.load("pets_finetuned", pretrained=False, cards=[tmp_path])


def test_a_card_may_name_its_layout_and_a_wrong_one_is_refused(files, tmp_path):
    path, x, ref = files["modelzoo"]
    link = files["url"] + "assets/pets-weights.ckpt"
    write_card(tmp_path, "named_layout", link, sha256(path), **{"weights-layout": "modelzoo"})
    write_card(tmp_path, "wrong_layout", link, sha256(path), **{"weights-layout": "timm"})
    assert close(logits(ghosthub.load("named_layout", cards=[tmp_path]), x), ref)
    with pytest.raises(WeightsError, match="weights-layout 'timm' but the parameter names are 'modelzoo'"):
        ghosthub.load("wrong_layout", cards=[tmp_path])


def test_a_card_whose_width_contradicts_the_weights_names_both(files, tmp_path):
    path, *_ = files["modelzoo"]
    write_card(tmp_path, "ghostnet_050_wrong", files["url"] + "assets/pets-weights.ckpt", sha256(path))
    with pytest.raises(CheckpointMismatchError, match="shape mismatches(.|\n)*holds a ghostnet of width 1.0 with 10"):
        ghosthub.load("ghostnet_050_wrong", cards=[tmp_path])


def _run(code: str, *args) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line, returned here."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLOG_v": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_MEASURE = """
import importlib, json, resource, sys
import ghosthub
from ghosthub.errors import GhostHubError
def peak():  # VmHWM: ru_maxrss would carry over the forking parent's peak (pytest with MindSpore)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) * 1024
before = peak()
out = {}
for call in sys.argv[2:]:
    try:
        {"load": ghosthub.load,
         "inspect": lambda p: importlib.import_module("ghosthub.weights.convert").describe_weights(p),
         "read": lambda p: importlib.import_module("ghosthub.weights.checkpoint").read_checkpoint(p)}[call](sys.argv[1])
        out[call] = "no error"
    except GhostHubError as e:
        out[call] = str(e)
out["grown"] = peak() - before
out["mindspore"] = "mindspore" in sys.modules
print(json.dumps(out))
"""


def test_unknown_names_fail_before_any_tensor_or_mindspore(tmp_path):
    path = tmp_path / "other.safetensors"
    write_safetensors(
        path, {"encoder.layer.0.weight": np.zeros((4, 4), np.float32), "pos_embed": np.zeros(3, np.float32)}
    )
    result = _run(_MEASURE, path, "load", "inspect")
    for call in ("load", "inspect"):
        assert "match no GhostNet layout" in result[call] and "encoder.layer.0.weight" in result[call]
        assert str(path) in result[call]
    assert result["mindspore"] is False


# -- memory bombs ----------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def hostile_ckpt(dims, tag=b"conv_stem.weight", content=b"\0" * 4) -> bytes:
    """A MindSpore checkpoint whose one tensor declares ``dims`` but holds ``content``."""
    tensor = b"".join(_varint(1 << 3) + _varint(d) for d in dims) + _field(2, b"Float32") + _field(3, content)
    return _field(1, _field(1, tag) + _field(2, tensor))


def test_a_43_byte_checkpoint_claiming_4_gib_is_refused_without_allocating(tmp_path):
    path = tmp_path / "bomb.ckpt"
    path.write_bytes(hostile_ckpt([10**9]))
    assert path.stat().st_size == 43
    result = _run(_MEASURE, path, "read", "load", "inspect")
    for call in ("read", "load", "inspect"):
        assert "declares Float32 [1000000000] (4000000000 bytes) but the file holds 4 bytes" in result[call], result
    assert result["grown"] < 200 * 2**20, f"peak memory grew by {result['grown'] / 2**20:.0f} MiB"


def test_a_large_safetensors_of_unrelated_tensors_is_refused_from_its_header(tmp_path):
    path = tmp_path / "big.safetensors"
    n = 2**28  # 1 GiB of float32, as a sparse file: the disk holds next to nothing
    header = json.dumps({"embeddings": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + 4 * n)
    result = _run(_MEASURE, path, "load", "inspect")
    assert "match no GhostNet layout" in result["load"] and "embeddings" in result["load"]
    assert result["grown"] < 100 * 2**20 and result["mindspore"] is False


def test_a_ghostnet_named_tensor_of_the_wrong_shape_is_refused_before_reading(tmp_path, files):
    """Right names, one shape that no network has: the header check fails before a tensor is read."""
    import mindspore as ms

    params, *_ = load_fixture("timm_ghostnet_050")
    params["conv_stem.weight"] = np.zeros((8, 3, 3, 3, 2), np.float32)
    path = tmp_path / "odd.ckpt"
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in params.items()], str(path))
    from ghosthub.weights import formats

    read = []
    original = formats.read_ckpt_arrays
    formats.read_ckpt_arrays = lambda *a: read.append(a) or original(*a)
    try:
        with pytest.raises(CheckpointMismatchError, match=r"conv_stem.weight \(8, 3, 3, 3, 2\)"):
            ghosthub.load(str(path))
    finally:
        formats.read_ckpt_arrays = original
    assert read == []


def test_ckpt_scan_matches_mindspore_for_sliced_and_odd_tensors(tmp_path):
    """Large tensors are saved in slices, scalars as dims [0]: the scan reads them as MindSpore does."""
    import mindspore as ms

    from ghosthub.weights.formats import read_ckpt_arrays, scan_ckpt

    params = {
        "scalar": np.array(3.5, np.float32),
        "half": np.ones((3, 2), np.float16),
        "ints": np.arange(5, dtype=np.int32),
    }
    path = tmp_path / "odd.ckpt"
    ms.save_checkpoint(
        [{"name": k, "data": ms.Tensor(v)} for k, v in params.items()], str(path), append_dict={"note": "text"}
    )
    # MindSpore writes a tensor over 512 MiB as consecutive values with one tag: the same, at 4 x 3.
    params["big"] = np.arange(12, dtype=np.float32).reshape(4, 3)
    with open(path, "ab") as f:
        for rows in (params["big"][:2], params["big"][2:]):
            f.write(hostile_ckpt([4, 3], tag=b"big", content=rows.tobytes()))
    tensors, texts = scan_ckpt(path)
    assert len(tensors["big"].parts) == 2 and texts == {"note": "text"}
    arrays = read_ckpt_arrays(path, tensors)
    reference = {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items() if hasattr(v, "asnumpy")}
    assert arrays.keys() == reference.keys() == params.keys()
    for k in params:
        np.testing.assert_array_equal(arrays[k], reference[k])
        assert arrays[k].dtype == reference[k].dtype


# -- inspect, convert, publish ----------------------------------------------------------------------


def test_inspect_text_and_json(files, capsys):
    path, *_ = files["modelzoo"]
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    net = ghosthub.load(str(path))
    trainable = sum(int(np.prod(p.shape)) for p in net.trainable_params())
    assert info["family"] == "ghostnet" and info["width"] == 1.0 and info["num_classes"] == 10
    assert info["layout"] == "modelzoo" and info["parameters"] == trainable
    assert info["training_state"] == 20 + len(OPTIMIZER) and info["sha256"] == sha256(path) and info["record"] is None
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "layout       modelzoo" in text and f"{trainable:,}" in text and "not written by ghosthub" in text


@pytest.mark.parametrize("suffix", [".ckpt", ".safetensors"])
def test_convert_keeps_the_logits_and_records_the_architecture(files, tmp_path, capsys, suffix):
    path, x, ref = files["modelzoo-v2"]  # the bilinear gate must survive the rename to native names
    out = tmp_path / f"converted{suffix}"
    assert main(["convert", str(path), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["layout"] == "modelzoo-v2" and result["sha256"] == sha256(out)
    info = describe_weights(out)
    assert info["layout"] == "mindcv" and info["options"] == {"upsample": "bilinear"}
    record = info["record"]
    assert (record["backbone"], record["width"], record["num_classes"]) == ("ghostnetv2", 1.0, 10)
    assert record["converted_from"] == {"layout": "modelzoo-v2", "sha256": sha256(path)}
    from ghosthub.weights.checkpoint import read_info

    assert read_info(out)["model_options"] == {"upsample": "bilinear"}
    assert close(logits(ghosthub.load(str(out)), x), ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # nothing left beside it


def test_convert_refuses_other_outputs(files, tmp_path):
    path, *_ = files["timm"]
    assert main(["convert", str(path), "--out", str(tmp_path / "x.onnx")]) == 1
    assert list(tmp_path.iterdir()) == []


def test_publish_converts_a_foreign_layout_first(files, tmp_path):
    from ghosthub.tasks.publish import publish

    path, x, ref = files["timm"]
    hub = tmp_path / "hub"
    result = publish(path, name="v2_tiny", hub=hub)
    assert result.asset_path.suffix == ".ckpt"
    info = describe_weights(result.asset_path)
    assert info["layout"] == "mindcv" and info["record"]["converted_from"]["layout"] == "timm"
    assert result.card.fields["backbone-name"] == "ghostnetv2" and result.card.fields["width"] == "0.5"
    assert sorted(p.name for p in (hub / "assets").iterdir()) == [result.asset_path.name]
    net = ghosthub.load("v2_tiny", hub=str(hub))
    assert close(logits(net, x), ref)


def test_a_pth_without_torch_says_how_to_install_it(tmp_path):
    try:
        import torch  # noqa: F401

        pytest.skip("torch is installed")
    except ImportError:
        pass
    path = tmp_path / "model.pth"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(WeightsError, match=r"needs torch.*pip install 'ghosthub\[torch\]'"):
        ghosthub.load(str(path))


# -- bundled cards -----------------------------------------------------------------------------------


def _listing(card) -> dict | None:
    """The model zoo's names and shapes for a bundled card with a weights-layout (None for MindCV cards)."""
    layout = card.get("weights-layout")
    if layout is None:
        return None
    networks = json.loads((DATA / "modelzoo_names.json").read_text())["networks"]
    key = (
        "mz_ghostnet_600m"
        if layout == "modelzoo-600m"
        else ("mz_ghostnet_1x_pets" if "Pet" in card.get("train-dataset", "") else "mz_ghostnet_1x")
    )
    return networks[key]


def _built_in_cards() -> list[str]:
    """The bundled cards ghosthub's own architectures build (MindCV's are tests/architectures/test_mindcv.py's
    and bench/bench_zoo.py's)."""
    from ghosthub.architectures import availability

    client = ghosthub.Client()
    return [n for n in client.list_models() if availability(client.entry(n)).library == "ghosthub"]


@pytest.mark.parametrize("name", _built_in_cards())
def test_each_bundled_card_resolves_to_a_network(name):
    from ghosthub.weights.formats import TensorInfo
    from ghosthub.weights.plan import plan_tensors
    from ghosthub.weights.strict import load_weights

    client = ghosthub.Client()
    entry = client.entry(name)
    asset = entry.weights_asset()
    assert asset.link.startswith("https://") and asset.link.endswith("." + asset.file_format)
    net = client.load(name, pretrained=False)
    listing = _listing(entry)
    if listing is None:
        return
    # The checkpoint's names (and the optimizer state the model zoo saves) map onto this network.
    tensors = {n: TensorInfo("<f4", tuple(s), 4 * int(np.prod(s))) for n, s in listing.items()}
    tensors.update({f"moments.{n}": t for n, t in tensors.items()}, learning_rate=TensorInfo("<f4", (), 4))
    backbone, width = entry.backbone, float(entry.get("width"))
    plan = plan_tensors(tensors, layout=entry.get("weights-layout"), architecture=backbone, width=width)
    assert (plan.inferred.family, plan.inferred.width) == (backbone, width)
    result = load_weights(net, plan.mapped, source=name, check_only=True)
    assert len(result.loaded) + len(result.reinitialized) == len(net.parameters_dict())

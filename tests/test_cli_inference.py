"""`ghosthub predict` and `ghosthub export` on a real checkpoint."""

import gc
import json

import mindspore as ms
import numpy as np
import pytest
from PIL import Image

from conftest import SEED
from ghosthub.modelcard import load_card, render_card
from ghosthub.cli import main
from ghosthub.models import create_model
from ghosthub.data.transforms import make_transform

CLASSES = ["zero", "one", "two", "three", "four"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    ms.set_seed(3)
    net = create_model("ghostnet", 0.5, num_classes=len(CLASSES))
    ckpt = root / "five.ckpt"
    ms.save_checkpoint(net, str(ckpt))
    del net
    gc.collect()
    card = load_card(SEED).replace(
        title="five_050",
        **{
            "model-name": "five_050",
            "asset": [{"file-format": "ckpt", "asset-link": "five.ckpt", "asset-sha256": "0" * 64}],
            "input-size": "64",
            "crop-pct": "1.0",
            "class-names": CLASSES,
        },
    )
    (root / "five_050.md").write_text(render_card(card))
    images = []
    rng = np.random.default_rng(0)
    for i in range(3):
        path = root / f"img{i}.png"
        Image.fromarray((rng.random((80, 100, 3)) * 255).astype(np.uint8)).save(path)
        images.append(str(path))
    return {"root": root, "ckpt": str(ckpt), "images": images}


def reference_probs(model, image):
    net = create_model("ghostnet", 0.5, num_classes=len(CLASSES))
    ms.load_checkpoint(model["ckpt"], net)
    net.set_train(False)
    x = make_transform(64, crop_pct=1.0, batch=True)(image)
    logits = net(ms.Tensor(x)).asnumpy()[0].astype(np.float64)
    del net
    gc.collect()
    p = np.exp(logits - logits.max())
    return p / p.sum()


def test_predict_json(model, capsys):
    code = main(["predict", "five_050", *model["images"], "--cards", str(model["root"]), "--checkpoint", model["ckpt"], "--topk", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["image"] for r in out] == model["images"]
    for result in out:
        probs = [t["probability"] for t in result["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-9
        assert all(t["label"] == CLASSES[t["index"]] for t in result["top"])
    expected = reference_probs(model, model["images"][0])
    first = out[0]["top"][0]
    assert first["index"] == int(np.argmax(expected))
    assert first["probability"] == pytest.approx(float(expected.max()), abs=1e-5)


def test_predict_text_and_missing_image(model, capsys):
    code = main(["predict", "five_050", model["images"][0], "--cards", str(model["root"]), "--checkpoint", model["ckpt"], "--topk", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and lines[0] == model["images"][0] and lines[1].lstrip().startswith("1.") and len(lines) == 3
    code = main(["predict", "five_050", "/nonexistent.png", "--cards", str(model["root"]), "--checkpoint", model["ckpt"]])
    assert code == 1 and "nonexistent.png" in capsys.readouterr().err


def test_export_mindir_runs_the_same(model, tmp_path, capsys):
    out = tmp_path / "sub" / "five.mindir"
    code = main(["export", "five_050", "--cards", str(model["root"]), "--checkpoint", model["ckpt"], "--out", str(out)])
    assert code == 0 and out.is_file() and "1x3x64x64" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["five.mindir"]  # nothing left beside it
    graph = ms.nn.GraphCell(ms.load(str(out)))
    x = make_transform(64, crop_pct=1.0, batch=True)(model["images"][1])
    logits = graph(ms.Tensor(x)).asnumpy()[0].astype(np.float64)
    p = np.exp(logits - logits.max())
    np.testing.assert_allclose(p / p.sum(), reference_probs(model, model["images"][1]), atol=1e-5)
    del graph
    gc.collect()


def test_export_onnx(model, tmp_path, capsys):
    """ONNX has no HSigmoid: the export spells the gate out, and the network is as it was afterwards."""
    out = tmp_path / "five.onnx"
    code = main(["export", "five_050", "--cards", str(model["root"]), "--checkpoint", model["ckpt"], "--out", str(out), "--format", "onnx"])
    assert code == 0 and out.is_file(), capsys.readouterr().err
    data = out.read_bytes()
    assert data[:1] == b"\x08" and b"Conv" in data and b"HSigmoid" not in data  # ModelProto: ir_version first
    x = make_transform(64, crop_pct=1.0, batch=True)(model["images"][2])
    expected = reference_probs(model, model["images"][2])
    try:
        import onnxruntime
    except ImportError:
        return  # the numbers are checked where onnxruntime is installed
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: x})[0][0].astype(np.float64)
    p = np.exp(logits - logits.max())
    np.testing.assert_allclose(p / p.sum(), expected, atol=1e-5)


def test_export_leaves_the_network_as_it_was(model, tmp_path):
    from ghosthub.tasks.inference import export_network

    net = create_model("ghostnet", 0.5, num_classes=len(CLASSES))
    net.set_train(False)
    x = ms.Tensor(make_transform(64, crop_pct=1.0, batch=True)(model["images"][0]))
    before = net(x).asnumpy()
    export_network(net, tmp_path / "n.onnx", file_format="ONNX", input_shape=(1, 3, 64, 64))
    gates = [c for _, c in net.cells_and_names() if hasattr(c, "fused_gate")]
    assert gates and all(c.fused_gate for c in gates)
    np.testing.assert_array_equal(net(x).asnumpy(), before)
    del net
    gc.collect()


def test_export_unsupported_format_is_clear(model, tmp_path, capsys):
    code = main(["export", "five_050", "--cards", str(model["root"]), "--checkpoint", model["ckpt"], "--out", str(tmp_path / "x.air"), "--format", "air"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: MindSpore could not export to AIR")
    assert list(tmp_path.iterdir()) == []


def test_auto_mode_picks_graph_only_for_many_images():
    from ghosthub.tasks.inference import GRAPH_FROM_IMAGES, choose_mode

    assert choose_mode("auto", 3) == "pynative"
    assert choose_mode("auto", GRAPH_FROM_IMAGES) == "graph"
    assert choose_mode("pynative", 10_000) == "pynative" and choose_mode("graph", 1) == "graph"


def test_predict_in_graph_mode_gives_the_same_answer(model, capsys):
    import mindspore as ms

    args = ["predict", "five_050", model["images"][0], "--cards", str(model["root"]), "--checkpoint", model["ckpt"], "--json"]
    try:
        assert main([*args, "--mode", "graph"]) == 0
        graph = json.loads(capsys.readouterr().out)
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    assert main([*args, "--mode", "pynative"]) == 0
    pynative = json.loads(capsys.readouterr().out)
    assert [t["index"] for t in graph[0]["top"]] == [t["index"] for t in pynative[0]["top"]]
    assert graph[0]["top"][0]["probability"] == pytest.approx(pynative[0]["top"][0]["probability"], abs=1e-5)

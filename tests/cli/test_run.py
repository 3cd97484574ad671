"""`ghosthub predict` and `ghosthub export` on a real checkpoint."""

import gc
import json
import os

import mindspore as ms
import numpy as np
import pytest
from PIL import Image

from ghosthub.architectures import create_model
from ghosthub.cli import main
from ghosthub.data.transforms import make_transform
from ghosthub.modelcard import load_card, render_card
from tests.support.paths import SEED

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
    code = main(
        [
            "predict",
            "five_050",
            *model["images"],
            "--cards",
            str(model["root"]),
            "--checkpoint",
            model["ckpt"],
            "--topk",
            "3",
            "--json",
        ]
    )
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
    code = main(
        [
            "predict",
            "five_050",
            model["images"][0],
            "--cards",
            str(model["root"]),
            "--checkpoint",
            model["ckpt"],
            "--topk",
            "2",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and lines[0] == model["images"][0] and lines[1].lstrip().startswith("1.") and len(lines) == 3
    code = main(
        ["predict", "five_050", "/nonexistent.png", "--cards", str(model["root"]), "--checkpoint", model["ckpt"]]
    )
    assert code == 1 and "nonexistent.png" in capsys.readouterr().err


def test_export_mindir_runs_the_same(model, tmp_path, capsys):
    out = tmp_path / "sub" / "five.mindir"
    out.parent.mkdir()  # an output file's folder is the user's to make
    code = main(["export", "five_050", "--cards", str(model["root"]), "--checkpoint", model["ckpt"], "--out", str(out)])
    assert code == 0 and out.is_file() and "1x3x64x64" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["five.mindir"]  # nothing left beside it
    assert out.stat().st_mode & 0o777 == 0o644, "readable by a web server under another user"
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
    code = main(
        [
            "export",
            "five_050",
            "--cards",
            str(model["root"]),
            "--checkpoint",
            model["ckpt"],
            "--out",
            str(out),
            "--format",
            "onnx",
        ]
    )
    assert code == 0 and out.is_file(), capsys.readouterr().err
    data = out.read_bytes()
    assert data[:1] == b"\x08" and b"Conv" in data and b"HSigmoid" not in data  # ModelProto: ir_version first
    x = make_transform(64, crop_pct=1.0, batch=True)(model["images"][2])
    expected = reference_probs(model, model["images"][2])
    onnxruntime = pytest.importorskip(
        "onnxruntime", reason="the exported numbers are checked where onnxruntime is installed"
    )
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
    code = main(
        [
            "export",
            "five_050",
            "--cards",
            str(model["root"]),
            "--checkpoint",
            model["ckpt"],
            "--out",
            str(tmp_path / "x.air"),
            "--format",
            "air",
        ]
    )
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

    args = [
        "predict",
        "five_050",
        model["images"][0],
        "--cards",
        str(model["root"]),
        "--checkpoint",
        model["ckpt"],
        "--json",
    ]
    try:
        assert main([*args, "--mode", "graph"]) == 0
        graph = json.loads(capsys.readouterr().out)
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    assert main([*args, "--mode", "pynative"]) == 0
    pynative = json.loads(capsys.readouterr().out)
    assert [t["index"] for t in graph[0]["top"]] == [t["index"] for t in pynative[0]["top"]]
    assert graph[0]["top"][0]["probability"] == pytest.approx(pynative[0]["top"][0]["probability"], abs=1e-5)


def test_cache_clear_removes_the_compile_cache_a_graph_run_wrote(model, capsys):
    import subprocess
    import sys

    from ghosthub import config
    from tests.support.paths import REPO

    root = config.settings().cache_dir
    args = ["predict", "five_050", model["images"][0], "--cards", str(model["root"]), "--checkpoint", model["ckpt"]]
    # A process of its own: MindSpore's compile cache serves the first graph a process compiles.
    proc = subprocess.run(
        [sys.executable, "-m", "ghosthub", *args, "--mode", "graph"],
        cwd=REPO,
        env={**os.environ, "GLOG_v": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (root / "compile").is_dir()
    (root / "my-notes.txt").write_text("kept")
    capsys.readouterr()
    assert main(["cache", "ls"]) == 0
    assert "  + compile/ " in capsys.readouterr().out, "ls sums what clear removes"
    assert main(["cache", "clear", "--yes"]) == 0
    assert f"removed {root / 'compile'}" in capsys.readouterr().out
    assert os.listdir(root) == ["my-notes.txt"]


@pytest.fixture(scope="module")
def recorded(model):
    """A checkpoint ghosthub wrote for the same architecture: 32 px, its own mean/std and three classes."""
    from ghosthub.weights.checkpoint import save_checkpoint

    ms.set_seed(5)
    net = create_model("ghostnet", 0.5, num_classes=3)
    path = model["root"] / "recorded.ckpt"
    info = {
        "backbone": "ghostnet",
        "width": 0.5,
        "num_classes": 3,
        "in_channels": 3,
        "input_size": [3, 32, 32],
        "crop_pct": 1.0,
        "interpolation": "bilinear",
        "mean": [127.5] * 3,
        "std": [127.5] * 3,
        "classes": ["cat", "dog", "emu"],
        "kind": "network",
    }
    save_checkpoint(net, path, info)
    assert path.stat().st_mode & 0o777 == 0o644, "MindSpore writes 0400; ghosthub's checkpoints are readable by others"
    net.set_train(False)
    x = make_transform(32, crop_pct=1.0, mean=(127.5,) * 3, std=(127.5,) * 3, batch=True)(model["images"][0])
    logits = net(ms.Tensor(x)).asnumpy()[0].astype(np.float64)
    del net
    gc.collect()
    p = np.exp(logits - logits.max())
    return {"path": str(path), "probs": p / p.sum()}


def test_predict_with_a_checkpoint_uses_its_record_not_the_card(model, recorded, capsys):
    """--checkpoint's record (32 px, its classes) wins over the card's (64 px, five classes)."""
    code = main(
        [
            "predict",
            "five_050",
            model["images"][0],
            "--cards",
            str(model["root"]),
            "--checkpoint",
            recorded["path"],
            "--topk",
            "3",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert "records other preprocessing than the card of five_050: input_size 32 (card: 64)" in err
    (result,) = json.loads(out)
    assert code == 0 and {t["label"] for t in result["top"]} == {"cat", "dog", "emu"}
    assert result["top"][0]["label"] == ["cat", "dog", "emu"][int(np.argmax(recorded["probs"]))]
    assert result["top"][0]["probability"] == pytest.approx(float(recorded["probs"].max()), abs=1e-5)


def test_predict_a_checkpoint_path_and_a_folder_of_images(model, recorded, capsys):
    folder = model["root"] / "some-images"
    folder.mkdir(exist_ok=True)
    for i, image in enumerate(model["images"]):
        (folder / f"{i}.png").write_bytes(open(image, "rb").read())
    (folder / "notes.txt").write_text("not an image")
    code = main(["predict", recorded["path"], str(folder), "--topk", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["image"] for r in out] == [str(folder / f"{i}.png") for i in range(3)]
    assert out[0]["top"][0]["probability"] == pytest.approx(float(recorded["probs"].max()), abs=1e-5)
    assert main(["predict", recorded["path"], str(model["root"] / "empty-folder-missing")]) == 1

"""MindCV's networks as ghosthub architectures, with real mindcv networks and checkpoints saved by MindSpore.

Each checkpoint is mindcv's own network with seeded weights and randomised BatchNorm statistics,
saved with ``mindspore.save_checkpoint``; ghosthub loads it through a card over HTTP (download,
SHA-256, strict load) or by path, and must give mindcv's logits. Then: training state dropped
and the head resized (mindcv issue 697), a 1-channel stem, the names mindcv versions spell
differently, mindcv's own failures, cards of other libraries, and ghosthub without mindcv.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

mindcv = pytest.importorskip("mindcv")

import mindspore as ms  # noqa: E402

import ghosthub  # noqa: E402
from ghosthub.architectures import availability, match  # noqa: E402
from ghosthub.hub.serve import serve  # noqa: E402
from ghosthub.modelcard import load_card, render_card  # noqa: E402
from tests.support.paths import CORPUS, REPO, SEED  # noqa: E402

RTOL = 1e-5  # max |logit difference| <= RTOL * max |logit|
MINDCV_LINK = "<https://github.com/mindspore-lab/mindcv/tree/v0.5.0/configs/{}>"
# Small and quick to build, of different kinds: a thin CNN, a 1x1-conv head, squeeze-excite, a transformer.
SMALL = ("mobilenet_v1_025", "squeezenet1_0", "seresnet18", "pit_ti")


def seeded(name: str, num_classes: int = 10, in_channels: int = 3, seed: int = 0):
    """mindcv's network with seeded weights and BatchNorm statistics away from 0 / 1, in inference mode."""
    ms.set_seed(seed)
    net = mindcv.create_model(name, num_classes=num_classes, in_channels=in_channels)
    rng = np.random.default_rng(seed)
    for p in net.get_parameters():
        if p.name.endswith("moving_mean"):
            p.set_data(ms.Tensor(rng.normal(0, 0.1, p.shape).astype(np.float32)))
        elif p.name.endswith("moving_variance"):
            p.set_data(ms.Tensor(rng.uniform(0.5, 1.5, p.shape).astype(np.float32)))
    net.set_train(False)
    return net


def logits(net, x: np.ndarray) -> np.ndarray:
    return net(ms.Tensor(x)).asnumpy()


def relative(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(y - ref).max() / np.abs(ref).max())


def write_card(folder, name, link, digest, **fields):
    """A card as MindSpore Hub writes MindCV's: repo-link in mindcv's configs."""
    card = load_card(SEED).replace(
        title=name,
        **{
            "model-name": name,
            "backbone-name": name.split("_")[0],
            "repo-link": MINDCV_LINK.format(name.split("_")[0]),
            "asset": [{"file-format": "ckpt", "asset-link": link, "asset-sha256": digest}],
        },
        **fields,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(render_card(card), encoding="utf-8")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A served folder with a checkpoint of each small architecture, and mindcv's logits for one input."""
    root = tmp_path_factory.mktemp("mindcv-hub")
    (root / "assets").mkdir()
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    reference = {}
    for name in SMALL:
        net = seeded(name)
        ms.save_checkpoint(net, str(root / "assets" / f"{name}.ckpt"))
        reference[name] = logits(net, x)
        del net
        gc.collect()
    with serve(root) as server:
        yield {"root": root, "url": server.url, "x": x, "logits": reference}


@pytest.mark.parametrize("name", SMALL)
def test_a_mindcv_card_loads_through_the_verified_path_with_mindcvs_logits(hub, tmp_path, isolated_env, name):
    path = hub["root"] / "assets" / f"{name}.ckpt"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    write_card(tmp_path / "cards", name, f"{hub['url']}assets/{name}.ckpt", digest)
    net = ghosthub.load(name, cards=[tmp_path / "cards"])
    assert net.default_cfg["architecture"] == name and net.num_classes == 10
    assert relative(logits(net, hub["x"]), hub["logits"][name]) <= RTOL
    cached = list((isolated_env / "cache" / "assets").rglob("*.ckpt"))
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in cached] == [digest], "the verified file is cached"


def test_a_client_with_its_own_cache_keeps_what_mindcv_checks_there_and_nowhere_else(hub, tmp_path, isolated_env):
    name = "squeezenet1_0"
    client = ghosthub.Client(cache_dir=tmp_path / "own-cache")
    client.load(str(hub["root"] / "assets" / f"{name}.ckpt"), architecture=name)
    checked = json.loads((tmp_path / "own-cache" / "architectures" / "mindcv-checked.json").read_text())
    assert checked[f"{mindcv.__version__}/{name}"] == {"mindspore": ms.__version__, "ok": True}
    assert not (isolated_env / "cache").exists(), "nothing written into the environment's cache"


def test_the_comparison_catches_one_wrong_batchnorm_statistic(hub, tmp_path):
    """Negative control: the same checkpoint with one BatchNorm mean moved is far outside the tolerance."""
    name = "mobilenet_v1_025"
    params = ms.load_checkpoint(str(hub["root"] / "assets" / f"{name}.ckpt"))
    moved = [n for n in params if n.endswith("moving_mean")][-1]  # the last one: early ones may saturate a ReLU6
    entries = [{"name": n, "data": p + 0.5 if n == moved else p} for n, p in params.items()]
    ms.save_checkpoint(entries, str(tmp_path / "moved.ckpt"))
    net = ghosthub.load(str(tmp_path / "moved.ckpt"), architecture=name)
    assert relative(logits(net, hub["x"]), hub["logits"][name]) > 100 * RTOL


def test_a_wrong_digest_caches_nothing(hub, tmp_path, isolated_env):
    name = SMALL[0]
    write_card(tmp_path / "cards", name, f"{hub['url']}assets/{name}.ckpt", "0" * 64)
    with pytest.raises(ghosthub.HashMismatchError):
        ghosthub.load(name, cards=[tmp_path / "cards"])
    assert not list((isolated_env / "cache").rglob("*.ckpt")), "nothing corrupt becomes visible in the cache"


def test_training_state_is_dropped_and_the_head_resized_mindcv_issue_697(tmp_path):
    """convnext_tiny with num_classes=1 from a file holding Adam's copies of the 1000-class head."""
    ms.set_seed(0)
    ref = mindcv.create_model("convnext_tiny", num_classes=1000)
    params = {p.name: p.asnumpy() for p in ref.get_parameters()}
    del ref
    gc.collect()
    entries = [{"name": n, "data": ms.Tensor(v)} for n, v in params.items()]
    for slot in ("adam_m", "adam_v"):  # what mindcv's AdamW saves beside each parameter, the head's included
        entries += [{"name": f"{slot}.{n}", "data": ms.Tensor(params[n])} for n in params if n.startswith("classifier")]
    entries += [
        {"name": "global_step", "data": ms.Tensor(np.array([100], np.int32))},
        {"name": "learning_rate", "data": ms.Tensor(np.array(0.001, np.float32))},
    ]
    path = tmp_path / "convnext_tiny-train.ckpt"
    ms.save_checkpoint(entries, str(path))
    net = ghosthub.load(str(path), architecture="convnext_tiny", num_classes=1)
    got = {p.name: p.asnumpy() for p in net.get_parameters()}
    assert got["classifier.weight"].shape == (1, params["classifier.weight"].shape[1])
    kept = [n for n in params if not n.startswith("classifier")]
    assert all(np.array_equal(got[n], params[n]) for n in kept), "every other parameter comes from the file"
    assert net(ms.Tensor(np.zeros((1, 3, 224, 224), np.float32))).shape == (1, 1)


def test_in_channels_1_sums_the_stem_of_a_mindcv_network(hub):
    name = "mobilenet_v1_025"
    path = hub["root"] / "assets" / f"{name}.ckpt"
    net = ghosthub.load(str(path), architecture=name, in_channels=1)
    ref = seeded(name, in_channels=1)
    params = ms.load_checkpoint(str(path))
    stem = net.default_cfg["first_conv"] + ".weight"
    params[stem] = ms.Parameter(ms.Tensor(params[stem].asnumpy().sum(axis=1, keepdims=True)), name=stem)
    ms.load_param_into_net(ref, params, strict_load=True)
    x = np.random.default_rng(2).standard_normal((2, 1, 224, 224)).astype(np.float32)
    assert relative(logits(net, x), logits(ref, x)) <= RTOL


def test_names_mindcv_versions_spell_differently_resolve_to_the_installed_one():
    for card_name, installed in (
        ("bit_resnet50", "BiT_resnet50"),
        ("vit_b32_224", "vit_b_32_224"),
        ("vit_l32_224", "vit_l_32_224"),
    ):
        assert mindcv.models.is_model(installed)
        assert match(card_name).name == installed and match(installed).name == installed


@pytest.mark.parametrize("name, stage", [("rexnet_09", "building the network"), ("pvt_tiny", "first forward pass")])
def test_mindcvs_own_failures_say_so(name, stage, isolated_env):
    with pytest.raises(ghosthub.ArchitectureError, match=f"mindcv 0.3.0's '{name}'.*{stage}.*mindcv's own failure"):
        ghosthub.load(name, pretrained=False)
    card = load_card(SEED).replace(**{"model-name": name, "repo-link": MINDCV_LINK.format(name)})
    assert availability(card).reason == "fails in mindcv 0.3.0", "the failure is remembered for ghosthub list"


def test_a_model_the_installed_mindcv_lacks_is_a_clear_error(tmp_path):
    write_card(tmp_path, "fancynet_b9", "https://unreachable.invalid/x.ckpt", "0" * 64)
    with pytest.raises(ghosthub.UnsupportedBackboneError, match="installed mindcv 0.3.0 registers no 'fancynet_b9'"):
        ghosthub.load("fancynet_b9", cards=[tmp_path])


def test_a_card_another_library_builds_is_refused_naming_it(tmp_path):
    """mindocr's dbnet_resnet50 says backbone-name: resnet50; it must not be built as a ResNet classifier."""
    card = load_card(SEED).replace(
        **{
            "model-name": "dbnet_resnet50",
            "backbone-name": "resnet50",
            "repo-link": "<https://github.com/mindspore-lab/mindocr/tree/v0.5.0/configs/det/dbnet>",
        }
    )
    (tmp_path / "dbnet_resnet50.md").write_text(render_card(card), encoding="utf-8")
    with pytest.raises(ghosthub.UnsupportedBackboneError, match="built by mindocr") as info:
        ghosthub.load("dbnet_resnet50", pretrained=False, cards=[tmp_path])
    assert info.value.library == "mindocr" and "ghosthub download dbnet_resnet50" in str(info.value)
    assert availability(card) == (False, None, "mindocr", "needs mindocr")


def test_an_architecture_name_without_a_card_builds_it_untrained():
    net = ghosthub.load("mobilenet_v1_050", pretrained=False, num_classes=3)  # a name no MindSpore Hub card has
    assert net.default_cfg["architecture"] == "mobilenet_v1_050" and net.num_classes == 3
    with pytest.raises(ghosthub.ModelNotFoundError):
        ghosthub.load("mobilenet_v1_050")  # weights need a card that says which and their digest


@pytest.mark.skipif(
    CORPUS is None, reason="the MindSpore Hub card corpus (../shared/corpus) is not beside the checkout"
)
def test_the_corpus_cards_say_which_library_builds_them():
    cards = CORPUS / "mindspore" / "2.5"
    client = ghosthub.Client(cards=[cards])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ghosthub.CardWarning)  # the corpus's ghostnet_050 shadows the bundled one
        found = {e.name: availability(e) for e in client.registry}
    assert found["resnet50"] == (True, "resnet50", "mindcv", "mindcv 0.3.0")
    assert found["vit_b32_224"].architecture == "vit_b_32_224" and found["bit_resnet50"].buildable
    assert found["ghostnet_050"] == (True, "ghostnet", "ghosthub", "built in")
    assert {found[n].reason for n in ("dbnet_resnet50", "crnn_vgg7")} == {"needs mindocr"}
    assert found["yolov5n"].reason == "needs mindyolo" and found["DiT"].reason == "needs mindone"
    with pytest.raises(ghosthub.UnsupportedBackboneError, match="built by mindocr"):
        client.load("dbnet_resnet50", pretrained=False)


_BLOCK_MINDCV = """
import sys
class _NoMindCV:
    def find_spec(self, name, path=None, target=None):
        if name == "mindcv" or name.startswith("mindcv."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoMindCV())
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )


def test_without_mindcv_its_cards_list_and_load_names_the_extra(tmp_path):
    write_card(tmp_path, "resnet50", "https://unreachable.invalid/resnet50.ckpt", "0" * 64)
    code = (
        _BLOCK_MINDCV
        + """
import json, ghosthub
from ghosthub.architectures import availability
from ghosthub.cli import main
client = ghosthub.Client(cards=[sys.argv[1]])
print(json.dumps(list(availability(client.entry("resnet50")))))
print(json.dumps(list(availability(client.entry("ghostnet_050")))))
try:
    client.load("resnet50", pretrained=False)
except ghosthub.UnsupportedBackboneError as exc:
    print(exc)
main(["list", "--cards", sys.argv[1], "--buildable"])
assert "mindcv" not in sys.modules
"""
    )
    done = _run(code, str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[0]) == [False, None, "mindcv", "needs ghosthub[mindcv]"]
    assert json.loads(lines[1]) == [True, "ghostnet", "ghosthub", "built in"]
    assert "pip install 'ghosthub[mindcv]'" in lines[2] and "resnet50" in lines[2]
    table = "\n".join(lines[3:])
    assert "ghostnet_050" in table and "resnet50" not in table, "--buildable leaves out what cannot be built here"


def test_listing_and_choosing_import_neither_mindcv_nor_mindspore(tmp_path):
    write_card(tmp_path, "resnet50", "https://unreachable.invalid/resnet50.ckpt", "0" * 64)
    code = """
import sys, ghosthub
from ghosthub.architectures import availability
from ghosthub.cli import main
main(["list", "--cards", sys.argv[1]])
assert availability(ghosthub.Client(cards=[sys.argv[1]]).entry("resnet50")).buildable is True
heavy = [m for m in ("mindcv", "mindspore", "numpy", "importlib.metadata") if m in sys.modules]
assert not heavy, heavy
"""
    done = _run(code, str(tmp_path))
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("resnet50"))
    assert " yes " in row, "the BUILD column says the MindCV card builds here"

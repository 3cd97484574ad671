"""ghosthub.load(): card -> download -> verification -> strict loading, end to end over real HTTP."""

import gc
import hashlib

import mindspore as ms
import numpy as np
import pytest

import ghosthub
from ghosthub.architectures import create_model
from ghosthub.hub.serve import serve
from ghosthub.modelcard import load_card, render_card
from tests.support.fetching import assert_nothing_cached
from tests.support.paths import SEED

NUM_CLASSES = 7


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A real checkpoint of a 7-class ghostnet at width 0.5, and the logits of the network it came from."""
    root = tmp_path_factory.mktemp("hub")
    (root / "assets").mkdir()
    ms.set_seed(1)
    net = create_model("ghostnet", 0.5, num_classes=NUM_CLASSES)
    net.set_train(False)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    logits = net(ms.Tensor(x)).asnumpy()
    ckpt = root / "assets" / "tiny-weights.ckpt"
    ms.save_checkpoint(net, str(ckpt))
    ms.save_checkpoint(net, str(root / "assets" / "tiny-weights.safetensors"), format="safetensors")
    (root / "assets" / "garbage.ckpt").write_bytes(b"not a checkpoint at all" * 100)
    del net
    gc.collect()
    with serve(root) as server:
        yield {"root": root, "url": server.url, "x": x, "logits": logits, "ckpt": ckpt}


def write_card(folder, name, link, digest, fmt="ckpt", **fields):
    card = load_card(SEED).replace(
        title=name,
        **{"model-name": name, "asset": [{"file-format": fmt, "asset-link": link, "asset-sha256": digest}]},
        **fields,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(render_card(card), encoding="utf-8")


def logits_of(net, x):
    out = net(ms.Tensor(x)).asnumpy()
    del net
    gc.collect()
    return out


def test_end_to_end_over_http(reference, tmp_path, isolated_env):
    ckpt = reference["ckpt"]
    write_card(tmp_path, "tiny_net_050", reference["url"] + "assets/tiny-weights.ckpt", sha256(ckpt))
    net = ghosthub.load("tiny_net_050", pretrained=True, cards=[tmp_path])
    assert net.training is False and net.num_classes == NUM_CLASSES
    np.testing.assert_array_equal(logits_of(net, reference["x"]), reference["logits"])
    cached = list((isolated_env / "cache" / "assets").rglob("tiny-weights.ckpt"))
    assert len(cached) == 1 and sha256(cached[0]) == sha256(ckpt)
    # The second load is served from the cache: offline works.
    net = ghosthub.load("tiny_net_050", cards=[tmp_path], offline=True)
    np.testing.assert_array_equal(logits_of(net, reference["x"]), reference["logits"])


def test_safetensors_and_8_digit_prefix(reference, tmp_path):
    path = reference["root"] / "assets" / "tiny-weights.safetensors"
    write_card(
        tmp_path,
        "tiny_st_050",
        reference["url"] + "assets/tiny-weights.safetensors",
        sha256(path)[:8],
        fmt="safetensors",
    )
    with pytest.warns(UserWarning, match="rules out a corrupt file but not a forged one"):
        net = ghosthub.load("tiny_st_050", cards=[tmp_path])
    np.testing.assert_array_equal(logits_of(net, reference["x"]), reference["logits"])


def test_width_from_the_card(reference, tmp_path):
    write_card(
        tmp_path,
        "no_width_in_name",
        reference["url"] + "assets/tiny-weights.ckpt",
        sha256(reference["ckpt"]),
        width="0.5",
    )
    np.testing.assert_array_equal(
        logits_of(ghosthub.load("no_width_in_name", cards=[tmp_path]), reference["x"]), reference["logits"]
    )


def test_wrong_width_is_a_strict_mismatch(reference, tmp_path):
    write_card(tmp_path, "tiny_net_100", reference["url"] + "assets/tiny-weights.ckpt", sha256(reference["ckpt"]))
    with pytest.raises(ghosthub.CheckpointMismatchError, match="shape mismatches"):
        ghosthub.load("tiny_net_100", cards=[tmp_path])


def test_hash_mismatch_caches_nothing(reference, tmp_path, isolated_env):
    write_card(tmp_path, "tiny_bad_050", reference["url"] + "assets/tiny-weights.ckpt", "0" * 64)
    with pytest.raises(ghosthub.HashMismatchError) as info:
        ghosthub.load("tiny_bad_050", cards=[tmp_path])
    assert "tiny_bad_050" in str(info.value) and "tiny-weights.ckpt" in str(info.value)
    assert_nothing_cached(isolated_env / "cache")  # dot-files too: no leftover part, record or temporary


def test_not_a_checkpoint_names_the_file(reference, tmp_path):
    garbage = reference["root"] / "assets" / "garbage.ckpt"
    write_card(tmp_path, "tiny_junk_050", reference["url"] + "assets/garbage.ckpt", sha256(garbage))
    with pytest.raises(ghosthub.WeightsError, match="garbage.ckpt"):
        ghosthub.load("tiny_junk_050", cards=[tmp_path])


def test_num_classes_and_in_channels(reference, tmp_path):
    write_card(tmp_path, "tiny_net_050", reference["url"] + "assets/tiny-weights.ckpt", sha256(reference["ckpt"]))
    net = ghosthub.load("tiny_net_050", cards=[tmp_path], num_classes=3)
    assert net.num_classes == 3 and net(ms.Tensor(reference["x"])).shape == (2, 3)
    del net
    net = ghosthub.load("tiny_net_050", cards=[tmp_path], in_channels=1)
    gray = reference["x"][:, :1]
    assert net(ms.Tensor(gray)).shape == (2, NUM_CLASSES)
    del net
    gc.collect()
    with pytest.raises(ghosthub.WeightsError, match="in_channels"):
        ghosthub.load("tiny_net_050", cards=[tmp_path], in_channels=2)


def test_checkpoint_path_and_pretrained_false(reference, tmp_path):
    write_card(tmp_path, "tiny_net_050", "https://unreachable.invalid/x.ckpt", "0" * 8)
    net = ghosthub.load(
        "tiny_net_050", pretrained=False, checkpoint_path=reference["ckpt"], cards=[tmp_path], offline=True
    )
    np.testing.assert_array_equal(logits_of(net, reference["x"]), reference["logits"])
    net = ghosthub.load("tiny_net_050", pretrained=False, cards=[tmp_path], offline=True)
    assert net.num_classes == 1000 and net.training is False
    del net
    net = ghosthub.load("tiny_net_050", pretrained=False, cards=[tmp_path], offline=True, num_classes=4)
    assert net.num_classes == 4
    del net
    gc.collect()
    with pytest.raises(ghosthub.LoadError, match="not both"):
        ghosthub.load("tiny_net_050", pretrained=True, checkpoint_path=reference["ckpt"], cards=[tmp_path])


def test_offline_and_not_cached(tmp_path):
    write_card(tmp_path, "tiny_net_050", "https://unreachable.invalid/x.ckpt", "0" * 64)
    with pytest.raises(ghosthub.OfflineError, match="unreachable.invalid"):
        ghosthub.load("tiny_net_050", cards=[tmp_path], offline=True)


def test_unsupported_backbone(tmp_path):
    write_card(tmp_path, "resnet_050", "https://unreachable.invalid/x.ckpt", "0" * 64, **{"backbone-name": "resnet"})
    with pytest.raises(ghosthub.UnsupportedBackboneError, match="resnet") as info:
        ghosthub.load("resnet_050", pretrained=False, cards=[tmp_path])
    assert "ghostnet" in str(info.value)


def test_what_cannot_be_built_fails_before_any_download(reference, tmp_path, isolated_env):
    link = reference["url"] + "assets/tiny-weights.ckpt"
    write_card(tmp_path, "resnet_050", link, sha256(reference["ckpt"]), **{"backbone-name": "resnet"})
    write_card(tmp_path, "tiny_net_050", link, sha256(reference["ckpt"]))
    with pytest.raises(ghosthub.UnsupportedBackboneError, match="resnet"):
        ghosthub.load("resnet_050", pretrained=True, cards=[tmp_path])
    bad = [dict(in_channels=0), dict(in_channels=-1), dict(num_classes=-3), dict(drop_rate=1.5), dict(bogus=1)]
    for kwargs in bad:
        with pytest.raises(ghosthub.LoadError, match=f"load\\('tiny_net_050'\\).*{next(iter(kwargs))}"):
            ghosthub.load("tiny_net_050", pretrained=True, cards=[tmp_path], **kwargs)
    assert not (isolated_env / "cache" / "assets").exists(), "nothing may be downloaded for a load that cannot work"


def test_transforms_from_the_card(tmp_path):
    t = ghosthub.transforms("ghostnet_050")
    assert t(np.zeros((300, 400, 3), np.uint8)).shape == (3, 224, 224)
    write_card(
        tmp_path,
        "small_net_050",
        "https://unreachable.invalid/x.ckpt",
        "0" * 64,
        **{"input-size": "32", "crop-pct": "1.0", "mean": "0, 0, 0", "std": "255, 255, 255"},
    )
    t = ghosthub.transforms("small_net_050", cards=[tmp_path], batch=True)
    out = t(np.full((8, 8, 3), 255, np.uint8))
    assert out.shape == (1, 3, 32, 32) and np.allclose(out, 1.0)

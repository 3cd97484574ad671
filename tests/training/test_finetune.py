"""Fine-tuning from the hub: recipe keys, base weights verified and pinned by digest, freezing, lineage, rebuild,
embed."""

import json
import os

import numpy as np
import pytest

from ghosthub._utils.hashes import file_hash
from ghosthub.client import Client
from ghosthub.errors import RecipeError, TrainError
from ghosthub.preprocessing import Preprocessing
from ghosthub.training.rebuild import rebuild_model
from ghosthub.training.recipe import Recipe, load_recipe
from ghosthub.weights.checkpoint import read_checkpoint, read_info
from tests.support.images import make_image_folder

BASE = "tinybase_010"
TUNED = "tinytuned_010"
# Fine-tune a tiny GhostNet (width 0.1) for 2 epochs of 2 steps, the first with the backbone frozen.
# No preprocessing keys: the base card's (16 px, mean/std 127.5) are taken.
TUNE = {
    "model": "ghostnet_010",
    "dataset": "tiny4",
    "epoch_size": 2,
    "batch_size": 4,
    "lr": 0.05,
    "min_lr": 0.0,
    "warmup_epochs": 0,
    "num_parallel_workers": 1,
    "threads": 2,
    "seed": 3,
    "mode": 1,
    "hflip": 0.0,
    "keep_checkpoint_max": 5,
    "pretrained": BASE,
    "freeze_epochs": 1,
    "backbone_lr_scale": 0.5,
}


def _changed(params, base):
    return sorted(
        k for k in params if k in base and params[k].shape == base[k].shape and not np.array_equal(params[k], base[k])
    )


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A hub folder publishing a real (untrained, seeded) 3-class MindSpore checkpoint with a 16 px card."""
    import mindspore as ms

    from ghosthub.architectures import create_model
    from ghosthub.tasks.publish import publish
    from ghosthub.weights.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("finetune")
    ms.set_seed(11)
    net = create_model("ghostnet", 0.1, num_classes=3)
    ckpt = root / "base.ckpt"
    prep = Preprocessing(16, 1.0, "bilinear", (127.5,) * 3, (127.5,) * 3)
    save_checkpoint(
        net,
        ckpt,
        {
            "kind": "network",
            "model": "ghostnet_010",
            "backbone": "ghostnet",
            "width": 0.1,
            "num_classes": 3,
            **prep.record(),
            "classes": ["a", "b", "c"],
        },
    )
    publish(ckpt, name=BASE, hub=root / "hub", dataset="tiny3", provenance=None)
    return root / "hub"


@pytest.fixture(scope="module")
def data4(tmp_path_factory):
    return make_image_folder(
        tmp_path_factory.mktemp("data4") / "d", classes=("w", "x", "y", "z"), train=2, val=1, seed=5
    )


@pytest.fixture(scope="module")
def tuned(hub, data4, tmp_path_factory):
    """A fine-tuning run from the hub, through a Client's cache (download + verify)."""
    from ghosthub.training.finetune import resolve_base
    from ghosthub.training.trainer import train

    os.environ["GHOSTHUB_NO_PROGRESS"] = "1"
    client = Client(hub=str(hub), cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    recipe = Recipe.from_dict(TUNE, source="tune.yaml")
    base = resolve_base(recipe, registry=client.registry)
    result = train(recipe, data4, tmp_path_factory.mktemp("run") / "tuned", base=base)
    return client, base, result


def test_fine_tuning_recipe_keys_are_named_and_validated():
    plain = {"model": "ghostnet_050", "epoch_size": 4, "lr": 0.1, "batch_size": 8}
    with pytest.raises(RecipeError, match="unknown recipe key 'freeze_epoch'. Did you mean 'freeze_epochs'"):
        Recipe.from_dict({**plain, "freeze_epoch": 1})
    with pytest.raises(RecipeError, match="'freeze': expected one of none, backbone, found 'all'"):
        Recipe.from_dict({**plain, "freeze": "all"})
    with pytest.raises(RecipeError, match=r"'backbone_lr_scale': expected a number in \(0, 1\], found 0"):
        Recipe.from_dict({**plain, "backbone_lr_scale": 0})
    with pytest.raises(RecipeError, match="'pretrained': expected true .* or a model name"):
        Recipe.from_dict({**plain, "pretrained": "not a model"})
    with pytest.raises(RecipeError, match="'pretrained' and 'ckpt_path' both name the starting weights"):
        Recipe.from_dict({**plain, "pretrained": True, "ckpt_path": "x.ckpt"})
    with pytest.raises(RecipeError, match="'freeze_epochs': expected fewer than epoch_size"):
        Recipe.from_dict({**plain, "pretrained": True, "freeze_epochs": 4})
    # Keys at their defaults are not written, so the digests of earlier recipes (and their cards) hold.
    scratch = Recipe.from_dict(plain)
    assert "pretrained" not in scratch.to_dict() and scratch.to_dict() == Recipe.from_dict(scratch.to_dict()).to_dict()
    tuned = scratch.replace(pretrained=True, freeze="backbone")
    assert tuned.base_model == "ghostnet_050" and tuned.to_dict()["freeze"] == "backbone"
    assert tuned.digest() != scratch.digest()
    bundled = load_recipe("digits_finetune")
    assert bundled.epoch_size <= 10 and not bundled.finetuning and bundled.replace(pretrained="m_050").finetuning
    # Fine-tuning keys on a run from random weights are refused, saying how to give a base.
    from ghosthub.training.finetune import check_tuning

    with pytest.raises(TrainError, match="recipe key 'freeze_epochs' tunes a fine-tuning run.*--pretrained"):
        check_tuning(scratch.replace(freeze_epochs=1))


def test_base_loads_into_a_seeded_classifier(hub, tmp_path):
    """Another class count: the backbone is the base's, the classifier a seeded fresh one (identical twice)."""
    from ghosthub.training.cells import build
    from ghosthub.training.finetune import resolve_base

    recipe = Recipe.from_dict({**TUNE, "seed": 5})
    base = resolve_base(recipe, registry=Client(hub=str(hub), cache_dir=tmp_path).registry)
    assert base.sha256 == file_hash(base.path) and base.name == BASE and base.preprocessing.input_size == 16
    stored = read_checkpoint(base.path)
    lr = np.full(4, 0.1, np.float32)
    nets = [build(recipe, 4, lr, base=base, steps_per_epoch=2)[0] for _ in range(2)]
    weights = [{p.name: p.asnumpy() for p in net.get_parameters()} for net in nets]
    assert weights[0]["classifier.weight"].shape == (4, 1280)
    assert np.array_equal(weights[0]["classifier.weight"], weights[1]["classifier.weight"])
    assert all(np.array_equal(weights[0][k], stored[k]) for k in stored if not k.startswith("classifier."))
    other = build(recipe.replace(seed=6), 4, lr, base=base, steps_per_epoch=2)[0]
    assert not np.array_equal(other.classifier.weight.asnumpy(), weights[0]["classifier.weight"])
    # The same class count keeps the base's classifier.
    same = build(recipe, 3, lr, base=base, steps_per_epoch=2)[0]
    assert np.array_equal(same.classifier.weight.asnumpy(), stored["classifier.weight"])


def test_frozen_epoch_leaves_the_backbone_and_its_batchnorm_as_the_base(tuned):
    _, base, result = tuned
    stored = read_checkpoint(base.path)
    first = read_checkpoint(os.path.join(result.out_dir, "epoch-0001.ckpt"))
    last = read_checkpoint(os.path.join(result.out_dir, "epoch-0002.ckpt"))
    assert _changed(first, stored) == []  # weights, moving mean and variance: all the base's
    assert not np.array_equal(first["classifier.weight"], last["classifier.weight"])
    moved = _changed(last, stored)
    assert any("moving_mean" in k for k in moved) and any(k.endswith("conv_stem.weight") for k in moved)
    # The base card's preprocessing was taken, as the recipe sets none.
    assert result.provenance["recipe"]["image_resize"] == 16 and result.provenance["recipe"]["mean"] == [127.5] * 3


def test_linear_probe_trains_the_classifier_only(hub, data4, tuned, tmp_path):
    from ghosthub.training.trainer import train

    _, base, _ = tuned
    recipe = Recipe.from_dict(
        {**TUNE, "epoch_size": 1, "freeze_epochs": 0, "backbone_lr_scale": 1.0, "freeze": "backbone"}
    )
    result = train(recipe, data4, tmp_path / "probe", base=base)
    stored, probed = read_checkpoint(base.path), read_checkpoint(result.best_checkpoint)
    assert _changed(probed, stored) == [] and probed["classifier.weight"].shape == (4, 1280)
    # Only the classifier has optimizer state: no gradients are computed for the backbone.
    state = read_checkpoint(os.path.join(result.out_dir, "epoch-0001.ckpt"))
    assert sorted(k for k in state if k.startswith("moments.")) == [
        "moments.classifier.bias",
        "moments.classifier.weight",
    ]


def test_lineage_in_provenance_card_show_and_list(tuned, hub, capsys):
    from ghosthub.cli import main
    from ghosthub.modelcard.provenance import read_provenance
    from ghosthub.tasks.publish import publish

    client, base, result = tuned
    record = result.provenance
    assert record["base_model"] == BASE and record["base_sha256"] == base.sha256 and len(base.sha256) == 64
    assert record["base_url"] == client.entry(BASE).weights_asset().link and record["base_card"].endswith(f"{BASE}.md")
    assert json.loads(open(os.path.join(result.out_dir, "provenance.json")).read())["base_sha256"] == base.sha256
    info = read_info(result.best_checkpoint)
    assert (info["base_model"], info["base_sha256"]) == (BASE, base.sha256)

    publish(result.best_checkpoint, name=TUNED, hub=hub, provenance=record)
    card = Client(hub=str(hub), cache_dir=client.settings.cache_dir).get_card(TUNED)
    assert card.get("base-model") == BASE and card.get("base-model-sha256") == base.sha256
    assert read_provenance(card)["base_sha256"] == base.sha256

    assert main(["show", TUNED, "--hub", str(hub)]) == 0
    shown = capsys.readouterr().out
    assert f"fine-tuned from: {TUNED} <- {BASE}" in shown and f"{BASE}  sha256 {base.sha256}  (published)" in shown
    assert main(["list", "--hub", str(hub), "--base-model", BASE, "--json"]) == 0
    assert [row["name"] for row in json.loads(capsys.readouterr().out)] == [TUNED]


def test_rebuild_and_resume_of_a_fine_tuned_model_match(tuned, hub, data4, tmp_path):
    from ghosthub.training.finetune import locate_base
    from ghosthub.training.trainer import train

    client, base, result = tuned
    # Exact resume: from the frozen epoch's checkpoint into another folder, the same bytes.
    resumed = train(
        Recipe.from_dict(TUNE, source="tune.yaml"),
        data4,
        tmp_path / "resumed",
        base=base,
        resume=os.path.join(result.out_dir, "epoch-0001.ckpt"),
    )
    assert resumed.checkpoint_sha256 == result.checkpoint_sha256

    # verify --rebuild by name: the base found by its digest in the cache, the SHA-256 reproduced.
    report = rebuild_model(
        Client(hub=str(hub), cache_dir=client.settings.cache_dir), TUNED, data_dir=data4, workdir=tmp_path / "rebuild"
    )
    assert report.matches and report.actual_sha256 == result.checkpoint_sha256 == report.expected_sha256

    # Nowhere to find the base: the error names the digest; nothing is written to the empty cache.
    empty = Client(cache_dir=tmp_path / "empty")
    with pytest.raises(TrainError, match=f"sha256 {base.sha256}.* neither cached nor on any known card"):
        locate_base(result.provenance, registry=empty.registry)
    assert not (tmp_path / "empty" / "assets").exists()


def test_embed_gives_pooled_features(tuned, data4, tmp_path, capsys):
    from ghosthub.cli import main

    client, _, _ = tuned
    images = sorted(str(p) for p in (data4 / "val").rglob("*.png"))
    features = client.embed(BASE, images)
    assert features.shape == (4, 1280) and features.dtype == np.float32 and np.isfinite(features).all()
    out = tmp_path / "feat.npy"
    assert (
        main(
            [
                "embed",
                BASE,
                *images[:2],
                "--out",
                str(out),
                "--hub",
                str(client.settings.hub),
                "--cache-dir",
                str(client.settings.cache_dir),
            ]
        )
        == 0
    )
    assert np.allclose(np.load(out), features[:2], atol=1e-5)
    assert "2 x 1280 features" in capsys.readouterr().out


def test_train_command_names_what_to_fine_tune_from(hub, data4, tmp_path, capsys):
    from ghosthub.cli import main

    # A recipe that tunes a fine-tuning run, without a base: the error says how to give one.
    recipe = tmp_path / "probe.yaml"
    recipe.write_text("model: ghostnet_010\nepoch_size: 1\nlr: 0.1\nbatch_size: 4\nfreeze: backbone\n")
    assert main(["train", "--recipe", str(recipe), "--data-dir", str(data4), "--out", str(tmp_path / "a")]) != 0
    assert "--pretrained NAME|PATH" in capsys.readouterr().err
    # An unknown hub model fails before any training, naming it; nothing is written.
    assert (
        main(
            [
                "train",
                "--recipe",
                "digits_finetune",
                "--data-dir",
                str(data4),
                "--out",
                str(tmp_path / "b"),
                "--hub",
                str(hub),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--pretrained",
                "nosuch_050",
            ]
        )
        != 0
    )
    assert "nosuch_050" in capsys.readouterr().err and not (tmp_path / "b").exists()

"""Recipes: bundled values, validation errors naming file/line/key, digest, overrides, no MindSpore."""

import subprocess
import sys

import pytest

from ghosthub.data.augment import parse_auto_augment
from ghosthub.errors import RecipeError
from ghosthub.naming import split_name
from ghosthub.training.recipe import Recipe, bundled_recipes, load_recipe
from tests.support.paths import REPO

MINIMAL = {"model": "ghostnet_050", "epoch_size": 2, "lr": 0.1, "batch_size": 8}


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("width", ["050", "100", "130"])
def test_bundled_imagenet_recipes_have_the_published_values(width):
    r = load_recipe(f"ghostnet_{width}_imagenet")
    assert (r.model, r.backbone, r.width) == (f"ghostnet_{width}", "ghostnet", int(width) / 100)
    # 8 devices x 128 per device = a global batch of 1024, for which lr 0.4 was tuned.
    assert (r.devices, r.batch_size, r.devices * r.batch_size) == (8, 128, 1024)
    assert (r.epoch_size, r.opt, r.momentum, r.use_nesterov, r.weight_decay) == (600, "momentum", 0.9, False, 2e-5)
    assert (r.scheduler, r.lr, r.min_lr, r.warmup_epochs, r.decay_epochs) == ("cosine_decay", 0.4, 1e-7, 20, 580)
    assert (r.label_smoothing, r.drop_rate, r.hflip, r.re_prob, r.color_jitter) == (0.1, 0.2, 0.5, 0.25, 0.4)
    assert (r.scale, r.ratio, r.auto_augment) == ((0.08, 1.0), (0.75, 1.333), "randaug-m9-mstd0.5")
    assert (r.amp_level, r.loss_scale_type, r.image_resize, r.crop_pct, r.num_classes) == (
        "O3",
        "dynamic",
        224,
        0.875,
        1000,
    )
    assert r.aug_repeats == (3 if width == "130" else 0)  # as MindCV's ghostnet_130 config


def test_bundled_names_and_demo_recipe():
    assert {"digits_demo", "ghostnet_050_imagenet", "ghostnet_100_imagenet", "ghostnet_130_imagenet"} <= set(
        bundled_recipes()
    )
    demo = load_recipe("digits_demo")
    assert demo.num_classes is None and demo.hflip == 0 and demo.threads is not None


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    path = write(tmp_path, "model: ghostnet_050\nepoch_size: 2\nlr: 0.1\nbatch_size: 8\nwarmup_epoch: 1\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = str(info.value)
    assert f"{path}:5" in message and "'warmup_epoch'" in message and "Did you mean 'warmup_epochs'" in message


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("lr", "-1", "a number in (0, 100]"),
        ("batch_size", "0", "an integer in [1, 4096]"),
        ("epoch_size", "2.5", "an integer in [1, 10000]"),
        ("hflip", "1.5", "a number in [0, 1]"),
        ("use_nesterov", "1", "true or false"),
        ("scale", "[0.9, 0.1]", "low <= high"),
        ("amp_level", "O4", "one of O0, O1, O2, O3"),
        ("auto_augment", "randaug-m99", "randaug-m<M>"),
        ("model", "GhostNet 0.5", "a model name"),
        ("mean", "[1, 2]", "a list of 3 numbers"),
    ],
)
def test_bad_value_names_key_expected_and_found(tmp_path, key, value, expected):
    body = "".join(f"{k}: {v}\n" for k, v in {**MINIMAL, key: value}.items())
    path = write(tmp_path, body)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = str(info.value)
    line = list({**MINIMAL, key: value}).index(key) + 1
    assert f"{path}:{line}" in message and f"recipe key {key!r}" in message
    assert expected in message and "found" in message


def test_missing_required_key_and_bad_files(tmp_path):
    with pytest.raises(RecipeError, match="required recipe key 'lr' is missing"):
        load_recipe(write(tmp_path, "model: ghostnet_050\nepoch_size: 1\nbatch_size: 2\n"))
    with pytest.raises(RecipeError, match="expected a YAML mapping"):
        load_recipe(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(write(tmp_path, "a: [\n"))
    with pytest.raises(RecipeError, match="neither a file nor a bundled recipe.*digits_demo"):
        load_recipe(tmp_path / "nope.yaml")


def test_exponent_numbers_and_defaults():
    r = Recipe.from_dict({**MINIMAL, "min_lr": "1e-7"})  # PyYAML reads 1e-7 as a string
    assert r.min_lr == 1e-7 and r.loss == "CE" and r.mean == pytest.approx((123.675, 116.28, 103.53))
    assert r.effective_decay_epochs == 2 - r.warmup_epochs or r.effective_decay_epochs == 1


def test_digest_is_canonical(tmp_path):
    a = load_recipe(write(tmp_path, "model: ghostnet_050\nepoch_size: 2\nlr: 0.1\nbatch_size: 8\n", "a.yaml"))
    b = load_recipe(
        write(tmp_path, "# same, reordered\nbatch_size: 8\nlr: 1.0e-1\nepoch_size: 2\nmodel: GHOSTNET_050\n", "b.yaml")
    )
    assert a == b and a.digest() == b.digest() and len(a.digest()) == 64
    assert a.replace(seed=1).digest() != a.digest()
    assert Recipe.from_dict(dict(a.to_dict())) == a  # round trip through the dict form
    assert load_recipe(write(tmp_path, a.to_yaml(), "c.yaml")).digest() == a.digest()


def test_overrides_are_validated():
    assert load_recipe("digits_demo", epoch_size=3).epoch_size == 3
    with pytest.raises(RecipeError, match=r"'epoch_size': expected an integer in \[1, 10000\], found 0"):
        load_recipe("digits_demo", epoch_size=0)
    with pytest.raises(RecipeError, match="unknown recipe key 'epochs'"):
        load_recipe("digits_demo", epochs=3)


def test_auto_augment_and_model_names():
    assert parse_auto_augment("randaug-m9-mstd0.5") == {"policy": "randaug", "m": 9, "n": 2, "mstd": 0.5}
    assert parse_auto_augment("randaug-m7-n3") == {"policy": "randaug", "m": 7, "n": 3, "mstd": 0.0}
    assert parse_auto_augment("autoaug") == {"policy": "autoaug"}
    for bad in ("randaug-m11", "randaug-x3", "augmix", "autoaug-m3"):
        with pytest.raises(ValueError):
            parse_auto_augment(bad)
    assert split_name("ghostnet_130")[:2] == ("ghostnet", 1.3)
    assert split_name("mobilenet_v2_035")[:2] == ("mobilenet_v2", 0.35)
    assert split_name("ghostnet")[:2] == ("ghostnet", None)
    # One codec everywhere: a tagged name is the same architecture (eval --arch used to refuse it).
    assert split_name("ghostnet_130.85b91860") == ("ghostnet", 1.3, "85b91860")


def test_recipe_module_does_not_import_mindspore():
    code = (
        "import sys, ghosthub.training.recipe as r; r.load_recipe('digits_demo').digest(); "
        "print('mindspore' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# A 505-byte recipe whose value, expanded, is 9**9 (387 million) references to one string.
ALIAS_BOMB = (
    "model: ghostnet_050\nepoch_size: 2\nlr: 0.1\nbatch_size: 8\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    + "dataset: *i\n"
)


def test_an_alias_bomb_is_refused_at_once_naming_file_and_line(tmp_path):
    import time

    path = write(tmp_path, ALIAS_BOMB)
    start = time.monotonic()
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert time.monotonic() - start < 2, "refused while reading, before anything is expanded"
    message = str(info.value)
    assert f"{path}:6: YAML aliases (*a) are not allowed in recipes" in message and len(message) < 300


@pytest.mark.parametrize(
    "key, value, bounds",
    [
        ("epoch_size", "1000000000", "an integer in [1, 10000]"),
        ("epoch_size", "1e9", "an integer in [1, 10000]"),
        ("image_resize", "16384", "an integer in [8, 1024]"),
        ("batch_size", "1000000", "an integer in [1, 4096]"),
        ("num_classes", "10000000", "an integer in [1, 100000] or null"),
        ("threads", "100000", "an integer in [1, 1024] or null"),
        ("num_parallel_workers", "100000", "an integer in [1, 1024]"),
        ("aug_repeats", "1000", "an integer in [0, 16]"),
        ("keep_checkpoint_max", "99999999", "an integer in [1, 10000]"),
        ("re_max_attempts", "1000000000", "an integer in [1, 1000]"),
        ("warmup_epochs", "1000000000", "an integer in [0, 10000]"),
        ("ratio", "[1, 1.0e300]", "each in [0, 100]"),
        ("lr", "1.0e300", "a number in (0, 100]"),
        ("weight_decay", "5", "a number in [0, 1]"),
        ("train_split", "../../etc", "a folder inside the data dir"),
        ("val_split", "/etc", "a folder inside the data dir"),
        ("dataset", "x" * 2000, "at most 1024 characters"),
    ],
)
def test_every_value_that_sizes_the_work_has_bounds(tmp_path, key, value, bounds):
    body = "".join(f"{k}: {v}\n" for k, v in {**MINIMAL, key: value}.items())
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, body))
    message = str(info.value)
    assert f"recipe key {key!r}" in message and bounds in message and "found" in message
    assert len(message) < 400, "the value is quoted as a bounded excerpt"


def test_every_recipe_key_is_bounded():
    """No key takes an unbounded number: each check refuses a value a million times the largest sane one."""
    import dataclasses

    for field in dataclasses.fields(Recipe):
        check = field.metadata.get("check")
        if check is None or isinstance(field.default, (bool, str)) or field.name in ("seed", "pretrained", "re_value"):
            continue
        default = field.default if field.default is not dataclasses.MISSING else MINIMAL[field.name]
        huge = [1e12, 1e12] if isinstance(default, tuple) and len(default) == 2 else 10**12
        huge = [1e12] * 3 if isinstance(default, tuple) and len(default) == 3 else huge
        with pytest.raises(Exception, match="expected") as info:
            Recipe.from_dict({**MINIMAL, field.name: huge})
        assert isinstance(info.value, RecipeError), field.name


def test_a_bad_value_is_quoted_as_a_bounded_excerpt():
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({**MINIMAL, "mean": [[["deep"] * 1000] * 1000] * 1000})
    assert "expected a list of 3 numbers" in str(info.value) and len(str(info.value)) < 300

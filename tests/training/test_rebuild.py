"""Rebuild plans: a recorded provenance is untrusted input; the user, not the record, decides the processes."""

import warnings

import pytest

from ghosthub.errors import RecipeError, TrainError
from ghosthub.training.environment import available_cpus
from ghosthub.training.rebuild import RebuildPlan, RebuildResult, plan_rebuild
from ghosthub.training.recipe import Recipe

RECIPE = Recipe.from_dict({"model": "ghostnet_010", "epoch_size": 3, "lr": 0.1, "batch_size": 4})


def record(**changes):
    base = {
        "recipe": RECIPE.to_dict(),
        "recipe_digest": RECIPE.digest(),
        "dataset_digest": "ab" * 32,
        "checkpoint_sha256": "cd" * 32,
        "workers": 1,
        "train_images": 40,
        "images_per_second": 20.0,
        "device": "cpu: AMD EPYC",
    }
    return {**base, **changes}


def test_a_recorded_worker_count_never_starts_processes():
    with pytest.warns(UserWarning) as caught:
        plan = plan_rebuild(record(workers=64))
    assert (plan.workers, plan.recorded_workers, plan.comparable) == (1, 64, False)
    assert "(the record says 64)" in plan.describe()
    assert not [w for w in caught if "CPUs" in str(w.message)], "1 worker is within any machine"


def test_more_workers_than_cpus_are_capped_with_a_warning():
    cpus = available_cpus()
    with pytest.warns(UserWarning, match=f"{cpus + 7} workers asked for, but this process may use {cpus} CPUs"):
        plan = plan_rebuild(record(workers=cpus), workers=cpus + 7)
    assert plan.workers == cpus and plan.comparable
    with pytest.raises(TrainError, match="workers=0: expected a positive number"):
        plan_rebuild(record(), workers=0)


def test_the_plan_says_what_the_rebuild_costs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: the counts agree
        plan = plan_rebuild(record())
    text = plan.describe()
    assert plan.image_passes == 3 * 40
    assert "3 epochs over 40 training images (120 image passes), batch 4, 1 worker" in text
    assert "the recorded run went at 20 img/s on cpu: AMD EPYC (about 6 s of training there)" in text


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("recipe", ["model"], "expected a mapping of recipe keys"),
        ("workers", "64", "expected an integer in [1, 4096] or null"),
        ("workers", 10**6, "expected an integer in [1, 4096] or null"),
        ("workers", True, "expected an integer in [1, 4096] or null"),
        ("dataset_digest", {"x": 1}, "expected a SHA-256 in hex"),
        ("checkpoint_sha256", "zz" * 32, "expected a SHA-256 in hex"),
        ("train_images", -5, "expected a count of images"),
        ("images_per_second", float("nan"), "expected a number of images per second"),
        ("device", "x" * 10_000, "expected text of at most 300 characters"),
    ],
)
def test_a_record_of_the_wrong_shape_is_refused_naming_the_key(key, value, expected):
    with pytest.raises(TrainError) as info:
        plan_rebuild(record(**{key: value}))
    message = str(info.value)
    assert f"'{key}'" in message and expected in message and len(message) < 400


@pytest.mark.parametrize("key, value", [("epoch_size", 10**9), ("image_resize", 16384), ("batch_size", 10**6)])
def test_a_recorded_recipe_out_of_bounds_is_refused_before_anything_starts(key, value):
    with pytest.raises(RecipeError, match=f"<recorded recipe>: recipe key '{key}': expected an integer in"):
        plan_rebuild(record(recipe={**RECIPE.to_dict(), key: value}))


def test_an_altered_recipe_is_refused_by_its_digest():
    with pytest.raises(TrainError, match="the record was altered"):
        plan_rebuild(record(recipe={**RECIPE.to_dict(), "epoch_size": 4}))


def test_a_mismatch_with_another_worker_count_says_why():
    plan = RebuildPlan(RECIPE, 1, 64)
    result = RebuildResult("aa" * 32, "bb" * 32, result=None, plan=plan)
    assert not result.matches and "the recorded run used 64 workers and this rebuild 1" in result.why
    assert RebuildResult("aa" * 32, "aa" * 32, result=None, plan=plan).why is None

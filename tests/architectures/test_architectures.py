"""The architecture registry: how a card chooses one, what an unknown one says, which library builds a card.

Nothing here builds a network or imports mindcv: the choice, the errors and ``availability`` work on
names, as ``ghosthub list`` needs them to.
"""

from __future__ import annotations

import pytest

import ghosthub
from ghosthub.architectures import (
    availability,
    checked_choice,
    choose_architecture,
    match,
    named_architecture,
    register_architecture,
    registry,
)
from ghosthub.modelcard import load_card
from ghosthub.modelcard.library import library_of
from tests.support.paths import SEED

MINDCV = "<https://github.com/mindspore-lab/mindcv/tree/v0.5.0/configs/resnet>"


def card(name: str, **fields):
    return load_card(SEED).replace(**{"model-name": name, **fields})


@pytest.mark.parametrize(
    "name, fields, chosen",
    [
        # 1. an architecture: field, its width from the width: field
        ("my_model", {"architecture": "ghostnetv2", "width": "0.5"}, ("ghostnetv2", 0.5, "architecture")),
        # ... and it wins over a model name that is an architecture too
        ("ghostnet_050", {"architecture": "ghostnet600_175"}, ("ghostnet600", 1.75, "architecture")),
        # 2. the model name before its first dot
        ("ghostnet_130.85b91860", {}, ("ghostnet", 1.3, "model-name")),
        # 3. backbone-name for a family that takes a width, the width from the name
        ("digits_ghostnet_050", {"backbone-name": "ghostnet"}, ("ghostnet", 0.5, "backbone-name")),
        # ... or from the width: field
        ("pets_model", {"backbone-name": "ghostnetv3", "width": "1.3"}, ("ghostnetv3", 1.3, "backbone-name")),
    ],
)
def test_a_card_chooses_its_architecture_in_order(name, fields, chosen):
    choice = choose_architecture(card(name, **fields))
    assert (choice.architecture.name, choice.width, choice.field) == chosen


def test_mindcv_names_are_chosen_by_model_name_without_importing_mindcv():
    found = availability(card("resnet50.c2a4b5a1", **{"backbone-name": "resnet", "repo-link": MINDCV}))
    assert found.architecture == "resnet50" and found.library == "mindcv"
    assert match("mobilenet_v3_large_100").library == "mindcv", "a mindcv name with a width-like suffix is mindcv's"
    assert match("ghostnet_050").library == "ghosthub", "ghosthub's own family answers before mindcv's copy"


def test_an_architecture_field_nobody_answers_to_is_an_error_even_when_the_name_would_do():
    with pytest.raises(ghosthub.UnsupportedBackboneError, match="Unsupported architecture 'nosuchnet'"):
        choose_architecture(card("ghostnet_050", architecture="nosuchnet"))


def test_an_unknown_architecture_lists_what_is_registered_and_what_would_add_it():
    with pytest.raises(ghosthub.UnsupportedBackboneError) as info:
        choose_architecture(card("mystery_net", **{"backbone-name": "mystery", "repo-link": MINDCV}))
    message = str(info.value)
    assert message.startswith("card mystery_net") and "ghosthub: ghostnet, ghostnet600, ghostnetv2" in message
    assert "registers no 'mystery_net'" in message and info.value.library == "mindcv"
    with pytest.raises(ghosthub.UnsupportedBackboneError) as info:
        choose_architecture(card("mystery_net", **{"backbone-name": "mystery", "repo-link": "https://example.org/x"}))
    assert "@ghosthub.register_architecture" in str(info.value) and info.value.library is None


def test_a_close_name_is_suggested():
    with pytest.raises(ghosthub.UnsupportedBackboneError, match="Did you mean ghostnetv2"):
        choose_architecture(card("x", architecture="ghostnet_v2"))


@pytest.mark.parametrize(
    "fields, library",
    [
        ({"repo-link": "<https://github.com/mindspore-lab/mindocr/tree/v0.5.0/configs/det/dbnet>"}, "mindocr"),
        ({"repo-link": "https://github.com/mindspore-lab/mindyolo.git"}, "mindyolo"),
        ({"repo-link": "<https://gitee.com/mindspore/models/tree/master/research/cv/ghostnet>"}, None),
        ({"repo-link": "https://example.org/somewhere"}, None),
        ({"repo-link": "-"}, None),
        ({"repo-link": MINDCV, "library-name": "MyLib"}, "mylib"),
    ],
)
def test_the_library_of_a_card_comes_from_library_name_else_repo_link(fields, library):
    assert library_of(card("x", **fields)) == library


@pytest.mark.parametrize("library", ["mindyolo", "mindocr", "mindone", "mindaudio", "mindnlp"])
def test_other_libraries_cards_are_refused_whatever_their_backbone_says(library):
    other = card("ghostnet_050", **{"repo-link": f"https://github.com/mindspore-lab/{library}/tree/main/configs"})
    with pytest.raises(ghosthub.UnsupportedBackboneError, match=f"built by {library}"):
        choose_architecture(other)
    assert availability(other) == (False, None, library, f"needs {library}")


def test_a_second_builder_for_a_registered_name_is_refused():
    with pytest.raises(ValueError, match="'ghostnet' is already registered"):
        register_architecture("ghostnet")(lambda **kwargs: None)


def test_a_registered_architecture_is_found_by_any_case_and_its_fields_kept():
    def builder(num_classes=1000, in_channels=3):
        raise AssertionError("not built here")

    try:
        register_architecture("Unit_Test_Net", classifier=("head", "head_dist"), preprocessing={"input_size": 32})(
            builder
        )
        found = match("unit_test_net.v1")
        assert found.name == "Unit_Test_Net" and found.library == __name__.split(".")[0] and not found.takes_width
        cfg = found.spec.default_cfg()
        assert cfg == {"input_size": 32, "architecture": "Unit_Test_Net", "classifier": ("head", "head_dist")}
    finally:
        registry._REGISTERED.pop("unit_test_net", None)


def test_checked_choice_refuses_what_cannot_work_before_any_download():
    asset = [{"file-format": "ckpt", "asset-link": "https://example.org/weights.ckpt", "asset-sha256": "0" * 64}]
    pets = card("pets_model", **{"backbone-name": "ghostnet", "asset": asset})  # no width anywhere
    with pytest.raises(ghosthub.LoadError, match=r"load\('pets_model', pretrained=False\).*no ghostnet_NNN"):
        checked_choice(pets, weights=False)
    assert checked_choice(pets, weights=True).width is None, "the weights will say it"
    with pytest.raises(ghosthub.LoadError, match=r"load\('ghostnet_050'\): .*unknown argument bogus"):
        checked_choice(card("ghostnet_050"), weights=True, bogus=1)


@pytest.mark.parametrize("name", ["ghostnet", "Bad Name", "nosuchnet"])
def test_an_arch_argument_must_name_an_architecture_with_its_width(name):
    with pytest.raises(ghosthub.LoadError, match="not an architecture name with a width, such as ghostnet_050"):
        named_architecture(name)


def test_a_cards_missing_preprocessing_is_its_architectures():
    """ghostnet600_175's card states none: the model zoo's 240 px, not the 224 px ImageNet default."""
    assert ghosthub.Client().preprocessing("ghostnet600_175.a37ea724").input_size == 240
    assert ghosthub.Client().preprocessing("ghostnet_050").input_size == 224

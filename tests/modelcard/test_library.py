"""Which library builds a card: library_of, `ghosthub list --library` and its column, and load refusing other
libraries' cards (mindocr, mindyolo, mindone, mindaudio) while download and verify keep working."""

import collections
import json
import warnings

import pytest

import ghosthub
from ghosthub.cli import main
from ghosthub.errors import CardWarning, UnsupportedBackboneError, UnsupportedLibraryError
from ghosthub.modelcard import check_library, library_of, load_card, render_card
from ghosthub.registry import Registry
from tests.support.fetching import assert_nothing_cached, sha256
from tests.support.httpserver import AssetServer
from tests.support.paths import CORPUS, SEED

NO_CORPUS = "the MindSpore Hub corpus (../shared/corpus) is not beside the checkout"
MSHUB = CORPUS / "mindspore" if CORPUS else None
OCR_LINK = "https://github.com/mindspore-lab/mindocr/tree/v0.5.0/configs/det/dbnet"


def card_with(**fields):
    return load_card(SEED).replace(**fields)


def write(folder, card):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{card.name}.md"
    path.write_text(render_card(card.replace(title=card.name)), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- library_of


def test_bundled_cards_say_their_library():
    assert library_of(ghosthub.get_card("ghostnet_050")) == "mindcv"
    client = ghosthub.Client()
    assert library_of(client.entry("ghostnet_130")) == "mindcv", "the registry's entries answer it too"
    # The model zoo's repository is a folder of scripts, not a library: the card names none.
    assert library_of(ghosthub.get_card("ghostnet_100.2c1db3f2")) is None


@pytest.mark.parametrize(
    ("fields", "library"),
    [
        ({"repo-link": "https://github.com/mindspore-lab/mindyolo/tree/master/configs/yolov8"}, "mindyolo"),
        ({"repo-link": "<https://GitHub.com/MindSpore-Lab/MindOCR>"}, "mindocr"),
        ({"repo-link": "https://github.com/mindspore-lab/mindnlp.git"}, "mindnlp"),
        ({"repo-link": "https://gitee.com/mindspore/models/tree/master/research/cv/ghostnet"}, None),
        ({"repo-link": "https://github.com/someone/mindspore-lab/mindcv"}, None),
        ({"repo-link": "-"}, None),
        ({"library-name": "Timm", "repo-link": OCR_LINK}, "timm"),
        ({"library-name": " ", "repo-link": OCR_LINK}, "mindocr"),
    ],
)
def test_library_name_wins_else_the_mindspore_lab_repository(fields, library):
    assert library_of(card_with(**fields)) == library


def test_the_backbone_name_does_not_decide():
    """mindocr's dbnet_resnet50 names a classifier's backbone; its repository says who builds it."""
    card = card_with(**{"model-name": "dbnet_resnet50", "backbone-name": "resnet50", "repo-link": OCR_LINK})
    assert library_of(card) == "mindocr"


@pytest.mark.skipif(CORPUS is None, reason=NO_CORPUS)
def test_the_85_models_of_mindspore_hub_2x_by_library():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CardWarning)  # 2.3 and 2.5 share names: 2.5 takes precedence
        registry = Registry([MSHUB / "2.5", MSHUB / "2.3"])
        by_library = collections.Counter(library_of(entry) for entry in registry)
    assert by_library == {"mindcv": 47, "mindone": 25, "mindyolo": 8, "mindocr": 3, "mindaudio": 2}
    assert registry.list(library="mindocr") == ["crnn_vgg7", "dbnet_mobilenetv3", "dbnet_resnet50"]
    assert registry.entry("dbnet_resnet50").backbone == "resnet50"


# --------------------------------------------------------------------------- list and show


def test_list_filters_on_the_library_in_python_and_on_the_command_line(tmp_path, capsys):
    write(tmp_path, card_with(**{"model-name": "ocr_net", "repo-link": OCR_LINK}))
    write(tmp_path, card_with(**{"model-name": "mine_050", "library-name": "ghosthub", "repo-link": "-"}))
    assert ghosthub.list_models(library="mindocr", cards=[tmp_path]) == ["ocr_net"]
    assert ghosthub.list_models(library="ghost*", cards=[tmp_path]) == ["mine_050"]
    mindcv = ghosthub.list_models(library="MindCV", cards=[tmp_path])
    assert "ghostnet_050" in mindcv and "ghostnet_100.2c1db3f2" not in mindcv and "ocr_net" not in mindcv
    assert main(["list", "--library", "mindocr", "--cards", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "BACKBONE", "LIBRARY"]
    assert [line.split()[:3] for line in lines[1:]] == [["ocr_net", "ghostnet", "mindocr"]]
    assert main(["list", "ghostnet_100*", "--json"]) == 0
    rows = {row["name"]: row["library"] for row in json.loads(capsys.readouterr().out)}
    assert rows["ghostnet_100"] == "mindcv" and rows["ghostnet_100.2c1db3f2"] is None


def test_show_says_the_library(tmp_path, capsys):
    write(tmp_path, card_with(**{"model-name": "ocr_net", "repo-link": OCR_LINK}))
    assert main(["show", "ocr_net", "--cards", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert any(line.split() == ["library:", "mindocr"] for line in out.splitlines())
    assert main(["show", "ghostnet_100.2c1db3f2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["library"] is None


# --------------------------------------------------------------------------- load refuses, download works


def test_a_look_alike_is_refused_before_anything_is_built_or_fetched(tmp_path, isolated_env):
    """A mindocr card whose backbone-name and width ghosthub could build is still not built."""
    with AssetServer() as server:
        link = server.add("/w.ckpt", b"weights")
        fields = {"backbone-name": "ghostnet", "width": "0.5", "repo-link": OCR_LINK}
        asset = [{"file-format": "ckpt", "asset-link": link, "asset-sha256": sha256(b"weights")}]
        path = write(tmp_path, card_with(**{"model-name": "ocr_ghostnet_050", "asset": asset, **fields}))
        for pretrained in (True, False):
            with pytest.raises(UnsupportedLibraryError) as info:
                ghosthub.load("ocr_ghostnet_050", pretrained=pretrained, cards=[tmp_path])
            error = info.value
            assert isinstance(error, UnsupportedBackboneError), "existing handlers of unbuildable cards catch it"
            assert (error.name, error.library, error.field, error.value) == (
                "ocr_ghostnet_050",
                "mindocr",
                "repo-link",
                OCR_LINK,
            )
            assert error.path == str(path) and error.line == load_card(path).lines["repo-link"]
            message = str(error)
            assert "ocr_ghostnet_050 is built by mindocr" in message and OCR_LINK in message
            assert "`ghosthub download ocr_ghostnet_050`" in message
            assert message.endswith("needs mindocr (https://github.com/mindspore-lab/mindocr)")
        assert server.seen == [], "refused before any download"
    assert_nothing_cached(isolated_env / "cache")
    # The same card from MindCV's repository passes the check: the library decided, not the backbone.
    assert check_library(load_card(path).replace(**{"repo-link": "https://github.com/mindspore-lab/mindcv"})) is None


def test_download_and_verify_keep_working_for_another_librarys_card(tmp_path, isolated_env, capsys):
    data = b"yolo weights" * 1000
    with AssetServer() as server:
        asset = [{"file-format": "ckpt", "asset-link": server.add("/yolo.ckpt", data), "asset-sha256": sha256(data)}]
        fields = {"repo-link": "https://github.com/mindspore-lab/mindyolo/tree/master/configs/yolov8"}
        write(tmp_path, card_with(**{"model-name": "yolov8n", "backbone-name": "yolov8", "asset": asset, **fields}))
        client = ghosthub.Client(cards=[tmp_path])
        assert client.download("yolov8n").read_bytes() == data
        assert [v.ok for v in client.verify("yolov8n")] == [True]
        with pytest.raises(UnsupportedLibraryError, match="yolov8n is built by mindyolo"):
            ghosthub.load("yolov8n", cards=[tmp_path])
        out = tmp_path / "yolov8n.mindir"
        assert main(["export", "yolov8n", "--out", str(out), "--cards", str(tmp_path)]) == 1
        assert "yolov8n is built by mindyolo" in capsys.readouterr().err and not out.exists()
        assert len(server.requests_for("/yolo.ckpt")) == 1, "load and export fetched nothing more"


def test_fine_tuning_from_another_librarys_card_is_refused(tmp_path):
    from ghosthub.training.finetune import resolve_base
    from ghosthub.training.recipe import Recipe

    with AssetServer() as server:
        asset = [{"file-format": "ckpt", "asset-link": server.add("/w.ckpt", b"w"), "asset-sha256": sha256(b"w")}]
        fields = {"backbone-name": "ghostnet", "width": "0.5", "repo-link": OCR_LINK}
        write(tmp_path, card_with(**{"model-name": "ocr_ghostnet_050", "asset": asset, **fields}))
        recipe = Recipe.from_dict(
            {"model": "ghostnet_050", "pretrained": "ocr_ghostnet_050", "epoch_size": 2, "lr": 0.1, "batch_size": 8}
        )
        with pytest.raises(UnsupportedLibraryError, match="ocr_ghostnet_050 is built by mindocr"):
            resolve_base(recipe, registry=Registry([tmp_path]))
        assert server.seen == []


@pytest.mark.skipif(CORPUS is None, reason=NO_CORPUS)
@pytest.mark.parametrize("folder", ["2.5", "2.3"])
def test_load_refuses_every_card_of_the_corpus_that_another_library_builds(folder, isolated_env):
    client = ghosthub.Client(cards=[MSHUB / folder], offline=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CardWarning)  # the corpus's ghostnet_050 shadows the bundled card
        others = [e for e in client.registry if library_of(e) not in (None, "mindcv", "ghosthub")]
    assert len(others) == {"2.5": 36, "2.3": 13}[folder]
    for entry in others:
        with pytest.raises(UnsupportedLibraryError) as info:
            client.load(entry.name)
        assert info.value.library == library_of(entry) and str(entry.path) in str(info.value)
    message = str(pytest.raises(UnsupportedLibraryError, client.load, "dbnet_resnet50").value)
    assert message.startswith("dbnet_resnet50 is built by mindocr (repo-link: https://github.com/mindspore-lab/mindocr")
    assert "ghosthub download dbnet_resnet50" in message
    assert_nothing_cached(isolated_env / "cache")

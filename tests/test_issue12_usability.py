"""What a new user trips over (issue 12, items 16-19): filters, bundled cards, listings, file modes."""

from __future__ import annotations

from pathlib import Path

import pytest

import ghosthub
from ghosthub.errors import FilterError

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- item 17: list_models filters


def test_pretrained_true_keeps_cards_with_weights(tmp_path):
    cards = tmp_path / "cards"
    cards.mkdir()
    text = (ROOT / "cards" / "ghostnet_050.md").read_text()
    start = text.index("asset:")
    end = text.index("\n", text.index("asset-sha256", start))
    no_weights = (
        text[:start]
        + "asset:\n  - file-format: onnx\n    asset-link: https://h/x.onnx\n    asset-sha256: ae7771cb"
        + text[end:]
    )
    (cards / "onnx_only.md").write_text(no_weights.replace("model-name: ghostnet_050", "model-name: onnx_only"))
    everything = ghosthub.list_models(cards=[cards])
    assert "onnx_only" in everything
    assert ghosthub.list_models(pretrained=True, cards=[cards]) == [n for n in everything if n != "onnx_only"]
    assert ghosthub.list_models(pretrained=False, cards=[cards]) == everything
    assert ghosthub.list_models("ghostnet_1*", pretrained=True) == [
        "ghostnet_100",
        "ghostnet_100.2c1db3f2",
        "ghostnet_100.722e13be",
        "ghostnet_130",
    ]


def test_an_unknown_filter_key_is_refused_with_the_closest(tmp_path):
    with pytest.raises(FilterError, match=r"unknown filter datset=.*did you mean dataset=\?"):
        ghosthub.list_models(datset="imagenet")
    with pytest.raises(TypeError):  # as an unexpected keyword argument would
        ghosthub.list_models(colour="red")
    assert ghosthub.list_models(dataset="ImageNet*") == [
        n for n in ghosthub.list_models() if n not in ("ghostnet600_175.a37ea724", "ghostnet_100.722e13be")
    ], "the bundled Pets cards are not ImageNet"
    assert ghosthub.list_models(module_type="cv") == ghosthub.list_models(), "any front-matter key, _ for -"
    assert ghosthub.list_models(file_format="ckpt") == ghosthub.list_models()
    assert ghosthub.list_models(file_format="ckpt", backbone="ghostnet*") == ghosthub.list_models("ghostnet*")


# --------------------------------------------------------------------------- item 19: small things


def test_load_card_of_a_bundled_card_works_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no cards/ folder here, as after `pip install ghosthub`
    assert ghosthub.load_card("cards/ghostnet_050.md").name == "ghostnet_050"
    assert ghosthub.load_card("ghostnet_100.md").name == "ghostnet_100"
    with pytest.raises(ghosthub.CardError, match="cannot read"):
        ghosthub.load_card("cards/nope.md")


def test_progress_bars_and_listings_use_binary_units():
    import io
    import time

    from ghosthub._utils.units import byte_bar
    from ghosthub.cli._common import size

    out = io.StringIO()
    bar = byte_bar(5 << 20, 0, desc="w.ckpt", file=out, mininterval=0)
    bar.update(3 << 20)
    time.sleep(0.05)
    bar.update(1 << 20)
    bar.refresh()
    bar.close()
    text = out.getvalue()
    assert "4.0 MiB/5.0 MiB" in text and "MiB/s" in text
    assert "MB" not in text and "kB" not in text, "no decimal unit next to binary ones"
    assert size(5 << 20) == "5.0 MiB"

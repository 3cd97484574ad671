"""The hub's pages as rendered: every model in the table, cards and curves drawn, the same bytes every time,
and card text from other people rendered inert wherever it is put."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest

from ghosthub.hub.index import model_entry
from ghosthub.modelcard import ModelCard, parse_card, render_card
from ghosthub.modelcard.provenance import provenance_block, provenance_fields
from ghosthub.pages import page_key, read_page_key, render_pages
from ghosthub.pages.curves import curves_svg, series_of
from ghosthub.pages.markdown import render_markdown
from tests.support.pages import Page, assert_inert

HISTORY = [
    {"epoch": 1, "train_loss": 2.2, "val_loss": 2.0, "val_top1": 31.5, "val_top5": 70.0, "lr": 0.1},
    {"epoch": 2, "train_loss": 1.1, "val_loss": 1.2, "val_top1": 62.25, "val_top5": 90.0, "lr": 0.05},
    {"epoch": 3, "train_loss": 0.6, "val_loss": 0.9, "val_top1": 80.0, "val_top5": 97.5, "lr": 0.01},
]

# Each tries to run `window.pwned = 1` (or to leave the page) from where a card's text lands.
ATTACKS = [
    "<script>window.pwned=1</script>",
    '"><img src=x onerror="window.pwned=1">',
    "' onmouseover='window.pwned=1' x='",
    "javascript:window.pwned=1",
    " JaVaScRiPt:window.pwned=1",
    "java\tscript:window.pwned=1",
    "data:text/html,<script>window.pwned=1</script>",
    "vbscript:msgbox(1)",
    "</style><script>window.pwned=1</script>",
    "<svg onload=window.pwned=1>",
]
BODY = """
# hostile

<script>window.pwned=1</script>
<img src=x onerror="window.pwned=1">
<iframe src="javascript:window.pwned=1"></iframe>
<a href="javascript:window.pwned=1">raw link</a>
<style>body{display:none}</style>

[md link](javascript:window.pwned=1) [entity link](&#106;avascript:window.pwned=1)
[upper](JAVASCRIPT:window.pwned=1) [data](data:text/html;base64,PHNjcmlwdD4=) [vb](vbscript:msgbox)
<javascript:window.pwned=1> [ref][r] ![img](javascript:window.pwned=1) ![far](https://example.org/x.png)
[title](https://example.org "x\\" onclick=\\"window.pwned=1")

[r]: javascript:window.pwned=1

```js" onclick="window.pwned=1
window.pwned = 1
```

| a | b |
|--:|:--|
| <b onclick="window.pwned=1">x</b> | y |
"""


def card(name: str = "a_050", *, body: str = "# a\n\nA **model**.\n", **fields) -> ModelCard:
    front = {
        "model-name": name,
        "backbone-name": "ghostnet",
        "module-type": "cv",
        "fine-tunable": "True",
        "model-version": "1.0",
        "train-dataset": "digits",
        "evaluation": "top1acc91.25 | top5acc99.50",
        "author": "someone",
        "update-time": "2026-11-27",
        "repo-link": "https://example.org/repo",
        "user-id": "someone",
        "used-for": "inference",
        "mindspore-version": "2.5",
        "asset": [{"file-format": "ckpt", "asset-link": f"../assets/{name}-0123abcd.ckpt", "asset-sha256": "0123abcd"}],
        "license": "Apache2.0",
        "summary": "a small model",
        **fields,
    }
    # Through the card writer and reader, as a hub holds it.
    return parse_card(render_card(ModelCard(name, front, body)))


def hub_of(*cards: ModelCard) -> tuple[dict, dict]:
    """(index, cards by name) as a writer would hold them."""
    models = {}
    for c in cards:
        text = render_card(c).encode()
        asset = {"path": f"assets/{c.name}-0123abcd.ckpt", "file-format": "ckpt", "sha256": "0123abcd" * 8, "size": 5}
        models[c.name] = model_entry(c, hashlib.sha256(text).hexdigest(), [asset])
    return {"format": "ghosthub-hub/1", "updated": "2026-12-01T00:00:00Z", "models": models}, {c.name: c for c in cards}


def trained(name: str, history, base: str | None = None) -> ModelCard:
    record = {"seed": 7, "epochs": len(history), "best_epoch": len(history), "history": history}
    if base:
        record.update(base_model=base, base_sha256="ab" * 32)
    return card(name, body="# x\n" + provenance_block(name, record), **provenance_fields(record))


def test_the_index_page_lists_every_model_with_its_figures_and_links_to_each_page():
    index, cards = hub_of(card("a_050"), card("b_050", **{"parameters": "1310135"}), trained("c_050", HISTORY, "a_050"))
    pages = render_pages(index, cards)
    assert sorted(pages) == ["index.html", "models/a_050.html", "models/b_050.html", "models/c_050.html"]
    page = assert_inert(pages["index.html"])
    rows = [a for a in page.all("tr") if a.get("data-name")]
    assert [r["data-name"] for r in rows] == ["a_050", "b_050", "c_050"]
    assert {"models/a_050.html", "models/b_050.html", "models/c_050.html", "index.json"} <= set(page.links())
    text = page.plain
    for figure in ("91.25", "99.50", "1.3 M", "ghostnet", "digits", "2026-11-27", "0123abcd0123"):
        assert figure in text, figure
    assert page.all("input")[0]["id"] == "filter" and "3 of 3 models" in text


def test_a_model_page_shows_its_card_files_commands_lineage_and_curves():
    index, cards = hub_of(card("a_050"), trained("b_050", HISTORY, "a_050"), trained("c_050", HISTORY, "b_050"))
    page = assert_inert(render_pages(index, cards)["models/c_050.html"])
    text = page.plain
    assert 'ghosthub.load("c_050", pretrained=True)' in text and "ghosthub download c_050 --hub" in text
    assert "0123abcd" * 8 in text and "5 B (5 bytes)" in text
    assert "../assets/c_050-0123abcd.ckpt" in page.links() and "../cards/c_050.md" in page.links()
    # The chain of base models, nearest first, each a link to its page in this hub.
    chain = [a["href"] for tag, a in page.elements if tag == "a" and a.get("href", "").endswith(".html")]
    assert chain[:3] == ["../index.html", "b_050.html", "a_050.html"]
    assert len(page.all("svg")) == 2 and len(page.all("polyline")) == 4  # loss: train, val; accuracy: top-1, top-5


def test_a_base_model_outside_the_hub_is_named_not_linked():
    index, cards = hub_of(trained("b_050", HISTORY, "imagenet_net"))
    page = Page(render_pages(index, cards)["models/b_050.html"])
    assert "imagenet_net" in page.plain and not [h for h in page.links() if "imagenet_net" in h]


def test_the_same_hub_gives_the_same_bytes():
    first = render_pages(*hub_of(card("a_050"), trained("b_050", HISTORY, "a_050")))
    again = render_pages(*hub_of(card("a_050"), trained("b_050", HISTORY, "a_050")))
    assert first == again


def test_a_page_key_changes_with_what_the_page_shows_and_only_that():
    index, _ = hub_of(card("a_050"), trained("b_050", HISTORY, "a_050"), card("z_050"))
    models = index["models"]
    key = page_key(models, "b_050")
    assert page_key({**models, "y_050": models["z_050"]}, "b_050") == key  # another model came: same page
    assert page_key({n: e for n, e in models.items() if n != "a_050"}, "b_050") != key  # its base left: a link less
    changed = {**models, "b_050": {**models["b_050"], "card-sha256": "cd" * 32}}
    assert page_key(changed, "b_050") != key
    pages = render_pages(*hub_of(card("a_050"), trained("b_050", HISTORY, "a_050")))
    assert read_page_key(pages["models/b_050.html"]) == key


def test_curves_are_well_formed_svg_and_ignore_what_is_not_a_finite_number():
    junk = [*HISTORY, {"epoch": 4, "train_loss": float("nan")}, {"epoch": "5", "val_top1": 1}, "x", {"epoch": True}]
    assert series_of(junk) == series_of(HISTORY)
    html = curves_svg(junk)
    for svg in html.split("<svg")[1:]:
        ET.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")  # parses as XML
    assert curves_svg([]) == curves_svg("<script>") == curves_svg({"epoch": 1}) == ""
    one = curves_svg([{"epoch": 1, "train_loss": 0.0}])
    assert one.count("<circle") == 1 and "nan" not in one


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_attack_in_any_front_matter_field_renders_inert(attack):
    fields = {
        key: attack
        for key in (
            "summary",
            "author",
            "license",
            "train-dataset",
            "backbone-name",
            "repo-link",
            "update-time",
            "base-model",
            "width",
            "parameters",
            "model-version",
            "mindspore-version",
        )
    }
    hostile = card(
        "a_050",
        **fields,
        **{"class-names": [attack, attack], attack: attack},
        asset=[{"file-format": "ckpt", "asset-link": attack, "asset-sha256": "0123abcd", attack: attack}],
    )
    index, cards = hub_of(hostile)
    index["models"]["a_050"]["metrics"] = {"top1": attack}
    for data in render_pages(index, cards).values():
        page = assert_inert(data)
        assert attack.strip() in page.plain or attack.replace("\t", "") in page.plain.replace("\t", "")


def test_attacks_in_the_body_render_inert_as_text():
    index, cards = hub_of(card("a_050", body=BODY))
    page = assert_inert(render_pages(index, cards)["models/a_050.html"])
    text = page.plain
    assert "<script>window.pwned=1</script>" in text and '<img src=x onerror="window.pwned=1">' in text
    assert "https://example.org/x.png" in page.links()  # an image from elsewhere: a link, never fetched
    assert "https://example.org" in page.links()
    aligned = [a["class"] for tag in ("th", "td") for a in page.all(tag) if (a.get("class") or "").startswith("align")]
    assert aligned == ["align-right", "align-left"] * 2  # the table's alignment, as classes


def test_attacks_in_the_training_record_render_inert():
    record = {"seed": "<script>window.pwned=1</script>", "epochs": '"><b onclick=x>', "history": ATTACKS}
    hostile = card("a_050", body="# x\n" + provenance_block("a_050", record))
    index, cards = hub_of(hostile)
    page = assert_inert(render_pages(index, cards)["models/a_050.html"])
    assert "seed <script>window.pwned=1</script>" in page.plain and not page.all("svg")


def test_an_attack_in_a_model_name_renders_inert():
    """parse_index refuses such a name; a writer that hands the renderer one anyway still gets an inert page."""
    for attack in ATTACKS:
        index = {"models": {attack: {"card": "cards/x.md", "base-model": attack, "backbone": attack}}}
        pages = render_pages(index, {attack: None})
        for data in pages.values():
            assert_inert(data)
        assert attack in Page(pages["index.html"]).plain


def test_markdown_keeps_raw_html_off_and_only_harmless_links():
    html = render_markdown("<b>x</b> [a](javascript:alert(1)) [b](https://example.org) [c](#top) [d](../cards/x.md)")
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert 'href="javascript' not in html and "[a](javascript:alert(1))" in html
    assert 'href="https://example.org"' in html and 'href="#top"' in html and 'href="../cards/x.md"' in html

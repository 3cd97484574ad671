"""Every JSON file a user or another process can write is checked for shape before it is used.

A cache record, the registry's parse index, a hub copy's records, a partial download's
description, a mirror's records and a run's metrics, each replaced by JSON of the wrong shape:
the command still works (the file counts as absent, or is reported), and nothing crashes with
TypeError, AttributeError or KeyError. The publish journal is in tests/hub/test_fsck.py.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from ghosthub.client import Client
from ghosthub.download.fetch import fetch_asset
from ghosthub.download.layout import RECORD_VERSION, is_vouched, read_record, record_path
from tests.support.fetching import assert_cache_sound, fast_settings, sha256, write_card
from tests.support.httpserver import AssetServer

DATA = os.urandom(50_000)

# JSON of every kind where an object is expected, and objects whose values have the wrong types.
WRONG = [5, "text", [1, 2], None, {"version": RECORD_VERSION, "size": "big", "sha256": 7}]
WRONG_RIGHT_SHAPE = {"url": "URL", "etag": None, "last_modified": None, "total": None}


def cached(tmp_path) -> tuple[object, Path]:
    (tmp_path / "cards").mkdir(exist_ok=True)
    (tmp_path / "cards" / "w.ckpt").write_bytes(DATA)
    card = write_card(tmp_path / "cards", "shapes", "w.ckpt", sha256(DATA))
    return card, fetch_asset(card, settings=fast_settings())


@pytest.mark.parametrize("value", WRONG + [{"version": RECORD_VERSION, "size": [1], "inode": {}, "url": 5}])
def test_a_cache_record_of_the_wrong_shape_vouches_for_nothing_and_the_file_is_hashed_again(tmp_path, value):
    card, path = cached(tmp_path)
    record_path(path).write_text(json.dumps(value))
    assert read_record(path) is None and is_vouched(path, sha256(DATA)) is False
    assert fetch_asset(card, settings=fast_settings()) == path  # re-hashed, served, recorded afresh
    assert read_record(path)["sha256"] == sha256(DATA)
    assert_cache_sound(fast_settings().cache_dir)


@pytest.mark.parametrize(
    "value",
    [
        {"version": 99},
        {"records": [1, 2]},
        "PARSE_INDEX_OF_WRONG_RECORDS",
    ],
)
def test_a_registry_parse_index_of_the_wrong_shape_is_parsed_again(tmp_path, value):
    cards = tmp_path / "cards"
    write_card(cards, "shapes_a", "https://example.org/a.ckpt", "ab" * 32)
    client = Client(cards=[cards])
    assert "shapes_a" in client.list_models()
    (index,) = [p for p in (client.settings.cache_dir / "registry").glob("*.json") if str(cards) in p.read_text()]
    data = json.loads(index.read_text())
    if value == "PARSE_INDEX_OF_WRONG_RECORDS":
        path = next(iter(data["records"]))
        stamp = data["records"][path]["stamp"]
        for bad in ({"stamp": stamp, "record": 5}, {"stamp": stamp, "record": {"fields": []}}, 7):
            data["records"][path] = bad
            index.write_text(json.dumps(data))
            assert "shapes_a" in Client(cards=[cards]).list_models()
        data["records"][path] = {"stamp": stamp, "record": {"fields": {"model-name": "x"}, "warnings": "abc"}}
        index.write_text(json.dumps(data))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning per character of "abc"
            assert "shapes_a" in Client(cards=[cards]).list_models()
        return
    data.update(value)
    index.write_text(json.dumps(data))
    assert "shapes_a" in Client(cards=[cards]).list_models()


@pytest.mark.parametrize("value", WRONG + [{"url": None, "etag": ["x"], "cards": [["a", "b", "c"]], "fetched": 5}])
def test_a_hub_copy_record_of_the_wrong_shape_costs_a_fetch_not_a_crash(tmp_path, value):
    from ghosthub.hub.index import FORMAT, index_bytes
    from ghosthub.modelcard import ModelCard, render_card
    from tests.support.fetching import FIELDS

    with AssetServer() as server:
        fields = {"model-name": "shapes_hub", **FIELDS}
        fields["asset"] = [{"file-format": "ckpt", "asset-link": "../assets/a.ckpt", "asset-sha256": sha256(DATA)}]
        text = render_card(ModelCard(title="shapes_hub", fields=fields)).encode()
        server.add("/hub/cards/shapes_hub.md", text)
        server.add("/hub/assets/a.ckpt", DATA)
        entry = {"card": "cards/shapes_hub.md", "card-sha256": sha256(text), "assets": []}
        server.add("/hub/index.json", index_bytes({"format": FORMAT, "updated": None, "models": {"shapes_hub": entry}}))
        hub = server.url("/hub/")
        assert "shapes_hub" in Client(hub=hub).list_models()
        (copy,) = (Path(os.environ["GHOSTHUB_CACHE"]) / "hubs").iterdir()
        (copy / "hub.json").write_text(json.dumps(value))
        (copy / "state.json").write_text(json.dumps({"failed_at": "yesterday", "error": [1] * 10}))
        assert "shapes_hub" in Client(hub=hub).list_models()
        assert Client(hub=hub).download("shapes_hub").read_bytes() == DATA


@pytest.mark.parametrize(
    "value",
    WRONG
    + [{"url": "URL", "etag": ["x"]}, {"url": "URL", "total": "50000"}, {"url": "URL", "ranges": "0-9"}]
    + [{"url": "URL", "etag": None, "last_modified": None, "total": None}],  # the right shape: resumed
)
def test_a_partial_downloads_description_of_the_wrong_shape_is_not_resumed(tmp_path, value):
    from ghosthub.download import parts
    from ghosthub.download.cache import Cache

    with AssetServer() as server:
        server.add("/w.ckpt", DATA)
        url = server.url("/w.ckpt")
        card = write_card(tmp_path / "cards", "shapes", url, sha256(DATA))
        settings = fast_settings(lock_timeout=0.0)
        target = Cache(settings).path(card, card.weights_asset())
        target.parent.mkdir(parents=True)
        part = target.with_name(f".{target.name}.somehost-1-0123abcd.part")  # a dead process's part, another host
        part.write_bytes(DATA[:1000])
        os.utime(part, (0, 0))
        meta = json.loads(json.dumps(value).replace('"URL"', json.dumps(url)))
        parts.part_meta(part).write_text(json.dumps(meta))
        assert fetch_asset(card, settings=settings).read_bytes() == DATA
        if value == WRONG_RIGHT_SHAPE:
            assert server.seen[-1].range == "bytes=1000-", "a description of the right shape is resumed"
        else:
            assert server.seen[-1].range is None, "started over, not resumed from a description it cannot trust"


@pytest.mark.parametrize("value", WRONG + [{"files": {"assets/a": [1]}}, {"files": [1]}])
def test_a_mirrors_records_of_the_wrong_shape_vouch_for_nothing(tmp_path, value):
    from ghosthub.hub.verified import RECORDS, VerifiedFiles

    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a").write_bytes(DATA)
    (tmp_path / RECORDS).write_text(json.dumps(value))
    assert VerifiedFiles(tmp_path).vouches("assets/a", sha256(DATA)) is False


@pytest.mark.parametrize(
    "line",
    [5, [1], "x", {"epoch": "1"}, {"epoch": 1, "epochs": 2, "steps": 3, "images": 4, "train_loss": [], "lr": 0.1}],
)
def test_a_metrics_line_of_the_wrong_shape_is_no_epoch(line):
    from ghosthub.training.results import EpochMetrics

    with pytest.raises(ValueError, match="epoch metrics"):
        EpochMetrics.from_dict(line)

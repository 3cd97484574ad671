"""The registry: sources and precedence, skipping bad cards, filters, lookup, the parse cache."""

import json
import os
import shutil
import warnings

import pytest

import ghosthub
from ghosthub import registry as registry_module
from ghosthub.api import default_registry
from ghosthub.errors import FilterError, ModelNotFoundError
from ghosthub.modelcard import CardWarning, load_card, render_card
from ghosthub.registry import Registry
from tests.support.paths import REPO, SEED

GHOSTNETS = [
    "ghostnet600_175.a37ea724",
    "ghostnet_050",
    "ghostnet_050.85b91860",
    "ghostnet_100",
    "ghostnet_100.2c1db3f2",
    "ghostnet_100.722e13be",
    "ghostnet_130",
]
# The GhostNet cards and MindSpore Hub 2.x's MindCV cards (tools/bundle_zoo_cards.py); a card's file is its name.
BUNDLED = sorted((p.stem for p in (REPO / "cards").glob("*.md")), key=str.lower)


def write_card(folder, name, **fields):
    card = load_card(SEED)
    card = card.replace(**{"model-name": name, **fields}, title=name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(render_card(card), encoding="utf-8")
    return path


def test_bundled_cards_list_both_ghostnet_050_weights():
    assert ghosthub.list_models() == BUNDLED and len(BUNDLED) == 53
    assert ghosthub.list_models("ghostnet*") == GHOSTNETS
    old = ghosthub.get_card("ghostnet_050.85b91860")
    assert old.metrics == {"top1": 66.03, "top5": 86.64}
    assert old.assets[0].sha256 == "85b91860"
    assert ghosthub.get_card("ghostnet_050").assets[0].sha256 == "ae7771cb"
    assert ghosthub.get_card("ghostnet_100").assets[0].sha256 == "bef8025a"
    assert ghosthub.get_card("ghostnet_130").assets[0].sha256 == "cf4c235c"


def test_precedence_explicit_env_user_bundled(tmp_path, monkeypatch, isolated_env):
    explicit, env_dir = tmp_path / "explicit", tmp_path / "env"
    user = isolated_env / "data" / "ghosthub" / "cards"
    write_card(explicit, "ghostnet_100", summary="explicit")
    write_card(env_dir, "ghostnet_100", summary="env")
    write_card(env_dir, "ghostnet_130", summary="env")
    write_card(user, "ghostnet_130", summary="user")
    write_card(user, "ghostnet_050", summary="user")
    monkeypatch.setenv("GHOSTHUB_CARDS", str(env_dir))
    with pytest.warns(CardWarning, match="shadowed") as caught:
        reg = default_registry([explicit])
        names = reg.list()
    assert names == BUNDLED
    assert reg.get("ghostnet_100").fields["summary"] == "explicit"
    assert reg.get("ghostnet_130").fields["summary"] == "env"
    assert reg.get("ghostnet_050").fields["summary"] == "user"
    assert reg.get("ghostnet_050.85b91860").path.parent.name == "cards"
    (folded,) = [str(w.message) for w in caught if "shadowed" in str(w.message)]  # more than three: one line
    assert folded.startswith("5 cards are shadowed") and "ghosthub list --verbose" in folded
    shadow = [n.message for n in reg.notices if n.kind == "shadowed"]
    assert len(shadow) == 5  # env's 100, user's 130, bundled 050/100/130
    assert any(str(env_dir / "ghostnet_100.md") in m and str(explicit / "ghostnet_100.md") in m for m in shadow)


def test_env_cards_is_a_path_list(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    write_card(a, "net_a")
    write_card(b, "net_b")
    monkeypatch.setenv("GHOSTHUB_CARDS", f"{a}{os.pathsep}{b}")
    assert {"net_a", "net_b"} <= set(ghosthub.list_models())


def test_a_missing_card_folder_given_explicitly_is_an_error_naming_it(tmp_path, capsys):
    from ghosthub.cli import main
    from ghosthub.errors import ConfigError

    missing = tmp_path / "no-such-cards"
    with pytest.raises(
        ConfigError, match=f"the card folder {missing} \\(given with --cards or cards=\\) does not exist"
    ):
        ghosthub.list_models(cards=[missing])
    (tmp_path / "a-file.md").write_text("# not a folder")
    with pytest.raises(ConfigError, match="is not a folder"):
        ghosthub.list_models(cards=[tmp_path / "a-file.md"])
    assert main(["list", "--cards", str(missing)]) == 1
    assert f"error: the card folder {missing}" in capsys.readouterr().err


def test_a_missing_env_cards_entry_is_left_out_with_one_warning_naming_it(tmp_path, monkeypatch):
    a, missing = tmp_path / "a", tmp_path / "gone"
    write_card(a, "net_a")
    monkeypatch.setenv("GHOSTHUB_CARDS", f"{missing}{os.pathsep}{a}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = ghosthub.list_models()
    assert "net_a" in names and "ghostnet_050" in names
    messages = [str(w.message) for w in caught if issubclass(w.category, CardWarning)]
    assert messages == [
        f"GHOSTHUB_CARDS names {missing}, which does not exist; it is left out (fix or remove the entry)"
    ]


def test_broken_card_is_skipped_with_one_warning(tmp_path):
    write_card(tmp_path, "good_net")
    (tmp_path / "broken.md").write_text("# broken\n---\nmodel-name: [\n---\n")
    (tmp_path / "notes.txt").write_text("not a card")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = ghosthub.list_models(cards=[tmp_path])
    assert "good_net" in names and set(BUNDLED) <= set(names)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert str(tmp_path / "broken.md") in messages[0] and "not valid YAML" in messages[0]


def test_nested_folders_and_hidden_ones(tmp_path):
    write_card(tmp_path / "deep" / "er", "deep_net")
    write_card(tmp_path / ".hidden", "hidden_net")
    names = ghosthub.list_models(cards=[tmp_path])
    assert "deep_net" in names and "hidden_net" not in names


def test_a_registry_built_on_a_missing_folder_has_no_cards_from_it(tmp_path):
    """Registry(sources) is the object underneath: it reads what is there (the user-facing verbs check first)."""
    assert Registry([tmp_path / "nope", REPO / "cards"]).list() == BUNDLED


def test_patterns_and_filters(tmp_path):
    write_card(tmp_path, "other_net", **{"backbone-name": "toynet", "train-dataset": "CIFAR10", "module-type": "cv"})
    mindir = load_card(SEED).replace(
        **{
            "model-name": "exported",
            "asset": [{"file-format": "mindir", "asset-link": "x.mindir", "asset-sha256": "0" * 8}],
        }
    )
    (tmp_path / "exported.md").write_text(render_card(mindir))
    reg = default_registry([tmp_path])
    assert reg.list("GHOSTNET_1*") == ["ghostnet_100", "ghostnet_100.2c1db3f2", "ghostnet_100.722e13be", "ghostnet_130"]
    assert reg.list("*.*") == [n for n in BUNDLED if "." in n]
    assert reg.list(backbone="toynet") == ["other_net"]
    assert reg.list(dataset="cifar*") == ["other_net"]
    assert reg.list(file_format="mindir") == ["exported"]
    assert "exported" not in reg.list(file_format="ckpt")
    assert reg.list("ghost*", backbone="toynet") == []
    assert reg.list(module_type="cv", backbone="toy*") == ["other_net"]
    assert ghosthub.list_models("*130", cards=[tmp_path]) == ["ghostnet_130"]


def test_pretrained_true_keeps_cards_with_weights(tmp_path):
    cards = tmp_path / "cards"
    cards.mkdir()
    text = SEED.read_text()
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


def test_unknown_name_suggests_closest():
    with pytest.raises(ModelNotFoundError) as info:
        ghosthub.get_card("ghostnet50")
    assert "ghostnet_050" in info.value.suggestions
    assert "did you mean ghostnet_050" in str(info.value)
    assert isinstance(info.value, ghosthub.GhostHubError) and isinstance(info.value, LookupError)
    with pytest.raises(ModelNotFoundError, match="GHOSTNET_100|ghostnet_100"):
        ghosthub.get_card("GHOSTNET_100")


def test_parse_cache_is_used_and_never_stale(tmp_path, monkeypatch):
    folder = tmp_path / "cards"
    path = write_card(folder, "cached_net", summary="first")
    calls = []
    real = registry_module._parse_record  # reads one card file, on an index miss only

    def counting_load(p):
        calls.append(p)
        return real(p)

    monkeypatch.setattr(registry_module, "_parse_record", counting_load)
    assert Registry([folder]).entry("cached_net").fields["summary"] == "first"
    assert len(calls) == 1
    assert Registry([folder]).entry("cached_net").fields["summary"] == "first"
    assert len(calls) == 1  # served from the parse cache

    # Same size, mtime put back: the ctime still changes, so the card is read again.
    stat = path.stat()
    path.write_text(path.read_text().replace("summary: first", "summary: fresh"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert Registry([folder]).entry("cached_net").fields["summary"] == "fresh"
    assert len(calls) == 2

    # A removed card disappears; a replaced file (new inode) is read again.
    shutil.copy(path, tmp_path / "tmp.md")
    path.unlink()
    assert "cached_net" not in Registry([folder])
    os.replace(tmp_path / "tmp.md", path)
    assert Registry([folder]).entry("cached_net").fields["summary"] == "fresh"


def test_cached_skip_still_warns(tmp_path):
    (tmp_path / "bad.md").write_text("no front matter")
    for _ in range(2):
        with pytest.warns(CardWarning, match="skipped card"):
            Registry([tmp_path]).list()


def test_unwritable_cache_does_not_break_listing(tmp_path, monkeypatch):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("GHOSTHUB_CACHE", str(blocker))
    assert ghosthub.list_models() == BUNDLED


def test_corrupt_parse_cache_is_ignored(tmp_path, isolated_env):
    folder = tmp_path / "cards"
    write_card(folder, "net_x")
    Registry([folder]).list()
    corrupted = sorted((isolated_env / "cache" / "registry").glob("*.json"))
    assert corrupted, "the first listing must have written a parse cache for this test to corrupt"
    for index in corrupted:
        index.write_text("{not json")
    assert Registry([folder]).list() == ["net_x"]
    # The corrupt file was read, found unusable and written afresh.
    assert all(json.loads(index.read_text())["records"] for index in corrupted)


def test_up_to_three_of_a_kind_are_warned_one_by_one(tmp_path):
    for name in ("ghostnet_050", "ghostnet_100", "ghostnet_130"):
        write_card(tmp_path, name)
    with pytest.warns(CardWarning) as caught:
        Registry([tmp_path, REPO / "cards"]).list()
    shadowed = sorted(str(w.message) for w in caught)
    assert len(shadowed) == 3 and all(m.startswith("card 'ghostnet_") and "is shadowed by" in m for m in shadowed)


def test_many_of_a_kind_are_one_warning_and_every_one_is_kept(tmp_path):
    """Hundreds of shadowed or broken cards (MindSpore Hub's corpus) are one line per kind, not hundreds."""
    for name in BUNDLED[:40]:
        write_card(tmp_path / "shadows", name)
    for i in range(5):
        (tmp_path / "shadows" / f"broken{i}.md").write_text("---\nmodel-name: x\n")
    with pytest.warns(CardWarning) as caught:
        reg = Registry([tmp_path / "shadows", REPO / "cards"])
        reg.list()
    assert sorted(str(w.message) for w in caught) == [
        "40 cards are shadowed by cards of the same name in earlier sources; `ghosthub list --verbose` "
        "(or Registry.notices) lists each",
        "5 cards were skipped as unreadable; `ghosthub list --verbose` (or Registry.notices) lists each",
    ]
    kinds = [n.kind for n in reg.notices]
    assert kinds.count("shadowed") == 40 and kinds.count("skipped") == 5
    assert all("broken" in n.message and "not closed" in n.message for n in reg.notices if n.kind == "skipped")


def test_a_registry_warning_points_at_the_callers_line(tmp_path):
    """Python shows the user's own file and line, whichever verb scanned the cards."""
    write_card(tmp_path, "ghostnet_050")
    for call in (
        lambda: ghosthub.list_models(cards=[tmp_path]),
        lambda: ghosthub.get_card("ghostnet_050", cards=[tmp_path]),
        lambda: ghosthub.Client(cards=[tmp_path]).transforms("ghostnet_050"),
    ):
        with pytest.warns(CardWarning, match="shadowed") as caught:
            call()
        assert {w.filename for w in caught} == {__file__}

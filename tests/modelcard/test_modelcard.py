"""Model cards: parsing, values kept as written, validation, repairs, round trip, hostile input."""

import collections
import string
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghosthub.constants import FILE_FORMATS
from ghosthub.modelcard import (
    REQUIRED_FIELDS,
    CardError,
    CardWarning,
    ModelCard,
    iter_errors,
    load_card,
    parse_card,
    parse_metrics,
    render_card,
)
from tests.support.paths import CORPUS, SEED

MINIMAL = {
    "model-name": "tiny_net",
    "backbone-name": "ghostnet",
    "module-type": "cv",
    "fine-tunable": "True",
    "model-version": "1.10",
    "author": "me",
    "update-time": "2025-01-01",
    "repo-link": "https://example.org/repo",
    "user-id": "me",
    "used-for": "inference",
    "mindspore-version": "2.5",
    "license": "Apache2.0",
    "summary": "a tiny net",
}


def card_text(extra_lines="", **fields):
    values = {**MINIMAL, **fields}
    lines = [f"{k}: {v}" for k, v in values.items() if v is not None]
    return "# title\n\n---\n" + "\n".join(lines) + "\n" + extra_lines + "---\nbody\n"


def asset_lines(fmt="ckpt", link="<https://example.org/a.ckpt>", sha="ae7771cb"):
    return f"asset:\n- file-format: {fmt}\n  asset-link: {link}\n  asset-sha256: {sha}\n"


# ----------------------------------------------------------------------------- the seed card


def test_seed_fields_are_kept_as_written():
    card = load_card(SEED)
    assert card.title == "ghostnet_050"
    assert card.name == "ghostnet_050"
    assert card.fields["model-version"] == "2.5"
    assert card.fields["mindspore-version"] == "2.5"
    assert card.fields["update-time"] == "2025-03-10"
    assert card.fields["fine-tunable"] == "True" and card.fine_tunable is True
    assert card.fields["repo-link"] == "https://github.com/mindspore-lab/mindcv/tree/v0.4.0/configs/ghostnet"
    assert card.metrics == {"top1": 65.84, "top5": 86.60}
    (asset,) = card.assets
    assert asset.file_format == "ckpt"
    assert asset.sha256 == "ae7771cb"
    assert (
        asset.link == "https://download-mindspore.osinfra.cn/toolkits/mindcv/ghostnet/ghostnet_050-ae7771cb-910v2.ckpt"
    )
    assert card.body.startswith("\n# ghostnet_050\n") and card.body.endswith("2020: 1580-1589.\n")
    assert card.lines["model-name"] == 5 and card.lines["asset"] == 31


def test_seed_renders_to_the_same_text(seed_text):
    card = parse_card(seed_text)
    assert render_card(card) == seed_text
    assert parse_card(render_card(card)) == card


def test_versions_are_text_not_numbers():
    card = parse_card(card_text(**{"model-version": "1.10", "mindspore-version": "2.0"}))
    assert card.fields["model-version"] == "1.10"
    assert card.fields["mindspore-version"] == "2.0"
    for value in ("yes", "null", "0x10", "1e3", "~", "2025-03-10"):
        assert parse_card(card_text(summary=value)).fields["summary"] == value


def test_angle_brackets_removed_only_from_plain_values():
    card = parse_card(card_text(**{"repo-link": "<https://x.org/r>", "summary": '"<kept>"'}))
    assert card.fields["repo-link"] == "https://x.org/r"
    assert card.fields["summary"] == "<kept>"
    assert parse_card(render_card(card)) == card


@pytest.mark.parametrize(
    "text, expected",
    [
        ("top1acc65.84 | top5acc86.60", {"top1": 65.84, "top5": 86.60}),
        ("-", {}),
        ("mAP46.6", {"mAP": 46.6}),
        ("PSNR27.44 | SSIM0.92", {"PSNR": 27.44, "SSIM": 0.92}),
        ("top1acc75.59 | top1acc92.57", {"top1": 75.59}),
        ("acc1.72e-05", {"acc": 1.72e-05}),
        ("100%-EER:98.73", {"100%-EER": 98.73}),
        ("", {}),
    ],
)
def test_evaluation_metrics(text, expected):
    assert parse_metrics(text) == expected


def test_evaluation_dash_gives_no_metrics():
    card = parse_card(card_text(extra_lines="evaluation: '-'\n"))
    assert card.fields["evaluation"] == "-" and card.metrics == {}


def test_fine_tunable_is_a_bool():
    assert parse_card(card_text(**{"fine-tunable": "false"})).fine_tunable is False
    with pytest.raises(CardError, match="fine-tunable"):
        parse_card(card_text(**{"fine-tunable": "maybe"}))


def test_weights_asset_picks_first_loadable():
    extra = (
        "asset:\n- file-format: mindir\n  asset-link: a.mindir\n  asset-sha256: 00000000\n"
        "- file-format: safetensors\n  asset-link: a.safetensors\n  asset-sha256: 11111111\n"
    )
    card = parse_card(card_text(extra_lines=extra))
    assert card.weights_asset().file_format == "safetensors"
    assert card.weights_asset("mindir").sha256 == "00000000"
    with pytest.raises(CardError, match="no asset to load weights from"):
        card.weights_asset("onnx")


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_required_field(field):
    with pytest.raises(CardError) as info:
        parse_card(card_text(**{field: None}), path="cards/x.md")
    assert info.value.field == field
    assert "missing required field" in str(info.value) and "cards/x.md" in str(info.value)


def test_error_names_file_line_field_expected_found():
    text = card_text(extra_lines=asset_lines(sha="zz7771cb"))
    with pytest.raises(CardError) as info:
        parse_card(text, path="cards/bad.md")
    err = info.value
    assert (err.path, err.field, err.found) == ("cards/bad.md", "asset-sha256", "zz7771cb")
    assert err.line == text.splitlines().index("- file-format: ckpt") + 1
    message = str(err)
    for part in ("cards/bad.md", f"line {err.line}", "asset-sha256", "8 to 64 hexadecimal", "zz7771cb"):
        assert part in message


@pytest.mark.parametrize("sha", ["ae7771c", "g" * 8, "ae7771cb" * 8 + "0", "ae77 71cb", ""])
def test_bad_sha256(sha):
    with pytest.raises(CardError, match="asset-sha256"):
        parse_card(card_text(extra_lines=asset_lines(sha=sha or "''")))


@pytest.mark.parametrize("sha", ["ae7771cb", "AE7771CB0", "a" * 64])
def test_good_sha256(sha):
    assert parse_card(card_text(extra_lines=asset_lines(sha=sha))).assets[0].sha256 == sha


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_known_file_formats(fmt):
    assert parse_card(card_text(extra_lines=asset_lines(fmt=fmt))).assets[0].file_format == fmt


@pytest.mark.parametrize("fmt", ["pt", "CKPT", "zip", ".ckpt"])
def test_unknown_file_format(fmt):
    with pytest.raises(CardError, match="file-format"):
        parse_card(card_text(extra_lines=asset_lines(fmt=fmt)))


@pytest.mark.parametrize(
    "name", ["a/b", "../x", "a..b", "with space", "'nul\\0'", '"nul\\0x"', "-lead", "x" * 129, "'a\\\\b'"]
)
def test_unsafe_model_names(name):
    with pytest.raises(CardError) as info:
        parse_card(card_text(**{"model-name": name}))
    assert info.value.field == "model-name"


@pytest.mark.parametrize("name", ["ghostnet_050", "ghostnet_050.85b91860", "GhostNet-600", "a+b"])
def test_safe_model_names(name):
    assert parse_card(card_text(**{"model-name": name})).name == name


def test_asset_must_be_a_list_of_mappings():
    with pytest.raises(CardError, match="asset must be a list"):
        parse_card(card_text(extra_lines="asset: one.ckpt\n"))
    with pytest.raises(CardError, match="asset 1 must be a mapping"):
        parse_card(card_text(extra_lines="asset:\n- one.ckpt\n"))
    with pytest.raises(CardError, match="asset 1 lacks asset-link"):
        parse_card(card_text(extra_lines="asset:\n- file-format: ckpt\n  asset-sha256: ae7771cb\n"))


def test_iter_errors_reports_every_problem():
    text = card_text(**{"author": None, "license": None}, extra_lines=asset_lines(fmt="zip", sha="xyz"))
    card = ModelCard(None, {k: v for k, v in MINIMAL.items() if k not in ("author", "license")})
    assert {e.field for e in iter_errors(card)} == {"author", "license"}
    with pytest.raises(CardError):
        parse_card(text)


def test_duplicate_key_is_an_error():
    with pytest.raises(CardError, match="duplicate key") as info:
        parse_card(card_text(extra_lines="summary: again\n"))
    assert info.value.field == "summary"


# ----------------------------------------------------------------------------- repairs (from the corpus)


def test_repair_bare_dash_value():
    text = card_text(extra_lines="evaluation: -\n")
    with pytest.warns(CardWarning, match="bare '-'"):
        card = parse_card(text, path="x.md")
    assert card.fields["evaluation"] == "-"
    assert any("evaluation" in w for w in card.warnings)


def test_repair_value_containing_colon_space():
    text = card_text(extra_lines="accuracy: vit-base: 83.78 / swin-base: 84.03\n")
    with pytest.warns(CardWarning, match="contains ': '"):
        card = parse_card(text)
    assert card.fields["accuracy"] == "vit-base: 83.78 / swin-base: 84.03"
    assert parse_card(render_card(card)) == card


def test_repair_full_width_colon_keys():
    text = (
        "# GhostNet\n\n---\n\n模型名称：GhostNet\n骨干网络：GhostNet\n模块类型：cv-classification\n可微调：True\n"
        "模型版本：1.0\n作者：Noah's Ark Lab\n更新时间：2020-9-8\n代码仓链接： <https://gitee.com/x>\n用户ID：noah-cvlab\n"
        "用途：推理\nMindSpore版本：1.0\n资源：\n- 文件格式：.ckpt  \n  资源链接： <https://x.org/g.ckpt>  \n"
        "  资源SHA256校验码： 722e13be6cd6186dddcd68d5c0a50776d9a8ad8e79db3870556f68d4d2f179e4\n许可证：Apache "
        "2.0\n摘要：分类。\n---\n"
    )
    with pytest.warns(CardWarning, match="full-width"):
        card = parse_card(text)
    assert card.name == "GhostNet"
    assert card.fields["used-for"] == "推理"
    assert card.fields["repo-link"] == "https://gitee.com/x"
    assert card.assets[0].file_format == "ckpt"
    assert card.assets[0].link == "https://x.org/g.ckpt"


def test_valid_cards_are_not_repaired(seed_text):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_card(seed_text).warnings == ()


@pytest.mark.skipif(CORPUS is None, reason="the MindSpore Hub corpus (../shared/corpus) is not beside the checkout")
def test_whole_corpus():
    """Every readable card of the public corpus parses; the rest fail with a CardError for a stated reason."""
    files = sorted(CORPUS.rglob("*.md"))
    assert len(files) == 632
    parsed, repaired, failed = 0, 0, collections.Counter()
    for path in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                card = load_card(path)
            except CardError as exc:
                assert exc.path == str(path)
                failed[(exc.reason, exc.field)] += 1
                continue
        parsed += 1
        repaired += bool(card.warnings)
        assert len([w for w in caught if w.category is CardWarning]) == (1 if card.warnings else 0)
        assert parse_card(render_card(card)) == card, path
    assert (parsed, repaired) == (618, 34)
    assert failed == {
        ("field must be non-empty text", "repo-link"): 8,  # `repo-link:` left empty
        ("missing required field", "repo-link"): 3,  # only vit-repo-link / swin-repo-link
        ("duplicate key", "asset-link"): 3,  # two links in one asset, no sha256: ambiguous
    }


# ----------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "text, reason",
    [
        ("just markdown\n", "no front-matter"),
        ("# t\n---\nmodel-name: x\n", "not closed"),
        ("# t\n---\n- a\n- b\n---\n", "not a mapping"),
        ("# t\n---\n---\n", "not a mapping"),
        ("# t\n---\njust text\n---\n", "not a mapping"),
        ("# t\n---\nkey: [unclosed\n---\n", "not valid YAML"),
        ("# t\n---\nkey: 'unclosed\n---\n", "not valid YAML"),
        ("# t\n---\na: &x [1]\nb: *x\n---\n", "aliases"),
        ("# t\n---\nx: !!python/object/apply:os.system ['true']\n---\n", "tags"),
        ("# t\n---\nx: !!binary aGVsbG8=\n---\n", "tags"),
        ("# t\n---\n? [a, b]\n: c\n---\n", "keys must be plain text"),
        ("random preamble\n---\na: b\n---\n", "before the front-matter"),
        ("# t\n---\na: b\x00\n---\n", "NUL"),
    ],
)
def test_bad_input_is_a_card_error(text, reason):
    with pytest.raises(CardError, match=reason):
        parse_card(text)


def test_yaml_error_names_the_line():
    text = "# t\n\n---\nmodel-name: x\nkey: [unclosed\nother: 1\n---\n"
    with pytest.raises(CardError) as info:
        parse_card(text, path="c.md")
    assert info.value.line in (6, 7)
    assert "c.md, line" in str(info.value)


def test_alias_bomb():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    with pytest.raises(CardError, match="aliases"):
        parse_card("---\n" + "\n".join(lines) + "\n---\n")


def test_deep_nesting():
    with pytest.raises(CardError):
        parse_card("---\na: " + "[" * 100_000 + "]" * 100_000 + "\n---\n")


def test_binary_garbage_and_invalid_utf8(tmp_path):
    with pytest.raises(CardError, match="not valid UTF-8") as info:
        parse_card(b"---\na: \xff\xfe\n---\n", path="bin.md")
    assert info.value.line == 2
    garbage = tmp_path / "garbage.md"
    garbage.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(CardError):
        load_card(garbage)


def test_too_large_file(tmp_path):
    big = tmp_path / "big.md"
    big.write_text(card_text() + "x" * (1 << 20))
    with pytest.raises(CardError, match="too large"):
        load_card(big)
    with pytest.raises(CardError, match="too large"):
        parse_card("x" * ((1 << 20) + 1))


def test_missing_file(tmp_path):
    with pytest.raises(CardError, match="cannot read"):
        load_card(tmp_path / "nope.md")


def test_load_card_of_a_bundled_card_works_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no cards/ folder here, as after `pip install ghosthub`
    assert load_card("cards/ghostnet_050.md").name == "ghostnet_050"
    assert load_card("ghostnet_100.md").name == "ghostnet_100"
    with pytest.raises(CardError, match="cannot read"):
        load_card("cards/nope.md")


def test_utf8_bom_and_crlf():
    text = "\ufeff" + card_text().replace("\n", "\r\n")
    card = parse_card(text)
    assert card.name == "tiny_net" and card.body == "body\r\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzz_random_text(text):
    try:
        parse_card(text)
    except CardError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data):
    try:
        parse_card(data)
    except CardError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["---", "- a", "a: b", "a: -", ": :", "  - x: y", "资源：", "[", "&a x", "*a", "!!str", "a: <b>", "'", "\t"]
        ),
        max_size=12,
    )
)
def test_fuzz_card_shaped_lines(lines):
    try:
        parse_card("# t\n---\n" + "\n".join(lines) + "\n---\n")
    except CardError:
        pass


# ----------------------------------------------------------------------------- round trip

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
_key = st.text(string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=12).filter(
    lambda k: k not in MINIMAL and k != "asset"
)
_nested = st.recursive(
    _text, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_key, inner, max_size=3), max_leaves=6
)
_asset = st.fixed_dictionaries(
    {
        "file-format": st.sampled_from(FILE_FORMATS),
        "asset-link": st.sampled_from(["https://h.org/a.ckpt", "a.ckpt", "file:///tmp/x y.ckpt", "<weird>"])
        | _text.filter(str.strip),
        "asset-sha256": st.text("0123456789abcdefABCDEF", min_size=8, max_size=64),
    }
)
_required = st.fixed_dictionaries(
    {
        k: (
            st.sampled_from(["ghostnet_050", "a.b-c+d", "X1"])
            if k == "model-name"
            else st.sampled_from(["True", "false", "yes"])
            if k == "fine-tunable"
            else _text.filter(str.strip)
        )
        for k in REQUIRED_FIELDS
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.none() | st.text("abc _-#.", min_size=1, max_size=20).filter(lambda t: t.strip("# ")),
    required=_required,
    extra=st.dictionaries(_key, _nested, max_size=4),
    assets=st.lists(_asset, max_size=3),
    body=_text | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300),
)
def test_round_trip(title, required, extra, assets, body):
    fields = {**required, **extra}
    if assets:
        fields["asset"] = assets
    card = ModelCard(title=title.strip("# ").strip() if title else None, fields=fields, body=body)
    assert parse_card(render_card(card)) == card


# ----------------------------------------------------------------------------- the YAML-free fast path

from ghosthub.modelcard._yaml import load_mapping as _load_mapping  # noqa: E402
from ghosthub.modelcard.parse import _read_simple, _split  # noqa: E402

# Also YAML's other line breaks (NEL, LS, PS) and the BOM: the fast path must leave them to YAML.
_value = st.text(
    st.sampled_from(list("ab1 .:-<>#[]{}\"'|&*!%@`,?/é中\\\x85\u2028\u2029\ufeff")), min_size=0, max_size=12
)
_fast_key = st.sampled_from(["a", "b", "asset", "model-name", "x.y", "k_1", "-a", "a b", "?a"])
_row = st.one_of(
    st.builds(lambda k, sp, v: f"{k}:{sp}{v}", _fast_key, st.sampled_from(["", " ", "  "]), _value),
    st.builds(lambda k, v: f"- {k}: {v}", _fast_key, _value),
    st.builds(lambda n, k, v: f"{' ' * n}{k}: {v}", st.integers(1, 5), _fast_key, _value),
    st.sampled_from(["-", "- ", "", "   ", "  - a: b", "...", "---x"]),
)


def _both(front):
    simple = _read_simple(front, 1)
    if simple is None:
        return None, None
    return simple, tuple(_load_mapping(front, 1, None))


_mostly_plain = st.one_of(
    st.text(st.sampled_from(list("abcXYZ019 .-_/<>é中")), min_size=1, max_size=16),
    st.text(st.sampled_from(list("abcXYZ019 .-_/<>:é中#'\"[&|")), min_size=1, max_size=16),
)
_card_key = st.one_of(st.sampled_from(["a", "b", "c", "asset", "model-name", "x.y", "k_1", "m+n"]), _fast_key)
_item = st.lists(st.tuples(_card_key, _mostly_plain), min_size=1, max_size=3, unique_by=lambda kv: kv[0])
_entry = st.tuples(_card_key, st.one_of(_mostly_plain, st.lists(_item, min_size=1, max_size=3)))


def _render_front(entries, bare_dash, indent, blank_lines):
    rows = []
    for key, value in entries:
        rows.append(f"{key}: {value}" if isinstance(value, str) else f"{key}:")
        if blank_lines:
            rows.append("")
        for item in value if not isinstance(value, str) else ():
            for i, (k, v) in enumerate(item):
                if bare_dash:
                    rows += (["-"] if i == 0 else []) + [f"{' ' * indent}{k}: {v}"]
                else:
                    rows.append(f"{'- ' if i == 0 else '  '}{k}: {v}")
    return "\n".join(rows) + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_row, min_size=1, max_size=10))
def test_fast_path_reads_what_yaml_reads_from_odd_lines(rows):
    """Whenever the fast path accepts a front-matter, YAML reads the same fields and lines from it."""
    simple, yaml_reading = _both("\n".join(rows) + "\n")
    assert simple == yaml_reading


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_entry, min_size=1, max_size=6, unique_by=lambda kv: kv[0]),
    st.booleans(),
    st.integers(1, 4),
    st.booleans(),
)
def test_fast_path_reads_what_yaml_reads_from_card_shapes(entries, bare_dash, indent, blank_lines):
    simple, yaml_reading = _both(_render_front(entries, bare_dash, indent, blank_lines))
    assert simple == yaml_reading


@pytest.mark.skipif(CORPUS is None, reason="the MindSpore Hub corpus (../shared/corpus) is not beside the checkout")
def test_fast_path_on_the_corpus():
    fast = 0
    for path in sorted(CORPUS.rglob("*.md")):
        _, front, first, _ = _split(path.read_text(encoding="utf-8"), path)
        simple = _read_simple(front, first)
        if simple is not None:
            fast += 1
            assert simple == tuple(_load_mapping(front, first, path)), path
    assert fast >= 550  # the common shapes: seed-style and bare "-" asset lists


def test_fast_path_reads_the_seed(seed_text):
    _, front, first, _ = _split(seed_text, None)
    assert _read_simple(front, first) is not None


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_fast_path_leaves_yaml_line_breaks_to_yaml(char):
    """YAML reads LS, PS and NEL as line breaks: a value holding one is not plain text."""
    assert _read_simple(f"a: x{char}y\n", 1) is None

"""Model cards: parse, validate and render MindSpore Hub card files.

A card is a Markdown file: a ``# title`` line, a YAML front-matter block
between the first two ``---`` lines, then a Markdown body kept as written.
Front-matter values are kept as the text written (``model-version: 1.10``
stays ``"1.10"``); ``<...>`` around a plain value is removed.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections import namedtuple
from pathlib import Path
from types import MappingProxyType

TYPE_CHECKING = False  # typing is imported only by type checkers: it costs a cache hit time
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping

from .errors import GhostHubError

# PyYAML is imported on first use (_yaml_types, _loader_class, _dumper_class): a cache
# hit reads cards from the registry's index and must not pay for importing it.

__all__ = [
    "Asset",
    "CardError",
    "CardWarning",
    "ModelCard",
    "FILE_FORMATS",
    "check_card_files",
    "REQUIRED_FIELDS",
    "load_card",
    "parse_card",
    "parse_metrics",
    "render_card",
    "is_safe_name",
]

MAX_CARD_BYTES = 1 << 20

# MindSpore Hub's validator requires these, and a registry needs model-name.
REQUIRED_FIELDS = (
    "model-name",
    "backbone-name",
    "module-type",
    "fine-tunable",
    "model-version",
    "author",
    "update-time",
    "repo-link",
    "user-id",
    "used-for",
    "mindspore-version",
    "license",
    "summary",
)
ASSET_FIELDS = ("file-format", "asset-link", "asset-sha256")
FILE_FORMATS = ("air", "ckpt", "onnx", "mindir", "mslite", "safetensors")
# Formats ghosthub can load into a network, in order of preference.
WEIGHT_FORMATS = ("ckpt", "safetensors")

_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_HEX = re.compile(r"[0-9a-fA-F]{8,64}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"'`{}|\\^#,\[\]]+")
_DELIMITER = re.compile(r"---[ \t]*")
_METRIC = re.compile(r"(?P<name>.*?)(?P<value>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)%?")

# Keys of the Chinese MindSpore Hub cards (written with a full-width colon).
_CHINESE_KEYS = {
    "模型名称": "model-name",
    "骨干网络": "backbone-name",
    "模块类型": "module-type",
    "可微调": "fine-tunable",
    "输入形状": "input-shape",
    "模型版本": "model-version",
    "训练数据集": "train-dataset",
    "准确率": "accuracy",
    "评估": "evaluation",
    "作者": "author",
    "更新时间": "update-time",
    "代码仓链接": "repo-link",
    "用户ID": "user-id",
    "用途": "used-for",
    "训练后端": "train-backend",
    "推理后端": "infer-backend",
    "MindSpore版本": "mindspore-version",
    "MindSpore Lite": "mindspore-lite",
    "资源": "asset",
    "文件格式": "file-format",
    "资源链接": "asset-link",
    "资源SHA256校验码": "asset-sha256",
    "许可证": "license",
    "摘要": "summary",
}


class CardError(GhostHubError, ValueError):
    """A card that cannot be read or does not follow the card format.

    The message names the file, the line, the field, what was expected and
    what was found; the same facts are attributes for programs.
    """

    def __init__(self, reason, *, path=None, line=None, field=None, expected=None, found=None):
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.expected = expected
        self.found = found
        where = self.path or "<card text>"
        if line is not None:
            where += f", line {line}"
        msg = f"{where}: {reason}"
        if field is not None:
            msg += f" [field {field!r}]"
        if expected is not None:
            msg += f"; expected {expected}"
        if found is not None:
            msg += f"; found {_shorten(found)}"
        super().__init__(msg)


class CardWarning(UserWarning):
    """A card was readable only after a repair, or a registry skipped a card."""


class Asset(namedtuple("Asset", "file_format link sha256 extra line", defaults=(MappingProxyType({}), None))):
    """One downloadable file of a card: file-format, asset-link, asset-sha256, other keys, its line."""

    __slots__ = ()


class FrontMatterView:
    """Readings of a card's front-matter (``self.fields``), shared by ModelCard and the registry's entries."""

    __slots__ = ()

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def name(self) -> str:
        return self.fields["model-name"]

    @property
    def backbone(self) -> str | None:
        return self.fields.get("backbone-name")

    @property
    def dataset(self) -> str | None:
        return self.fields.get("train-dataset")

    @property
    def fine_tunable(self) -> bool:
        return _bool(self.fields.get("fine-tunable", "false"))

    @property
    def metrics(self) -> dict[str, float]:
        """Figures from ``evaluation``: ``top1acc65.84 | top5acc86.60`` -> top1, top5."""
        value = self.fields.get("evaluation")
        return parse_metrics(value) if isinstance(value, str) else {}


class ModelCard(FrontMatterView):
    """A parsed model card.

    ``fields`` holds the front-matter as written (strings, lists and
    mappings of strings), in file order. ``body`` is the Markdown after the
    front-matter, byte for byte. ``path``, ``lines`` (field -> line number
    in the file) and ``warnings`` (repairs made while reading) describe where
    the card came from and take no part in equality. Cards are immutable:
    :meth:`replace` makes a changed copy.
    """

    # A plain class rather than a dataclass: importing dataclasses (and inspect
    # with it) would cost a cache hit more time than the hit itself.
    __slots__ = ("title", "fields", "body", "path", "lines", "warnings")
    __hash__ = None  # fields is a dict

    def __init__(
        self,
        title: str | None,
        fields: Mapping[str, Any],
        body: str = "",
        path: Path | None = None,
        lines: Mapping[str, int] | None = None,
        warnings: tuple[str, ...] = (),
    ):
        for name, value in zip(self.__slots__, (title, fields, body, path, {} if lines is None else lines, tuple(warnings))):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"a ModelCard is immutable: use card.replace({name}=...)")

    def __eq__(self, other):
        if not isinstance(other, ModelCard):
            return NotImplemented
        return (self.title, self.fields, self.body) == (other.title, other.fields, other.body)

    def __repr__(self) -> str:
        return f"ModelCard(title={self.title!r}, fields={self.fields!r}, body={_shorten(self.body, 60)!r}, path={self.path!r})"

    @property
    def assets(self) -> tuple[Asset, ...]:
        return tuple(_asset(item, self.lines.get(f"asset[{i}]")) for i, item in enumerate(self.fields.get("asset") or ()))

    def weights_asset(self, file_format: str | None = None) -> Asset:
        """The asset to load weights from: the first ckpt/safetensors one, or of ``file_format``."""
        wanted = (file_format,) if file_format else WEIGHT_FORMATS
        for asset in self.assets:
            if asset.file_format in wanted:
                return asset
        formats = ", ".join(a.file_format for a in self.assets) or "none"
        raise CardError(
            "the card has no asset to load weights from",
            path=self.path,
            line=self.lines.get("asset"),
            field="asset",
            expected="an asset with file-format " + " or ".join(wanted),
            found=f"file formats: {formats}",
        )

    def replace(self, **changes) -> "ModelCard":
        """A copy with some attributes or front-matter fields changed.

        Front-matter keys use their card spelling: ``card.replace(**{"model-name": "x"})``.
        """
        attrs = {name: getattr(self, name) for name in self.__slots__}
        attrs.update((k, v) for k, v in changes.items() if k in attrs)
        fields = {k: v for k, v in changes.items() if k not in attrs}
        if fields:
            attrs["fields"] = {**attrs["fields"], **fields}
        return ModelCard(**attrs)


def parse_metrics(evaluation: str) -> dict[str, float]:
    """Parse a MindSpore Hub ``evaluation`` string into named figures.

    Examples
    --------
    >>> parse_metrics("top1acc65.84 | top5acc86.60")
    {'top1': 65.84, 'top5': 86.6}
    >>> parse_metrics("-")
    {}
    """
    metrics: dict[str, float] = {}
    for part in evaluation.split("|"):
        match = _METRIC.fullmatch(part.strip())
        if not match:
            continue
        name = match["name"].rstrip(":= ")
        if name.lower().endswith("acc") and len(name) > 3:
            name = name[:-3]
        if name and name not in metrics:
            metrics[name] = float(match["value"])
    return metrics


def is_safe_name(name: object) -> bool:
    """True for a model name that is safe as a file name and a URL segment."""
    return isinstance(name, str) and bool(_SAFE_NAME.fullmatch(name)) and ".." not in name


# --------------------------------------------------------------------------- reading


def load_card(path: str | Path) -> ModelCard:
    """Read and validate the card file at ``path``; raise CardError if it is not one."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CARD_BYTES + 1)
    except OSError as exc:
        raise CardError(f"cannot read the card file ({exc.strerror or exc})", path=path) from None
    return parse_card(data, path=path)


def parse_card(text: str | bytes, path: str | Path | None = None) -> ModelCard:
    """Parse and validate card text; raise CardError for anything that is not a valid card.

    Repairs that keep an unambiguous intent (values containing ``: ``, a bare
    ``-`` value, full-width ``：`` keys) are made and reported as CardWarning.

    Examples
    --------
    >>> card = parse_card(open("cards/ghostnet_050.md").read())  # doctest: +SKIP
    >>> card.name, card.metrics
    ('ghostnet_050', {'top1': 65.84, 'top5': 86.6})
    """
    card = _read(text, Path(path) if path is not None else None)
    validate(card)
    if card.warnings:  # one warning per card; card.warnings lists every repair
        shown = "; ".join(card.warnings[:3]) + (f"; and {len(card.warnings) - 3} more" if len(card.warnings) > 3 else "")
        warnings.warn(f"{path or '<card text>'}: read after repairing {len(card.warnings)} line(s): {shown}", CardWarning, stacklevel=2)
    return card


def check_card_files(folder: str | Path) -> list[CardError]:
    """Every problem of every card (``*.md``, hidden folders skipped) under ``folder``.

    Unlike :func:`load_card`, which stops at the first, this reports all the
    rules each readable card breaks, and model names used by two cards.

    Examples
    --------
    >>> check_card_files("cards")  # doctest: +SKIP
    []
    """
    folder = Path(folder)
    if not folder.is_dir():
        return [CardError("not a folder of cards", path=folder)]
    problems: list[CardError] = []
    owners: dict[str, Path] = {}
    files = sorted(p for p in folder.rglob("*.md") if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in files:
        try:
            with open(path, "rb") as f:
                card = _read(f.read(MAX_CARD_BYTES + 1), path)
        except OSError as exc:
            problems.append(CardError(f"cannot read the card file ({exc.strerror or exc})", path=path))
            continue
        except CardError as exc:
            problems.append(exc)
            continue
        problems += iter_errors(card)
        name = card.fields.get("model-name")
        if isinstance(name, str) and name in owners:
            problems.append(
                CardError("model-name is used by another card", path=path, line=card.lines.get("model-name"), field="model-name", found=f"{name!r}, also in {owners[name]}")
            )
        elif isinstance(name, str):
            owners[name] = path
    return problems


def _read(text: str | bytes, path: Path | None) -> ModelCard:
    """The card in ``text``, read but not validated; CardError if it cannot be read at all."""
    text = _decode(text, path)
    title, front, first_line, body = _split(text, path)
    fields, lines, repairs = _read_front_matter(front, first_line, path)
    return ModelCard(title=title, fields=fields, body=body, path=path, lines=lines, warnings=tuple(repairs))


def _decode(text: str | bytes, path: Path | None) -> str:
    if isinstance(text, bytes):
        if len(text) > MAX_CARD_BYTES:
            raise CardError("card file is too large", path=path, expected=f"at most {MAX_CARD_BYTES} bytes", found=f"{len(text)}+ bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            raise CardError("card is not valid UTF-8 text", path=path, line=line, found=f"byte {text[exc.start]:#04x} at offset {exc.start}") from None
    elif len(text) > MAX_CARD_BYTES:
        raise CardError("card text is too large", path=path, expected=f"at most {MAX_CARD_BYTES} characters", found=f"{len(text)} characters")
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise CardError("card contains NUL bytes (binary file?)", path=path, line=line)
    return text.removeprefix("\ufeff")


def _split(text: str, path: Path | None) -> tuple[str | None, str, int, str]:
    """Split card text into title, front-matter text, its first line number and body."""
    lines = text.splitlines(keepends=True)
    delimiters = []
    for i, line in enumerate(lines):
        if line.startswith("---") and _DELIMITER.fullmatch(line.rstrip("\r\n")):
            delimiters.append(i)
            if len(delimiters) == 2:
                break
    if not delimiters:
        raise CardError("no front-matter", path=path, expected="a YAML block between two '---' lines", found="no '---' line")
    if len(delimiters) < 2:
        raise CardError(
            "front-matter is not closed", path=path, line=delimiters[0] + 1, expected="a second '---' line", found="only one"
        )
    start, end = delimiters
    title = None
    for number, line in enumerate(lines[:start], 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#") and title is None:
            title = stripped.lstrip("#").strip()
            continue
        raise CardError(
            "unexpected text before the front-matter",
            path=path,
            line=number,
            expected="only a '# title' line before the first '---'",
            found=stripped,
        )
    body_offset = sum(map(len, lines[: end + 1]))
    return title, "".join(lines[start + 1 : end]), start + 2, text[body_offset:]


def _read_front_matter(front: str, first_line: int, path: Path | None):
    """The front-matter as (fields, lines, repairs); repairs only when plain YAML fails."""
    simple = _read_simple(front, first_line)
    if simple is not None:
        return (*simple, [])
    try:
        return (*_load_mapping(front, first_line, path), [])
    except CardError as exc:
        first_error = exc
    repaired, repairs = _repair(front, first_line)
    if not repairs:
        raise first_error
    fields, lines = _load_mapping(repaired, first_line, path)
    return fields, lines, repairs


# ---------------------------------------------------------------------------- the common case, without YAML
#
# Almost every card is flat "key: value" lines plus one "- key: value" list of assets, all
# plain text. For exactly that shape the YAML reading is known, and reading it by hand is
# about ten times faster: it makes the first listing of a large card folder quick. Anything
# else (quotes, flow collections, comments, other indentation, a character YAML treats
# specially) returns None and goes to YAML. tests/test_card.py checks both give the same.

_SIMPLE_KEY = r"[A-Za-z0-9_][A-Za-z0-9_.+-]*"
_TOP_LINE = re.compile(rf"({_SIMPLE_KEY}):(?: +(.*))?")
_ITEM_LINE = re.compile(rf"(- | +)({_SIMPLE_KEY}): +(.*)")
# Characters YAML reads other than as plain text somewhere (the complement of YAML's printable set,
# plus tab and `#`); a front-matter holding any is left to YAML. Listed rather than negated: compiling
# the negated form costs 4 ms, a tenth of a cache hit.
_NOT_SIMPLE = re.compile(r"[\x00-\x09\x0b-\x1f#\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_PLAIN_START = "-?:,[]{}#&*!|>'\"%@`"


def _simple_value(text: str | None) -> str | None:
    """The value of a plain scalar written on one line, or None if YAML might read it otherwise."""
    if not text:
        return None
    value = text.rstrip(" ")
    if value[0] in _PLAIN_START or ": " in value or value.endswith(":"):
        return None
    if len(value) > 1 and value[0] == "<" and value[-1] == ">":
        value = value[1:-1]
    return value


def _read_simple(front: str, first_line: int):
    """(fields, lines) of a front-matter in the common flat shape, or None to leave it to YAML.

    The shape: ``key: value`` lines at column 0, and under a key with no value a list of
    mappings written ``- key: value`` / ``  key: value`` or ``-`` / ``    key: value``.
    """
    if _NOT_SIMPLE.search(front):
        return None
    fields: dict[str, Any] = {}
    lines: dict[str, int] = {}
    list_key = items = item = indent = None
    for number, row in enumerate(front.split("\n"), first_line):
        if not row.strip(" "):
            continue
        if row[0] not in " -":  # a top-level key
            match = _TOP_LINE.fullmatch(row)
            if not match or match[1] in fields or item == {}:
                return None
            key, raw = match[1], match[2]
            lines[key] = number
            list_key = items = item = None
            if raw is None or not raw.strip(" "):
                fields[key], list_key = "", key  # a list if items follow, else empty text
                continue
            if (value := _simple_value(raw)) is None:
                return None
            fields[key] = value
            continue
        if list_key is None:
            return None
        if row.rstrip(" ") == "-" or row.startswith("- "):  # a new item
            if item == {}:
                return None
            if items is None:
                items = fields[list_key] = []
            item = {}
            items.append(item)
            if row.rstrip(" ") == "-":
                indent = None  # set by the item's first key line
                continue
            indent = 2
        match = _ITEM_LINE.fullmatch(row)
        if not match or item is None:
            return None
        lead, key = match[1], match[2]
        if lead != "- ":
            indent = indent or len(lead)
            if len(lead) != indent:
                return None
        if not item and list_key == "asset":  # YAML places an item where its first key is
            lines[f"asset[{len(items) - 1}]"] = number
        if key in item or (value := _simple_value(match[3])) is None:
            return None
        item[key] = value
    return (fields, lines) if fields and item != {} else None


_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{t}" for t in ("str", "seq", "map"))


@functools.lru_cache(maxsize=None)
def _default_tags() -> dict:
    """Node kind -> the tag a node without an explicit one gets."""
    import yaml

    return {yaml.ScalarNode: _STR, yaml.SequenceNode: _SEQ, yaml.MappingNode: _MAP}


@functools.lru_cache(maxsize=None)
def _loader_class():
    import yaml

    default_tags = _default_tags()

    class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        """The safe loader with implicit typing off: every scalar stays the text written."""

        yaml_implicit_resolvers: dict = {}

        # With no implicit or path resolvers, a node without an explicit tag gets its kind's default tag.
        def resolve(self, kind, value, implicit):
            return default_tags[kind]

        def descend_resolver(self, current_node, current_index):
            pass

        def ascend_resolver(self):
            pass

    return _Loader


def _load_mapping(front: str, first_line: int, path: Path | None):
    import yaml

    loader = _loader_class()(front)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + mark.line if mark else None
        raise CardError(f"front-matter is not valid YAML: {exc.problem or exc.context}", path=path, line=line) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise CardError(f"front-matter is not valid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()
    if node is None or not isinstance(node, yaml.MappingNode):
        kind = "nothing" if node is None else type(node).__name__.replace("Node", "").lower()
        line = first_line + node.start_mark.line if node is not None else first_line
        raise CardError("front-matter is not a mapping", path=path, line=line, expected="'key: value' lines", found=kind)
    builder = _Builder(first_line, path)
    try:
        fields = builder.build(node, top=True)
    except RecursionError:
        raise CardError("front-matter is nested too deeply", path=path) from None
    return fields, builder.lines


class _Builder:
    """Turn a YAML node tree into plain str/list/dict values, refusing aliases and tags."""

    def __init__(self, first_line: int, path: Path | None):
        self.first_line = first_line
        self.path = path
        self.lines: dict[str, int] = {}
        self._seen: set[int] = set()

    def _line(self, node) -> int:
        return self.first_line + node.start_mark.line

    def build(self, node, top=False, key=None):
        import yaml

        seen = len(self._seen)
        self._seen.add(id(node))
        if len(self._seen) == seen:  # a node met twice is an alias: no card needs one
            raise CardError("YAML aliases are not allowed in cards", path=self.path, line=self._line(node), field=key)
        kind = type(node)
        if node.tag != _default_tags().get(kind):
            raise CardError(
                "YAML tags are not allowed in cards", path=self.path, line=self._line(node), field=key, found=node.tag
            )
        if kind is yaml.ScalarNode:
            value = node.value
            # MindSpore Hub writes URLs as <https://...>; only plain scalars are unwrapped,
            # so a quoted "<x>" keeps its brackets.
            if not node.style and len(value) > 1 and value[0] == "<" and value[-1] == ">":
                value = value[1:-1]
            return value
        if kind is yaml.SequenceNode:
            if key == "asset":
                for i, child in enumerate(node.value):
                    self.lines.setdefault(f"asset[{i}]", self._line(child))
            return [self.build(child, key=key) for child in node.value]
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode or key_node.tag != _STR:
                raise CardError("keys must be plain text", path=self.path, line=self._line(key_node), field=key)
            name = key_node.value
            if name in mapping:
                raise CardError(
                    "duplicate key", path=self.path, line=self._line(key_node), field=name, expected="each key once"
                )
            if top:
                self.lines[name] = self._line(key_node)
            mapping[name] = self.build(value_node, key=name if top else key)
        return mapping


# --------------------------------------------------------------------------- repairs

# Patterns, compiled by re's own cache on the first repair: most processes never repair a card.
_KEY_VALUE = r"(?P<lead>\s*(?:-\s+)?)(?P<key>[^\s:#\-][^:]*?)\s*:(?:\s+(?P<value>.*?))?\s*"
_FULL_WIDTH = r"(?P<lead>\s*(?:-\s+)?)(?P<key>[^:：#\s][^:：]*?)\s*：\s*(?P<value>.*?)\s*"


def _repair(front: str, first_line: int) -> tuple[str, list[str]]:
    """Rewrite lines plain YAML misreads but a person reads one way; return the text and what changed."""
    out, repairs = [], []
    for number, line in enumerate(front.splitlines(), first_line):
        fixed, why = _repair_line(line)
        if why:
            repairs.append(f"line {number}: {why}")
        out.append(fixed)
    return "\n".join(out) + "\n", repairs


def _repair_line(line: str) -> tuple[str, str | None]:
    whys = []
    match = re.fullmatch(_FULL_WIDTH, line)
    if match and ":" not in match["key"]:
        key = _CHINESE_KEYS.get(match["key"], match["key"])
        value = match["value"]
        whys.append(f"read full-width '：' after {match['key']!r} as {key!r}")
        if key == "file-format" and value.startswith("."):
            whys.append(f"read file-format {value!r} as {value[1:]!r}")
            value = value[1:]
        line = f"{match['lead']}{key}: {value}".rstrip()
    match = re.fullmatch(_KEY_VALUE, line)
    if match and match["value"]:
        value = match["value"]
        if value == "-":
            whys.append(f"read bare '-' value of {match['key']!r} as text")
            line = f"{match['lead']}{match['key']}: '-'"
        elif value[0] not in "'\"[{|>&*!" and (": " in value or value.endswith(":")):
            whys.append(f"quoted value of {match['key']!r} that contains ': '")
            line = f"{match['lead']}{match['key']}: '" + value.replace("'", "''") + "'"
    return line, "; ".join(whys) or None


# --------------------------------------------------------------------------- validation


def validate(card: ModelCard) -> None:
    """Raise CardError for the first rule of the card format that ``card`` breaks."""
    errors = list(iter_errors(card))
    if errors:
        raise errors[0]


def iter_errors(card: ModelCard) -> Iterable[CardError]:
    """Every rule of the card format that ``card`` breaks, as CardErrors, in file order."""
    fields, lines, path = card.fields, card.lines, card.path

    def error(reason, key, **kw):
        return CardError(reason, path=path, line=lines.get(key), field=key, **kw)

    for key in REQUIRED_FIELDS:
        value = fields.get(key)
        if key not in fields:
            yield error("missing required field", key, expected="a value")
        elif not isinstance(value, str) or not value.strip():
            yield error("field must be non-empty text", key, expected="text", found=_describe(value))
    name = fields.get("model-name")
    if isinstance(name, str) and name.strip() and not is_safe_name(name):
        yield error(
            "model-name is not a safe name",
            "model-name",
            expected="letters, digits, '.', '_', '+', '-' (no '..', spaces or slashes), at most 128",
            found=repr(name),
        )
    tunable = fields.get("fine-tunable")
    if isinstance(tunable, str) and tunable.strip() and tunable.strip().lower() not in _TRUE | _FALSE:
        yield error("fine-tunable must be a boolean", "fine-tunable", expected="True or False", found=tunable)
    if "asset" in fields:
        yield from _asset_errors(card, error)


def _asset_errors(card, error):
    assets = card.fields["asset"]
    if assets == "":  # `asset:` with nothing under it: no assets
        return
    if not isinstance(assets, list):
        yield error("asset must be a list", "asset", expected="a '- file-format: ...' list", found=_describe(assets))
        return
    for i, item in enumerate(assets):
        where = dict(path=card.path, line=card.lines.get(f"asset[{i}]", card.lines.get("asset")))
        if not isinstance(item, dict):
            yield CardError(f"asset {i + 1} must be a mapping", field="asset", expected="file-format, asset-link, asset-sha256", found=_describe(item), **where)
            continue
        for key in ASSET_FIELDS:
            if not isinstance(item.get(key), str) or not item[key].strip():
                yield CardError(f"asset {i + 1} lacks {key}", field=key, expected="text", found=_describe(item.get(key)), **where)
        digest = item.get("asset-sha256")
        if isinstance(digest, str) and digest.strip() and not _HEX.fullmatch(digest):
            yield CardError(
                f"asset {i + 1} has a bad asset-sha256",
                field="asset-sha256",
                expected="8 to 64 hexadecimal digits (a prefix of the file's SHA-256)",
                found=digest,
                **where,
            )
        fmt = item.get("file-format")
        if isinstance(fmt, str) and fmt.strip() and fmt not in FILE_FORMATS:
            yield CardError(f"asset {i + 1} has an unknown file-format", field="file-format", expected=" ".join(FILE_FORMATS), found=fmt, **where)


def _asset(item: Mapping[str, Any], line: int | None) -> Asset:
    extra = {k: v for k, v in item.items() if k not in ASSET_FIELDS}
    return Asset(item["file-format"], item["asset-link"], item["asset-sha256"], extra, line)


def _bool(value: str) -> bool:
    return value.strip().lower() in _TRUE


def _describe(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value) if value.strip() else "an empty value"
    return f"a {'list' if isinstance(value, list) else 'mapping'}"


def _shorten(value, limit=120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- rendering


@functools.lru_cache(maxsize=None)
def _dumper_class():
    import yaml

    class _Dumper(yaml.SafeDumper):
        """Emit strings plain wherever the emitter allows, since nothing is typed on reading."""

        yaml_implicit_resolvers: dict = {}

    _Dumper.add_representer(str, _represent_str)
    return _Dumper


def _represent_str(dumper, value: str):
    if _URL.fullmatch(value):
        return dumper.represent_scalar(_STR, f"<{value}>", style=None)
    # A plain "<x>" would lose its brackets on reading, and line breaks or surrounding
    # spaces would be folded; double quotes escape all of these.
    quote = (value.startswith("<") and value.endswith(">")) or value != value.strip() or not value.isprintable()
    return dumper.represent_scalar(_STR, value, style='"' if quote else None)


def _dump(value) -> str:
    import yaml

    return yaml.dump(value, Dumper=_dumper_class(), allow_unicode=True, sort_keys=False, width=1 << 30, default_flow_style=False)


def render_card(card: ModelCard) -> str:
    """Render a card as text in the MindSpore Hub format: title, front-matter, body.

    ``parse_card(render_card(card)) == card`` for every valid card.
    """
    parts = [f"# {card.title}\n\n" if card.title else "", "---\n\n"]
    for key, value in card.fields.items():
        text = _dump({key: value})
        if isinstance(value, list) and value:  # the seed puts a blank line before a block list
            head, rest = text.split("\n", 1)
            text = f"{head}\n\n{rest}"
        parts.append(text + "\n")
    parts.append("---\n")
    return "".join(parts) + card.body

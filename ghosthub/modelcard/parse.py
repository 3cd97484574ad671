"""Reading card files: split title, front-matter and body; read the front-matter fast or with YAML.

A card is a Markdown file: a ``# title`` line, a YAML front-matter block
between the first two ``---`` lines, then a Markdown body kept as written.
Front-matter values are kept as the text written (``model-version: 1.10``
stays ``"1.10"``); ``<...>`` around a plain value is removed.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._utils.walk import walk_files
from .._utils.warn import warn
from ..errors import CardError, CardWarning
from ._yaml import load_mapping as _load_mapping
from .model import MAX_CARD_BYTES, ModelCard
from .repair import repair as _repair
from .validate import iter_errors, validate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["load_card", "parse_card", "check_card_files"]

_DELIMITER = re.compile(r"---[ \t]*")

# --------------------------------------------------------------------------- reading


def load_card(path: str | Path) -> ModelCard:
    """Read and validate the card file at ``path``; raise CardError if it is not one.

    A relative path that does not exist here, ``cards/<name>.md`` or ``<name>.md``,
    is looked up among the cards shipped with ghosthub: the README's
    ``load_card("cards/ghostnet_050.md")`` works in an installed ghosthub as in a checkout.

    Examples
    --------
    >>> load_card("cards/ghostnet_050.md").name
    'ghostnet_050'
    """
    path = _bundled_fallback(Path(path))
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CARD_BYTES + 1)
    except OSError as exc:
        raise CardError(f"cannot read the card file ({exc.strerror or exc})", path=path) from None
    return parse_card(data, path=path)


def _bundled_fallback(path: Path) -> Path:
    if path.is_absolute() or path.exists() or path.suffix != ".md" or path.parts[:-1] not in ((), ("cards",)):
        return path
    from ..config import bundled_cards_dir

    bundled = bundled_cards_dir() / path.name
    return bundled if bundled.is_file() else path


def parse_card(text: str | bytes, path: str | Path | None = None) -> ModelCard:
    """Parse and validate card text; raise CardError for anything that is not a valid card.

    Repairs that keep an unambiguous intent (values containing ``: ``, a bare
    ``-`` value, full-width ``：`` keys) are made and reported as CardWarning.

    Examples
    --------
    >>> from ghosthub.config import bundled_cards_dir
    >>> card = parse_card((bundled_cards_dir() / "ghostnet_050.md").read_bytes())
    >>> card.name, card.metrics
    ('ghostnet_050', {'top1': 65.84, 'top5': 86.6})
    """
    card = _read(text, Path(path) if path is not None else None)
    validate(card)
    if card.warnings:  # one warning per card; card.warnings lists every repair
        shown = "; ".join(card.warnings[:3]) + (
            f"; and {len(card.warnings) - 3} more" if len(card.warnings) > 3 else ""
        )
        warn(f"{path or '<card text>'}: read after repairing {len(card.warnings)} line(s): {shown}", CardWarning)
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
    loops: list[str] = []
    files = sorted(Path(p) for p, _ in walk_files(folder, ".md", on_loop=loops.append))
    if loops:
        warn(f"skipped {', '.join(loops[:3])} in {folder}: a link to a folder already read (a loop)", CardWarning)
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
                CardError(
                    "model-name is used by another card",
                    path=path,
                    line=card.lines.get("model-name"),
                    field="model-name",
                    found=f"{name!r}, also in {owners[name]}",
                )
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
            raise CardError(
                "card file is too large",
                path=path,
                expected=f"at most {MAX_CARD_BYTES} bytes",
                found=f"{len(text)}+ bytes",
            )
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            raise CardError(
                "card is not valid UTF-8 text",
                path=path,
                line=line,
                found=f"byte {text[exc.start]:#04x} at offset {exc.start}",
            ) from None
    elif len(text) > MAX_CARD_BYTES:
        raise CardError(
            "card text is too large",
            path=path,
            expected=f"at most {MAX_CARD_BYTES} characters",
            found=f"{len(text)} characters",
        )
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
        raise CardError(
            "no front-matter", path=path, expected="a YAML block between two '---' lines", found="no '---' line"
        )
    if len(delimiters) < 2:
        raise CardError(
            "front-matter is not closed",
            path=path,
            line=delimiters[0] + 1,
            expected="a second '---' line",
            found="only one",
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
# specially) returns None and goes to YAML. tests/modelcard/test_modelcard.py checks both give the same.

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

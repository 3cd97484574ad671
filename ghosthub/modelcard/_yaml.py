"""YAML for cards: a safe loader that keeps every scalar as the text written, and the dumper that renders cards.

PyYAML is imported on first use: a cache hit reads cards from the registry's index
and must not pay for importing it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ..errors import CardError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{t}" for t in ("str", "seq", "map"))
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"'`{}|\\^#,\[\]]+")


@functools.cache
def _default_tags() -> dict:
    """Node kind -> the tag a node without an explicit one gets."""
    import yaml

    return {yaml.ScalarNode: _STR, yaml.SequenceNode: _SEQ, yaml.MappingNode: _MAP}


@functools.cache
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


def load_mapping(front: str, first_line: int, path: Path | None):
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
        raise CardError(
            "front-matter is not a mapping", path=path, line=line, expected="'key: value' lines", found=kind
        )
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


# --------------------------------------------------------------------------- rendering


@functools.cache
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


def dump(value) -> str:
    import yaml

    return yaml.dump(
        value, Dumper=_dumper_class(), allow_unicode=True, sort_keys=False, width=1 << 30, default_flow_style=False
    )

"""Checks of recipe values: each returns the cleaned value or raises :class:`Bad` naming what it wanted.

Every check is bounded: a recipe can come from a card of a remote hub (``ghosthub rebuild``
retrains from it), so no value may ask for unbounded work, memory or processes. The bounds
are wide enough for every published MindCV recipe and far below what would exhaust a machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..data.augment import parse_auto_augment
from ..naming import split_name

__all__ = [
    "Bad",
    "auto_augment",
    "boolean",
    "channels",
    "choice",
    "cpu_isa",
    "integer",
    "model_name",
    "number",
    "optional",
    "pair",
    "pretrained",
    "re_value",
    "subfolder",
    "text",
]

MAX_TEXT = 1024  # characters of a free-text value (a dataset name, a path)


class Bad(Exception):
    """A value a check refused; ``expected`` says what it wanted."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def _finite(value: Any) -> float:
    # PyYAML reads "1e-7" (no dot) as a string; accept any text float() reads as a number.
    if isinstance(value, bool):
        raise Bad("a number")
    if isinstance(value, str):
        try:
            value = float(value) if len(value) <= 64 else None  # no number needs more characters
        except ValueError:
            raise Bad("a number") from None
    if isinstance(value, int):
        value = float(value) if abs(value) < 1 << 64 else math.inf
    if not isinstance(value, float) or not math.isfinite(value):
        raise Bad("a finite number")
    return value


def number(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[Any], float]:
    """A number in ``[lo, hi]`` (``lo_open``/``hi_open``: the end excluded).

    Examples
    --------
    >>> number(0, 1, lo_open=True)(0.5)
    0.5
    >>> number(0, 10)("1e-7")
    1e-07
    """
    expected = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def check(value: Any) -> float:
        try:
            x = _finite(value)
        except Bad:
            raise Bad(expected) from None
        if x < lo or (lo_open and x == lo) or x > hi or (hi_open and x == hi):
            raise Bad(expected)
        return x

    return check


def integer(lo: int, hi: int) -> Callable[[Any], int]:
    """An integer in ``[lo, hi]`` (a float such as ``1e9`` or ``2.0`` is not an integer).

    Examples
    --------
    >>> integer(1, 10_000)(600)
    600
    """
    expected = f"an integer in [{lo}, {hi}]"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise Bad(expected)
        return value

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Bad("true or false")
    return value


def choice(*choices: str) -> Callable[[Any], str]:
    """One of ``choices``, in any case; returned as spelled in ``choices``."""
    canonical = {c.lower(): c for c in choices}

    def check(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in canonical:
            raise Bad("one of " + ", ".join(choices))
        return canonical[value.lower()]

    return check


def text(value: Any) -> str:
    """Non-empty text of at most :data:`MAX_TEXT` characters, stripped."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise Bad(f"a non-empty string of at most {MAX_TEXT} characters")
    return value.strip()


def subfolder(value: Any) -> str:
    """A relative folder inside the data dir (``train``, ``images/train``): never absolute, never ``..``."""
    expected = f"a folder inside the data dir (relative, no '..', at most {MAX_TEXT} characters)"
    try:
        value = text(value)
    except Bad:
        raise Bad(expected) from None
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or ":" in value or ".." in parts or "" in parts:
        raise Bad(expected)
    return value


def optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check``, or None for a null value."""

    def optional(value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(value)
        except Bad as bad:
            raise Bad(f"{bad.expected} or null") from None

    return optional


def pair(lo: float, hi: float) -> Callable[[Any], tuple[float, float]]:
    """Two numbers ``[low, high]``, each in ``[lo, hi]``, with ``low <= high``."""
    expected = f"a list of two numbers [low, high] with low <= high, each in [{lo:g}, {hi:g}]"
    each = number(lo, hi)

    def check(value: Any) -> tuple[float, float]:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise Bad(expected)
        try:
            a, b = (each(v) for v in value)
        except Bad:
            raise Bad(expected) from None
        if a > b:
            raise Bad(expected)
        return a, b

    return check


def channels(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[Any], tuple[float, float, float]]:
    """Three numbers (R, G, B on the 0-255 scale), each within the bounds."""
    each = number(lo, hi, lo_open=lo_open)
    expected = f"a list of 3 numbers (R, G, B on the 0-255 scale), each in {'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def check(value: Any) -> tuple[float, float, float]:
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            raise Bad(expected)
        try:
            return tuple(each(v) for v in value)  # type: ignore[return-value]
        except Bad:
            raise Bad(expected) from None

    return check


def model_name(value: Any) -> str:
    expected = "a model name such as ghostnet_050 (backbone, then _ and the width in hundredths)"
    if not isinstance(value, str) or len(value) > 128:
        raise Bad(expected)
    try:
        split_name(value)
    except (AttributeError, ValueError):
        raise Bad(expected) from None
    return value.strip().lower()


def auto_augment(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError(value)
        parse_auto_augment(value)
    except ValueError:
        raise Bad("null, 'randaug-m<M>[-n<N>][-mstd<S>]', 'autoaug' or 'trivialaugwide'") from None
    return value


def re_value(value: Any) -> float | str:
    if value == "random":
        return value
    try:
        return number(0, 255)(value)
    except Bad:
        raise Bad("a fill value in [0, 255] or 'random'") from None


def pretrained(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    try:
        return model_name(value)
    except Bad:
        raise Bad("true (the recipe's model from the hub), false, or a model name such as ghostnet_050") from None


def cpu_isa(value: Any) -> str:
    from ..runtime.isa import ISA_NAMES

    names = sorted(ISA_NAMES)
    if not isinstance(value, str) or value.strip().lower() not in names:
        raise Bad("one of " + ", ".join(names))
    return value.strip().lower()

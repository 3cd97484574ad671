"""Training curves as inline SVG: loss and accuracy per epoch from a card's training record, drawn deterministically.

The record's ``history`` (written by ``ghosthub train``, see
:mod:`ghosthub.training.provenance`) lists one entry per epoch. Only finite numbers are
drawn; anything else in a record (strings, nesting, NaN) is left out, never trusted. The
same history gives the same bytes: coordinates are rounded, and no time or random id is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .shell import esc

__all__ = ["CHARTS", "curves_svg", "series_of"]

# chart title -> (history key, legend label) of each line drawn in it
CHARTS = {
    "Loss": (("train_loss", "train loss"), ("val_loss", "val loss")),
    "Accuracy (%)": (("val_top1", "val top-1"), ("val_top5", "val top-5")),
}
MAX_EPOCHS = 10_000  # a longer record is cut: a page stays small whatever a card holds
_W, _H = 420, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 14, 34, 34


def series_of(history: Any) -> dict[str, list[tuple[int, float]]]:
    """``{key: [(epoch, value), ...]}`` for each key of :data:`CHARTS` the history has finite numbers for.

    Examples
    --------
    >>> series_of([{"epoch": 1, "train_loss": 2.5}, {"epoch": 2, "train_loss": "x"}, {"epoch": 3, "train_loss": 1.0}])
    {'train_loss': [(1, 2.5), (3, 1.0)]}
    """
    found: dict[str, list[tuple[int, float]]] = {}
    if not isinstance(history, Sequence) or isinstance(history, (str, bytes)):
        return found
    keys = [key for lines in CHARTS.values() for key, _ in lines]
    for item in history[:MAX_EPOCHS]:
        epoch = item.get("epoch") if isinstance(item, Mapping) else None
        if not _is_number(epoch) or epoch != int(epoch):
            continue
        for key in keys:
            value = item.get(key)
            if _is_number(value):
                found.setdefault(key, []).append((int(epoch), float(value)))
    return found


def curves_svg(history: Any) -> str:
    """HTML of the charts for a training ``history`` ('' when it has nothing to draw)."""
    series = series_of(history)
    charts = []
    for title, lines in CHARTS.items():
        drawn = [(i, label, series[key]) for i, (key, label) in enumerate(lines) if series.get(key)]
        if drawn:
            charts.append(_chart(title, drawn))
    return f'<div class="curves">{"".join(charts)}</div>' if charts else ""


def _chart(title: str, drawn: list[tuple[int, str, list[tuple[int, float]]]]) -> str:
    xs = [x for _, _, points in drawn for x, _ in points]
    ys = [y for _, _, points in drawn for _, y in points]
    x_ticks = _ticks(min(xs), max(xs), integers=True)
    y_ticks = _ticks(min(ys), max(ys))
    x_lo, x_hi = x_ticks[0], x_ticks[-1]
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    def px(x: float) -> float:
        return _LEFT + (x - x_lo) / ((x_hi - x_lo) or 1) * (_W - _LEFT - _RIGHT)

    def py(y: float) -> float:
        return _H - _BOTTOM - (y - y_lo) / ((y_hi - y_lo) or 1) * (_H - _TOP - _BOTTOM)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'role="img" aria-label="{esc(title)} per epoch"><title>{esc(title)} per epoch</title>',
        f'<text x="{_LEFT}" y="14" font-weight="600">{esc(title)}</text>',
    ]
    for y in y_ticks:
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_f(py(y))}" y2="{_f(py(y))}"/>'
            f'<text x="{_LEFT - 6}" y="{_f(py(y) + 4)}" text-anchor="end">{_label(y)}</text>'
        )
    for x in x_ticks:
        parts.append(f'<text x="{_f(px(x))}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{_label(x)}</text>')
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_H - _BOTTOM}" y2="{_H - _BOTTOM}"/>'
        f'<text x="{(_LEFT + _W - _RIGHT) // 2}" y="{_H - 4}" text-anchor="middle">epoch</text>'
    )
    legend_x = _LEFT + 150
    for i, label, points in drawn:
        coords = " ".join(f"{_f(px(x))},{_f(py(y))}" for x, y in points)
        parts.append(f'<polyline class="s{i}" points="{coords}"/>')
        if len(points) <= 60:  # dots show single epochs; on a long run they would only blur the line
            parts.extend(f'<circle class="p{i}" cx="{_f(px(x))}" cy="{_f(py(y))}" r="2.5"/>' for x, y in points)
        parts.append(
            f'<line class="s{i}" x1="{legend_x}" x2="{legend_x + 18}" y1="10" y2="10"/>'
            f'<text x="{legend_x + 22}" y="14">{esc(label)}</text>'
        )
        legend_x += 30 + 7 * len(label)
    parts.append("</svg>")
    return "".join(parts)


def _ticks(lo: float, hi: float, *, integers: bool = False, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) from at or below ``lo`` to at or above ``hi``."""
    if hi <= lo:
        lo, hi = (lo - 1, hi + 1) if integers or lo == 0 else (lo - abs(lo) / 10, hi + abs(hi) / 10)
    raw = (hi - lo) / count
    if not math.isfinite(raw) or raw < 1e-300:  # a range no tick step can cut: its ends only
        return [lo, hi]
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integers:
        step = max(1, round(step))
    first = math.floor(lo / step) * step
    ticks = [first]
    while ticks[-1] < hi - step * 1e-9 and len(ticks) <= 2 * count:
        ticks.append(first + len(ticks) * step)
    return [round(t, 12) for t in ticks]


def _label(value: float) -> str:
    return f"{value:g}"


def _f(value: float) -> str:
    """A coordinate: one decimal, no '-0.0', so the same history gives the same bytes."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

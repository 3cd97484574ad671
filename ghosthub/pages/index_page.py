"""``index.html``: every model of a hub in one table, sortable and filterable in the page, drawn from index.json alone.

Reading no card keeps it cheap: a 1,000-model hub's table is redrawn in milliseconds on
every commit. What it shows beyond the format's required fields (update time, base model,
parameters) is what :func:`ghosthub.hub.index.model_entry` copies from each card; an entry
written before those were copied shows "-".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .._utils.units import size
from .shell import esc, frame

__all__ = ["INDEX_PAGE", "MODELS", "model_page_path", "render_index_page"]

INDEX_PAGE = "index.html"
MODELS = "models"
# header, sort type ("num" sorts by the cell's data-v)
_COLUMNS = (
    ("Model", "text"),
    ("Architecture", "text"),
    ("Dataset", "text"),
    ("Top-1 (%)", "num"),
    ("Top-5 (%)", "num"),
    ("Parameters", "num"),
    ("Size", "num"),
    ("SHA-256", "text"),
    ("Updated", "text"),
    ("Base model", "text"),
)


def model_page_path(name: str) -> str:
    """Where the page of model ``name`` lives in the hub: ``models/<name>.html``.

    Examples
    --------
    >>> model_page_path("ghostnet_050.85b91860")
    'models/ghostnet_050.85b91860.html'
    """
    return f"{MODELS}/{name}.html"


def render_index_page(models: Mapping[str, Any], *, title: str = "ghosthub") -> bytes:
    """The bytes of ``index.html`` for a hub whose index lists ``models``.

    Parameters
    ----------
    models : mapping
        The index's ``models``: name -> entry (figures, files, and the page fields).
    title : str
        The page's heading.

    Returns
    -------
    bytes
        The whole page: one table row per model, in name order.

    Examples
    --------
    >>> page = render_index_page({"a": {"backbone": "ghostnet", "metrics": {"top1": 70.5}}})
    >>> b'href="models/a.html"' in page and b">70.50<" in page
    True
    """
    names = sorted(models)
    heads = "".join(
        f'<th scope="col" data-type="{kind}"><button type="button">{esc(label)}</button></th>'
        for label, kind in _COLUMNS
    )
    rows = "\n".join(_row(name, models[name], models) for name in names)
    body = (
        f"<h1>{esc(title)}</h1>"
        f'<p class="muted">{len(names)} model{"" if len(names) == 1 else "s"} in this hub. '
        'The machine-readable list is <a href="index.json">index.json</a>; each model links to its page.</p>'
        '<div class="bar"><input id="filter" type="search" placeholder="Filter: name, architecture, dataset, digest'
        '..." aria-label="Filter models" autocomplete="off">'
        f'<span id="count" aria-live="polite">{len(names)} of {len(names)} models</span></div>'
        f'<table class="models"><thead><tr>{heads}</tr></thead><tbody>\n{rows}\n</tbody></table>'
        "<footer>Written by ghosthub with the hub's index. Get a model with "
        '<code>ghosthub download NAME --hub <span class="hub-url">this hub</span></code>.</footer>'
    )
    return frame(f"{title}: {len(names)} models", body)


def _row(name: str, entry: Any, models: Mapping[str, Any]) -> str:
    entry = entry if isinstance(entry, Mapping) else {}
    metrics = entry.get("metrics") if isinstance(entry.get("metrics"), Mapping) else {}
    assets = (
        [a for a in entry.get("assets") or () if isinstance(a, Mapping)]
        if isinstance(entry.get("assets"), list)
        else []
    )
    first = assets[0] if assets else {}
    digest = str(first.get("sha256") or "")
    more = f" +{len(assets) - 1}" if len(assets) > 1 else ""
    nbytes = first.get("size")
    cells = [
        f'<th scope="row"><a href="{esc(quote(model_page_path(name)))}">{esc(name)}</a></th>',
        f"<td>{_text(entry.get('backbone'))}</td>",
        f"<td>{_text(entry.get('dataset'))}</td>",
        _number(metrics.get("top1"), "{:.2f}"),
        _number(metrics.get("top5"), "{:.2f}"),
        _number(entry.get("parameters"), None),
        f'<td class="num" data-v="{nbytes}">{esc(size(nbytes))}{esc(more)}</td>'
        if _is_count(nbytes)
        else '<td class="num" data-v="">-</td>',
        f'<td><code class="hex" title="{esc(digest)}">{esc(digest[:12]) or "-"}</code></td>',
        f"<td>{_text(entry.get('update-time'))}</td>",
        f"<td>{_model_link(entry.get('base-model'), models, prefix=MODELS + '/')}</td>",
    ]
    return f'<tr data-name="{esc(name)}">{"".join(cells)}</tr>'


def _model_link(base: Any, models: Mapping[str, Any], *, prefix: str) -> str:
    """A link to the page of ``base`` when this hub lists it, else its name as text ('-' for none)."""
    if not isinstance(base, str) or not base:
        return "-"
    if isinstance(models.get(base), Mapping):
        return f'<a href="{esc(quote(prefix + base + ".html"))}">{esc(base)}</a>'
    return esc(base)


def _text(value: Any) -> str:
    return esc(value) if isinstance(value, (str, int, float)) and str(value) not in ("", "-") else "-"


def _number(value: Any, form: str | None) -> str:
    """A numeric cell: the figure shown, its raw value in data-v for sorting."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        return '<td class="num" data-v="">-</td>'
    shown = form.format(value) if form else _count(value)
    return f'<td class="num" data-v="{esc(repr(value))}">{esc(shown)}</td>'


def _count(n: float) -> str:
    """A parameter count as people say it: 2.6 M, 748 K."""
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= limit:
            return f"{n / limit:.1f} {unit}"
    return f"{n:g}"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0

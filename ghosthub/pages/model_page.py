"""A model's page: its card rendered, its files with digests, how to get it, its lineage and its training curves.

The page shows the card as the hub holds it (``cards/<name>.md``) and the files as the index
lists them. Everything in a card is someone else's text: values are escaped, the body goes
through :func:`~ghosthub.pages.markdown.render_markdown`, links through
:func:`~ghosthub.pages.shell.safe_href`. A card that cannot be read still gets a page that
says why, so one bad card never stops a hub from being written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .._utils.units import size
from ..errors import CardError
from ..modelcard import ModelCard
from ..modelcard.provenance import read_provenance
from .curves import curves_svg
from .lineage import base_chain
from .markdown import render_markdown
from .shell import esc, frame, safe_href

__all__ = ["render_model_page"]

# card field -> label, in the order the facts table shows them
_FACTS = (
    ("backbone-name", "Architecture"),
    ("width", "Width"),
    ("train-dataset", "Dataset"),
    ("parameters", "Parameters"),
    ("update-time", "Updated"),
    ("model-version", "Version"),
    ("author", "Author"),
    ("license", "License"),
    ("mindspore-version", "MindSpore"),
)
_MAX_LIST = 50  # items of a list field shown (class-names can hold thousands)


def render_model_page(
    name: str,
    models: Mapping[str, Any],
    card: ModelCard | None,
    *,
    key: str | None = None,
    problem: str | None = None,
) -> bytes:
    """The bytes of ``models/<name>.html``.

    Parameters
    ----------
    name : str
        The model, as ``models`` (the index's ``models`` mapping) lists it.
    models : mapping
        Every model of the index: the entry of ``name`` gives its files, the others its lineage.
    card : ModelCard or None
        The card ``cards/<name>.md`` holds; None when it cannot be read (``problem`` says why).
    key : str, optional
        The page's key (:func:`~ghosthub.pages.lineage.page_key`), written into its head.
    problem : str, optional
        Shown at the top: why the card is missing or does not match the index.

    Returns
    -------
    bytes
        A whole HTML page that fetches nothing and runs only its own script.

    Examples
    --------
    >>> page = render_model_page("a", {"a": {"backbone": "ghostnet"}}, None, problem="cards/a.md is missing")
    >>> b"cards/a.md is missing" in page
    True
    """
    entry = models.get(name) if isinstance(models.get(name), Mapping) else {}
    fields = card.fields if card is not None else {}
    summary = fields.get("summary")
    parts = [
        '<nav><a href="../index.html">&#8592; All models</a></nav>',
        f"<h1>{esc(name)}</h1>",
        f'<p class="muted">{esc(summary)}</p>' if isinstance(summary, str) and summary else "",
        f'<p class="warn">{esc(problem)}</p>' if problem else "",
        _facts(name, entry, card, models),
        _get_it(name),
        _files(entry),
        _training(card),
        _card(name, card),
    ]
    return frame(f"{name}: ghosthub", "".join(parts), key=key)


def _facts(name: str, entry: Mapping[str, Any], card: ModelCard | None, models: Mapping[str, Any]) -> str:
    fields = card.fields if card is not None else {}
    fallback = {"backbone-name": entry.get("backbone"), "train-dataset": entry.get("dataset")}
    rows = []
    for field, label in _FACTS:
        value = fields.get(field, entry.get(field, fallback.get(field)))
        if field == "parameters" and isinstance(value, str) and value.isdigit():
            value = f"{int(value):,}"
        if isinstance(value, (str, int, float)) and str(value) not in ("", "-"):
            rows.append(f'<tr><th scope="row">{label}</th><td>{esc(value)}</td></tr>')
    metrics = card.metrics if card is not None else entry.get("metrics")
    for key, label in (("top1", "Top-1 (%)"), ("top5", "Top-5 (%)")):
        value = metrics.get(key) if isinstance(metrics, Mapping) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append(f'<tr><th scope="row">{label}</th><td>{value:.2f}</td></tr>')
    repo = fields.get("repo-link")
    if isinstance(repo, str) and repo.strip("<> ") not in ("", "-"):
        rows.append(f'<tr><th scope="row">Repository</th><td>{_link(repo.strip("<> "))}</td></tr>')
    chain = base_chain(models, name)
    if chain:
        items = "".join(
            f'<li><a href="{esc(quote(base))}.html">{esc(base)}</a></li>' if listed else f"<li>{esc(base)}</li>"
            for base, listed in chain
        )
        rows.append(f'<tr><th scope="row">Base models</th><td><ol class="chain">{items}</ol></td></tr>')
    card_path = entry.get("card") if isinstance(entry.get("card"), str) else f"cards/{name}.md"
    card_href = safe_href("../" + card_path)
    card_link = f'<a href="{esc(card_href)}">{esc(card_path)}</a>' if card_href else esc(card_path)
    digest = entry.get("card-sha256")
    card_digest = f' <code class="hex">{esc(digest)}</code>' if isinstance(digest, str) else ""
    rows.append(f'<tr><th scope="row">Card</th><td>{card_link}{card_digest}</td></tr>')
    return f'<table class="facts">{"".join(rows)}</table>'


def _get_it(name: str) -> str:
    hub = '<span class="hub-url">HUB</span>'  # the script writes this hub's URL or folder in
    quoted = esc(f'"{name}"')
    return (
        "<h2>Get it</h2>"
        f"<pre><code>import ghosthub\n\nnet = ghosthub.load({quoted}, pretrained=True)  # with GHOSTHUB_HUB={hub}\n"
        f'client = ghosthub.Client(hub="{hub}")  # or name the hub\nnet = client.load({quoted}, pretrained=True)'
        "</code></pre>"
        f"<pre><code>ghosthub download {esc(name)} --hub {hub}\nghosthub show {esc(name)} --hub {hub}</code></pre>"
    )


def _files(entry: Mapping[str, Any]) -> str:
    assets = entry.get("assets") if isinstance(entry.get("assets"), list) else []
    rows = []
    for asset in assets:
        if not isinstance(asset, Mapping):
            continue
        path = str(asset.get("path") or "")
        href = safe_href("../" + path) if path.startswith("assets/") else None
        shown = esc(path.rpartition("/")[2] or path)
        link = f'<a href="{esc(href)}">{shown}</a>' if href else shown
        nbytes = asset.get("size")
        counted = isinstance(nbytes, int) and not isinstance(nbytes, bool) and nbytes >= 0
        sized = f"{esc(size(nbytes))} ({nbytes:,} bytes)" if counted else "-"
        rows.append(
            f'<tr><td>{link}</td><td>{esc(asset.get("file-format") or "-")}</td><td class="num">{sized}</td>'
            f'<td><code class="hex">{esc(asset.get("sha256") or "-")}</code></td></tr>'
        )
    if not rows:
        return "<h2>Files</h2><p>This hub lists no file for this model.</p>"
    return (
        '<h2>Files</h2><table class="files"><thead><tr><th scope="col">File</th><th scope="col">Format</th>'
        f'<th scope="col">Size</th><th scope="col">SHA-256</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        '<p class="muted">ghosthub checks every file it downloads against this digest.</p>'
    )


def _training(card: ModelCard | None) -> str:
    if card is None:
        return ""
    try:
        record = read_provenance(card)
    except CardError as exc:
        return f'<h2>Training</h2><p class="warn">The training record cannot be trusted: {esc(exc)}</p>'
    if record is None:
        return ""
    said = []
    for key, label in (("epochs", "epochs"), ("best_epoch", "best epoch"), ("seed", "seed")):
        if isinstance(record.get(key), (int, str)):
            said.append(f"{label} {esc(record[key])}")
    chart = curves_svg(record.get("history"))
    note = chart or '<p class="muted">The training record holds no per-epoch history.</p>'
    return f"<h2>Training</h2><p>Trained with <code>ghosthub train</code>: {', '.join(said) or '-'}.</p>{note}"


def _card(name: str, card: ModelCard | None) -> str:
    if card is None:
        return ""
    rows = []
    for field, value in card.fields.items():
        rows.append(f'<tr><th scope="row">{esc(field)}</th><td>{_value(value)}</td></tr>')
    return (
        f"<h2>Card</h2><details><summary>Every front-matter field of {esc(name)}</summary>"
        f'<table class="facts">{"".join(rows)}</table></details>'
        f'<div class="card">{render_markdown(card.body)}</div>'
    )


def _value(value: Any) -> str:
    """A front-matter value as text: lists and mappings spelled out, long lists cut."""
    if isinstance(value, Mapping):
        return "; ".join(f"{esc(k)}: {_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_value(v) for v in value[:_MAX_LIST])
        return shown + (f", ... ({len(value) - _MAX_LIST} more)" if len(value) > _MAX_LIST else "")
    return esc(value)


def _link(url: str) -> str:
    href = safe_href(url)
    return f'<a href="{esc(href)}" rel="nofollow noopener noreferrer">{esc(url)}</a>' if href else esc(url)

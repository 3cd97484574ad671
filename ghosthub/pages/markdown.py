"""A card's Markdown body as HTML: CommonMark and tables by markdown-it-py, raw HTML off, only harmless links.

Card bodies come from other people. Raw HTML in them (``<script>``, ``<img onerror=...>``)
renders as text; a link whose scheme is not http, https or mailto (``javascript:``,
``data:``, ``vbscript:``, however spelled) renders as its text, not as a link. An image is
shown only from a path inside the hub: one from elsewhere becomes a link to it, so a page
never fetches anything from another site (nor tells it who is reading).
"""

from __future__ import annotations

import functools

from .shell import esc, is_relative, safe_href

__all__ = ["render_markdown"]


def render_markdown(text: str) -> str:
    """HTML for the Markdown ``text`` (CommonMark with tables), safe to place in a page.

    Examples
    --------
    >>> render_markdown("[x](javascript:alert(1)) <b onclick=alert(1)>")
    '<p>[x](javascript:alert(1)) &lt;b onclick=alert(1)&gt;</p>\\n'
    """
    return _parser().render(text)


@functools.lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt  # only writers of pages need it

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.validateLink = lambda url: safe_href(url) is not None
    md.core.ruler.push("ghosthub_attributes", _attributes)
    md.add_render_rule("image", _image)
    return md


def _attributes(state) -> None:
    """Headings under the page's own; table alignment as classes (the policy refuses ``style=``); links out
    of the hub open no window back."""
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 2)}"  # a card's "# name" sits under the page's "Card"
        if token.type in ("th_open", "td_open") and token.attrGet("style"):
            align = str(token.attrGet("style")).rpartition(":")[2]
            token.attrs.pop("style")
            token.attrSet("class", f"align-{align}")
        for child in token.children or ():
            if child.type == "link_open" and not is_relative(str(child.attrGet("href") or "")):
                child.attrSet("rel", "nofollow noopener noreferrer")


def _image(self, tokens, idx, options, env) -> str:
    """An image in the hub is shown; one from elsewhere is a link to it, never fetched by the page."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrGet("src") or "")
    if is_relative(src):
        return f'<img src="{esc(src)}" alt="{esc(alt)}">'
    return f'<a href="{esc(src)}" rel="nofollow noopener noreferrer">{esc(alt or src)}</a>'

"""The frame every hub page shares: escaping, safe links, and a head whose policy runs only the page's own code.

Every value a page shows comes from cards and indexes other people wrote, so it goes through
:func:`esc` (text and double-quoted attributes alike), and every link through :func:`safe_href`.
The one stylesheet and the one script are inlined, and the Content-Security-Policy allows
exactly them by hash: an injected ``<script>``, ``style=`` or event-handler attribute that got
past the escaping would still not run. Nothing is fetched from elsewhere, so the pages work
offline and from ``file://``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
from pathlib import Path

__all__ = [
    "PAGES_VERSION",
    "esc",
    "frame",
    "hash_source",
    "is_relative",
    "read_page_key",
    "renderer_id",
    "safe_href",
]

# Part of every page's key (with the stylesheet and script): a new renderer rewrites every page once.
# Change it with any change to what a page shows.
PAGES_VERSION = "ghosthub-pages/1"
_STATIC = Path(__file__).resolve().parent / "static"
# What browsers drop from a URL before reading its scheme (WHATWG URL: tab and newline; leading C0 and space).
_IGNORED = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_SAFE_SCHEMES = {"http", "https", "mailto"}
_KEY = re.compile(rb'<meta name="ghosthub-page" content="([0-9a-f]{16,64})">')


def esc(value: object) -> str:
    """``value`` as HTML text, safe in element content and in a double-quoted attribute.

    Examples
    --------
    >>> esc('"><script>alert(1)</script>')
    '&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;'
    """
    return html.escape(str(value), quote=True)


def safe_href(url: object) -> str | None:
    """``url`` if a link to it is harmless (http, https, mailto, a relative path or ``#``), else None.

    ``javascript:``, ``data:``, ``vbscript:`` and every other scheme are refused, however they
    are spelled (case, a tab or newline inside, leading spaces or control characters).

    Examples
    --------
    >>> safe_href("https://arxiv.org/abs/1911.11907")
    'https://arxiv.org/abs/1911.11907'
    >>> safe_href("../assets/a-1a2b3c4d.ckpt")
    '../assets/a-1a2b3c4d.ckpt'
    >>> safe_href(" JaVa\\tScRiPt:alert(1)") is None
    True
    """
    if not isinstance(url, str):
        return None
    match = _SCHEME.match(_IGNORED.sub("", url))
    if match and match.group(1).lower() not in _SAFE_SCHEMES:
        return None
    return url.strip()


def is_relative(url: str) -> bool:
    """Whether ``url`` is a path in this site (no scheme, no host): a page may show it as an image."""
    cleaned = _IGNORED.sub("", url)
    return not _SCHEME.match(cleaned) and not cleaned.startswith(("/", "\\"))


def hash_source(text: str) -> str:
    """A CSP source for an inline block: ``'sha256-<base64>'`` of its exact text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.lru_cache(maxsize=1)
def _static() -> tuple[str, str, str]:
    """(stylesheet, script, policy): read once per process."""
    css = (_STATIC / "hub.css").read_text(encoding="utf-8")
    js = (_STATIC / "hub.js").read_text(encoding="utf-8")
    policy = (
        f"default-src 'none'; style-src {hash_source(css)}; script-src {hash_source(js)}; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'"
    )
    return css, js, policy


def renderer_id() -> str:
    """What makes this renderer's pages what they are beyond their data: its version, its style and script."""
    css, js, _ = _static()
    return f"{PAGES_VERSION} {hashlib.sha256((css + js).encode()).hexdigest()[:16]}"


def frame(title: str, body: str, *, key: str | None = None) -> bytes:
    """A whole page: ``title`` (text, escaped here) around ``body`` (HTML, already escaped by its maker).

    ``key`` (hex) is written into the head, for :func:`read_page_key`: a writer that finds the
    key it would write knows the page is current without rendering it again.
    """
    css, js, policy = _static()
    meta = f'<meta name="ghosthub-page" content="{key}">' if key else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{PAGES_VERSION}">{meta}'
        f"<title>{esc(title)}</title><style>{css}</style></head>\n"
        f"<body><main>{body}</main><script>{js}</script></body></html>\n"
    ).encode()


def read_page_key(head: bytes) -> str | None:
    """The key :func:`frame` wrote into a page (its first kilobytes are enough), or None.

    Examples
    --------
    >>> read_page_key(frame("t", "", key="0123456789abcdef"))
    '0123456789abcdef'
    """
    match = _KEY.search(head[:4096])
    return match.group(1).decode() if match else None

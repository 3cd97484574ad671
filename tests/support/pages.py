"""What the page tests share: a hub page parsed with Python's html.parser, and the checks every page must pass."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import re

from tests.support.paths import REPO

STATIC = REPO / "ghosthub" / "pages" / "static"
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
# Attributes that hold a URL the browser follows or fetches.
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "data", "srcset", "background"}


class Page(html.parser.HTMLParser):
    """Elements (tag, attributes), the text of each script and style, and all text, of one HTML page."""

    def __init__(self, data: bytes):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._raw: list[str] | None = None
        self.feed(data.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._raw = self.scripts if tag == "script" else self.styles
            self._raw.append("")

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._raw = None

    def handle_data(self, data):
        if self._raw is not None:
            self._raw[-1] += data
        else:
            self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.elements if t == tag]

    def links(self) -> list[str]:
        return [a["href"] for a in self.all("a") if a.get("href") is not None]

    @property
    def plain(self) -> str:
        return "".join(self.text)

    def policy(self) -> str:
        (meta,) = [m for m in self.all("meta") if (m.get("http-equiv") or "").lower() == "content-security-policy"]
        return meta["content"] or ""


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def assert_inert(data: bytes) -> Page:
    """A page runs only its own script and style, allowed by hash, and links nowhere it should not."""
    page = Page(data)
    js = (STATIC / "hub.js").read_text(encoding="utf-8")
    css = (STATIC / "hub.css").read_text(encoding="utf-8")
    assert page.scripts == [js], "a script other than the page's own"
    assert page.styles == [css], "a style block other than the page's own"
    policy = page.policy()
    assert f"script-src {csp_hash(js)};" in policy and f"style-src {csp_hash(css)};" in policy, policy
    assert "default-src 'none'" in policy and "unsafe" not in policy, policy
    for tag, attrs in page.elements:
        assert tag not in ("iframe", "object", "embed", "form", "base", "link", "frame", "applet"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}={value!r}>: an event handler"
            assert name != "style", f"<{tag} style={value!r}>: an inline style"
            if name in URL_ATTRIBUTES and value is not None:
                cleaned = re.sub(r"[\x00-\x20\x7f]+", "", value)
                scheme = _SCHEME.match(cleaned)
                assert not scheme or scheme.group(1).lower() in ("http", "https", "mailto"), f"<{tag} {name}={value!r}>"
                if tag == "img":
                    assert not scheme and not cleaned.startswith(("/", "\\")), f"an image from elsewhere: {value!r}"
    return page

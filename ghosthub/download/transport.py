"""HTTP transfers of assets: timeouts, retries with backoff, resume with Range, mirrors and the token.

Imported only when something must be downloaded: importing ``requests`` costs
more than a whole cache hit may.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import socket
import sys
import time
from typing import Protocol
from urllib.parse import urljoin, urlsplit

from ._deferred import defer_charset_detection

defer_charset_detection()  # before requests is imported: saves a cache miss tens of ms

import requests  # noqa: E402
import urllib3  # noqa: E402

from .._utils.urls import is_loopback, is_presigned, redact, same_origin
from .._version import __version__
from ..errors import TransferError
from .body import body_pieces, encoding, wire_bytes

__all__ = ["Transport", "mirror_urls", "redirect_allowed"]

USER_AGENT = f"ghosthub/{__version__}"
MAX_REDIRECTS = 10
# A try that moved at least this much resets the count of failed tries in a row,
# so a long download over a flaky link keeps resuming instead of giving up.
PROGRESS_RESETS_TRIES = 1 << 20


class Sink(Protocol):
    """Where a transfer writes: the temporary file, which hashes what it is given."""

    size: int
    validator: str | None
    expected_total: int | None

    def begin(self, total: int | None, *, url: str, etag: str | None, last_modified: str | None) -> None: ...

    def write(self, data: memoryview | bytes) -> None: ...

    def restart(self) -> None: ...


class _Retry(Exception):
    """A failure worth another try after a pause (or after ``retry_after`` seconds).

    ``refused``: the host answered that nothing listens on the port. Worth another try only
    once the server has answered before (it may be restarting), never on a first try.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, status: int | None = None, *, refused: bool = False
    ):
        super().__init__(reason)
        self.retry_after = retry_after
        self.status = status
        self.refused = refused


def mirror_urls(url: str, mirrors) -> list[str]:
    """The URLs to try for ``url``: each matching mirror (longest prefix first), then the origin.

    Examples
    --------
    >>> mirror_urls("https://a.org/x/y.ckpt", [("https://a.org/", "http://m.lan/a/")])
    ['http://m.lan/a/x/y.ckpt', 'https://a.org/x/y.ckpt']
    """
    matching = sorted((m for m in mirrors if url.startswith(m[0])), key=lambda m: -len(m[0]))
    urls = [mirror + url[len(original) :] for original, mirror in matching]
    return list(dict.fromkeys([*urls, url]))


class Transport:
    """One requests session with ghosthub's network settings.

    TLS verification is always on; the proxy variables (``HTTPS_PROXY``,
    ``NO_PROXY`` ...) and ``REQUESTS_CA_BUNDLE`` work as in requests. A token
    goes only where the user named it (see :meth:`credentials`), never after
    a redirect to another origin, never over plain HTTP except to this machine.

    Examples
    --------
    >>> from ghosthub import config
    >>> Transport(config.settings()).session.headers["User-Agent"]  # doctest: +ELLIPSIS
    'ghosthub/...'
    """

    def __init__(self, settings):
        self.settings = settings
        self.session = requests.Session()
        # identity: the digest is of the file's bytes, never of a compressed transfer of them.
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        self.session.verify = True

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:  # the token never appears here
        return f"<Transport {USER_AGENT} token={'set' if self.settings.token or self.settings.tokens else 'unset'}>"

    def credentials(self, url: str) -> str | None:
        """The Authorization header for ``url``, or None: only for hosts the user named.

        A ``GHOSTHUB_TOKENS``/``GHOSTHUB_NETRC`` entry for the URL's host (or
        host:port); else ``GHOSTHUB_TOKEN`` when the URL has the hub's origin;
        else the user and password written in the hub's URL, for the hub's
        origin. Nothing goes over plain HTTP except to a loopback address, and nothing to a
        presigned URL: its signature is its credential, and a store refuses a request signed twice.
        """
        if is_presigned(url):
            return None
        parts = urlsplit(url)
        if parts.scheme.lower() != "https" and not (parts.scheme.lower() == "http" and is_loopback(url)):
            return None
        host = (parts.hostname or "").lower()
        named = dict(self.settings.tokens)
        for key in (f"{host}:{parts.port}" if parts.port else None, host):
            if key and key in named:
                return f"Bearer {named[key]}"
        hub = self.settings.hub or ""
        if not hub.startswith(("http://", "https://")) or not same_origin(url, hub):
            return None
        if self.settings.token:
            return f"Bearer {self.settings.token}"
        user = urlsplit(hub)
        if user.username is not None:
            import base64
            from urllib.parse import unquote

            pair = f"{unquote(user.username)}:{unquote(user.password or '')}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return None

    # ------------------------------------------------------------------ downloading

    def download(self, url: str, sink: Sink, *, origin: str) -> None:
        """Stream ``url`` into ``sink``, resuming from ``sink.size`` and retrying as configured.

        ``origin`` is the asset's own link: the token goes to its origin only.
        A dropped connection resumes with ``Range``/``If-Range``; a server that
        ignores the range (200) or refuses it (416) restarts the file cleanly.
        Raises TransferError when the tries are spent or the server says no.
        """
        settings = self.settings
        failures = 0
        while True:
            start = sink.size
            try:
                self._attempt(url, sink, origin)
                return
            except _Retry as exc:
                # A piece of a parallel download comes after an answer: the server is there.
                if exc.refused and not failures and not start and getattr(sink, "range_end", None) is None:
                    raise _refused(url, exc) from None
                moved = sink.size - start
                failures = 1 if moved >= PROGRESS_RESETS_TRIES else failures + 1
                if failures >= settings.retries:
                    hint = _HINTS.get(exc.status, _HINTS["network"])
                    raise TransferError(
                        f"gave up after {failures} tries: {exc}",
                        hint,
                        url=url,
                        status=exc.status,
                        network=exc.status is None,
                    ) from None
                self._pause(url, exc, failures, settings.retries)

    def fetch_small(
        self,
        url: str,
        *,
        etag: str | None = None,
        limit: int = 16 << 20,
        tries: int | None = None,
        deadline: float | None = None,
    ) -> tuple[bytes | None, str | None]:
        """GET a small file (a hub's index.json or a card) into memory, retried like downloads.

        With ``etag``, a ``304 Not Modified`` answer returns ``(None, etag)``;
        otherwise ``(body, the response's ETag)``. A body over ``limit`` bytes is an error.
        ``tries`` caps the tries (default ``settings.retries``); ``deadline`` (a
        ``time.monotonic()`` value) ends the whole call, a trickling body included.
        """
        tries = tries or self.settings.retries
        failures = 0
        while True:
            try:
                return self._fetch_small_once(url, etag, limit, deadline)
            except _Retry as exc:
                if exc.refused and not failures:
                    raise _refused(url, exc) from None
                failures += 1
                out_of_time = (
                    deadline is not None and time.monotonic() + self._delay(failures, exc.retry_after) >= deadline
                )
                if failures >= tries or out_of_time:
                    hint = _HINTS.get(exc.status, _HINTS["network"])
                    raise TransferError(
                        f"gave up after {failures} {'try' if failures == 1 else 'tries'}: {exc}",
                        hint,
                        url=url,
                        status=exc.status,
                        network=exc.status is None,
                    ) from None
                self._pause(url, exc, failures, tries)

    def _fetch_small_once(
        self, url: str, etag: str | None, limit: int, deadline: float | None
    ) -> tuple[bytes | None, str | None]:
        timeout = None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransferError("no answer in the time allowed", _HINTS["network"], url=url, network=True)
            timeout = (min(self.settings.connect_timeout, left), min(self.settings.read_timeout, left))
        response = self._request(url, {"If-None-Match": etag} if etag else {}, url, timeout=timeout)
        with response:
            status = response.status_code
            if status == 304 and etag:
                return None, etag
            if status == 429 or status >= 500:
                raise _Retry(
                    f"HTTP {status} {response.reason}", _retry_after(response.headers.get("Retry-After")), status
                )
            if status != 200:
                raise TransferError(
                    f"HTTP {status} {response.reason}", _HINTS.get(status, _HINTS["http"]), url=url, status=status
                )
            body = bytearray()
            try:
                for chunk in body_pieces(response):
                    body += chunk
                    if len(body) > limit:
                        raise TransferError(
                            f"more than {limit} bytes", "this is not a hub file; check the hub URL", url=url
                        )
                    if deadline is not None and time.monotonic() > deadline:
                        raise TransferError(
                            f"the answer was still arriving when the time allowed ran out ({len(body)} bytes so far)",
                            "the server is very slow; try again later",
                            url=url,
                            network=True,
                        )
            except _NETWORK_ERRORS as exc:
                raise _Retry(f"connection lost: {_describe(exc)}") from None
            except requests.RequestException as exc:  # e.g. a body that fails to decompress
                raise TransferError(
                    f"the response could not be read: {_describe(exc)}", _HINTS["http"], url=url
                ) from None
            total = _content_length(response.headers.get("Content-Length"))
            received = wire_bytes(response, len(body)) if encoding(response) not in ("", "identity") else len(body)
            if total is not None and received != total:
                raise _Retry(f"connection closed after {received} of {total} bytes")
            return bytes(body), response.headers.get("ETag")

    def _attempt(self, url: str, sink: Sink, origin: str) -> None:
        offset = sink.size
        end = getattr(sink, "range_end", None)  # one piece of a parallel download (ranges.py)
        headers = {}
        if offset or end:
            headers["Range"] = f"bytes={offset}-{'' if end is None else end - 1}"
            if sink.validator:
                headers["If-Range"] = sink.validator
        try:
            response = self._request(url, headers, origin)
        except requests.RequestException as exc:
            raise TransferError(f"the request failed: {_describe(exc)}", _HINTS["http"], url=url) from None
        with response:
            status = response.status_code
            if status == 416 and offset:
                sink.restart()  # our partial is not a prefix of what the server has now
                raise _Retry("the server refused to resume (416); starting over", retry_after=0)
            if status == 429 or status >= 500:
                raise _Retry(
                    f"HTTP {status} {response.reason}", _retry_after(response.headers.get("Retry-After")), status
                )
            if status not in (200, 206):
                hint = _HINTS.get(status, _HINTS["http"])
                raise TransferError(f"HTTP {status} {response.reason}", hint, url=url, status=status)
            total = _content_length(response.headers.get("Content-Length"))
            # A Content-Encoding (nginx gzip_static, S3 objects stored gzipped) is undone: the asset is the
            # decoded bytes, which the card's digest names. Content-Length and ranges then count the
            # encoded bytes, so the length is checked on the wire and an encoded transfer never resumes.
            encoded = encoding(response) not in ("", "identity")
            if encoded and status == 206:
                sink.restart()
                raise _Retry("the server sent a compressed part of the file; starting over", retry_after=0)
            if status == 206:
                first, total = _content_range(response.headers.get("Content-Range"))
                if first != offset or (sink.expected_total and total and total != sink.expected_total):
                    sink.restart()
                    raise _Retry("the server resumed at the wrong place; starting over", retry_after=0)
            elif offset:
                sink.restart()  # 200: the range was ignored or the file changed (If-Range)
            sink.begin(
                None if encoded else total,
                url=url,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
            try:
                _stream_body(response, sink)
            except _NETWORK_ERRORS as exc:
                if encoded:
                    sink.restart()
                raise _Retry(f"connection lost after {sink.size} bytes: {_describe(exc)}") from None
            except requests.RequestException as exc:  # e.g. a body that fails to decompress
                raise TransferError(
                    f"the response could not be read: {_describe(exc)}", _HINTS["http"], url=url
                ) from None
            received = wire_bytes(response, sink.size) if encoded else sink.size
            if total is not None and received != total:
                if encoded:
                    sink.restart()
                raise _Retry(f"connection closed after {received} of {total} bytes")

    def _request(
        self, url: str, headers: dict, origin: str, *, timeout: tuple[float, float] | None = None
    ) -> requests.Response:
        """:meth:`_get`, with a TLS failure or no answer turned into TransferError."""
        try:
            return self._get(url, headers, origin, timeout=timeout)
        except requests.exceptions.SSLError as exc:
            raise TransferError(f"TLS verification failed: {_describe(exc)}", _HINTS["tls"], url=url) from None
        except _NETWORK_ERRORS as exc:
            raise _network_failure(exc, url) from None

    def _get(
        self, url: str, headers: dict, origin: str, *, timeout: tuple[float, float] | None = None
    ) -> requests.Response:
        """GET with redirects followed by hand, so credentials never leave the origin first asked.

        ``origin`` is kept for callers; what is sent depends on the URL asked (see :meth:`credentials`).
        """
        settings = self.settings
        first = url
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers)
            auth = self.credentials(url) if same_origin(url, first) else None
            if auth:
                sent["Authorization"] = auth
            response = self.session.get(
                url,
                headers=sent,
                stream=True,
                allow_redirects=False,
                timeout=timeout or (settings.connect_timeout, settings.read_timeout),
                auth=_NO_AUTH,  # never the user's ~/.netrc, nor the user:password of a URL, to an unnamed host
            )
            if not response.is_redirect:
                return response
            target = urljoin(url, response.headers["Location"])
            response.close()
            if is_presigned(first) and not same_origin(target, first):
                raise TransferError(
                    f"refusing a redirect of a signed request from {redact(url)} to {redact(target)}",
                    "a presigned request goes to the configured object store only; check AWS_ENDPOINT_URL and the "
                    "bucket's region (AWS_DEFAULT_REGION)",
                    url=url,
                )
            if not redirect_allowed(url, target):
                raise TransferError(
                    f"refusing a redirect from {redact(url)} to {redact(target)}",
                    "a download never leaves HTTPS for HTTP or another scheme; ask the host to fix the redirect or "
                    "set GHOSTHUB_MIRROR",
                    url=url,
                )
            url = target
        raise TransferError("too many redirects", "check the asset link in the card", url=url)

    def _pause(self, url: str, exc: _Retry, failures: int, tries: int) -> None:
        """Wait before the next try; say so on stderr when progress is on, so a wait is never silent."""
        delay = self._delay(failures, exc.retry_after)
        if self.settings.progress:
            print(
                f"ghosthub: {redact(url)}: {exc}; retrying in {delay:.1f} s (try {failures + 1} of {tries})",
                file=sys.stderr,
                flush=True,
            )
        time.sleep(delay)

    def _delay(self, failures: int, retry_after: float | None) -> float:
        settings = self.settings
        if retry_after is not None:
            return min(retry_after, settings.max_wait)
        # Exponential backoff with jitter, so clients that failed together retry apart.
        return min(settings.backoff * 2 ** (failures - 1), settings.max_wait) * random.uniform(0.5, 1.0)


def redirect_allowed(source: str, target: str) -> bool:
    """A redirect stays on HTTP(S) and never goes from HTTPS down to plain HTTP."""
    scheme = urlsplit(target).scheme.lower()
    return scheme == "https" or (scheme == "http" and urlsplit(source).scheme.lower() == "http")


def _stream_body(response: requests.Response, sink: Sink) -> None:
    """Copy the body into ``sink`` as it arrives."""
    for piece in body_pieces(response):
        sink.write(piece)


def _is_dns_failure(exc: BaseException) -> bool:
    """True when a host name did not resolve: another try in a second will not resolve it either."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError":
            return True
        stack += [getattr(item, "reason", None), item.__cause__, item.__context__]
        stack += [a for a in getattr(item, "args", ()) if isinstance(a, BaseException)]
    return False


def _is_refused(exc: BaseException) -> bool:
    """True when the host answered that nothing listens on the port (ECONNREFUSED), anywhere in the chain."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ConnectionRefusedError):
            return True
        stack += [getattr(item, "reason", None), item.__cause__, item.__context__]
        stack += [a for a in getattr(item, "args", ()) if isinstance(a, BaseException)]
    return False


def _network_failure(exc: BaseException, url: str) -> Exception:
    """A failed connection as a _Retry, or at once as a TransferError when the host name does not resolve."""
    if _is_dns_failure(exc):
        host = urlsplit(url).hostname
        return TransferError(
            f"cannot resolve the host name {host!r} (no network, or no DNS)", _HINTS["dns"], url=url, network=True
        )
    return _Retry(_describe(exc), refused=_is_refused(exc))


def _refused(url: str, exc: _Retry) -> TransferError:
    """A first try refused: another in a second finds nothing listening either, so it is reported at once."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return TransferError(
        f"connection refused: nothing listens on {parts.hostname}:{port}", _HINTS["refused"], url=url, network=True
    )


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None and int(value) >= 0 else None
    except ValueError:
        return None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` -> (100, 1000); unknown parts are None."""
    try:
        unit, _, spec = (value or "").partition(" ")
        span, _, total = spec.partition("/")
        first = int(span.split("-")[0]) if unit.strip().lower() == "bytes" else None
        return first, int(total) if total.strip() not in ("", "*") else None
    except ValueError:
        return None, None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _describe(exc: BaseException) -> str:
    """The useful part of a network error: requests wraps urllib3's, which names the pool first."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    inner = getattr(inner, "reason", None) or inner  # MaxRetryError -> what actually failed
    text = str(inner) or type(inner).__name__
    head, sep, tail = text.partition("): ")
    if sep and "(host=" in head:
        text = tail
    return text if len(text) < 200 else text[:197] + "..."


# Worth another try: the network, not the request, failed. TLS errors are not
# (they will fail the same way), nor are malformed URLs.
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


def _no_auth(request):
    return request


_NO_AUTH = _no_auth

_HINTS = {
    401: "the host wants authentication: set GHOSTHUB_TOKENS=HOST=TOKEN (or GHOSTHUB_TOKEN for the hub's own host)",
    403: "the host refused access: check GHOSTHUB_TOKEN, or whether the asset is public",
    404: "the asset link may be outdated: check the card, or set GHOSTHUB_MIRROR to a copy",
    410: "the asset was removed from this host: check the card, or set GHOSTHUB_MIRROR to a copy",
    429: "the host is rate-limiting: try again later",
    "http": "check the asset link in the card",
    "tls": "ghosthub never turns TLS verification off; behind a proxy that re-signs traffic, "
    "point REQUESTS_CA_BUNDLE at its CA certificate",
    "network": "check the network or proxy (HTTPS_PROXY, NO_PROXY), or try again later",
    "dns": "check the network, DNS and proxy (HTTPS_PROXY, NO_PROXY), or the host name in the link",
    "refused": "check the host and port in the URL, or start the server",
}

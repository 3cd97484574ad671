"""URL helpers that need no network stack: redaction for messages, origin comparison."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["is_loopback", "is_presigned", "is_url", "redact", "same_origin"]

# Query parameters that sign a request, as object stores presign URLs: SigV4 alone (S3, MinIO, Ceph), or a
# Signature beside the key id that signed it (SigV2: AWSAccessKeyId; Huawei OBS: AccessKeyId).
_SIGV4 = "x-amz-signature"
_KEY_IDS = ("awsaccesskeyid", "accesskeyid")


def is_url(spec: str) -> bool:
    """True for an http(s) URL (a hub or link), False for a path."""
    return str(spec).startswith(("http://", "https://"))


def redact(url: str) -> str:
    """``url`` without user name, password or query string, fit for messages and logs.

    Examples
    --------
    >>> redact("https://user:secret@example.org/a.ckpt?X-Amz-Signature=abc")
    'https://example.org/a.ckpt'
    """
    if "@" not in url and "?" not in url and "#" not in url:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def is_presigned(url: str) -> bool:
    """True for a URL that carries its own signature in its query (an object store's presigned GET).

    Such a URL is its own credential, valid for one host: it never gets another Authorization
    header (a store refuses a request signed twice) and never follows a redirect to another host.

    Examples
    --------
    >>> is_presigned("http://127.0.0.1:9000/zoo/a.ckpt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab")
    True
    >>> is_presigned("https://example.org/a.ckpt?version=2"), is_presigned("https://example.org/x-amz-signature")
    (False, False)
    """
    query = urlsplit(url).query
    if not query:
        return False
    names = {part.partition("=")[0].lower() for part in query.split("&")}
    return _SIGV4 in names or ("signature" in names and any(key in names for key in _KEY_IDS))


def same_origin(url: str, other: str) -> bool:
    """True when both URLs have the same scheme, host and port.

    Examples
    --------
    >>> same_origin("https://h.org/a", "https://H.org:443/b"), same_origin("https://h.org/a", "http://h.org/a")
    (True, False)
    """
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme.lower(), a.hostname, _port(a)) == (b.scheme.lower(), b.hostname, _port(b))


def _port(parts) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())


def is_loopback(url: str) -> bool:
    """True when ``url``'s host is this machine (localhost, 127.0.0.0/8, ::1): plain HTTP there never leaves it.

    Examples
    --------
    >>> is_loopback("http://127.0.0.1:8000/x"), is_loopback("http://[::1]/"), is_loopback("http://example.org/")
    (True, True, False)
    """
    import ipaddress

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""Which strings name a hub: a folder, an http(s) URL or ``s3://bucket/prefix``; anything else is refused.

Every consumer of a hub string (``--hub``, ``GHOSTHUB_HUB``, ``hub=``, ``publish``, ``mirror
--to``/``--hub``, ``fsck``, ``serve``) asks :func:`hub_place`, so ``s3:`` without a bucket or
``ftp://...`` is an error naming what is accepted, never a local folder named ``s3:``.
"""

from __future__ import annotations

import re
from collections import namedtuple

from ..errors import HubError
from .urls import redact

__all__ = ["HubPlace", "hub_place", "is_s3"]

ACCEPTED = "a folder, an http(s) URL, or s3://BUCKET/PREFIX"
# A scheme of two letters or more: "C:" alone is a Windows drive, not a scheme.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
# S3's bucket rules, loosened to what Ceph and MinIO also accept (upper case and '_' in old buckets).
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")


class HubPlace(namedtuple("HubPlace", "kind spec bucket prefix")):
    """Where a hub lives: ``kind`` is ``"folder"``, ``"url"`` or ``"s3"``.

    ``spec`` is the string as given (a folder path or a URL, ``s3://bucket/prefix`` normalised
    without trailing slash); ``bucket`` and ``prefix`` (no leading or trailing ``/``, maybe
    empty) are set for ``s3`` only.
    """

    __slots__ = ()

    @property
    def shown(self) -> str:
        """The hub as messages show it: never a password or a query."""
        return redact(self.spec) if self.kind == "url" else self.spec

    def key(self, rel: str) -> str:
        """The object key of ``rel`` (``index.json``, ``cards/x.md``) in an s3 hub."""
        return f"{self.prefix}/{rel}" if self.prefix else rel


def is_s3(spec: object) -> bool:
    """True for a string that claims to be an ``s3://`` hub or link (well formed or not).

    Examples
    --------
    >>> is_s3("s3://zoo/team"), is_s3("S3://zoo"), is_s3("/srv/hub")
    (True, True, False)
    """
    return isinstance(spec, str) and spec[:5].lower() == "s3://"


def hub_place(spec: str | object, *, what: str = "hub") -> HubPlace:
    """Decide what ``spec`` names: a folder, an http(s) URL, or an s3 prefix; refuse anything else.

    Parameters
    ----------
    spec : str or os.PathLike
        What the user gave (``--hub``, ``GHOSTHUB_HUB``, ``hub=``, ``--to``, a path).
    what : str
        How the message names the setting (``"--hub"``, ``"GHOSTHUB_HUB"``).

    Returns
    -------
    HubPlace

    Raises
    ------
    HubError
        ``spec`` is empty, another scheme (``ftp://``, ``gs://``, ``file://``), or an ``s3:``
        string without a valid bucket; the message says what is accepted and never shows a
        password written in it.

    Examples
    --------
    >>> hub_place("s3://zoo/team/")
    HubPlace(kind='s3', spec='s3://zoo/team', bucket='zoo', prefix='team')
    >>> hub_place("https://hub.example.org/zoo").kind, hub_place("/srv/hub").kind, hub_place("./s3:").kind
    ('url', 'folder', 'folder')
    >>> hub_place("s3:")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ghosthub.errors.HubError: hub 's3:' is not s3://BUCKET/PREFIX: the bucket is missing; a hub is ...
    """
    text = str(spec) if spec is not None else ""
    if not text.strip():
        raise HubError(f"{what} is empty; a hub is {ACCEPTED}")
    if is_s3(text) or text.lower().startswith("s3:"):
        return _s3_place(text, what)
    if text.startswith(("http://", "https://")):
        return HubPlace("url", text, None, None)
    match = _SCHEME.match(text)
    if match:
        shown = redact(text) if "://" in text else text
        raise HubError(
            f"{what} {shown!r} is not a hub place ghosthub can use ({match[1]}: is not supported); a hub is "
            f"{ACCEPTED}; for a folder whose name has a colon, write ./{text.split('/', 1)[0]}"
        )
    return HubPlace("folder", text, None, None)


def _s3_place(text: str, what: str) -> HubPlace:
    """``s3://bucket[/prefix]``, checked: a bucket name, a prefix of plain segments, no credentials or query."""
    shown = redact(text) if "://" in text else text
    if not is_s3(text):
        raise HubError(f"{what} {shown!r} is not s3://BUCKET/PREFIX: the bucket is missing; a hub is {ACCEPTED}")
    rest = text[5:]
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket or "?" in text or "#" in text:
        raise HubError(
            f"{what} {shown!r}: an s3:// hub names a bucket and a prefix only; credentials come from where the AWS "
            "tools find them (environment, ~/.aws/credentials, AWS_PROFILE), never from the hub string"
        )
    if not bucket:
        raise HubError(f"{what} {shown!r} is not s3://BUCKET/PREFIX: the bucket is missing; a hub is {ACCEPTED}")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise HubError(
            f"{what} {shown!r}: {bucket!r} is not a bucket name (3 to 63 letters, digits, '.', '-' or '_'); "
            f"a hub is {ACCEPTED}"
        )
    segments = [s for s in prefix.split("/") if s]
    if any(s in (".", "..") for s in segments) or "\\" in prefix:
        raise HubError(f"{what} {shown!r}: the prefix may not contain '.', '..' or '\\' segments")
    prefix = "/".join(segments)
    return HubPlace("s3", f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}", bucket, prefix)

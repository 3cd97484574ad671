"""Calculating and checking SHA-256 digests, with the 8-to-64-digit prefixes cards use."""

from __future__ import annotations

import os
import re

__all__ = ["CHUNK_SIZE", "file_hash", "hash_matches", "is_weak", "normalize_digest"]

# Large reads keep hashing at the speed of the hash itself (hashlib drops the GIL).
CHUNK_SIZE = 1 << 20

_DIGEST = re.compile(r"[0-9a-f]{8,64}")


def normalize_digest(text: str) -> str:
    """A card's ``asset-sha256`` in canonical form: stripped and lower-case.

    Raises ValueError unless it is 8 to 64 hexadecimal digits.

    Examples
    --------
    >>> normalize_digest(" AE7771CB ")
    'ae7771cb'
    """
    digest = text.strip().lower() if isinstance(text, str) else ""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"{text!r} is not a SHA-256 digest or prefix (8 to 64 hexadecimal digits)")
    return digest


def hash_matches(expected: str, actual: str) -> bool:
    """True when ``actual`` (a full SHA-256) starts with ``expected`` (8 to 64 digits), any case.

    Examples
    --------
    >>> import hashlib
    >>> full = hashlib.sha256(b"ghost").hexdigest()
    >>> hash_matches(full[:8].upper(), full), hash_matches("00000000", full)
    (True, False)
    """
    try:
        expected = normalize_digest(expected)
    except ValueError:
        return False
    return len(actual) == 64 and actual.lower().startswith(expected)


def is_weak(expected: str) -> bool:
    """True for a prefix shorter than a full digest: it identifies a file, but could be forged.

    Examples
    --------
    >>> is_weak("ae7771cb"), is_weak("0" * 64)
    (True, False)
    """
    return len(expected.strip()) < 64


def file_hash(path: str | os.PathLike, *, chunk_size: int = CHUNK_SIZE) -> str:
    """The full SHA-256 of the file at ``path``, as 64 lower-case hex digits.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"ghost"); f.flush()
    ...     file_hash(f.name)[:8]
    'ead6ef03'
    """
    import hashlib  # here, not at the top: loading OpenSSL is a cost cache hits skip

    digest = hashlib.sha256()
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()

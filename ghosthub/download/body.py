"""Reading a response body in bounded pieces: as the socket gives it, or decoded (gzip, deflate) 1 MiB at a time."""

from __future__ import annotations

import http.client
import zlib

import requests

from ..constants import CHUNK_SIZE

__all__ = ["body_pieces", "encoding", "wire_bytes"]


def body_pieces(response: requests.Response):
    """The body as it arrives, in pieces of at most CHUNK_SIZE bytes.

    ``read1`` returns what one read of the socket gives, so a connection that
    drops loses nothing already received (the resume starts right after it)
    and a slow body is seen piece by piece. An encoded body (a server that
    compresses anyway) is decoded here, CHUNK_SIZE at a time: a few kilobytes
    of gzip inflate to gigabytes, and whoever takes the pieces must be able to
    stop at its limit with no more than one piece in memory.
    """
    raw = getattr(response.raw, "_fp", None)
    coding = encoding(response)
    if coding in ("", "identity"):
        if isinstance(raw, http.client.HTTPResponse):
            while data := raw.read1(CHUNK_SIZE):
                yield data
        else:
            yield from response.iter_content(CHUNK_SIZE)
        return
    inflate = _Inflater(coding)
    while data := response.raw.read(CHUNK_SIZE, decode_content=False):
        yield from inflate.feed(data)


class _Inflater:
    """A gzip or deflate body decoded in pieces of at most CHUNK_SIZE bytes, member after member."""

    def __init__(self, encoding: str):
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise requests.exceptions.ContentDecodingError(
                f"the server sent the file with Content-Encoding {encoding[:40]!r}, which ghosthub does not decode "
                "(it asks for the file as it is: Accept-Encoding: identity)"
            )
        self.wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        self.decoder = zlib.decompressobj(self.wbits)
        self.started = False

    def feed(self, data: bytes):
        """The decoded pieces of ``data``, the next bytes of the body."""
        while True:
            try:
                out = self.decoder.decompress(data, CHUNK_SIZE)
            except zlib.error as exc:
                if self.wbits == zlib.MAX_WBITS and not self.started:  # "deflate" sent raw, without its zlib header
                    self.wbits = -zlib.MAX_WBITS
                    self.decoder = zlib.decompressobj(self.wbits)
                    continue
                raise requests.exceptions.ContentDecodingError(f"the compressed body is corrupt: {exc}") from None
            self.started = True
            if out:
                yield out
            if self.decoder.eof:  # a member ended; gzip allows another after it
                data = self.decoder.unused_data
                self.decoder = zlib.decompressobj(self.wbits)
                if not data:
                    return
            else:
                data = self.decoder.unconsumed_tail
                if not data and len(out) < CHUNK_SIZE:  # a full piece may leave output pending: ask again
                    return


def encoding(response: requests.Response) -> str:
    """The response's Content-Encoding, lower case (``identity`` when it has none)."""
    return response.headers.get("Content-Encoding", "identity").strip().lower()


def wire_bytes(response: requests.Response, default: int) -> int:
    """How many body bytes came over the wire before decoding (Content-Length counts those); for a decoded body only."""
    try:
        return int(response.raw.tell())
    except (AttributeError, TypeError, ValueError, OSError):
        return default

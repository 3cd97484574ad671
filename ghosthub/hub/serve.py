"""A static file server for a hub folder, with Range, ETag and If-Range, for local use and tests."""

from __future__ import annotations

import email.utils
import http.server
import os
import re
import sys
import threading
import urllib.parse
from pathlib import Path

from .._utils.places import hub_place
from ..errors import HubError

__all__ = ["HubServer", "serve"]

_RANGE = re.compile(r"bytes=\s*(\d*)\s*-\s*(\d*)", re.IGNORECASE)
# Seconds a connection may stay silent (between requests, or within one) before it is closed.
IDLE_TIMEOUT = 30.0
_TYPES = {".json": "application/json", ".md": "text/markdown; charset=utf-8", ".html": "text/html; charset=utf-8"}


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "ghosthub-serve"
    protocol_version = "HTTP/1.1"
    root: Path
    quiet: bool

    def do_HEAD(self):
        self._respond(body=False)

    def do_GET(self):
        self._respond(body=True)

    def log_message(self, format, *args):
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _respond(self, body: bool) -> None:
        path = self._local_path()
        if path is None:
            return self._error(404, "not found")
        try:
            f = open(path, "rb")
        except OSError:
            return self._error(404, "not found")
        with f:
            stat = os.fstat(f.fileno())
            size = stat.st_size
            etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
            modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = 0, size - 1
            status = 200
            wanted = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            # Another unit (items=0-1) or several ranges: ignored, the whole file is sent (RFC 9110 14.2).
            if wanted and _is_single_byte_range(wanted) and (not if_range or if_range in (etag, modified)):
                parsed = _parse_range(wanted, size)
                if parsed is None:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = parsed
                status = 206
            length = max(0, end - start + 1)
            self.send_response(status)
            self.send_header("Content-Type", _TYPES.get(path.suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            if urllib.parse.urlsplit(self.path).path.strip("/") == "":
                self.send_header("Vary", "Accept")  # "/" is the pages or the index, by what the client takes
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if body and length:
                self.wfile.flush()
                try:
                    self.connection.sendfile(f, start, length)
                except (BrokenPipeError, ConnectionResetError):
                    pass

    def _local_path(self) -> Path | None:
        """The file a request path names, or None when it would leave the root."""
        raw = urllib.parse.urlsplit(self.path).path
        parts = urllib.parse.unquote(raw).split("/")
        if any(p in ("..", ".") or "\x00" in p or "\\" in p for p in parts):
            return None
        relative = "/".join(p for p in parts if p) or self._root_file()
        path = (self.root / relative).resolve()
        if (
            not path.is_relative_to(self.root)
            or not _is_public(path.relative_to(self.root).parts)
            or not path.is_file()
        ):
            return None
        if not _is_public(relative.split("/")):  # the name asked for, as well as where a link leads
            return None
        return path

    def _root_file(self) -> str:
        """What ``/`` is: the pages for a browser (it asks for HTML), index.json for every other client."""
        wants_html = "text/html" in self.headers.get("Accept", "")
        return "index.html" if wants_html and (self.root / "index.html").is_file() else "index.json"

    def _error(self, code: int, message: str) -> None:
        data = f"{code} {message}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _is_public(parts) -> bool:
    """Only a hub's own files are served: index.json, files under cards/ and assets/, and the pages
    (index.html, models/<name>.html); no dotfile anywhere.

    A hub folder is often a git checkout (``.git/config`` may hold a token) with an
    ``.env``, a publish journal and in-flight temporary files (all dotfiles).
    """
    parts = tuple(parts)
    if any(p.startswith(".") for p in parts):
        return False
    if parts in (("index.json",), ("index.html",)):
        return True
    if len(parts) == 2 and parts[0] == "models":
        return parts[1].endswith(".html")
    return len(parts) >= 2 and parts[0] in ("cards", "assets")


def _is_single_byte_range(header: str) -> bool:
    unit, _, spec = header.strip().partition("=")
    return unit.strip().lower() == "bytes" and "," not in spec


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) of a single byte range, or None when it cannot be satisfied."""
    match = _RANGE.fullmatch(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        n = int(last)
        return (max(0, size - n), size - 1) if n and size else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


class HubServer(http.server.ThreadingHTTPServer):
    """A hub folder served over HTTP on 127.0.0.1; a context manager that runs in a thread.

    Examples
    --------
    >>> with serve("hub") as server:  # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:45679/
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        directory: str | os.PathLike,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
        timeout: float = IDLE_TIMEOUT,
    ):
        root = Path(directory).resolve()
        if not root.is_dir():
            raise HubError(f"cannot serve {directory}: not a folder")
        # The socket timeout closes a connection idle (or trickling) that long: it frees its thread.
        handler = type("Handler", (_Handler,), {"root": root, "quiet": quiet, "timeout": timeout})
        super().__init__((host, port), handler)
        self.root = root
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="ghosthub-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(
    directory: str | os.PathLike,
    port: int = 0,
    host: str = "127.0.0.1",
    quiet: bool = True,
    timeout: float = IDLE_TIMEOUT,
) -> HubServer:
    """A server for ``directory`` (not yet started: use it as a context manager or call start()).

    Only ``index.json``, the files under ``cards/`` and ``assets/`` and the pages
    (``index.html``, ``models/<name>.html``) are served, never a dotfile; ``/`` is
    ``index.html`` for a browser and ``index.json`` for any other client; a connection
    silent for ``timeout`` seconds is closed. A URL or an ``s3://`` hub is refused
    (HubError): they are served already.
    """
    place = hub_place(directory, what="serve: the hub")
    if place.kind != "folder":
        raise HubError(f"serve serves a hub folder; {place.shown} is served by its own host or store already")
    return HubServer(directory, host=host, port=port, quiet=quiet, timeout=timeout)

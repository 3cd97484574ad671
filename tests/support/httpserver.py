"""A real HTTP server on 127.0.0.1 for the fetch tests, with Range support and injected faults.

Each path serves bytes; ``fault(path, *modes)`` queues one fault per coming
request to that path (then it serves normally), ``always(path, mode)`` applies
a fault to every request. The server records every request it saw and counts
complete transfers, so tests can assert what went over the wire.

Modes: ``drop`` (reset the connection mid-body), ``truncate`` (close cleanly
mid-body, Content-Length promised the whole file), ``500``, ``429`` (with
``Retry-After``), ``stall`` (send nothing for ``stall_s``), ``wrong`` (other
bytes of the right length), ``chunked`` (no Content-Length), ``norange``
(answer 200 to a Range request), ``416``, ``404``, ``redirect`` (302 to
``redirect_to``), ``trickle`` (the body in small pieces, ``trickle_s`` apart), ``gzip``
(the whole file gzip-compressed with ``Content-Encoding: gzip``, whatever the request
asked, as nginx's ``gzip_static always`` and objects stored with gzip metadata do;
``gzip-drop`` and ``gzip-truncate`` then fail mid-body), ``encoded`` (the stored bytes,
already gzip, sent as they are with ``Content-Encoding: gzip``: a compression bomb is a few
kilobytes of stored bytes), ``badrange`` (answer a Range request 206 from byte 0, as a broken
proxy may).

Ranges may be open (``bytes=A-``) or bounded (``bytes=A-B``).
``fault_at(path, start, *modes)`` queues faults for requests whose range starts at
``start`` (one piece of a parallel download); ``rate`` caps every connection's
bytes per second, as a CDN does; ``max_active`` is the most requests served at once.
"""

from __future__ import annotations

import collections
import dataclasses
import email.utils
import gzip
import hashlib
import http.server
import socket
import struct
import threading
import time


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


class AssetServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.files: dict[str, bytes] = {}
        self.queued: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.persistent: dict[str, str] = {}
        self.seen: list[Seen] = []
        self.full_transfers: collections.Counter = collections.Counter()
        self.retry_after = "1"
        self.stall_s = 2.0
        self.trickle_s = 0.02
        self.trickle_piece = 4096
        self.redirect_to: str | None = None
        self.rate: float | None = None  # bytes per second per connection
        self.at_start: dict[tuple[str, int], collections.deque] = collections.defaultdict(collections.deque)
        self.active = self.max_active = 0
        self.last_modified = email.utils.formatdate(time.time() - 3600, usegmt=True)
        self._lock = threading.Lock()
        self.httpd = _QuietServer((host, 0), _handler(self))
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # ------------------------------------------------------------------ control

    def start(self) -> AssetServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url(path)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def fault(self, path: str, *modes: str) -> None:
        self.queued[path].extend(modes)

    def always(self, path: str, mode: str | None) -> None:
        if mode is None:
            self.persistent.pop(path, None)
        else:
            self.persistent[path] = mode

    def fault_at(self, path: str, start: int, *modes: str) -> None:
        self.at_start[(path, start)].extend(modes)

    def requests_for(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def _next_mode(self, path: str, start: int | None = None) -> str | None:
        with self._lock:
            at = self.at_start.get((path, start or 0))
            if at:
                return at.popleft()
            queue = self.queued.get(path)
            if queue:
                return queue.popleft()
            return self.persistent.get(path)


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # clients that hang up are the point here
        pass


def etag_of(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:16] + '"'


def _handler(server: AssetServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            with server._lock:
                server.active += 1
                server.max_active = max(server.max_active, server.active)
            try:
                self._get()
            finally:
                with server._lock:
                    server.active -= 1

        def _get(self):
            path = self.path.split("?", 1)[0]
            with server._lock:
                server.seen.append(Seen("GET", path, {k.lower(): v for k, v in self.headers.items()}))
            asked = (self.headers.get("Range") or "").removeprefix("bytes=").split("-")[0]
            mode = server._next_mode(path, int(asked) if asked.isdigit() else None)
            data = server.files.get(path)
            if mode == "404" or data is None:
                return self._status(404)
            if mode in ("500", "429"):
                extra = {"Retry-After": server.retry_after} if mode == "429" else {}
                return self._status(int(mode), extra)
            if mode == "redirect":
                return self._status(302, {"Location": server.redirect_to})
            if mode == "stall":
                time.sleep(server.stall_s)
                self.close_connection = True
                return
            if mode == "wrong":
                data = bytes(b ^ 0xFF for b in data)
            gzipped = bool(mode and (mode.startswith("gzip") or mode == "encoded"))
            if mode == "encoded":
                mode = None
            elif gzipped:
                data = gzip.compress(data, mtime=0)
                mode = mode.removeprefix("gzip").removeprefix("-") or None
            etag = etag_of(data)
            start = self._range_start(etag) if mode != "norange" and not gzipped else None
            if start is not None and mode == "416":
                return self._status(416, {"Content-Range": f"bytes */{len(data)}"})
            if start is not None and start >= len(data):
                return self._status(416, {"Content-Range": f"bytes */{len(data)}"})
            stop = self._range_stop(len(data)) if start is not None else len(data)
            if mode == "badrange" and start is not None:
                start = 0  # a broken server or proxy: 206, but not from the byte asked for
            body = data[start or 0 : stop]
            self.send_response(206 if start is not None else 200)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", server.last_modified)
            self.send_header("Accept-Ranges", "bytes")
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            if start is not None:
                self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
            if mode == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode == "chunked":
                for i in range(0, len(body), 65536):
                    piece = body[i : i + 65536]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            elif mode in ("drop", "truncate"):
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(0.05)  # let the client read what was sent before the connection goes
                if mode == "drop":  # an RST, as from a crashed proxy
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            elif mode == "trickle":
                for i in range(0, len(body), server.trickle_piece):
                    self.wfile.write(body[i : i + server.trickle_piece])
                    self.wfile.flush()
                    time.sleep(server.trickle_s)
            elif server.rate:
                piece = 16384
                began = time.monotonic()
                for i in range(0, len(body), piece):
                    self.wfile.write(body[i : i + piece])
                    ahead = began + (i + piece) / server.rate - time.monotonic()
                    if ahead > 0 and i + piece < len(body):  # no wait after the last byte: the answer is done
                        time.sleep(ahead)
            else:
                self.wfile.write(body)
            if start is None and mode != "wrong":
                with server._lock:
                    server.full_transfers[path] += 1

        def _range_start(self, etag: str) -> int | None:
            value = self.headers.get("Range")
            if not value or not value.startswith("bytes=") or "," in value:
                return None
            if_range = self.headers.get("If-Range")
            if if_range and if_range not in (etag, server.last_modified):
                return None  # the file changed: send all of it
            first = value[len("bytes=") :].split("-", 1)[0]
            return int(first) if first.isdigit() else None

        def _range_stop(self, size: int) -> int:
            last = self.headers.get("Range", "").partition("-")[2]
            return min(int(last) + 1, size) if last.isdigit() else size

        def _status(self, code: int, headers: dict | None = None):
            body = f"{code}\n".encode()
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler

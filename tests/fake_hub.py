"""A stand-in for the Hugging Face Hub's resolve endpoint on 127.0.0.1 (real HTTP, real client).

Serves HEAD and GET /{repo_id}/resolve/{revision}/{filename} with the headers huggingface_hub
needs (X-Repo-Commit, ETag, Content-Length), byte ranges for resumed downloads, 404s, and can
drop connections part-way through a file, to simulate an interrupted download.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        # filename -> bytes sent before the connection drops, for every GET from byte 0
        self.drop_after: dict[str, int] = {}
        self.slow: float = 0.0  # seconds to sleep per 64 KiB (to make downloads overlap)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, range)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo_id: str, name: str, data: bytes) -> None:
        self.files[(repo_id, name)] = data

    def gets(self, name: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == "GET" and p.endswith("/" + name))

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _lookup(self):
                m = re.match(r"^/(.+?/.+?)/resolve/([^/]+)/(.+)$", self.path.split("?")[0])
                if not m or m.group(2) not in (COMMIT, "main"):
                    return None, None
                return m.group(3), hub.files.get((m.group(1), m.group(3)))

            def _not_found(self, head: bool) -> None:
                body = b'{"error":"Entry not found"}'
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(0 if head else len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _headers(self, name: str, data: bytes, status: int, length: int, rng=None):
                self.send_response(status)
                etag = hashlib.sha256(data).hexdigest()
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                if rng:
                    self.send_header("Content-Range", f"bytes {rng[0]}-{rng[1]}/{len(data)}")
                self.end_headers()

            def do_HEAD(self) -> None:
                hub.requests.append(("HEAD", self.path, None))
                name, data = self._lookup()
                if data is None:
                    return self._not_found(head=True)
                self._headers(name, data, 200, len(data))

            def do_GET(self) -> None:
                rng_header = self.headers.get("Range")
                hub.requests.append(("GET", self.path, rng_header))
                name, data = self._lookup()
                if data is None:
                    return self._not_found(head=False)
                start = 0
                if rng_header:
                    start = int(re.match(r"bytes=(\d+)-", rng_header).group(1))
                body = data[start:]
                if start:
                    self._headers(name, data, 206, len(body), (start, len(data) - 1))
                else:
                    self._headers(name, data, 200, len(body))
                limit = hub.drop_after.get(name) if not start else None
                chunk = 1 << 16
                sent = 0
                for i in range(0, len(body), chunk):
                    piece = body[i : i + chunk]
                    if limit is not None and sent + len(piece) > limit:
                        self.wfile.write(piece[: max(0, limit - sent)])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.wfile.write(piece)
                    sent += len(piece)
                    if hub.slow:
                        time.sleep(hub.slow)

        return Handler

"""A real HTTP server on loopback whose routes the tests write: feeds, APIs, listings, failures."""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["Document", "LoopbackServer", "Request", "Response", "get", "hanging", "sequence", "slow"]


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


class LoopbackServer:
    """ThreadingHTTPServer on 127.0.0.1:<free port>; ``routes[path] = handler``; ``requests`` records all."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self.release = threading.Event()  # set at teardown: hanging handlers return
        self._lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.max_active: dict[str, int] = {}
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                request = Request(
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    time.monotonic(),
                )
                with owner._lock:
                    owner.requests.append(request)
                    owner.active[parts.path] = owner.active.get(parts.path, 0) + 1
                    owner.max_active[parts.path] = max(
                        owner.max_active.get(parts.path, 0), owner.active[parts.path]
                    )
                try:
                    handler = owner.routes.get(parts.path)
                    response = handler(request) if handler else Response(404, b"not found")
                    try:
                        self.send_response(response.status)
                        for k, v in response.headers.items():
                            self.send_header(k, v)
                        self.send_header("Content-Length", str(len(response.body)))
                        self.end_headers()
                        self.wfile.write(response.body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client gave up (timeout test)
                finally:
                    with owner._lock:
                        owner.active[parts.path] -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Document:
    """A route serving a body with an ETag and Last-Modified, answering 304 to matching validators."""

    def __init__(self, body: bytes, content_type: str, *, version: int = 1) -> None:
        self.content_type = content_type
        self.set(body, version=version)

    def set(self, body: bytes, *, version: int) -> None:
        self.body = body
        self.etag = f'"v{version}"'
        self.last_modified = email.utils.formatdate(1_700_000_000 + version * 60, usegmt=True)

    def __call__(self, request: Request) -> Response:
        if request.headers.get("if-none-match") == self.etag or (
            "if-none-match" not in request.headers
            and request.headers.get("if-modified-since") == self.last_modified
        ):
            return Response(304, b"", {"ETag": self.etag})
        return Response(
            200,
            self.body,
            {"Content-Type": self.content_type, "ETag": self.etag, "Last-Modified": self.last_modified},
        )


def sequence(*responses: Response) -> Handler:
    """Successive responses; the last one repeats."""
    count = {"n": 0}

    def handler(_: Request) -> Response:
        i = min(count["n"], len(responses) - 1)
        count["n"] += 1
        return responses[i]

    return handler


def hanging(server: LoopbackServer, seconds: float = 30.0) -> Handler:
    """Never answers in time (until the server shuts down)."""

    def handler(_: Request) -> Response:
        server.release.wait(seconds)
        return Response(200, b"{}")

    return handler


def slow(seconds: float, response: Response) -> Handler:
    def handler(_: Request) -> Response:
        time.sleep(seconds)
        return response

    return handler


def get(url: str, timeout_s: float = 5.0) -> tuple[int, str]:
    """GET ``url``: (status, body), error statuses included."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()

"""A real HTTP upstream on 127.0.0.1 whose routes the test defines and whose requests it records."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Seen:
    method: str
    path: str  # raw, still percent-encoded
    query: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Request], Response]


@dataclass
class Upstream:
    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self._server = make_server(self.host, 0, self._wsgi, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path
        self.seen.append(
            Seen(
                method=request.method,
                path=raw_path.split("?", 1)[0],
                query=environ.get("QUERY_STRING", ""),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.get_data(),
            )
        )
        handler = self.routes.get(request.path)
        if handler is None:
            # Longest registered prefix ending in "/" serves sub-paths (e.g. "/users/").
            prefixes = [p for p in self.routes if p.endswith("/") and request.path.startswith(p)]
            handler = self.routes[max(prefixes, key=len)] if prefixes else None
        response = handler(request) if handler else json_response({"error": "no route", "path": request.path}, 404)
        return response(environ, start_response)


def json_response(obj, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(obj), status=status, mimetype="application/json", headers=headers)


def echo(request: Request) -> Response:
    """Answer with what arrived, so tests can assert on the gateway's request."""
    return json_response(
        {
            "method": request.method,
            "path": request.path,
            "args": request.args.to_dict(flat=False),
            "json": request.get_json(silent=True),
            "authorization": request.headers.get("Authorization"),
        }
    )


def hold_until_disconnect(request: Request, release: threading.Event, limit: float = 120.0) -> bool:
    """Wait, without answering, until `release` is set (True) or the caller closes its connection (False).

    The wait watches the request's own socket (werkzeug puts it in the environ): the peer closing its
    side makes the socket readable with nothing to read. Bounded by `limit` seconds, like every wait here.
    """
    sock = request.environ["werkzeug.socket"]
    deadline = time.monotonic() + limit
    while not release.is_set() and time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if not readable:
            continue
        try:
            peeked = sock.recv(1, socket.MSG_PEEK)
        except OSError:
            peeked = b""
        if not peeked:
            return False
        release.wait(0.05)  # bytes of a next request (not expected): keep waiting without spinning
    return True


class HeldUntilDisconnect:
    """A route handler that answers nothing until its client closes the connection (or `release` is set),
    and records which happened, so a test can tell that a caller gave up on the request."""

    def __init__(self, limit: float = 120.0) -> None:
        self.limit = limit
        self.arrived = threading.Event()
        self.disconnected = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: Request) -> Response:
        self.arrived.set()
        if not hold_until_disconnect(request, self.release, self.limit):
            self.disconnected.set()
            return json_response({"held": "client went away"})  # written to a closed socket: never read
        return json_response({"held": "released"})

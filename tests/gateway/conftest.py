"""A real HTTP upstream on 127.0.0.1 that records exactly what it received."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from janus.gateway.executor import Executor
from janus.gateway.specs import ConnectionSpec, ToolSpec
from tests.support.waiting import refused_port


@dataclass
class Received:
    request_line: str
    method: str
    raw_path: str  # exactly as sent on the request line, nothing decoded
    headers: dict[str, str]
    header_lines: list[tuple[str, str]]
    body: bytes
    client_port: int


Handler = Callable[[Received, BaseHTTPRequestHandler], None]


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


@dataclass
class Upstream:
    base_url: str
    received: list[Received] = field(default_factory=list)
    handler: Handler | None = None
    release: threading.Event = field(default_factory=threading.Event)  # set at teardown
    stream_stopped: threading.Event = field(default_factory=threading.Event)
    bytes_streamed: int = 0

    def reply(
        self,
        status: int = 200,
        body: bytes | str | object = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer every request with this fixed response."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode("utf-8")
            content_type = content_type or "application/json"
        fixed: bytes = body
        self.handler = lambda req, h: send(h, status, fixed, content_type, headers)

    send = staticmethod(send)  # for handlers written in tests

    @property
    def last(self) -> Received:
        assert self.received, "the upstream received no request"
        return self.received[-1]


def _handler_class(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class RecordingHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
        timeout = 10  # idle keep-alive threads end on their own

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            received = Received(
                request_line=self.requestline,
                method=self.command,
                raw_path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                header_lines=list(self.headers.items()),
                body=body,
                client_port=self.client_address[1],
            )
            upstream.received.append(received)
            try:
                if upstream.handler is None:
                    send(self, 200, b'{"ok": true}', "application/json")
                else:
                    upstream.handler(received, self)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    return RecordingHandler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up mid-response are part of the tests


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = _QuietServer(("127.0.0.1", 0), lambda *a: None)  # handler class set below
    host, port = server.server_address[:2]
    state = Upstream(base_url=f"http://{host}:{port}")
    server.RequestHandlerClass = _handler_class(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (tests/support/waiting.py: bound, never listening, and kept)."""
    return refused_port()


@pytest.fixture
def secrets() -> dict[str, str]:
    return {}


@pytest.fixture
def executor(secrets: dict[str, str]) -> Iterator[Executor]:
    with Executor(get_secret=secrets.__getitem__) as ex:
        yield ex


def make_tool(
    base_url: str,
    *,
    method: str = "GET",
    path: str = "/items/{{id}}",
    body_template: str | None = None,
    auth_type: str = "none",
    secret_ref: str | None = None,
    timeout: float = 5.0,
    connection_id: str = "conn-1",
) -> ToolSpec:
    conn = ConnectionSpec(
        id=connection_id,
        name="Billing",
        base_url=base_url,
        auth_type=auth_type,
        auth_secret_ref=secret_ref,
        timeout_seconds=timeout,
    )
    return ToolSpec(
        name="billing_tool",
        endpoint_id="ep-1",
        description="test tool",
        method=method,
        path_template=path,
        connection=conn,
        body_template=body_template,
    )


@pytest.fixture
def tool(upstream: Upstream) -> Callable[..., ToolSpec]:
    """make_tool against the recording upstream unless base_url is given."""

    def factory(**kwargs: object) -> ToolSpec:
        base_url = str(kwargs.pop("base_url", upstream.base_url))
        return make_tool(base_url, **kwargs)  # type: ignore[arg-type]

    return factory

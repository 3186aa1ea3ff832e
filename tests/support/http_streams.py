"""SSE responses read straight off a socket, and the legacy SSE round trip built on them.

`requests` hides what some stream tests must see: when each keep-alive arrived, and whether a
chunked body ended with its zero-length last chunk (a clean end) or the connection was cut.
One reader thread per stream; everything is bounded by the socket timeout.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

import requests

from tests.support.http_gateway import mcp_headers, stateless_meta
from tests.support.waiting import wait_for


class RawStream:
    """One HTTP/1.1 request whose (chunked) SSE response is parsed as it arrives."""

    def __init__(
        self,
        base_url: str,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(base_url)
        payload = body.encode() if isinstance(body, str) else body
        lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if payload is not None:
            lines.append(f"Content-Length: {len(payload)}")
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (payload or b""))
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.comment_times: list[float] = []  # time.monotonic() when each ": …" comment line arrived
        self.clean_end = False  # the zero-length last chunk arrived
        self.ended_at: float | None = None
        self.headers_read = threading.Event()
        self.closed = threading.Event()
        self._buffer = b""
        self._text, self._event, self._data = "", None, []  # the SSE line parser's state
        threading.Thread(target=self._run, daemon=True, name="raw-sse-reader").start()

    # -- what tests call ---------------------------------------------------------------

    def wait_open(self, timeout: float = 15.0) -> RawStream:
        if not self.headers_read.wait(timeout):
            raise AssertionError(f"no response headers within {timeout}s")
        return self

    def next(self, timeout: float = 10.0) -> tuple[str, str]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE event within {timeout}s") from None

    def next_json(self, timeout: float = 10.0) -> dict:
        return json.loads(self.next(timeout)[1])

    def pending(self) -> list[tuple[str, str]]:
        """Events that arrived and were not taken yet."""
        taken = []
        while True:
            try:
                taken.append(self.events.get_nowait())
            except queue.Empty:
                return taken

    @property
    def comments(self) -> int:
        return len(self.comment_times)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    # -- the reader thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._read_head()
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                self._read_chunks()
            else:
                self._feed(self._buffer)
                while chunk := self.sock.recv(65536):
                    self._feed(chunk)
        except (OSError, ValueError):
            pass  # cut, reset or closed by the test: clean_end tells which
        finally:
            self.ended_at = time.monotonic()
            # The response is over (or cut): nothing more to read, so the socket is not left to the garbage
            # collector when a test drops a refused stream without closing it.
            self.sock.close()
            self.headers_read.set()
            self.closed.set()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk

    def _read_head(self) -> None:
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.headers_read.set()

    def _read_chunks(self) -> None:
        while True:
            while b"\r\n" not in self._buffer:
                self._fill()
            size_line, self._buffer = self._buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(self._buffer) < size + 2:
                self._fill()
            data, self._buffer = self._buffer[:size], self._buffer[size + 2 :]
            if size == 0:
                self.clean_end = True
                return
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        now = time.monotonic()
        self._text += data.decode()
        *lines, self._text = self._text.split("\n")
        for line in lines:
            if line.startswith(":"):
                self.comment_times.append(now)
            elif line.startswith("event:"):
                self._event = line[6:].strip()
            elif line.startswith("data:"):
                self._data.append(line[6:] if line.startswith("data: ") else line[5:])
            elif line == "" and self._data:
                self.events.put((self._event or "message", "\n".join(self._data)))
                self._event, self._data = None, []


# -- the legacy HTTP+SSE round trip -------------------------------------------------------


def open_legacy(base_url: str, token: str) -> tuple[RawStream, str]:
    """GET /sse; returns the stream and its POST endpoint (`/messages?sessionId=…`)."""
    stream = RawStream(base_url, "GET", "/sse", {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
    try:
        stream.wait_open()
        assert stream.status == 200, stream.status
        event, endpoint = stream.next(timeout=15)
        assert event == "endpoint" and endpoint.startswith("/messages?sessionId="), (event, endpoint)
    except BaseException:
        stream.close()  # refused (a 429 past the cap) or broken: the caller never sees this stream
        raise
    return stream, endpoint


def post_legacy(base_url: str, endpoint: str, message: dict, token: str) -> requests.Response:
    # A fresh connection per POST: any worker may take it, as with replicas behind a balancer.
    return requests.post(
        base_url + endpoint,
        data=json.dumps(message),
        timeout=15,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Connection": "close"},
    )


def initialize_legacy(base_url: str, endpoint: str, stream: RawStream, token: str) -> None:
    assert (
        post_legacy(
            base_url,
            endpoint,
            {
                "jsonrpc": "2.0",
                "id": "init",
                "method": "initialize",
                "params": {
                    "protocolVersion": "2024-11-05",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            },
            token,
        ).status_code
        == 202
    )
    assert stream.next_json(timeout=15)["id"] == "init"
    assert (
        post_legacy(base_url, endpoint, {"jsonrpc": "2.0", "method": "notifications/initialized"}, token).status_code
        == 202
    )


# -- the catalog as every worker sees it ---------------------------------------------------


def listed_tools(base_url: str, token: str) -> dict[str, dict]:
    """A stateless tools/list over a fresh connection (so either worker may answer), by tool name."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": stateless_meta()}}
    response = requests.post(
        base_url + "/mcp",
        data=json.dumps(body),
        timeout=10,
        headers=mcp_headers(
            token, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list", "Connection": "close"}
        ),
    )
    return {tool["name"]: tool for tool in response.json()["result"]["tools"]}


def wait_listed_everywhere(base_url: str, token: str, predicate, what: str, timeout: float = 10.0) -> None:
    """Until ten listings in a row satisfy `predicate`: every worker's catalog cache has caught up."""
    wait_for(
        lambda: all(predicate(listed_tools(base_url, token)) for _ in range(10)),
        timeout=timeout,
        interval=0.1,
        what=what,
    )

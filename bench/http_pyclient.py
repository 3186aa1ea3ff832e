"""A minimal HTTP/1.1 + SSE load client on asyncio streams (stdlib only).

wrk measures a request until its own response; legacy SSE answers a POST with
202 and delivers the result later as an `event: message` on the GET /sse
stream, so bench/http_benchmark.py drives that target with this client
instead: one session (stream + keep-alive POST connection) per unit of
concurrency, latency from writing the POST to reading the event with its id.
The same client also runs plain request/response targets ("-py" targets), so
its own cost can be compared with wrk's on the same server.

Also used for the MCP handshakes before a wrk run (initialize,
notifications/initialized, one validated tools/call).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

PROTOCOL_VERSION = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
_FLATTEN = re.compile(r"[\s\\]")
_ids = itertools.count(1)


def is_expected(status: int, body: str, expected_doc: str, want_status: int = 200) -> bool:
    """The same rule as the wrk script: status, no isError, and the document once escapes and blanks go."""
    if status != want_status:
        return False
    flat = _FLATTEN.sub("", body)
    return expected_doc in flat and '"isError":true' not in flat


def tools_call(tool: str, arguments: dict, rpc_id: object = "__ID__") -> str:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": {"name": tool, "arguments": arguments}},
        separators=(",", ":"),
    )
    return body.replace('"id":0', f'"id":{rpc_id}', 1)


def initialize_body(rpc_id: int = 0, version: str = PROTOCOL_VERSION) -> str:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "janus-bench", "version": "1"},
            },
        }
    )


INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})


class HttpConn:
    """One keep-alive HTTP/1.1 connection: request in, (status, headers, body) out."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> HttpConn:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def close(self) -> None:
        if self.writer:
            self.writer.close()

    def send(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    async def read_head(self) -> tuple[int, dict[str, str]]:
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                return status, headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()

    async def read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return b"".join([chunk async for chunk in self.chunks()])
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        return await self.reader.read()  # delimited by close

    async def chunks(self):
        while True:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            if size == 0:
                await self.reader.readline()
                return
            data = await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            yield data

    async def request(self, method: str, target: str, headers: dict[str, str], body: bytes = b""):
        self.send(method, target, headers, body)
        status, head = await self.read_head()
        return status, head, (await self.read_body(head)).decode("utf-8", "replace")


def first_sse_data(body: str) -> str:
    """The data of the first SSE event of a response body (a POST answered with text/event-stream)."""
    data = [line[5:].lstrip() for line in body.splitlines() if line.startswith("data:")]
    return "\n".join(data) if data else body


@dataclass
class McpHttpSession:
    """Streamable HTTP handshake: initialize, take Mcp-Session-Id, notifications/initialized."""

    url: str
    token: str | None
    session_id: str | None = None
    protocol_version: str = PROTOCOL_VERSION
    content_type: str = ""

    def headers(self) -> dict[str, str]:
        h = {"Accept": ACCEPT, "Content-Type": "application/json", "MCP-Protocol-Version": self.protocol_version}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if self.session_id:
            h["Mcp-Session-Id"] = self.session_id
        return h

    async def handshake(self, conn: HttpConn) -> None:
        path = urlsplit(self.url).path
        base = {k: v for k, v in self.headers().items() if k != "MCP-Protocol-Version"}
        status, head, body = await conn.request("POST", path, base, initialize_body().encode())
        if status != 200:
            raise ConnectionError(f"initialize answered {status}: {body[:200]}")
        reply = json.loads(first_sse_data(body))
        if "result" not in reply:
            raise ConnectionError(f"initialize failed: {body[:200]}")
        self.protocol_version = reply["result"].get("protocolVersion", self.protocol_version)
        self.session_id = head.get("mcp-session-id")
        status, _, body = await conn.request("POST", path, self.headers(), INITIALIZED.encode())
        if status not in (200, 202, 204):
            raise ConnectionError(f"notifications/initialized answered {status}: {body[:200]}")

    async def call(self, conn: HttpConn, body: str) -> tuple[int, str]:
        status, head, text = await conn.request("POST", urlsplit(self.url).path, self.headers(), body.encode())
        self.content_type = head.get("content-type", "")
        return status, text


class SseSession:
    """Legacy HTTP+SSE: GET /sse, `event: endpoint`, POSTs answered 202, results as `event: message`."""

    def __init__(self, base_url: str, token: str | None):
        self.base_url, self.token = base_url, token
        self.stream = HttpConn(base_url)
        self.post = HttpConn(base_url)
        self.endpoint: str | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def open(self, timeout: float = 10.0) -> None:
        await self.stream.open()
        self.stream.send("GET", "/sse", {"Accept": "text/event-stream", **self._auth()})
        status, head = await asyncio.wait_for(self.stream.read_head(), timeout)
        if status != 200:
            raise ConnectionError(f"GET /sse answered {status}: {(await self.stream.read_body(head))[:200]!r}")
        got_endpoint = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_events(head, got_endpoint))
        endpoint = await asyncio.wait_for(got_endpoint, timeout)
        self.endpoint = urlsplit(urljoin(self.base_url + "/sse", endpoint))._replace(scheme="", netloc="").geturl()
        await self.post.open()
        reply = await self.rpc(json.loads(initialize_body(next(_ids))), timeout)
        if "result" not in reply:
            raise ConnectionError(f"initialize over SSE failed: {json.dumps(reply)[:200]}")
        status, body = await self.send(INITIALIZED)
        if status not in (200, 202, 204):
            raise ConnectionError(f"notifications/initialized answered {status}: {body[:200]}")

    async def _read_events(self, head: dict[str, str], got_endpoint: asyncio.Future) -> None:
        chunked = "chunked" in head.get("transfer-encoding", "").lower()
        source = self.stream.chunks() if chunked else _raw(self.stream.reader)
        buffer, event, data = b"", "message", []
        try:
            async for piece in source:
                buffer += piece
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    line = raw.rstrip(b"\r").decode("utf-8", "replace")
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:][1:] if line[5:6] == " " else line[5:])
                    elif not line and data:
                        self._dispatch(event, "\n".join(data), got_endpoint, time.perf_counter())
                        event, data = "message", []
                    elif not line:
                        event = "message"
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            for fut in list(self.pending.values()) + [got_endpoint]:
                if not fut.done():
                    fut.set_exception(ConnectionError("SSE stream ended"))

    def _dispatch(self, event: str, data: str, got_endpoint: asyncio.Future, at: float) -> None:
        if event == "endpoint":
            if not got_endpoint.done():
                got_endpoint.set_result(data)
            return
        try:
            rpc_id = json.loads(data).get("id")
        except (ValueError, AttributeError):
            return
        fut = self.pending.pop(rpc_id, None)
        if fut is not None and not fut.done():
            fut.set_result((at, data))

    async def send(self, body: str) -> tuple[int, str]:
        status, _, text = await self.post.request(
            "POST", self.endpoint, {"Content-Type": "application/json", **self._auth()}, body.encode()
        )
        return status, text

    async def rpc(self, message: dict, timeout: float) -> dict:
        _, data = await self.call_raw(message["id"], json.dumps(message), timeout)
        return json.loads(data)

    async def call_raw(self, rpc_id: int, body: str, timeout: float) -> tuple[float, str]:
        fut = asyncio.get_running_loop().create_future()
        self.pending[rpc_id] = fut
        status, text = await self.send(body)
        if status != 202:
            self.pending.pop(rpc_id, None)
            raise ConnectionError(f"POST {self.endpoint} answered {status}: {text[:200]}")
        return await asyncio.wait_for(fut, timeout)

    def close(self) -> None:
        if self._reader:
            self._reader.cancel()
        self.stream.close()
        self.post.close()


async def _raw(reader: asyncio.StreamReader):
    while True:
        data = await reader.read(65536)
        if not data:
            return
        yield data


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    sample: str | None = None
    duration: float = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        self.sample = self.sample or what[:300]


async def run_sse_load(
    base_url: str,
    token: str | None,
    tool: str,
    arguments: dict,
    expected_doc: str,
    concurrency: int,
    duration: float,
    max_calls: int,
    timeout: float = 10.0,
) -> LoadResult:
    """`concurrency` SSE sessions, each calling in a loop until the deadline or the shared call budget."""
    result = LoadResult()
    sessions = [SseSession(base_url, token) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(s.open() for s in sessions))
        budget = itertools.count()
        start = time.perf_counter()
        deadline = start + duration

        async def worker(session: SseSession) -> None:
            while time.perf_counter() < deadline and next(budget) < max_calls:
                rpc_id = next(_ids)
                t0 = time.perf_counter()
                try:
                    at, data = await session.call_raw(rpc_id, tools_call(tool, arguments, rpc_id), timeout)
                except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                    result.error(f"{type(exc).__name__}: {exc}")
                    return  # this session is broken; the others go on
                if is_expected(200, data, expected_doc):
                    result.latencies.append(at - t0)
                else:
                    result.error(data)

        await asyncio.gather(*(worker(s) for s in sessions))
        result.duration = time.perf_counter() - start
    finally:
        for s in sessions:
            s.close()
    return result


async def run_plain_load(
    url: str,
    method: str,
    headers: dict[str, str],
    body: str | None,
    expected_doc: str,
    concurrency: int,
    duration: float,
    max_calls: int,
) -> LoadResult:
    """Request/response over keep-alive connections, one per unit of concurrency (what wrk does)."""
    result = LoadResult()
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conns = [await HttpConn(url).open() for _ in range(concurrency)]
    budget = itertools.count()
    start = time.perf_counter()
    deadline = start + duration

    async def worker(conn: HttpConn) -> None:
        while time.perf_counter() < deadline and next(budget) < max_calls:
            payload = body.replace("__ID__", str(next(_ids))).encode() if body else b""
            t0 = time.perf_counter()
            try:
                status, _, text = await conn.request(method, target, headers, payload)
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                result.error(f"{type(exc).__name__}: {exc}")
                return
            elapsed = time.perf_counter() - t0
            if is_expected(status, text, expected_doc):
                result.latencies.append(elapsed)
            else:
                result.error(f"{status} {text}")

    try:
        await asyncio.gather(*(worker(c) for c in conns))
        result.duration = time.perf_counter() - start
    finally:
        for c in conns:
            c.close()
    return result

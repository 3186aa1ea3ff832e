"""What the HTTP transports write: JSON and JSON-RPC bodies, SSE framing, Accept matching, one
message per POST. What every request meets first (Origin/Host, the bearer, the response headers)
is janus/transports/edge.py's.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson

from janus.mcp import jsonrpc
from janus.mcp.errors import INVALID_REQUEST, McpError
from janus.transports.wire import HttpResponse

log = logging.getLogger(__name__)

SSE_MIMETYPE = "text/event-stream"
JSON_MIMETYPE = "application/json"
SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # reverse proxies must not buffer the stream
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, _json_bytes(body), list((headers or {}).items()), JSON_MIMETYPE)


def _json_bytes(body: Any) -> bytes | str:
    # orjson writes the same compact JSON as jsonrpc.dumps ~10x cheaper (every tools/call answer
    # passes here). Tool results hold no NaN (upstream JSON is parsed without it); what orjson
    # cannot carry (integers beyond 64 bits) falls back to the core's serialiser and its rules.
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return wire_bytes(jsonrpc.dumps(body) if _is_jsonrpc(body) else json.dumps(body))


def wire_bytes(text: str) -> bytes:
    """UTF-8 of a JSON text. A lone surrogate (echoed from a request, say in an id) has no UTF-8
    form; it can only sit inside a JSON string, where backslashreplace writes exactly its JSON
    escape, so the client reads back what it sent instead of the server failing."""
    return text.encode("utf-8", "backslashreplace")


def wire_text(text: str) -> str:
    """`text` as it will be written (see wire_bytes), for str-based writers such as SSE streams."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return wire_bytes(text).decode("utf-8")


def _is_jsonrpc(body: Any) -> bool:
    return isinstance(body, dict) and body.get("jsonrpc") == "2.0"


def rpc_error(
    status: int, code: int, message: str, request_id: Any = None, headers: dict | None = None
) -> HttpResponse:
    return json_response(jsonrpc.error_response(request_id, code, message), status, headers)


def sse_event(data: Any, event: str | None = None) -> str:
    payload = wire_text(data if isinstance(data, str) else jsonrpc.dumps(data))
    head = f"event: {event}\n" if event else ""
    # One data line per payload line keeps multi-line payloads intact.
    return head + "".join(f"data: {line}\n" for line in payload.split("\n")) + "\n"


SSE_KEEPALIVE = ": keep-alive\n\n"


def accepts(accept_header: str | None, mimetype: str) -> bool:
    return any(part.split(";")[0].strip() in (mimetype, "*/*") for part in (accept_header or "").split(","))


def parse_single(body: bytes) -> dict:
    """One JSON-RPC message from a POST body; McpError otherwise (-32700 undecodable, -32600 a batch).

    One policy for both HTTP transports (POST /mcp and the legacy POST /messages): batches were
    dropped from MCP in 2025-06-18, and a batch would let one POST start any number of calls.
    """
    message = jsonrpc.parse(body)
    if not isinstance(message, dict):
        raise McpError(INVALID_REQUEST, "Invalid Request: send one JSON-RPC message per POST (no batches).")
    return message

"""The `minimal` calibration target of bench/http_benchmark.py: a raw WSGI app, no Flask, no Janus.

Served like Janus (gunicorn, gevent workers, same interpreter and packages), it answers the
POST /mcp tools/call the wrk script sends with what Janus does for that call, and nothing else:
parse the JSON-RPC body, GET the upstream over one module-level urllib3 pool (keep-alive), parse
the upstream JSON and answer a CallToolResult shaped like Janus's (pretty text + structuredContent).
No auth, no session, no catalog, no audit, no metrics, and no caching of the upstream answer. Its
CPU per call is the floor a gevent worker pays for this upstream call on this machine; Janus's
cost is reported as a ratio to it.

`initialize` and notifications are answered too (stateless, no Mcp-Session-Id), so the benchmark's
readiness probe runs unchanged; headers the client sends (Authorization, Mcp-Session-Id,
MCP-Protocol-Version) are ignored.

Environment: MINIMAL_UPSTREAM_URL (http://host:port/path of the upstream GET) and MINIMAL_TOOL
(the one tool name answered).
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlencode, urlsplit

import urllib3

_UPSTREAM = urlsplit(os.environ["MINIMAL_UPSTREAM_URL"])
_TOOL = os.environ["MINIMAL_TOOL"]
# Created when a worker imports the app, i.e. after gunicorn's gevent worker has patched sockets.
_POOL = urllib3.HTTPConnectionPool(
    _UPSTREAM.hostname,
    _UPSTREAM.port or 80,
    maxsize=32,
    block=False,
    retries=False,
    timeout=urllib3.Timeout(connect=10, read=10),
)


def _reply(start_response, status: str, payload: dict | None = None) -> list[bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else b""
    headers = [("Content-Length", str(len(body)))]
    if payload is not None:
        headers.append(("Content-Type", "application/json"))
    start_response(status, headers)
    return [body]


def _error(rpc_id, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}}


def _call(arguments: dict) -> dict:
    response = _POOL.request("GET", f"{_UPSTREAM.path}?{urlencode(arguments)}", redirect=False)
    if response.status != 200:
        return {"content": [{"type": "text", "text": f"Upstream returned HTTP {response.status}"}], "isError": True}
    parsed = json.loads(response.data)
    return {
        "content": [{"type": "text", "text": json.dumps(parsed, indent=2, ensure_ascii=False)}],
        "structuredContent": parsed,
        "isError": False,
    }


def app(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/mcp":
        return _reply(start_response, "404 Not Found")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        message = json.loads(environ["wsgi.input"].read(length))
        method, rpc_id, params = message["method"], message.get("id"), message.get("params") or {}
    except (ValueError, KeyError, TypeError):
        return _reply(start_response, "400 Bad Request", _error(None, -32700, "parse error"))
    if rpc_id is None:  # a notification (notifications/initialized)
        return _reply(start_response, "202 Accepted")
    if method == "initialize":
        return _reply(
            start_response,
            "200 OK",
            {
                "jsonrpc": "2.0",
                "id": rpc_id,
                "result": {
                    "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "bench-minimal", "version": "1"},
                },
            },
        )
    if method != "tools/call" or params.get("name") != _TOOL:
        return _reply(start_response, "200 OK", _error(rpc_id, -32601, f"not answered here: {method}"))
    try:
        result = _call(params.get("arguments") or {})
    except (urllib3.exceptions.HTTPError, ValueError) as exc:
        result = {"content": [{"type": "text", "text": f"Upstream failed: {type(exc).__name__}"}], "isError": True}
    return _reply(start_response, "200 OK", {"jsonrpc": "2.0", "id": rpc_id, "result": result})

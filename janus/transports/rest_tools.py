"""Tools over REST: an OpenAPI 3 document of the caller's tools, and POST /api/tools/<name>.

What the portal's Swagger UI uses. A client token authenticates exactly as on
/mcp; calls run through the same MCP core, so scopes, validation, the audit
log and the metrics are the ones every transport shares.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from janus.gateway.catalog import Principal
from janus.gateway.tool_backend import UNKNOWN_TOOL_REASON
from janus.mcp import jsonrpc
from janus.mcp.errors import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, THROTTLED, McpError
from janus.mcp.server import Session
from janus.services import tool_openapi
from janus.transports.edge import base_url, caller, guard
from janus.transports.http_common import json_response
from janus.transports.http_runtime import HttpRuntime, http_runtime
from janus.transports.rate_limits import Throttled, throttle_message
from janus.transports.wire import HttpResponse

bp = Blueprint("rest_tools", __name__, url_prefix="/api")
TRANSPORT = "rest"

guard(bp, TRANSPORT)  # Origin/Host, the bearer and the response headers, as on /mcp


@bp.get("/openapi.json")
def openapi() -> HttpResponse:
    rt = http_runtime()
    principal = caller()
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:  # every page: tools/list pages at TOOLS_PAGE_SIZE, the document lists them all
        params = {"cursor": cursor} if cursor else {}
        listing = _ask(rt, principal, "tools/list", params)["result"]
        tools += listing["tools"]
        cursor = listing.get("nextCursor")
        if not cursor:
            break
    return json_response(
        tool_openapi.document(tools, base_url(), "Every MCP tool this client token may call, as a REST operation.")
    )


@bp.post("/tools/<path:tool_name>")
def call_tool(tool_name: str) -> HttpResponse:
    rt = http_runtime()
    principal: Principal = caller()
    raw = request.get_data(cache=False)
    try:
        # The wire parser of /mcp: absurd nesting, NaN and undecodable bytes are a 400 here too, not a 500.
        arguments = jsonrpc.parse(raw) if raw.strip() else {}
    except McpError:
        return json_response(
            {
                "error": "bad_request",
                "message": "the body is not valid JSON (or is nested too deeply); send a JSON object of tool arguments",
            },
            400,
        )
    if not isinstance(arguments, dict):
        return json_response(
            {"error": "bad_request", "message": "the body must be a JSON object of tool arguments"}, 400
        )
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool_name, "arguments": arguments}}
    if rt.limits is not None:
        throttled = throttle_message(rt.limits, rt.runtime.backend, rt.runtime.audit.record, principal, message)
        if throttled is not None:
            return throttled.json_response()
    reply = _ask(rt, principal, "tools/call", {"name": tool_name, "arguments": arguments})
    if "result" in reply:
        return json_response(reply["result"])
    code, message = reply["error"]["code"], reply["error"]["message"]
    data = reply["error"].get("data")
    unknown = code == INVALID_PARAMS and isinstance(data, dict) and data.get("reason") == UNKNOWN_TOOL_REASON
    if code == METHOD_NOT_FOUND or unknown:
        return json_response({"error": "not_found", "message": f"no tool {tool_name!r} for this token"}, 404)
    if code == THROTTLED:  # MCP_MAX_CONCURRENT_CALLS
        retry = data.get("retryAfterSeconds", 1) if isinstance(data, dict) else 1
        return Throttled(str((data or {}).get("reason", "concurrency")), int(retry), message).json_response()
    if code == INTERNAL_ERROR:
        return json_response({"error": "upstream_error", "message": message}, 502)
    return json_response({"error": "bad_request", "message": message}, 400)


def _ask(rt: HttpRuntime, principal: Principal, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One request through the MCP core: a request with an id gets exactly one answer."""
    reply = rt.server.handle(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, session=Session(), caller=principal
    )
    if not isinstance(reply, dict):
        raise TypeError(f"the MCP core answered a single request with {type(reply).__name__}")
    return reply

"""Tools over REST: an OpenAPI 3 document of the caller's tools, and POST /api/tools/<name>.

What the portal's Swagger UI uses. A client token authenticates exactly as on
/mcp; calls run through the same MCP core, so scopes, validation, the audit
log and the metrics are the ones every transport shares.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, request

from janus.gateway.catalog import Principal
from janus.mcp.errors import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND
from janus.mcp.server import Session
from janus.transports.http_common import authenticate, base_url, json_response, protect
from janus.transports.http_runtime import http_runtime
from janus.version import __version__

bp = Blueprint("rest_tools", __name__, url_prefix="/api")
TRANSPORT = "rest"

_RESULT_SCHEMA = {
    "type": "object",
    "properties": {
        "content": {"type": "array", "items": {"type": "object"}},
        "structuredContent": {"type": "object"},
        "isError": {"type": "boolean"},
    },
    "required": ["content"],
}
_ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                 "required": ["error", "message"]}


protect(bp)


@bp.get("/openapi.json")
def openapi() -> Response:
    rt = http_runtime()
    principal = authenticate(rt.catalog, TRANSPORT)
    listing = rt.server.handle({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
                               session=Session(), caller=principal)
    paths = {}
    for tool in listing["result"]["tools"]:
        paths[f"/api/tools/{tool['name']}"] = {"post": {
            "operationId": tool["name"],
            "summary": tool["name"],
            "description": tool.get("description") or "",
            "tags": [tool["name"].split("_", 1)[0]],
            "requestBody": {"required": True, "content": {"application/json": {"schema": tool["inputSchema"]}}},
            "responses": {
                "200": {"description": "The MCP tool result (isError true when the upstream failed or the arguments "
                                       "were invalid)", "content": {"application/json": {"schema": _RESULT_SCHEMA}}},
                "400": _error_response("The body is not a JSON object"),
                "401": _error_response("No valid client token"),
                "404": _error_response("No such tool for this token"),
                "502": _error_response("The upstream API is unreachable or timed out"),
            },
        }}
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Janus tools", "version": __version__,
                 "description": "Every MCP tool this client token may call, as a REST operation."},
        "servers": [{"url": base_url()}],
        "components": {"securitySchemes": {"clientToken": {"type": "http", "scheme": "bearer"}}},
        "security": [{"clientToken": []}],
        "paths": paths,
    }
    return json_response(document)


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


@bp.post("/tools/<path:tool_name>")
def call_tool(tool_name: str) -> Response:
    rt = http_runtime()
    principal: Principal = authenticate(rt.catalog, TRANSPORT)
    raw = request.get_data(cache=False)
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return json_response({"error": "bad_request", "message": "the body must be a JSON object of tool arguments"}, 400)
    if not isinstance(arguments, dict):
        return json_response({"error": "bad_request", "message": "the body must be a JSON object of tool arguments"}, 400)
    reply = rt.server.handle({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                              "params": {"name": tool_name, "arguments": arguments}}, session=Session(), caller=principal)
    if "result" in reply:
        return json_response(reply["result"])
    code, message = reply["error"]["code"], reply["error"]["message"]
    if code == METHOD_NOT_FOUND or (code == INVALID_PARAMS and message.startswith("Unknown tool")):
        return json_response({"error": "not_found", "message": f"no tool {tool_name!r} for this token"}, 404)
    if code == INTERNAL_ERROR:
        return json_response({"error": "upstream_error", "message": message}, 502)
    return json_response({"error": "bad_request", "message": message}, 400)

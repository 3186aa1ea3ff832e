"""The OpenAPI 3 document of MCP tools as REST operations (`POST /api/tools/<name>`).

Served to a client token by the REST transport (exactly the tools its scopes allow) and to a
signed-in admin by the portal (every enabled tool), so both show the same operations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from janus.version import __version__

if TYPE_CHECKING:
    from janus.gateway.catalog import Catalog

_RESULT_SCHEMA = {
    "type": "object",
    "properties": {
        "content": {"type": "array", "items": {"type": "object"}},
        "structuredContent": {"type": "object"},
        "isError": {"type": "boolean"},
    },
    "required": ["content"],
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


def document(tools: list[dict[str, Any]], server_url: str, description: str) -> dict[str, Any]:
    """`tools` are MCP tool descriptors (name, description, inputSchema), as tools/list lists them."""
    paths = {}
    for tool in tools:
        paths[f"/api/tools/{tool['name']}"] = {
            "post": {
                "operationId": tool["name"],
                "summary": tool["name"],
                "description": tool.get("description") or "",
                "tags": [tool["name"].split("_", 1)[0]],
                "requestBody": {"required": True, "content": {"application/json": {"schema": tool["inputSchema"]}}},
                "responses": {
                    "200": {
                        "description": "The MCP tool result (isError true when the upstream failed or the arguments "
                        "were invalid)",
                        "content": {"application/json": {"schema": _RESULT_SCHEMA}},
                    },
                    "400": _error_response("The body is not a JSON object"),
                    "401": _error_response("No valid client token"),
                    "404": _error_response("No such tool for this token"),
                    "502": _error_response("The upstream API is unreachable or timed out"),
                },
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Janus tools", "version": __version__, "description": description},
        "servers": [{"url": server_url}],
        "components": {"securitySchemes": {"clientToken": {"type": "http", "scheme": "bearer"}}},
        "security": [{"clientToken": []}],
        "paths": paths,
    }


def every_enabled_tool(catalog: Catalog) -> list[dict[str, Any]]:
    """The descriptors of all enabled tools, from this process's catalog cache (janus.runtime; the portal's view)."""
    return list(catalog.current().listing(None).tools)

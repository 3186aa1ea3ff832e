"""RFC 9728 protected resource metadata, which 401 answers point to."""

from __future__ import annotations

from flask import Blueprint

from janus.transports.http_common import PROTECTED_RESOURCE_PATH, base_url, json_response, protect
from janus.transports.wire import HttpResponse

bp = Blueprint("protected_resource", __name__)
# The document names the resource from the request's Host: the same DNS-rebinding checks as /mcp.
protect(bp)


@bp.get(PROTECTED_RESOURCE_PATH)
@bp.get(PROTECTED_RESOURCE_PATH + "/mcp")  # RFC 9728 §3.1: the resource's path appended
@bp.get(PROTECTED_RESOURCE_PATH + "/sse")
def metadata() -> HttpResponse:
    base = base_url()
    return json_response(
        {
            "resource": base + "/mcp",
            "resource_name": "Janus MCP Gateway",
            # Client tokens travel only in the Authorization header, never in a query string.
            "bearer_methods_supported": ["header"],
        },
        headers={"Cache-Control": "public, max-age=3600"},
    )

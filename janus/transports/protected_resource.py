"""RFC 9728 protected resource metadata, which 401 answers point to."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from janus.transports.edge import PROTECTED_RESOURCE_PATH, base_url, edge_for, guard
from janus.transports.http_common import json_response
from janus.transports.wire import HttpResponse

bp = Blueprint("protected_resource", __name__)
# The document names the resource from the request's Host: the same DNS-rebinding checks as /mcp
# (and no bearer: a client reads it to learn how to get one).
guard(bp)


@bp.get(PROTECTED_RESOURCE_PATH)
@bp.get(PROTECTED_RESOURCE_PATH + "/mcp")  # RFC 9728 §3.1: the resource's path appended
@bp.get(PROTECTED_RESOURCE_PATH + "/sse")
def metadata() -> HttpResponse:
    base = base_url()
    document: dict[str, Any] = {
        "resource": base + "/mcp",
        "resource_name": "Janus MCP Gateway",
        # Client tokens travel only in the Authorization header, never in a query string.
        "bearer_methods_supported": ["header"],
    }
    oauth = edge_for(current_app).oauth
    if oauth is not None:
        # OAUTH_ISSUERS: where an MCP client gets an access token for this resource (the one resource
        # of /mcp, /sse and /api/tools: OAUTH_ISSUERS requires PUBLIC_URL, so `resource` is fixed).
        document["authorization_servers"] = list(oauth.settings.issuers)
        document["scopes_supported"] = list(oauth.settings.scopes_supported)
    return json_response(
        document,
        headers={"Cache-Control": "public, max-age=3600"},
    )

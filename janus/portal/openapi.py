"""OpenAPI reference (figures 11–13): the live tool document in Swagger UI.

A signed-in admin or viewer reads every enabled tool at once (GET /openapi/spec.json, the portal's
session). Calling a tool is a client's act, so "Try it out" needs a client token: the admin pastes
one, static/js/swagger-init.js fetches /api/openapi.json with it (exactly the tools its scopes allow)
and runs calls through POST /api/tools/<name>. The token stays in the page's memory: it is never sent
to the portal, never put in a URL, never stored.
"""

from __future__ import annotations

from flask import current_app
from flask_login import login_required

from janus.portal.blueprint import bp
from janus.portal.rendering import render
from janus.portal.urls import gateway_urls
from janus.runtime import current_runtime
from janus.services import tool_openapi

TEMPLATE = "portal/openapi/index.html"


@bp.get("/openapi")
@login_required
def openapi():
    return render(TEMPLATE, urls=gateway_urls())


@bp.get("/openapi/spec.json")
@login_required
def openapi_spec():
    """Every enabled tool as a REST operation: to read and download, without a client token."""
    document = tool_openapi.document(
        tool_openapi.every_enabled_tool(current_runtime().catalog),
        gateway_urls()["base"],
        "Every enabled MCP tool of this gateway as a REST operation. Calls need a client token, whose scopes "
        "decide which of these it may call.",
    )
    return current_app.response_class(current_app.json.dumps(document, indent=2), mimetype="application/json")

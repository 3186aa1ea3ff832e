"""OpenAPI reference (figures "openapi ref" and "swagger ui"): the live tool document in Swagger UI.

GET /api/openapi.json answers for a client token, not for a portal session: it lists exactly the
tools that token may call. So the admin pastes a client token into the page; static/js/swagger-init.js
fetches the document with it and runs "Try it out" through POST /api/tools/<name>. The token stays in
the page's memory: it is never sent to the portal, never put in a URL, never stored.
"""
from __future__ import annotations

from flask_login import login_required

from janus.portal.blueprint import bp
from janus.portal.rendering import render
from janus.portal.urls import gateway_urls

TEMPLATE = "portal/openapi/index.html"


@bp.get("/openapi")
@login_required
def openapi():
    return render(TEMPLATE, urls=gateway_urls())

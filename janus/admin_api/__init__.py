"""The JSON admin API at /api/v1 (docs/admin-api.md): parse, call a service, render.

One module per resource registers its routes on `bp`; `apidocs` holds the
OpenAPI document and serves it, with Swagger UI at /apidocs/, on a blueprint of its own.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")

# The route modules import `bp`, so they come after it.
from janus.admin_api import _http, audit, auth, connections, endpoints, status, tokens, users, vault  # noqa: E402,F401

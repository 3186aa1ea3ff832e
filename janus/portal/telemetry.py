"""Telemetry (figure 2): success rate, p95, traffic over time, latency profile, calls per tool, the database."""

from __future__ import annotations

from flask import request
from flask_login import login_required

from janus.portal.blueprint import bp
from janus.portal.forms import errors_of
from janus.portal.rendering import render
from janus.services import telemetry as telemetry_service
from janus.services.errors import ServiceError

TEMPLATE = "portal/telemetry/index.html"


@bp.get("/telemetry")
@login_required
def telemetry():
    """A whole page only: the chart data travels in a <script type="application/json"> element,
    which htmx (allowScriptTags false) would strip from a swapped fragment, so telemetry.js
    refreshes the page's panel itself."""
    traffic, errors = None, {}
    try:
        traffic = telemetry_service.traffic(request.args.get("window"))
    except ServiceError as exc:
        errors = errors_of(exc, ("window",))
    return render(
        TEMPLATE,
        status=422 if errors else 200,
        traffic=traffic,
        errors=errors,
        window=request.args.get("window") or telemetry_service.DEFAULT_WINDOW,
        windows=telemetry_service.WINDOWS.values(),
        database=telemetry_service.database(),
    )

"""Dashboard (figures 1–2): totals, how clients connect, and the downstream health table."""

from __future__ import annotations

from flask_login import login_required

from janus.portal.blueprint import bp
from janus.portal.rendering import is_htmx, render
from janus.portal.urls import gateway_urls
from janus.runtime import current_runtime
from janus.services import status as status_service


@bp.get("/")
@login_required
def dashboard():
    return render("portal/dashboard/index.html", "totals", totals=status_service.dashboard(), urls=gateway_urls())


@bp.get("/dashboard/health")
@login_required
def dashboard_health():
    """Refreshes itself (hx-trigger); probes run in parallel, each bounded by the probe timeout."""
    totals = None if is_htmx() else status_service.dashboard()  # the whole page only without JavaScript
    targets = status_service.health(current_runtime().backend.executor)
    return render("portal/dashboard/index.html", "health", targets=targets, totals=totals, urls=gateway_urls())


@bp.get("/dashboard/activity")
@login_required
def dashboard_activity():
    """Sessions and running calls, refreshed every few seconds."""
    return render("portal/dashboard/index.html", "activity", totals=status_service.dashboard(), urls=gateway_urls())
